//! The durable store: sled behind a small API of our own, so that no other
//! module names sled and the engine could change.
//!
//! - Each tree has one purpose; every crate lists its trees in one schema
//!   module. Trees 0 and 1 are always the journal and the balances.
//! - Values are JSON (readable in a pinch, easy to evolve); keys are built
//!   with [`key`] from parts joined by a separator that ids cannot contain,
//!   numbers big-endian so that ranges sort.
//! - Every tree lives in one sled tree, its keys prefixed with the tree's
//!   name (older data directories, one sled tree per tree, are moved into
//!   it when opened).
//! - All writes go through [`Store::transact`]: one serializable transaction
//!   over every tree, so a state change, its journal entry and its
//!   idempotency record land together or not at all. Transactions of one
//!   store run one at a time (a writer lock), reading through their own
//!   writes, which, when the closure succeeds, go to the memtable (see
//!   `memtable`: read before sled) and, as one record, to the log. sled
//!   receives them at checkpoints. Atomicity on a crash comes from the log
//!   (see `wal`), not from sled. Reads outside transactions see single
//!   keys, never a snapshot of several. Closures must have no side effects
//!   outside `Tx` (an aborted one leaves nothing behind).
//! - Nothing is durable until [`Store::durable`] returns: each transaction's
//!   writes are a record of the store's own write-ahead log (`wal`), and one
//!   flusher thread writes and syncs the log for every waiter that queued
//!   while the last sync ran (group commit). sled is flushed only at
//!   checkpoints; on opening, the log is replayed into it.

pub mod audit;
mod flusher;
pub mod journal;
mod memtable;
mod wal;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
};

use wal::Writes;

use serde::{de::DeserializeOwned, Serialize};

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
    #[error("the write-ahead log in {path} cannot be replayed: {detail}")]
    Log { path: PathBuf, detail: String },
    #[error("books would break: {0}")]
    Invariant(String),
}

/// Why a transaction closure stopped: a storage failure or a store error,
/// which abort the transaction. Built only by the `?` operator.
pub struct TxFail(StoreError);

impl From<StoreError> for TxFail {
    fn from(e: StoreError) -> Self {
        TxFail(e)
    }
}

impl From<sled::Error> for TxFail {
    fn from(e: sled::Error) -> Self {
        TxFail(StoreError::Engine(e))
    }
}

/// sled's page cache by default. Recent writes are read from the memtable,
/// so the cache serves older data; the process's memory is about twice this
/// plus the memtable (at most two log segments' writes).
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The sled tree that holds every tree of the store.
const DATA_TREE: &str = "gongji-data";

/// The key of the next number [`Tx::next_id`] hands out (no tree's prefix
/// starts with a NUL byte).
const NEXT_ID_KEY: &[u8] = b"\0next-id";

