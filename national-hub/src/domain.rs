//! What the hub records: cross-province transactions (payments, refunds,
//! reversals, account transfers) with their month stamp and the positions
//! they leave, and the directory of grants it routed.

use gongji_common::{
    contract::{CrossPayment, CrossRefund, CrossTransfer, Decline, DeclineReason, Grant, TxKind, TxStatus},
    period::now_millis,
    FieldError, Id, Money, Period, ProvinceCode,
};
use serde::{Deserialize, Serialize};

/// What a transaction carries, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxBody {
    Payment(CrossPayment),
    Refund(CrossRefund),
    /// The payment reversed (its id is the reversal's id).
    Reversal(CrossPayment),
    Transfer(CrossTransfer),
}

impl TxBody {
    pub fn kind(&self) -> TxKind {
        match self {
            TxBody::Payment(_) => TxKind::Payment,
            TxBody::Refund(_) => TxKind::Refund,
            TxBody::Reversal(_) => TxKind::Reversal,
            TxBody::Transfer(_) => TxKind::AccountTransfer,
        }
    }

    pub fn id(&self) -> &Id {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => &p.payment_id,
            TxBody::Refund(r) => &r.refund_id,
            TxBody::Transfer(t) => &t.transfer_id,
        }
    }

    pub fn key(&self) -> String {
        self.kind().key(self.id())
    }

    /// The province that owes the amount.
    /// The province whose node started the transaction and records it.
    pub fn origin(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => p.beneficiary_province,
            TxBody::Refund(r) => r.payment.beneficiary_province,
            TxBody::Transfer(t) => t.from_province,
        }
    }

    pub fn payer(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) => p.donor_province,
            TxBody::Refund(r) => r.payment.beneficiary_province,
            TxBody::Reversal(p) => p.beneficiary_province,
            TxBody::Transfer(t) => t.from_province,
        }
    }

    /// The province that is owed the amount.
    pub fn payee(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) => p.beneficiary_province,
            TxBody::Refund(r) => r.payment.donor_province,
            TxBody::Reversal(p) => p.donor_province,
            TxBody::Transfer(t) => t.to_province,
        }
    }

    pub fn amount(&self) -> Money {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => p.amount,
            TxBody::Refund(r) => r.amount,
            TxBody::Transfer(t) => t.amount,
        }
    }

    /// The province whose node decides (or confirms) the transaction.
    pub fn decider(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => p.donor_province,
            TxBody::Refund(r) => r.payment.donor_province,
            TxBody::Transfer(t) => t.to_province,
        }
    }

    /// The relationship the money came from, if any.
    pub fn relationship_id(&self) -> Option<&Id> {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => Some(&p.relationship_id),
            TxBody::Refund(r) => Some(&r.payment.relationship_id),
            TxBody::Transfer(_) => None,
        }
    }
}

/// A cross-province transaction as the hub recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubTransaction {
    pub body: TxBody,
    pub period: Period,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    /// Positions of payer and payee in the month right after approval.
    pub payer_position: Option<Money>,
    pub payee_position: Option<Money>,
    pub recorded_at: i64,
    pub decided_at: Option<i64>,
    /// For an approved payment later reversed: the month of the reversal.
    #[serde(default)]
    pub reversal_period: Option<Period>,
}

impl HubTransaction {
    pub fn pending(body: TxBody, period: Period) -> HubTransaction {
        HubTransaction {
            body,
            period,
            status: TxStatus::Pending,
            decline: None,
            payer_position: None,
            payee_position: None,
            recorded_at: now_millis(),
            decided_at: None,
            reversal_period: None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }

    /// The answer a node gets for this transaction.
    pub fn decision(&self) -> Result<(), Decline> {
        match (self.status, &self.decline) {
            (TxStatus::Approved, _) => Ok(()),
            (TxStatus::Reversed, _) => Err(Decline::new(
                DeclineReason::Reversed,
                "the payment was reversed; it can never be approved",
            )),
            (_, Some(decline)) => Err(decline.clone()),
            (_, None) => Err(Decline::new(DeclineReason::RefusedByPeer, "declined")),
        }
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
            TxStatus::Declined | TxStatus::Reversed => Some(Err(self
                .decline
                .clone()
                .unwrap_or_else(|| Decline::new(DeclineReason::RefusedByPeer, "declined")))),
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

/// The stage of a month at the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthState {
    Open,
    Closing,
    Closed,
    Reconciled,
    Settled,
}

impl MonthState {
    /// Cleared: nothing stamped with it can change any more.
    pub fn is_cleared(self) -> bool {
        self >= MonthState::Closed
    }
}

/// A month from its close on: its clearing, the provinces' answers, its settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRecord {
    pub period: Period,
    pub state: MonthState,
    pub closed_at: i64,
    pub cleared_at: Option<i64>,
    pub clearing: Option<ClearingResult>,
    pub confirmed: std::collections::BTreeMap<ProvinceCode, String>,
    pub disputes: std::collections::BTreeMap<ProvinceCode, Dispute>,
    pub settlement: Option<SettlementRecord>,
}

/// The clearing (清分) of a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingResult {
    /// Approved transactions stamped with the month.
    pub transactions: u64,
    /// Gross and count per ordered pair and kind, ordered.
    pub lines: Vec<PairLine>,
    /// Each province's statement totals (with its digest), by code.
    pub provinces: std::collections::BTreeMap<ProvinceCode, gongji_common::statement::Totals>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairLine {
    pub payer: ProvinceCode,
    pub payee: ProvinceCode,
    pub kind: TxKind,
    pub count: u64,
    pub gross: Money,
}

/// A province's dispute of its statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub digest: String,
    pub only_at_hub: u64,
    pub only_at_node: u64,
    pub amount_differs: u64,
    pub counterpart_differs: u64,
    pub detail: String,
    pub at: i64,
}

/// The settlement (清算) of a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub lines: Vec<SettleLine>,
    pub override_reason: Option<String>,
    pub operator: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleLine {
    pub province: ProvinceCode,
    pub net: Money,
    pub drawn: Money,
    pub paid: Money,
}

/// A statement line at the hub, with the province it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubLine {
    pub owner: ProvinceCode,
    pub line: gongji_common::statement::Line,
}

/// A deposit into or a withdrawal from a province's prepaid funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepaidOp {
    pub withdrawal: bool,
    pub province: ProvinceCode,
    pub amount: Money,
    pub operator: String,
    pub reason: String,
    pub at: i64,
    pub balance_after: Money,
    /// A withdrawal below the required level, on purpose (`force`).
    #[serde(default)]
    pub forced: bool,
}
