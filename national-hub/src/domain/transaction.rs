//! A cross-province transaction as the hub records it (payments, refunds,
//! reversals, account transfers, with their month stamp and the positions
//! they leave), and the two rules every routed transaction meets first: it
//! crosses a border, and the hub serves both its provinces.

use std::collections::BTreeSet;

use gongji_common::{
    contract::{CrossPayment, CrossRefund, CrossTransfer, CrossWallet, Decline, DeclineReason, TxKind, TxStatus},
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
    /// A wallet transfer's acceptance (its id is the wallet transfer's).
    Wallet(CrossWallet),
}

impl TxBody {
    pub fn kind(&self) -> TxKind {
        match self {
            TxBody::Payment(_) => TxKind::Payment,
            TxBody::Refund(_) => TxKind::Refund,
            TxBody::Reversal(_) => TxKind::Reversal,
            TxBody::Transfer(_) => TxKind::AccountTransfer,
            TxBody::Wallet(_) => TxKind::WalletTransfer,
        }
    }

    pub fn id(&self) -> &Id {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => &p.payment_id,
            TxBody::Refund(r) => &r.refund_id,
            TxBody::Transfer(t) => &t.transfer_id,
            TxBody::Wallet(w) => &w.transfer_id,
        }
    }

    /// Its key among the hub's transactions: kinds have their own id spaces.
    pub fn key(&self) -> String {
        self.kind().key(self.id())
    }

    /// The province whose node started the transaction and records it.
    pub fn origin(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => p.beneficiary_province,
            TxBody::Refund(r) => r.payment.beneficiary_province,
            TxBody::Transfer(t) => t.from_province,
            TxBody::Wallet(w) => w.recipient_province,
        }
    }

    /// The province that owes the amount.
    pub fn payer(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) => p.donor_province,
            TxBody::Refund(r) => r.payment.beneficiary_province,
            TxBody::Reversal(p) => p.beneficiary_province,
            TxBody::Transfer(t) => t.from_province,
            TxBody::Wallet(w) => w.sender_province,
        }
    }

    /// The province that is owed the amount.
    pub fn payee(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) => p.beneficiary_province,
            TxBody::Refund(r) => r.payment.donor_province,
            TxBody::Reversal(p) => p.donor_province,
            TxBody::Transfer(t) => t.to_province,
            TxBody::Wallet(w) => w.recipient_province,
        }
    }

    pub fn amount(&self) -> Money {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => p.amount,
            TxBody::Refund(r) => r.amount,
            TxBody::Transfer(t) => t.amount,
            TxBody::Wallet(w) => w.amount,
        }
    }

    /// The province whose node decides (or confirms) the transaction.
    pub fn decider(&self) -> ProvinceCode {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => p.donor_province,
            TxBody::Refund(r) => r.payment.donor_province,
            TxBody::Transfer(t) => t.to_province,
            TxBody::Wallet(w) => w.sender_province,
        }
    }

    /// The relationship the money came from, if any.
    pub fn relationship_id(&self) -> Option<&Id> {
        match self {
            TxBody::Payment(p) | TxBody::Reversal(p) => Some(&p.relationship_id),
            TxBody::Refund(r) => Some(&r.payment.relationship_id),
            TxBody::Transfer(_) | TxBody::Wallet(_) => None,
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
    /// A transaction recorded `now`, stamped with `period`, not yet decided.
    pub fn pending(body: TxBody, period: Period, now: i64) -> HubTransaction {
        HubTransaction {
            body,
            period,
            status: TxStatus::Pending,
            decline: None,
            payer_position: None,
            payee_position: None,
            recorded_at: now,
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

/// "A transaction between two provinces crosses a border": both sides in
/// one province is bad input (`field` names the side that should differ).
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

/// "The hub routes only between provinces it serves": declined
/// PROVINCE_NOT_CONNECTED, naming the first of `provinces` it does not
/// serve (of those `registered`).
pub fn check_connected(registered: &BTreeSet<ProvinceCode>, provinces: [ProvinceCode; 2]) -> Result<(), Decline> {
    match provinces.into_iter().find(|p| !registered.contains(p)) {
        Some(missing) => Err(Decline::new(
            DeclineReason::ProvinceNotConnected,
            format!("province {missing} is not connected to the national hub"),
        )),
        None => Ok(()),
    }
}
