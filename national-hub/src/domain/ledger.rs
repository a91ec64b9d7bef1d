//! The hub's accounts, named as its rules see them, and the journal entries
//! its decisions post. `service` writes an [`Entry`] to the store's journal,
//! which keeps every entry balanced and every account that holds money
//! (prepaid funds, what was paid out) from going below zero.

use gongji_common::{Money, Period, ProvinceCode};

/// An account of the hub's books.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HubAccount {
    /// A province's position in a month: receivable minus payable.
    Position(ProvinceCode, Period),
    /// A province's position over all months not yet settled.
    Unsettled(ProvinceCode),
    /// A province's prepaid funds (预付金) held by the hub.
    Prepaid(ProvinceCode),
    /// Prepaid funds deposited from outside the hub, less withdrawals
    /// (negative by what the province put in).
    Deposits(ProvinceCode),
    /// What settlements paid out to a province.
    PaidOut(ProvinceCode),
}

/// One leg of an entry: a signed amount on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub account: HubAccount,
    pub amount: Money,
}

/// A balanced set of legs, with the transaction or operation it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What caused it: a transaction's key, an operation id, `settlement/YYYY-MM`.
    pub reference: String,
    /// What happened, in a word or two.
    pub memo: String,
    /// When, in Unix milliseconds.
    pub at: i64,
    pub legs: Vec<Leg>,
}

impl Entry {
    /// An entry that moves `amount` from one account to another.
    pub fn transfer(reference: &str, memo: &str, from: HubAccount, to: HubAccount, amount: Money, at: i64) -> Entry {
        Entry {
            reference: reference.to_owned(),
            memo: memo.to_owned(),
            at,
            legs: vec![
                Leg {
                    account: from,
                    amount: amount.negated(),
                },
                Leg { account: to, amount },
            ],
        }
    }
}
