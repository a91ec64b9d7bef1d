//! The books: the double-entry journal and the balance of every account,
//! kept in two tables of the store that every service opens (the store
//! itself knows nothing of them: they are tables like any other).
//!
//! A state change and its journal entry are written in one store
//! transaction ([`Post::post`]); an entry that does not balance, or that
//! would take an account that holds money below zero, abandons it. Reads of
//! the books ([`Ledger`]) work the same on the store and on a snapshot;
//! [`check_books`] is the audit of them.

mod audit;
mod journal;

use crate::{
    money::Money,
    store::{Reads, StoreError, Table, TreeId, Tx, TxFail},
};

pub use audit::{check_books, BooksCheck, Violations};
pub use journal::{Account, AccountKind, JournalEntry, Posting};

/// The double-entry journal: sequence number (u64, big-endian) → entry.
pub const JOURNAL: Table<[u8], JournalEntry> = Table::of(TreeId::common(0));
/// Running balance of every account: account key → amount.
pub const BALANCES: Table<str, Money> = Table::of(TreeId::common(1));
/// The names of the books' trees, opened first in every store.
pub const TREES: &[&str] = &["journal", "balances"];

/// Reading the books, from the store as it is on disk or from a snapshot.
pub trait Ledger {
    /// The balance of one account (zero if it never moved).
    fn balance(&self, account: &Account) -> Result<Money, StoreError>;
    /// The balance of every account, in account order.
    fn balances(&self) -> impl Iterator<Item = Result<(String, Money), StoreError>> + '_;
    /// The sum of every balance: zero when the books balance.
    fn trial_balance(&self) -> Result<Money, StoreError>;
    /// Journal entries in the order they were posted.
    fn journal(&self) -> impl Iterator<Item = Result<JournalEntry, StoreError>> + '_;
}

impl<R: Reads> Ledger for R {
    fn balance(&self, account: &Account) -> Result<Money, StoreError> {
        Ok(self.get(BALANCES, account.key().as_str())?.unwrap_or(Money::ZERO))
    }

    fn balances(&self) -> impl Iterator<Item = Result<(String, Money), StoreError>> + '_ {
        self.scan_prefix(BALANCES, b"").map(|item| {
            let (key, amount) = item?;
            Ok((String::from_utf8_lossy(&key).into_owned(), amount))
        })
    }

    fn trial_balance(&self) -> Result<Money, StoreError> {
        let mut sum = Money::ZERO;
        for item in self.balances() {
            let (_, amount) = item?;
            sum = sum.checked_add(amount).map_err(|e| StoreError::Invariant(e.to_string()))?;
        }
        Ok(sum)
    }

    fn journal(&self) -> impl Iterator<Item = Result<JournalEntry, StoreError>> + '_ {
        self.scan_prefix(JOURNAL, b"").map(|item| item.map(|(_, entry)| entry))
    }
}

/// Posting to the books inside a store transaction.
pub trait Post {
    /// The balance of an account as this transaction sees it.
    fn balance(&self, account: &Account) -> Result<Money, TxFail>;
    /// Posts a balanced journal entry and moves the balances it names;
    /// returns its sequence number. Refuses (abandoning the transaction) an
    /// unbalanced entry or one that would take an account that holds money
    /// below zero.
    fn post(&self, entry: &JournalEntry) -> Result<u64, TxFail>;
}

impl Post for Tx<'_> {
    fn balance(&self, account: &Account) -> Result<Money, TxFail> {
        Ok(self.get(BALANCES, &account.key())?.unwrap_or(Money::ZERO))
    }

    fn post(&self, entry: &JournalEntry) -> Result<u64, TxFail> {
        entry.check_balanced()?;
        for posting in &entry.postings {
            let before = Post::balance(self, &posting.account)?;
            let after = before
                .checked_add(posting.amount)
                .map_err(|e| StoreError::Invariant(e.to_string()))?;
            if after.is_negative() && !posting.account.kind.may_go_negative() {
                return Err(StoreError::Invariant(format!(
                    "entry {} would take {} to {after}",
                    entry.reference, posting.account
                )));
            }
            self.put(BALANCES, &posting.account.key(), &after)?;
        }
        let seq = self.next_id()?;
        self.put(JOURNAL, &seq.to_be_bytes(), entry)?;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests;
