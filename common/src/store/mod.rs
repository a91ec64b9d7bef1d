//! The durable store: sled behind a small API of our own, so that no other
//! module names sled and the engine could change.
//!
//! - Each tree has one purpose; every crate lists its trees in one schema
//!   module. Trees 0 and 1 are always the journal and the balances.
//! - Values are JSON (readable in a pinch, easy to evolve); keys are built
//!   with [`key`] from parts joined by a separator that ids cannot contain,
//!   numbers big-endian so that ranges sort.
//! - All writes go through [`Store::transact`]: one serializable transaction
//!   over every tree, so a state change, its journal entry and its
//!   idempotency record land together or not at all. Closures may run more
//!   than once (on conflict) and so must have no side effects.
//! - Nothing is durable until [`Store::durable`] returns: one flusher thread
//!   flushes for every waiter that queued while the last flush ran (group
//!   commit), which avoids sled's `flush_async` hangs under concurrency.

pub mod audit;
mod flusher;
pub mod journal;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional, TransactionalTree, UnabortableTransactionError};

use crate::money::Money;
pub use journal::{Account, AccountKind, JournalEntry, Posting};

/// A tree of the store, by position in the crate's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeId(usize);

/// The double-entry journal: sequence number (u64, big-endian) → entry.
pub const JOURNAL: TreeId = TreeId(0);
/// Running balance of every account: account name → amount.
pub const BALANCES: TreeId = TreeId(1);
const BUILT_IN_TREES: [&str; 2] = ["journal", "balances"];

impl TreeId {
    /// The `n`-th tree of a crate's own schema (after the built-in ones).
    pub const fn app(n: usize) -> TreeId {
        TreeId(n + BUILT_IN_TREES.len())
    }
}

/// Separator between key parts; ids and codes never contain it.
pub const KEY_SEPARATOR: u8 = 0x1f;

/// Joins key parts with [`KEY_SEPARATOR`].
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(KEY_SEPARATOR);
        }
        out.extend_from_slice(part);
    }
    out
}

/// The prefix of every key whose leading parts are `parts`.
pub fn key_prefix(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = key(parts);
    out.push(KEY_SEPARATOR);
    out
}

