//! The double-entry journal and the network's chart of accounts.
//!
//! Every change of a balance is one entry whose postings sum to zero, written
//! in the same transaction as the state change it belongs to. A positive
//! balance is money held for (or owed to) the party the account names; a
//! negative one is a claim on that party. So at every node the balances sum to
//! zero, and across nodes the inter-province accounts mirror each other.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::{money::Money, period::now_millis};

/// What an account holds. The kind decides whether it may go negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A person's personal-account balance that they may spend (node).
    Available,
    /// The remaining frozen quota of one relationship (node, donor's side).
    Quota,
    /// Contributions received from outside the network: goes negative by
    /// exactly what was credited into personal accounts (node).
    Contributions,
    /// What this node owes a designated institution for payments (node).
    Institution,
    /// What this node owes another province for a month: positive when this
    /// province pays, negative when it is owed (node). Name: `CODE/YYYY-MM`.
    Province,
    /// A province's net position in a month at the hub: receivable minus
    /// payable (hub). Name: `CODE/YYYY-MM`.
    Position,
    /// A province fund that received contributions paid from quotas (node).
    /// Name: `resident-insurance` or `long-term-care`.
    Fund,
    /// A personal-account balance held while an insurance transfer is in
    /// flight (node). Name: the transfer id.
    Transit,
    /// A province's prepaid funds (预付金) held by the hub. Name: `CODE`.
    Prepaid,
    /// A province's net position over all months not yet settled (hub):
    /// receivable minus payable. Name: `CODE`.
    Unsettled,
    /// What settlements paid out to a province (hub). Name: `CODE`.
    PaidOut,
    /// Prepaid funds deposited from outside the hub, less withdrawals (hub):
    /// goes negative by what provinces put in. Name: `CODE`.
    Deposits,
}

impl AccountKind {
    /// Accounts that hold a party's money never go below zero; accounts that
    /// record flows and claims may.
    pub fn may_go_negative(self) -> bool {
        match self {
            AccountKind::Available
            | AccountKind::Quota
            | AccountKind::Institution
            | AccountKind::Fund
            | AccountKind::Transit
            | AccountKind::Prepaid
            | AccountKind::PaidOut => false,
            AccountKind::Contributions | AccountKind::Province | AccountKind::Position | AccountKind::Unsettled | AccountKind::Deposits => {
                true
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Available => "available",
            AccountKind::Quota => "quota",
            AccountKind::Contributions => "contributions",
            AccountKind::Institution => "institution",
            AccountKind::Province => "province",
            AccountKind::Position => "position",
            AccountKind::Fund => "fund",
            AccountKind::Transit => "transit",
            AccountKind::Prepaid => "prepaid",
            AccountKind::Unsettled => "unsettled",
            AccountKind::PaidOut => "paid_out",
            AccountKind::Deposits => "deposits",
        }
    }
}

/// One account: a kind and the name of what it is for (a person, a
/// relationship, an institution, a province and month).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Account {
    pub kind: AccountKind,
    pub name: String,
}

impl Account {
    pub fn new(kind: AccountKind, name: impl Into<String>) -> Account {
        Account { kind, name: name.into() }
    }

    /// The key of its balance: `kind/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One leg of an entry: a signed amount on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: Account,
    pub amount: Money,
}

/// A balanced set of postings with the transaction it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Id of the transaction that caused it (payment, contribution, …).
    pub reference: String,
    /// What happened, in a word or two ("payment", "quota frozen").
    pub memo: String,
    /// When it was posted, Unix milliseconds.
    pub at: i64,
    pub postings: Vec<Posting>,
}

impl JournalEntry {
    /// An entry that moves `amount` from one account to another.
    pub fn transfer(reference: &str, memo: &str, from: &Account, to: &Account, amount: Money) -> JournalEntry {
        JournalEntry {
            reference: reference.to_owned(),
            memo: memo.to_owned(),
            at: now_millis(),
            postings: vec![
                Posting {
                    account: from.clone(),
                    amount: amount.negated(),
                },
                Posting {
                    account: to.clone(),
                    amount,
                },
            ],
        }
    }

    pub(super) fn check_balanced(&self) -> Result<(), StoreError> {
        if self.postings.is_empty() {
            return Err(StoreError::Invariant(format!("entry {} has no postings", self.reference)));
        }
        let mut sum = Money::ZERO;
        for posting in &self.postings {
            sum = sum.checked_add(posting.amount).map_err(|e| StoreError::Invariant(e.to_string()))?;
        }
        if !sum.is_zero() {
            return Err(StoreError::Invariant(format!(
                "entry {} does not balance: off by {sum}",
                self.reference
            )));
        }
        Ok(())
    }
}
