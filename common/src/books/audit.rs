//! Checking a store's own books, for `gongji audit`: every journal entry
//! balances and is posted once, every balance equals the sum of its journal
//! postings, no account that holds money is negative, and the balances sum
//! to zero. Reads everything once; per-account sums and the set of seen
//! entries live in a temporary on-disk database, so memory stays flat
//! however large the journal is.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition};

use super::{AccountKind, Ledger};
use crate::money::Money;
use crate::store::{Reads, StoreError};

/// How many violations a report lists (the count is always complete).
const LISTED: usize = 100;

/// Violations found, counted in full and listed up to a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    pub count: u64,
    pub first: Vec<String>,
}

impl Violations {
    pub fn add(&mut self, violation: String) {
        self.count += 1;
        if self.first.len() < LISTED {
            self.first.push(violation);
        }
    }
}

/// What the books check found.
#[derive(Debug, Clone, Default)]
pub struct BooksCheck {
    pub trial_balance: Money,
    pub entries: u64,
    pub accounts: u64,
    /// Sum and number of accounts by account kind.
    pub totals: BTreeMap<String, (Money, u64)>,
    pub violations: Violations,
}

fn kind_of(key: &str) -> Option<AccountKind> {
    let kind = key.split('/').next()?;
    [
        AccountKind::Available,
        AccountKind::Quota,
        AccountKind::Contributions,
        AccountKind::Institution,
        AccountKind::Province,
        AccountKind::Position,
        AccountKind::Fund,
        AccountKind::Transit,
        AccountKind::Prepaid,
        AccountKind::Unsettled,
        AccountKind::PaidOut,
        AccountKind::Deposits,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
}

fn scratch_error(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Engine(e.into())
}

/// The journal's sum per account, in the scratch database.
const SUMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sums");
/// The entries seen (memo and reference), in the scratch database.
const SEEN: TableDefinition<&[u8], ()> = TableDefinition::new("seen");

/// Memory the scratch database may hold; the rest is in its file.
const SCRATCH_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Checks the journal against the balances of `books` (a snapshot, for one
/// consistent reading while writes go on).
pub fn check_books(books: &impl Reads) -> Result<BooksCheck, StoreError> {
    // An unnamed temporary file, gone when closed; one transaction that is
    // never committed holds the scratch tables.
    let file = tempfile::tempfile().map_err(scratch_error)?;
    let scratch = redb::Builder::new()
        .set_cache_size(SCRATCH_CACHE_BYTES)
        .create_with_backend(redb::backends::FileBackend::new(file))
        .map_err(scratch_error)?;
    let scratch = scratch.begin_write().map_err(scratch_error)?;
    let mut sums = scratch.open_table(SUMS).map_err(scratch_error)?;
    let mut seen = scratch.open_table(SEEN).map_err(scratch_error)?;
    let read = |bytes: &[u8]| -> Result<Money, StoreError> {
        String::from_utf8(bytes.to_vec())
            .map_err(|e| StoreError::Invariant(e.to_string()))
            .and_then(|text| Money::try_from(text).map_err(StoreError::Invariant))
    };
    let mut check = BooksCheck::default();
    let overflow = |e: crate::money::Overflow| StoreError::Invariant(e.to_string());

    for entry in books.journal() {
        let entry = entry?;
        check.entries += 1;
        if entry.check_balanced().is_err() {
            check
                .violations
                .add(format!("journal entry {} ({}) does not balance", entry.reference, entry.memo));
        }
        let once = format!("{}\u{1f}{}", entry.memo, entry.reference);
        if seen.insert(once.as_bytes(), ()).map_err(scratch_error)?.is_some() {
            check.violations.add(format!("{} {} was posted twice", entry.memo, entry.reference));
        }
        for posting in &entry.postings {
            let key = posting.account.key();
            let before = match sums.get(key.as_bytes()).map_err(scratch_error)? {
                Some(bytes) => read(bytes.value())?,
                None => Money::ZERO,
            };
            let after = before.checked_add(posting.amount).map_err(overflow)?;
            sums.insert(key.as_bytes(), after.to_string().as_bytes()).map_err(scratch_error)?;
        }
    }

    for item in books.balances() {
        let (account, balance) = item?;
        check.accounts += 1;
        check.trial_balance = check.trial_balance.checked_add(balance).map_err(overflow)?;
        let kind = kind_of(&account);
        let label = kind.map_or("unknown", AccountKind::as_str).to_owned();
        let total = check.totals.entry(label).or_insert((Money::ZERO, 0));
        total.0 = total.0.checked_add(balance).map_err(overflow)?;
        total.1 += 1;
        if kind.is_none() {
            check.violations.add(format!("account {account} is of no known kind"));
        }
        if balance.is_negative() && !kind.is_some_and(AccountKind::may_go_negative) {
            check
                .violations
                .add(format!("account {account} holds money and is negative: {balance}"));
        }
        let journal = match sums.remove(account.as_bytes()).map_err(scratch_error)? {
            Some(bytes) => read(bytes.value())?,
            None => Money::ZERO,
        };
        if journal != balance {
            check
                .violations
                .add(format!("account {account} has balance {balance} but its journal sums to {journal}"));
        }
    }
    for item in sums.iter().map_err(scratch_error)? {
        let (account, sum) = item.map_err(scratch_error)?;
        let sum = read(sum.value())?;
        if !sum.is_zero() {
            check.violations.add(format!(
                "account {} has journal postings summing to {sum} but no balance",
                String::from_utf8_lossy(account.value())
            ));
        }
    }
    if !check.trial_balance.is_zero() {
        check
            .violations
            .add(format!("the balances sum to {}, not 0.00", check.trial_balance));
    }
    Ok(check)
}

impl BooksCheck {
    /// The wire form, with the server's pending work and outbox.
    pub fn to_pb(&self, waiting: &crate::pending::Waiting) -> gongji_proto::v1::SelfCheckReport {
        gongji_proto::v1::SelfCheckReport {
            trial_balance: self.trial_balance.to_string(),
            journal_entries: self.entries,
            accounts: self.accounts,
            violation_count: self.violations.count,
            violations: self.violations.first.clone(),
            totals: self
                .totals
                .iter()
                .map(|(kind, (total, accounts))| gongji_proto::v1::AccountTotal {
                    kind: kind.clone(),
                    total: total.to_string(),
                    accounts: *accounts,
                })
                .collect(),
            pending: waiting.pending,
            outbox: waiting.outbox,
            pending_ids: waiting.pending_ids.clone(),
            outbox_ids: waiting.outbox_ids.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        books::{Account, JournalEntry, Post, BALANCES},
        store::Store,
    };

    #[tokio::test]
    async fn clean_books_pass_and_tampered_books_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &["things"]).unwrap();
        let income = Account::new(AccountKind::Contributions, "");
        let alice = Account::new(AccountKind::Available, "alice");
        store
            .transact(|tx| tx.post(&JournalEntry::transfer("c1", "contribution", &income, &alice, Money::from_fen(500))))
            .durable()
            .await
            .unwrap();
        let clean = check_books(&store.snapshot().unwrap()).unwrap();
        assert_eq!((clean.violations.count, clean.entries, clean.accounts), (0, 1, 2));
        assert_eq!(clean.totals["available"], (Money::from_fen(500), 1));

        // A balance changed behind the journal's back.
        store
            .transact(|tx| tx.put(BALANCES, alice.key().as_str(), &Money::from_fen(700)))
            .durable()
            .await
            .unwrap();
        let tampered = check_books(&store.snapshot().unwrap()).unwrap();
        assert!(
            tampered.violations.first.iter().any(|v| v.contains("journal sums to 5.00")),
            "{:?}",
            tampered.violations
        );
        assert!(
            tampered.violations.first.iter().any(|v| v.contains("sum to 2.00")),
            "{:?}",
            tampered.violations
        );
    }
}