/// The last part of a key built with [`key`].
pub fn last_key_part(key: &[u8]) -> &[u8] {
    match key.iter().rposition(|b| *b == KEY_SEPARATOR) {
        Some(at) => &key[at + 1..],
        None => key,
    }
}

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the data directory {path}: {source} (is another process using it, or is it damaged?)")]
    Open { path: PathBuf, source: sled::Error },
    #[error("storage failure: {0}")]
    Engine(#[from] sled::Error),
    #[error("stored value in tree {tree} cannot be read: {detail}")]
    Encoding { tree: &'static str, detail: String },
    #[error("flushing to disk failed: {0}")]
    Flush(String),
    #[error("books would break: {0}")]
    Invariant(String),
}

/// Why a transaction closure stopped: a sled conflict (retried), a storage
/// failure, or a store error. Built only by the `?` operator.
pub struct TxFail(ConflictableTransactionError<StoreError>);

impl From<UnabortableTransactionError> for TxFail {
    fn from(e: UnabortableTransactionError) -> Self {
        TxFail(e.into())
    }
}

impl From<StoreError> for TxFail {
    fn from(e: StoreError) -> Self {
        TxFail(ConflictableTransactionError::Abort(e))
    }
}

struct Inner {
    trees: Vec<sled::Tree>,
    names: Vec<&'static str>,
    flusher: flusher::Flusher,
    db: sled::Db,
}

/// A handle on one node's data directory. Cheap to clone; the directory is
/// released when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the store in `path` with the crate's own trees.
    /// Fails with a clear error naming the path if the directory is locked
    /// by another process or cannot be read.
    pub fn open(path: &Path, app_trees: &[&'static str]) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(128 * 1024 * 1024)
            .open()
            .map_err(open_error)?;
        let names: Vec<&'static str> = BUILT_IN_TREES.iter().chain(app_trees).copied().collect();
        let trees = names
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(open_error)?;
        let flusher = flusher::Flusher::start(db.clone());
        Ok(Store {
            inner: Arc::new(Inner { trees, names, flusher, db }),
        })
    }

    fn tree(&self, tree: TreeId) -> &sled::Tree {
        &self.inner.trees[tree.0]
    }

    fn decode<T: DeserializeOwned>(&self, tree: TreeId, bytes: &[u8]) -> Result<T, StoreError> {
        decode(self.inner.names[tree.0], bytes)
    }

    /// Reads one value outside any transaction.
    pub fn get<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.tree(tree).get(key)? {
            Some(bytes) => Ok(Some(self.decode(tree, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Iterates over the entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix<T: DeserializeOwned>(
        &self,
        tree: TreeId,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), StoreError>> + '_ {
        self.tree(tree).scan_prefix(prefix).map(move |item| {
            let (k, v) = item?;
            Ok((k.to_vec(), self.decode(tree, &v)?))
        })
    }

    /// Iterates over the keys that start with `prefix`, in key order.
    pub fn scan_keys(&self, tree: TreeId, prefix: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.tree(tree).scan_prefix(prefix).keys().map(|k| Ok(k?.to_vec()))
    }

    /// Number of entries in a tree (walks the tree; for status, not hot paths).
    pub fn count(&self, tree: TreeId) -> usize {
        self.tree(tree).len()
    }

    /// Runs `f` as one serializable transaction over every tree. `f` may run
    /// several times, so it must not have side effects outside `Tx`.
    pub fn transact<R>(&self, f: impl Fn(&Tx) -> Result<R, TxFail>) -> Result<R, StoreError> {
        let result = self.inner.trees.as_slice().transaction(|trees: &Vec<TransactionalTree>| {
            let tx = Tx { store: self, trees };
            f(&tx).map_err(|fail| fail.0)
        });
        match result {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Engine(e)),
        }
    }

    /// Waits until everything written so far is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.inner.flusher.flush().await
    }

    /// The balance of every account, in account order.
    pub fn balances(&self) -> impl Iterator<Item = Result<(String, Money), StoreError>> + '_ {
        self.scan_prefix::<Money>(BALANCES, b"").map(|item| {
            let (k, v) = item?;
            Ok((String::from_utf8_lossy(&k).into_owned(), v))
        })
    }

    /// The balance of one account (zero if it never moved).
    pub fn balance(&self, account: &Account) -> Result<Money, StoreError> {
        Ok(self.get(BALANCES, account.key().as_bytes())?.unwrap_or(Money::ZERO))
    }

    /// The sum of every balance: zero when the books balance.
    pub fn trial_balance(&self) -> Result<Money, StoreError> {
        let mut sum = Money::ZERO;
        for item in self.balances() {
            let (_, amount) = item?;
            sum = sum.checked_add(amount).map_err(|e| StoreError::Invariant(e.to_string()))?;
        }
        Ok(sum)
    }

    /// Journal entries in the order they were posted.
    pub fn journal(&self) -> impl Iterator<Item = Result<JournalEntry, StoreError>> + '_ {
        self.scan_prefix::<JournalEntry>(JOURNAL, b"").map(|item| item.map(|(_, e)| e))
    }

    /// Size of the data on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.db.size_on_disk().unwrap_or(0)
    }
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Encoding {
        tree,
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encoding {
        tree,
        detail: e.to_string(),
    })
}

/// The view of the store inside a transaction.
pub struct Tx<'a> {
    store: &'a Store,
    trees: &'a [TransactionalTree],
}

