//! What another province's node (through the hub) answered to a
//! transaction routed from here, and what this node then makes of it.

use gongji_common::{contract::Decline, Period};

/// The hub's answer to a routed payment, refund or transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubAnswer {
    Approved(Period),
    Declined(Option<Period>, Decline),
    /// The id is already recorded at the hub for another transaction (of
    /// another node): nothing was routed, and the message says where.
    Taken(String),
}

/// The outcome of recording an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered<T> {
    /// The record as it now stands (or already stood: a late answer changes nothing).
    Recorded(T),
    /// The id was another node's: this node's record of it is gone, as if
    /// it had never been asked; the message says where the id is used.
    Taken(String),
}
