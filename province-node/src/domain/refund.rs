//! Refunds: an institution (or fund) returns all or part of an approved
//! payment; the money goes back to the quota it came from, or to the donor's
//! available balance if the relationship has ended.

use gongji_common::{
    contract::{CrossPayment, Decline, TxStatus},
    Id, Money, Period,
};
use serde::{Deserialize, Serialize};

/// A validated refund request at the beneficiary's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundCommand {
    pub refund_id: Id,
    pub payment_id: Id,
    pub amount: Money,
}

/// A refund as one node recorded it; its id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub command: RefundCommand,
    /// The refunded payment's route (relationship, donor, payee).
    pub payment: CrossPayment,
    /// The hub's month stamp (cross-province, once known).
    pub period: Option<Period>,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl RefundRecord {
    pub fn new(
        command: RefundCommand,
        payment: CrossPayment,
        status: TxStatus,
        period: Option<Period>,
        decline: Option<Decline>,
        now: i64,
    ) -> RefundRecord {
        RefundRecord {
            command,
            payment,
            period,
            decided_at: (status != TxStatus::Pending).then_some(now),
            status,
            decline,
            created_at: now,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }
}