impl Tx<'_> {
    fn name(&self, tree: TreeId) -> &'static str {
        self.store.inner.names[tree.0]
    }

    pub fn get<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>, TxFail> {
        match self.trees[tree.0].get(key)? {
            Some(bytes) => Ok(Some(decode(self.name(tree), &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn contains(&self, tree: TreeId, key: &[u8]) -> Result<bool, TxFail> {
        Ok(self.trees[tree.0].get(key)?.is_some())
    }

    pub fn put<T: Serialize>(&self, tree: TreeId, key: &[u8], value: &T) -> Result<(), TxFail> {
        let bytes = encode(self.name(tree), value)?;
        self.trees[tree.0].insert(key, bytes)?;
        Ok(())
    }

    pub fn remove(&self, tree: TreeId, key: &[u8]) -> Result<(), TxFail> {
        self.trees[tree.0].remove(key)?;
        Ok(())
    }

    /// A number never handed out before by this store (not contiguous).
    pub fn next_id(&self) -> Result<u64, TxFail> {
        self.trees[JOURNAL.0]
            .generate_id()
            .map_err(|e| TxFail(ConflictableTransactionError::Storage(e)))
    }

    /// The balance of an account as this transaction sees it.
    pub fn balance(&self, account: &Account) -> Result<Money, TxFail> {
        Ok(self.get(BALANCES, account.key().as_bytes())?.unwrap_or(Money::ZERO))
    }

    /// Posts a balanced journal entry and moves the balances it names.
    /// Refuses (aborting the transaction) an unbalanced entry or one that
    /// would take an account that holds money below zero.
    pub fn post(&self, entry: &JournalEntry) -> Result<u64, TxFail> {
        entry.check_balanced()?;
        for posting in &entry.postings {
            let before = self.balance(&posting.account)?;
            let after = before
                .checked_add(posting.amount)
                .map_err(|e| StoreError::Invariant(e.to_string()))?;
            if after.is_negative() && !posting.account.kind.may_go_negative() {
                return Err(StoreError::Invariant(format!("entry {} would take {} to {after}", entry.reference, posting.account)).into());
            }
            self.put(BALANCES, posting.account.key().as_bytes(), &after)?;
        }
        let seq = self.next_id()?;
        self.put(JOURNAL, &seq.to_be_bytes(), entry)?;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &[&str] = &["things"];
    const THINGS: TreeId = TreeId::app(0);

    #[tokio::test]
    async fn writes_survive_reopening_after_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), APP).unwrap();
            store.transact(|tx| tx.put(THINGS, b"a", &"one".to_string())).unwrap();
            store.durable().await.unwrap();
        }
        let store = Store::open(dir.path(), APP).unwrap();
        assert_eq!(store.get::<String>(THINGS, b"a").unwrap().as_deref(), Some("one"));
    }

    #[test]
    fn a_second_open_of_the_same_directory_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), APP).unwrap();
        let err = Store::open(dir.path(), APP).err().expect("second open must fail");
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn the_journal_refuses_unbalanced_entries_and_negative_holdings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), APP).unwrap();
        let alice = Account::new(AccountKind::Available, "alice");
        let income = Account::new(AccountKind::Contributions, "");
        let credit = JournalEntry::transfer("c1", "contribution", &income, &alice, Money::from_fen(1000));
        store.transact(|tx| tx.post(&credit)).unwrap();
        assert_eq!(store.balance(&alice).unwrap(), Money::from_fen(1000));

        let mut unbalanced = credit.clone();
        unbalanced.postings[0].amount = Money::from_fen(-1);
        assert!(matches!(store.transact(|tx| tx.post(&unbalanced)), Err(StoreError::Invariant(_))));

        let overdraw = JournalEntry::transfer("c2", "overdraw", &alice, &income, Money::from_fen(1001));
        assert!(matches!(store.transact(|tx| tx.post(&overdraw)), Err(StoreError::Invariant(_))));
        assert_eq!(store.balance(&alice).unwrap(), Money::from_fen(1000));
        assert_eq!(store.trial_balance().unwrap(), Money::ZERO);
        assert_eq!(store.journal().count(), 1);
    }

    #[test]
    fn keys_join_parts_and_prefixes_select_them() {
        assert_eq!(key(&[b"a", b"b"]), b"a\x1fb".to_vec());
        assert_eq!(key_prefix(&[b"a"]), b"a\x1f".to_vec());
        assert_eq!(last_key_part(b"a\x1fb\x1fc"), b"c");
    }
}

#[cfg(test)]
mod opening {
    use super::*;

    #[test]
    fn a_data_directory_that_cannot_be_read_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_directory = dir.path().join("data");
        std::fs::write(&not_a_directory, b"not a database").unwrap();
        let err = Store::open(&not_a_directory, &[]).err().expect("a file is no data directory");
        assert!(err.to_string().contains(&not_a_directory.display().to_string()), "{err}");
    }
}
