//! What happened to a relationship, as one node saw it: its history.

use gongji_common::{contract::EndReason, Money};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Established,
    GrantAccepted,
    Declined,
    QuotaChanged,
    Payment,
    Refund,
    Reversal,
    DissolutionRequested,
    Dissolved,
}

/// One entry of a relationship's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: i64,
    pub kind: EventKind,
    pub amount: Option<Money>,
    /// The payment, refund or change id involved.
    pub reference: Option<String>,
    pub detail: String,
    pub end_reason: Option<EndReason>,
}

impl Event {
    pub fn new(kind: EventKind, detail: impl Into<String>, now: i64) -> Event {
        Event {
            at: now,
            kind,
            amount: None,
            reference: None,
            detail: detail.into(),
            end_reason: None,
        }
    }

    pub fn amount(mut self, amount: Money) -> Event {
        self.amount = Some(amount);
        self
    }

    pub fn reference(mut self, reference: impl ToString) -> Event {
        self.reference = Some(reference.to_string());
        self
    }

    pub fn ended(mut self, reason: EndReason) -> Event {
        self.end_reason = Some(reason);
        self
    }
}
