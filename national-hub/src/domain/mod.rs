//! The hub's rules, without I/O: what it records (transactions with their
//! month stamp, the grants it routed, months, prepaid operations) and how it
//! decides. Each flow that moves money or changes what the hub answers has a
//! pure decision here, `decide(snapshot, command, now) -> Decision`: it takes
//! what the store holds (loaded by `service`), the validated command and the
//! time, and returns the records to write, the journal entries to post and
//! the outcome. A decline writes exactly what its decision says.
//!
//! This module reads no clock, touches no store, calls no province and knows
//! no gRPC; `service` calls into it, never the other way round.
//!
//! | module        | holds |
//! |---------------|-------|
//! | `transaction` | what a routed transaction is; it crosses a border between served provinces |
//! | `routing`     | a new payment, refund or transfer; the deciding node's answer |
//! | `books`       | booking an approved transaction: positions, statement lines, the clearing's sums |
//! | `reversal`    | a reversal: cancel an unknown or pending payment, or credit back an approved one |
//! | `grant`       | the directory of relationships: routing a grant, its beneficiary's answer |
//! | `notice`      | which notices pass between provinces |
//! | `prepaid`     | prepaid funds: cover, deposits and withdrawals, levels, the required level |
//! | `month`       | a month's close, clearing, confirmations and disputes |
//! | `settlement`  | settling a cleared month against prepaid funds |
//! | `ledger`      | the hub's accounts and the journal entries decisions post |

pub mod books;
pub mod grant;
pub mod ledger;
pub mod month;
pub mod notice;
pub mod prepaid;
pub mod reversal;
pub mod routing;
pub mod settlement;
pub mod transaction;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod testing;

pub use books::HubLine;
pub use grant::GrantRecord;
pub use ledger::{Entry, HubAccount, Leg};
pub use month::{ClearingResult, Dispute, MonthRecord, MonthState, PairLine};
pub use prepaid::{Funds, Level, PrepaidCommand, PrepaidOp, PrepaidPolicy, ProvincePrepaid};
pub use settlement::{SettleLine, SettlementRecord};
pub use transaction::{check_connected, check_crosses, HubTransaction, TxBody};

use gongji_common::money::Overflow;

/// Why a decision refuses a command: answered as an error, and nothing is
/// written. (A decline is not a refusal: it is a recorded outcome.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An id already used with other content.
    #[error("{0}")]
    AlreadyExists(String),
    /// Well-formed, but the state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A rule of the books would break (a bug or damaged state, never the
    /// caller's fault): the whole store transaction is abandoned.
    #[error("{0}")]
    Broken(String),
}

impl Refusal {
    /// The refusal of an id reused with different content.
    pub fn reused(what: &str, id: impl std::fmt::Display) -> Refusal {
        Refusal::AlreadyExists(format!("{what} id {id} was already used with different content"))
    }
}

impl From<Overflow> for Refusal {
    fn from(overflow: Overflow) -> Refusal {
        Refusal::Broken(overflow.to_string())
    }
}
