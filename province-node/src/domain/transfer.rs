//! Insurance transfers across provinces (医保关系转移接续): the releasing
//! node's record and the receiving node's record.

use gongji_common::{
    contract::{CrossTransfer, Decline, TxStatus},
    Id, Money, Period, RegionCode,
};
use serde::{Deserialize, Serialize};

/// A validated transfer request at the releasing node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCommand {
    pub transfer_id: Id,
    pub person_id: Id,
    pub to_region: RegionCode,
}

/// A transfer at the releasing node. Its steps: the person is marked
/// transferred and their relationships dissolve; then the balance is fixed and
/// held; then the hub routes it; then the held balance leaves (approved) or
/// returns (declined).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOut {
    pub command: TransferCommand,
    /// The person as they were when the transfer started.
    pub name: String,
    pub employee: bool,
    /// The balance that moves, fixed once every relationship has dissolved.
    pub amount: Option<Money>,
    pub period: Option<Period>,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Money that reached this node after the person had moved, sent after them.
    #[serde(default)]
    pub follow_up: bool,
}

impl TransferOut {
    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }

    pub fn decide(&mut self, period: Option<Period>, outcome: Result<(), Decline>, now: i64) {
        self.period = period.or(self.period);
        match outcome {
            Ok(()) => self.status = TxStatus::Approved,
            Err(decline) => {
                self.status = TxStatus::Declined;
                self.decline = Some(decline);
            }
        }
        self.decided_at = Some(now);
    }
}

/// A transfer at the receiving node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferIn {
    pub transfer: CrossTransfer,
    pub period: Period,
    pub decline: Option<Decline>,
    pub at: i64,
}