struct Inner {
    data: sled::Tree,
    /// Each tree's key prefix: its name and a NUL byte.
    prefixes: Vec<Vec<u8>>,
    names: Vec<&'static str>,
    /// The writer lock (transactions of this store are serial) and the
    /// log's tail.
    shared: Arc<flusher::Shared>,
    flusher: flusher::Flusher,
    db: sled::Db,
    /// Dropped last, after the database (fields drop in order): whoever
    /// waits in [`Store::release`] learns that the directory is free.
    released: Mutex<Vec<tokio::sync::oneshot::Sender<()>>>,
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
        Store::open_with_cache(path, app_trees, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with a sled page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, app_trees: &[&'static str], cache_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(path, app_trees, cache_bytes, wal::SEGMENT_BYTES)
    }

    /// [`Store::open`] with log segments closed at `segment_bytes`.
    #[cfg(test)]
    fn open_with_segments(path: &Path, app_trees: &[&'static str], segment_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(path, app_trees, DEFAULT_CACHE_BYTES, segment_bytes)
    }

    fn open_with(path: &Path, app_trees: &[&'static str], cache_bytes: u64, segment_bytes: u64) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            // sled is written only at checkpoints, each ending in a flush.
            .flush_every_ms(None)
            .open()
            .map_err(open_error)?;
        let names: Vec<&'static str> = BUILT_IN_TREES.iter().chain(app_trees).copied().collect();
        let data = db.open_tree(DATA_TREE).map_err(open_error)?;
        let prefixes: Vec<Vec<u8>> = names.iter().map(|name| tree_prefix(name)).collect();
        move_separate_trees(&db, &data, &names).map_err(open_error)?;
        let (next_lsn, segments) = replay_log(path, &db, &data, segment_bytes)?;
        let shared = Arc::new(flusher::Shared {
            tail: Mutex::new(Vec::new()),
            writer: Mutex::new(next_lsn),
            memtable: RwLock::new(memtable::Memtable::default()),
        });
        let flusher = flusher::Flusher::start(db.clone(), data.clone(), Arc::clone(&shared), segments);
        Ok(Store {
            inner: Arc::new(Inner {
                data,
                prefixes,
                names,
                shared,
                flusher,
                db,
                released: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Gives up this handle and waits, up to `patience`, until every other
    /// handle is gone and the database is closed, so that the directory can
    /// be opened again at once. False if some handle outlived `patience`.
    pub async fn release(self, patience: std::time::Duration) -> bool {
        let (closed, on_close) = tokio::sync::oneshot::channel();
        match self.inner.released.lock() {
            Ok(mut waiting) => waiting.push(closed),
            Err(poisoned) => poisoned.into_inner().push(closed),
        }
        drop(self);
        // The sender is never used: it is dropped with the store, which
        // completes the wait.
        tokio::time::timeout(patience, on_close).await.is_ok()
    }

    /// `key` of `tree` as stored: the tree's prefix, then the key.
    fn full_key(&self, tree: TreeId, key: &[u8]) -> Vec<u8> {
        let prefix = &self.inner.prefixes[tree.0];
        let mut full = Vec::with_capacity(prefix.len() + key.len());
        full.extend_from_slice(prefix);
        full.extend_from_slice(key);
        full
    }

    fn decode<T: DeserializeOwned>(&self, tree: TreeId, bytes: &[u8]) -> Result<T, StoreError> {
        decode(self.inner.names[tree.0], bytes)
    }

    /// The latest committed value of a stored key: the memtable's, else sled's.
    fn read_committed(&self, full_key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        if let Some(value) = self.inner.shared.memtable().lookup(full_key) {
            return Ok(value);
        }
        Ok(self.inner.data.get(full_key)?.map(|bytes| bytes.to_vec()))
    }

    /// The committed entries whose stored key starts with `full_prefix`, in
    /// key order, with the tree's prefix removed from the keys.
    fn scan_committed(&self, tree: TreeId, prefix: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + '_ {
        let full_prefix = self.full_key(tree, prefix);
        let recent = self.inner.shared.memtable().scan_prefix(&full_prefix);
        let skip = self.inner.prefixes[tree.0].len();
        memtable::Merge::new(recent.into_iter(), self.inner.data.scan_prefix(full_prefix)).map(move |item| {
            let (k, v) = item?;
            Ok((k[skip..].to_vec(), v))
        })
    }

    /// Reads one value outside any transaction.
    pub fn get<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.read_committed(&self.full_key(tree, key))? {
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
        self.scan_committed(tree, prefix).map(move |item| {
            let (k, v) = item?;
            Ok((k, self.decode(tree, &v)?))
        })
    }

    /// Iterates over the keys that start with `prefix`, in key order.
    pub fn scan_keys(&self, tree: TreeId, prefix: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.scan_committed(tree, prefix).map(|item| item.map(|(k, _)| k))
    }

    /// Number of entries in a tree (walks the tree; for status, not hot paths).
    pub fn count(&self, tree: TreeId) -> usize {
        self.scan_committed(tree, b"").count()
    }

    /// Runs `f` as one serializable transaction over every tree: `f` runs
    /// once, alone among this store's transactions, seeing its own writes;
    /// if it succeeds they are committed together (to the memtable and, as
    /// one record, to the log's tail), if it fails none is. `f` must have
    /// no side effects outside `Tx`.
    pub fn transact<R>(&self, f: impl Fn(&Tx) -> Result<R, TxFail>) -> Result<R, StoreError> {
        // A panic in another transaction leaves nothing half-applied (the
        // batch is applied whole or not at all), so a poisoned lock is safe.
        let mut next_lsn = self.inner.shared.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = Tx {
            store: self,
            writes: RefCell::new(BTreeMap::new()),
        };
        let result = f(&tx).map_err(|fail| fail.0)?;
        let writes = tx.writes.into_inner();
        if writes.is_empty() {
            return Ok(result);
        }
        let lsn = *next_lsn;
        {
            let mut tail = self.inner.shared.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            wal::encode_record(lsn, &writes, &mut tail);
        }
        self.inner.shared.memtable_mut().commit(writes);
        *next_lsn = lsn + 1;
        Ok(result)
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

/// The key prefix of the tree named `name`.
fn tree_prefix(name: &str) -> Vec<u8> {
    let mut prefix = name.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// Moves the trees of a data directory written before every tree shared
/// one sled tree into `data`, then drops them. Copying is idempotent and
/// each tree is dropped only once its copy is on disk, so a crash midway
/// is finished by the next open.
fn move_separate_trees(db: &sled::Db, data: &sled::Tree, names: &[&'static str]) -> Result<(), sled::Error> {
    for name in names {
        if !db.tree_names().iter().any(|existing| existing.as_ref() == name.as_bytes()) {
            continue;
        }
        let old = db.open_tree(name)?;
        let prefix = tree_prefix(name);
        for item in old.iter() {
            let (key, value) = item?;
            let mut full = prefix.clone();
            full.extend_from_slice(&key);
            data.insert(full, value)?;
        }
        db.flush()?;
        drop(old);
        db.drop_tree(name)?;
        db.flush()?;
    }
    Ok(())
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

/// Applies writes to sled, then the LSN of the last record they come from.
/// sled receives only writes the log holds on disk and recovers a prefix
/// of its writes after a crash, so its LSN is that of the last record it
/// holds whole; replaying the log from the next record restores any record
/// it holds only in part. (sled's own batches would do the same at the
/// price of a log write each.)
fn apply(data: &sled::Tree, lsn: u64, writes: &Writes) -> Result<(), sled::Error> {
    for (key, value) in writes {
        match value {
            Some(value) => data.insert(key.as_slice(), value.as_slice())?,
            None => data.remove(key.as_slice())?,
        };
    }
    data.insert(wal::LSN_KEY, &lsn.to_be_bytes())?;
    Ok(())
}

/// The LSN of the last record sled has applied (0: none).
fn applied_lsn(data: &sled::Tree) -> Result<u64, sled::Error> {
    Ok(data
        .get(wal::LSN_KEY)?
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Replays the log left in `path`/wal into sled (the records sled does not
/// have yet), makes sled durable, deletes the replayed segments and starts
/// a new one. Returns the next LSN and the new segment.
fn replay_log(path: &Path, db: &sled::Db, data: &sled::Tree, segment_bytes: u64) -> Result<(u64, flusher::Segments), StoreError> {
    let dir = wal::dir(path);
    let log_error = |detail: String| StoreError::Log { path: dir.clone(), detail };
    std::fs::create_dir_all(&dir).map_err(|e| log_error(e.to_string()))?;
    let found = wal::segments(&dir).map_err(|e| log_error(e.to_string()))?;
    let mut lsn = applied_lsn(data)?;
    let mut replayed = 0u64;
    for (i, (_, segment)) in found.iter().enumerate() {
        let last = i + 1 == found.len();
        let outcome = wal::read_segment(segment, |record| {
            if record.lsn > lsn {
                apply(data, record.lsn, &record.writes).map_err(|e| e.to_string())?;
                lsn = record.lsn;
                replayed += 1;
            }
            Ok(())
        });
        match outcome {
            Ok(()) => {}
            Err(wal::Damage::Torn { at }) if last => {
                tracing::warn!(segment = %segment.display(), at, "the log ends inside a record that was never acknowledged; dropped");
            }
            Err(wal::Damage::Corrupt { at, next, .. }) if last && !next.is_some_and(|n| wal::holds_a_record_at(segment, n)) => {
                // Nothing whole follows: a write cut short by the crash (torn
                // over the zeros a segment is created with), never acknowledged.
                tracing::warn!(segment = %segment.display(), at, "the log ends inside a record that was never acknowledged; dropped");
            }
            Err(wal::Damage::Torn { at }) => return Err(log_error(format!("{} ends inside a record at byte {at}", segment.display()))),
            Err(wal::Damage::Corrupt { at, detail, .. }) => {
                return Err(log_error(format!("{} is damaged at byte {at}: {detail}", segment.display())))
            }
            Err(wal::Damage::Io(e)) => return Err(log_error(format!("reading {}: {e}", segment.display()))),
        }
    }
    if replayed > 0 {
        tracing::info!(records = replayed, "replayed the write-ahead log");
    }
    let next_segment = found.last().map_or(1, |(number, _)| number + 1);
    if !found.is_empty() {
        db.flush()?;
        flusher::delete_before(&dir, next_segment).map_err(|e| log_error(e.to_string()))?;
    }
    let file = wal::create_segment(&dir, next_segment).map_err(|e| log_error(e.to_string()))?;
    Ok((
        lsn + 1,
        flusher::Segments {
            dir,
            current: next_segment,
            file,
            limit: segment_bytes,
        },
    ))
}

/// The view of the store inside a transaction: committed data overlaid
/// with the transaction's own writes.
pub struct Tx<'a> {
    store: &'a Store,
    writes: RefCell<Writes>,
}

impl Tx<'_> {
    fn name(&self, tree: TreeId) -> &'static str {
        self.store.inner.names[tree.0]
    }

    fn read(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>, TxFail> {
        self.read_stored(&self.store.full_key(tree, key))
    }

    /// A stored key as this transaction sees it.
    fn read_stored(&self, full_key: &[u8]) -> Result<Option<Vec<u8>>, TxFail> {
        if let Some(written) = self.writes.borrow().get(full_key) {
            return Ok(written.clone());
        }
        Ok(self.store.read_committed(full_key)?)
    }

    pub fn get<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>, TxFail> {
        match self.read(tree, key)? {
            Some(bytes) => Ok(Some(decode(self.name(tree), &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn contains(&self, tree: TreeId, key: &[u8]) -> Result<bool, TxFail> {
        Ok(self.read(tree, key)?.is_some())
    }

    pub fn put<T: Serialize>(&self, tree: TreeId, key: &[u8], value: &T) -> Result<(), TxFail> {
        let bytes = encode(self.name(tree), value)?;
        self.writes.borrow_mut().insert(self.store.full_key(tree, key), Some(bytes));
        Ok(())
    }

    pub fn remove(&self, tree: TreeId, key: &[u8]) -> Result<(), TxFail> {
        self.writes.borrow_mut().insert(self.store.full_key(tree, key), None);
        Ok(())
    }

    /// A number never handed out before by this store, in increasing
    /// order. The counter is a key of the store, so it is written, logged
    /// and recovered with the transaction that takes a number.
    pub fn next_id(&self) -> Result<u64, TxFail> {
        let counter = match self.read_stored(NEXT_ID_KEY)? {
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Invariant("the id counter is damaged".into()))?,
            // Stores written before the counter took their numbers from
            // sled's own generator, whose next number is above all of them.
            None => self.store.inner.db.generate_id()? + 1,
        };
        self.writes
            .borrow_mut()
            .insert(NEXT_ID_KEY.to_vec(), Some((counter + 1).to_be_bytes().to_vec()));
        Ok(counter)
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

    #[tokio::test]
    async fn release_waits_for_the_other_handles_then_the_directory_opens_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), APP).unwrap();
        store.transact(|tx| tx.put(THINGS, b"a", &"one".to_string())).unwrap();
        store.durable().await.unwrap();
        let elsewhere = store.clone();
        let held = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            drop(elsewhere);
        });
        let started = std::time::Instant::now();
        assert!(store.release(std::time::Duration::from_secs(5)).await);
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(150),
            "waited for the other handle"
        );
        let reopened = Store::open(dir.path(), APP).expect("free right after release");
        assert_eq!(reopened.get::<String>(THINGS, b"a").unwrap().as_deref(), Some("one"));
        held.await.unwrap();

        // A handle kept past the patience: release says so.
        let kept = reopened.clone();
        assert!(!reopened.release(std::time::Duration::from_millis(50)).await);
        drop(kept);
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
    fn a_transaction_reads_its_own_writes_and_an_aborted_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), APP).unwrap();
        let seen = store
            .transact(|tx| {
                tx.put(THINGS, b"a", &1u32)?;
                let first = tx.get::<u32>(THINGS, b"a")?;
                tx.remove(THINGS, b"a")?;
                let removed = tx.contains(THINGS, b"a")?;
                tx.put(THINGS, b"b", &2u32)?;
                Ok((first, removed))
            })
            .unwrap();
        assert_eq!(seen, (Some(1), false));
        assert_eq!(store.get::<u32>(THINGS, b"a").unwrap(), None);
        assert_eq!(store.get::<u32>(THINGS, b"b").unwrap(), Some(2));

        let aborted = store.transact(|tx| {
            tx.put(THINGS, b"c", &3u32)?;
            tx.remove(THINGS, b"b")?;
            Err::<(), _>(StoreError::Invariant("no".into()).into())
        });
        assert!(matches!(aborted, Err(StoreError::Invariant(_))));
        assert_eq!(store.get::<u32>(THINGS, b"c").unwrap(), None);
        assert_eq!(store.get::<u32>(THINGS, b"b").unwrap(), Some(2));
    }

    #[test]
    fn trees_are_apart_though_they_share_one_sled_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &["things", "thingsx"]).unwrap();
        let (things, thingsx) = (TreeId::app(0), TreeId::app(1));
        store
            .transact(|tx| {
                tx.put(things, b"k1", &1u32)?;
                tx.put(things, b"k2", &2u32)?;
                tx.put(thingsx, b"k1", &10u32)
            })
            .unwrap();
        let listed: Vec<(Vec<u8>, u32)> = store.scan_prefix(things, b"").map(Result::unwrap).collect();
        assert_eq!(listed, vec![(b"k1".to_vec(), 1), (b"k2".to_vec(), 2)]);
        assert_eq!(
            store.scan_keys(thingsx, b"k").map(Result::unwrap).collect::<Vec<_>>(),
            vec![b"k1".to_vec()]
        );
        assert_eq!((store.count(things), store.count(thingsx), store.count(JOURNAL)), (2, 1, 0));
    }

    #[tokio::test]
    async fn a_directory_with_one_sled_tree_per_tree_is_moved_into_the_shared_one() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The layout before: each tree its own sled tree, keys bare.
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("things")
                .unwrap()
                .insert(b"a", serde_json::to_vec(&"one").unwrap())
                .unwrap();
            db.open_tree("balances")
                .unwrap()
                .insert(b"x", serde_json::to_vec(&Money::from_fen(5)).unwrap())
                .unwrap();
            db.flush().unwrap();
        }
        {
            let store = Store::open(dir.path(), APP).unwrap();
            assert_eq!(store.get::<String>(THINGS, b"a").unwrap().as_deref(), Some("one"));
            assert_eq!(store.trial_balance().unwrap(), Money::from_fen(5));
            store.durable().await.unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let names: Vec<_> = db.tree_names().iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        assert!(
            !names.iter().any(|n| n == "things" || n == "balances"),
            "old trees dropped: {names:?}"
        );
    }

    #[test]
    fn keys_join_parts_and_prefixes_select_them() {
        assert_eq!(key(&[b"a", b"b"]), b"a\x1fb".to_vec());
        assert_eq!(key_prefix(&[b"a"]), b"a\x1f".to_vec());
        assert_eq!(last_key_part(b"a\x1fb\x1fc"), b"c");
    }
}

#[cfg(test)]
mod log_and_checkpoints {
    use super::*;

    const APP: &[&str] = &["things"];
    const THINGS: TreeId = TreeId::app(0);

    fn log_files(path: &Path) -> Vec<u64> {
        wal::segments(&wal::dir(path)).unwrap().into_iter().map(|(n, _)| n).collect()
    }

    fn things(store: &Store) -> Vec<(Vec<u8>, u32)> {
        store.scan_prefix(THINGS, b"").map(Result::unwrap).collect()
    }

    #[tokio::test]
    async fn checkpoints_move_writes_into_sled_and_delete_the_closed_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = BTreeMap::new();
        {
            let store = Store::open_with_segments(dir.path(), APP, 4096).unwrap();
            for i in 0..400u32 {
                let key = format!("k{:03}", i % 50).into_bytes();
                if i % 7 == 0 {
                    store.transact(|tx| tx.remove(THINGS, &key)).unwrap();
                    expected.remove(&key);
                } else {
                    store.transact(|tx| tx.put(THINGS, &key, &i)).unwrap();
                    expected.insert(key.clone(), i);
                }
                store.durable().await.unwrap();
                assert_eq!(store.get::<u32>(THINGS, &key).unwrap(), expected.get(&key).copied());
            }
            // Checkpoints run beside the flusher: wait for the last one.
            for _ in 0..200 {
                if !store.inner.shared.memtable().is_frozen() && log_files(dir.path()).len() <= 2 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let files = log_files(dir.path());
            assert!(
                files.len() <= 2 && files[0] >= 3,
                "several checkpoints, closed segments deleted: {files:?}"
            );
            assert_eq!(things(&store), expected.clone().into_iter().collect::<Vec<_>>());
            assert_eq!(store.count(THINGS), expected.len());
        }
        let store = Store::open_with_segments(dir.path(), APP, 4096).unwrap();
        assert_eq!(things(&store), expected.into_iter().collect::<Vec<_>>());
    }

    /// The files of a live store, as a process killed now would leave them.
    fn crash_image(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                crash_image(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn after_a_crash_numbers_continue_and_every_durable_entry_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let image = tempfile::tempdir().unwrap();
        let alice = Account::new(AccountKind::Available, "alice");
        let income = Account::new(AccountKind::Contributions, "");
        let credit = |n: i64| JournalEntry::transfer(&format!("c{n}"), "contribution", &income, &alice, Money::from_fen(n));
        let first: Vec<u64> = {
            let store = Store::open(dir.path(), APP).unwrap();
            let ids = (1..=5).map(|n| store.transact(|tx| tx.post(&credit(n))).unwrap()).collect();
            store.durable().await.unwrap();
            crash_image(dir.path(), &image.path().join("data"));
            ids
        };
        let store = Store::open(&image.path().join("data"), APP).unwrap();
        let later = store.transact(|tx| tx.post(&credit(6))).unwrap();
        assert!(first.iter().all(|id| *id < later), "{first:?} then {later}");
        assert_eq!(store.journal().count(), 6);
        assert_eq!(store.balance(&alice).unwrap(), Money::from_fen(21));
    }

    #[tokio::test]
    async fn replay_applies_only_the_records_sled_does_not_have() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), APP).unwrap();
            store.transact(|tx| tx.put(THINGS, b"x", &1u32)).unwrap();
            store.durable().await.unwrap();
        }
        let full = |key: &[u8]| {
            let mut k = tree_prefix("things");
            k.extend_from_slice(key);
            k
        };
        {
            // sled holds record 7 (x = 7); the log an older record 6 (x = 6,
            // y = 6) and a newer record 8 (z = 8).
            let db = sled::open(dir.path()).unwrap();
            let data = db.open_tree(DATA_TREE).unwrap();
            data.insert(full(b"x"), serde_json::to_vec(&7u32).unwrap()).unwrap();
            data.insert(wal::LSN_KEY, &7u64.to_be_bytes()).unwrap();
            db.flush().unwrap();
            let mut bytes = Vec::new();
            let put = |key: &[u8], n: u32| (full(key), Some(serde_json::to_vec(&n).unwrap()));
            wal::encode_record(6, &[put(b"x", 6), put(b"y", 6)].into_iter().collect(), &mut bytes);
            wal::encode_record(8, &[put(b"z", 8)].into_iter().collect(), &mut bytes);
            std::fs::write(wal::dir(dir.path()).join("00000000000000000090.log"), &bytes).unwrap();
        }
        let store = Store::open(dir.path(), APP).unwrap();
        assert_eq!(things(&store), vec![(b"x".to_vec(), 7), (b"z".to_vec(), 8)]);
    }

    /// The last segment and where its records end (zeros follow).
    fn last_segment(path: &Path) -> (PathBuf, Vec<u8>, usize) {
        let (_, segment) = wal::segments(&wal::dir(path)).unwrap().into_iter().next_back().unwrap();
        let bytes = std::fs::read(&segment).unwrap();
        let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |at| at + 1);
        (segment, bytes, end)
    }

    #[tokio::test]
    async fn a_record_torn_by_a_crash_is_dropped_and_damage_before_an_intact_one_stops_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let write_two = || async {
            let store = Store::open(dir.path(), APP).unwrap();
            store.transact(|tx| tx.put(THINGS, b"a", &1u32)).unwrap();
            store.transact(|tx| tx.put(THINGS, b"b", &2u32)).unwrap();
            store.durable().await.unwrap();
        };
        write_two().await;
        // The last record half written over the zeros: its end never made it.
        let (segment, mut bytes, end) = last_segment(dir.path());
        bytes[end - 4..end].fill(0);
        std::fs::write(&segment, &bytes).unwrap();
        {
            let store = Store::open(dir.path(), APP).unwrap();
            assert_eq!(things(&store), vec![(b"a".to_vec(), 1)], "the torn record b is dropped");
        }
        // A damaged record followed by an intact one is damage, not a torn end.
        write_two().await;
        let (segment, mut bytes, _) = last_segment(dir.path());
        bytes[12] ^= 0xff;
        std::fs::write(&segment, &bytes).unwrap();
        let err = Store::open(dir.path(), APP)
            .err()
            .expect("damage before an intact record stops the open");
        assert!(err.to_string().contains("damaged"), "{err}");
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
