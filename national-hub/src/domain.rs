//! What the hub records: cross-province transactions with their month stamp
//! and the positions they leave, and the directory of grants it routed.

use gongji_common::{
    contract::{CrossPayment, Decline, Grant, TxStatus},
    period::now_millis,
    FieldError, Money, Period, ProvinceCode,
};
use serde::{Deserialize, Serialize};

/// The kind of a cross-province transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// The donor's province owes the beneficiary's.
    Payment,
}

/// A cross-province transaction as the hub recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubTransaction {
    pub kind: TxKind,
    pub payment: CrossPayment,
    pub period: Period,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    /// Positions of payer and payee in the month right after approval.
    pub payer_position: Option<Money>,
    pub payee_position: Option<Money>,
    pub recorded_at: i64,
    pub decided_at: Option<i64>,
}

impl HubTransaction {
    pub fn pending_payment(payment: CrossPayment, period: Period) -> HubTransaction {
        HubTransaction {
            kind: TxKind::Payment,
            payment,
            period,
            status: TxStatus::Pending,
            decline: None,
            payer_position: None,
            payee_position: None,
            recorded_at: now_millis(),
            decided_at: None,
        }
    }

    /// The province that owes the amount.
    pub fn payer(&self) -> ProvinceCode {
        self.payment.donor_province
    }

    /// The province that is owed the amount.
    pub fn payee(&self) -> ProvinceCode {
        self.payment.beneficiary_province
    }

    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }
}

/// A grant routed by the hub: the directory entry of a cross-province relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub grant: Grant,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub recorded_at: i64,
    pub decided_at: Option<i64>,
}

impl GrantRecord {
    pub fn answer(&self) -> Option<Result<(), Decline>> {
        match self.status {
            TxStatus::Pending => None,
            TxStatus::Approved => Some(Ok(())),
            TxStatus::Declined => Some(Err(self
                .decline
                .clone()
                .unwrap_or_else(|| Decline::new(gongji_common::contract::DeclineReason::RefusedByPeer, "declined")))),
        }
    }
}

/// A transaction between two provinces must cross a border.
pub fn check_crosses(field: &str, from: ProvinceCode, to: ProvinceCode) -> Result<(), FieldError> {
    if from == to {
        Err(FieldError::new(
            field,
            format!("both sides are in province {from}; same-province transactions never leave the node"),
        ))
    } else {
        Ok(())
    }
}
