//! The durable store, behind a small API of our own so that no other module
//! names an engine: embedded (our write-ahead log in front of a redb file in
//! the data directory) or PostgreSQL (`postgres`).
//!
//! - Each tree has one purpose; every crate declares its trees in one list
//!   ([`tables!`](crate::tables)), after the common crate's own (the books,
//!   `crate::books`), which every store opens first. The store knows only
//!   keys and values: what they mean belongs to the crates.
//! - Values are JSON (readable in a pinch, easy to evolve); keys are built
//!   with [`key`] from parts joined by a separator that ids cannot contain,
//!   numbers big-endian so that ranges sort. Every tree lives in one table
//!   of the database, its keys prefixed with the tree's name.
//! - All writes go through [`Store::transact`]: one serializable transaction
//!   over every tree, so a state change, its journal entry and its
//!   idempotency record land together or not at all. Transactions of one
//!   store run one at a time (a writer lock), each seeing every transaction
//!   committed before it, and return a [`Committed`] ticket.
//! - **Nothing is acted on before it is on disk.** A committed
//!   transaction's writes are one record of the write-ahead log (`wal`);
//!   one flusher thread writes and syncs the log for every waiter at once
//!   (group commit). Until its record is on disk, a write is seen only by
//!   later transactions (`unsynced`), whose own tickets then wait for it:
//!   [`Committed::durable`] returns the result once every record the
//!   transaction wrote or read is on disk. Reads outside transactions
//!   ([`Store::get`], scans) see only what is on disk. So no answer, call to
//!   another server, outbox notice or recovery step can rest on a write a
//!   crash could take back.
//! - A failed log write stops the store: no transaction is taken after it,
//!   nothing from the failed batch is ever seen, and [`Store::failure`]
//!   says why (the server reports NOT_SERVING and refuses with
//!   UNAVAILABLE); a restart replays only what is on disk.
//! - The embedded database receives the writes at checkpoints (`flusher`,
//!   `embedded`); on opening, the
//!   log is checked and replayed (`recovery`): a data directory whose
//!   acknowledged records are damaged or missing is refused with what was
//!   found, never opened on half its state.

mod embedded;
mod faults;
mod flusher;
mod known;
mod memtable;
mod postgres;
mod recovery;
mod table;
mod unsynced;
mod wal;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{atomic::Ordering, Arc, Mutex},
};

use serde::{de::DeserializeOwned, Serialize};
use wal::Writes;

pub use faults::Faults;
pub use postgres::{redacted, DatabaseReads, SCHEMA_VERSION};
pub use recovery::{Damage, LogReport, SegmentReport};
pub use table::Table;
pub use wal::{Ending, SegmentScan};

/// A tree of the store, by position in the crate's list (see [`Table`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeId(usize);

/// The common crate's own trees (the books), first in every store.
const COMMON_TREES: &[&str] = crate::books::TREES;

impl TreeId {
    /// The `n`-th tree of a crate's own schema (after the common crate's).
    pub const fn app(n: usize) -> TreeId {
        TreeId(n + COMMON_TREES.len())
    }

    /// The `n`-th of the common crate's own trees.
    pub(crate) const fn common(n: usize) -> TreeId {
        TreeId(n)
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

/// What to do about a damaged data directory, said with every refusal.
const WHAT_TO_DO: &str = "Records that were acknowledged may be missing, so the server does not start on what is left. \
Run `gongji doctor DATA_DIR` to see what is on disk (it changes nothing). Restore the data directory from a backup or a copy; \
only if you accept losing these records, move the damaged file aside, start, and run `gongji audit` on the whole network";

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the data directory {path}: {detail} (is another process using it?)")]
    Open { path: PathBuf, detail: String },
    #[error("the data directory {path} {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("the data directory {path} is damaged: {damage}. {WHAT_TO_DO}")]
    Damaged { path: PathBuf, damage: Damage },
    #[error("storage failure: {0}")]
    Engine(#[from] redb::Error),
    /// The PostgreSQL engine failed a read or could not start.
    #[error("the database: {0}")]
    Database(String),
    /// Another process writes the store (it holds the database's lease).
    #[error("another process writes {place} (the lease is held{}); one process at a time writes a store", holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    LeaseHeld { place: String, holder: Option<String> },
    #[error("stored value in tree {tree} cannot be read: {detail}")]
    Encoding { tree: &'static str, detail: String },
    /// The log failed: the store takes no more writes.
    #[error("the store takes no more writes ({0}); restart the server once the cause is fixed: everything acknowledged is on disk")]
    Failed(String),
    #[error("the write-ahead log in {path}: {detail}")]
    Log { path: PathBuf, detail: String },
    #[error("books would break: {0}")]
    Invariant(String),
}

impl StoreError {
    /// Whether the store cannot serve at all now (its log failed), as
    /// opposed to a fault of one request: callers answer UNAVAILABLE.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Failed(_) | StoreError::Database(_))
    }
}

/// The error a transaction's store operations return. Any error the
/// closure returns (this one or the caller's own) aborts the transaction.
pub type TxFail = StoreError;

/// The embedded database's page cache by default (its write buffer is half
/// of it). Recent writes are read from the memtable, so the cache serves
/// older data; the process's memory is about this plus the memtable (at
/// most two log segments' writes).
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The key of the next number [`Tx::next_id`] hands out (no tree's prefix
/// starts with a NUL byte).
const NEXT_ID_KEY: &[u8] = b"\0next-id";

/// The file that names the layout of a data directory, and this version's.
const FORMAT_FILE: &str = "FORMAT";
const FORMAT: &str = "gongji-store 3";

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The embedded database's page cache.
    pub cache_bytes: u64,
    /// A log segment is closed (and a checkpoint taken) at this size.
    pub segment_bytes: u64,
    /// Faults injected into the log (tests only; none by default).
    pub faults: Arc<Faults>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            segment_bytes: wal::SEGMENT_BYTES,
            faults: Arc::default(),
        }
    }
}

/// The flags every server has for its store.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreFlags {
    /// Keep the books in this PostgreSQL database instead of the embedded
    /// store in --data-dir: `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST2[:PORT2]]/DATABASE`
    /// (several hosts with `?target_session_attrs=read-write` follow the
    /// writable one). One process writes a database at a time.
    #[arg(long = "store", env = "GONGJI_STORE", value_name = "URL", hide_env_values = true)]
    pub url: Option<String>,

    /// Faults injected into the store, for tests only: `stall-ms=N` (each
    /// log write waits N ms first), `fail-write=N` (the N-th log write
    /// fails as on a full disk), `fail-commit=N` (the N-th commit into the
    /// embedded database fails: a checkpoint, or the replay at opening),
    /// comma-separated.
    #[arg(long, env = "GONGJI_STORE_FAULTS", hide = true)]
    pub store_faults: Option<String>,
}

impl StoreFlags {
    /// Opens the server's store: the PostgreSQL database of `--store`, or
    /// the embedded store in `data_dir`. `holder` names this server in the
    /// database's lease (its address), for whoever finds it taken.
    pub fn open(&self, data_dir: &Path, trees: &[&'static str], cache_bytes: u64, holder: &str) -> Result<Store, StoreError> {
        let options = self.options(cache_bytes).map_err(|detail| StoreError::Open {
            path: data_dir.to_owned(),
            detail,
        })?;
        match &self.url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Store::open_postgres(url, trees, holder, options)
            }
            Some(url) => Err(StoreError::Database(format!(
                "--store {}: not a PostgreSQL URL (postgres://USER@HOST/DATABASE); leave --store out for the embedded store in --data-dir",
                redacted(url)
            ))),
            None => Store::open_with(data_dir, trees, options),
        }
    }

    /// Where the books are, for a log line: the database's URL without its
    /// password, or the data directory.
    pub fn place(&self, data_dir: &Path) -> String {
        match &self.url {
            Some(url) => redacted(url),
            None => data_dir.display().to_string(),
        }
    }

    /// The options to open the store with, `cache_bytes` of database cache.
    pub fn options(&self, cache_bytes: u64) -> Result<StoreOptions, String> {
        let faults = match &self.store_faults {
            Some(text) => {
                let faults = Faults::parse(text)?;
                tracing::warn!(faults = %text, "faults are injected into the store's log (--store-faults): for tests only");
                faults
            }
            None => Faults::none(),
        };
        Ok(StoreOptions {
            cache_bytes,
            faults: Arc::new(faults),
            ..StoreOptions::default()
        })
    }
}

struct Inner {
    /// Each tree's key prefix: its name and a NUL byte.
    prefixes: Vec<Vec<u8>>,
    names: Vec<&'static str>,
    /// The writer lock, the records not yet on disk, the memtable.
    shared: Arc<flusher::Shared>,
    flusher: flusher::Flusher,
    /// Dropped after the flusher, which writes to it until it stops.
    engine: Engine,
    /// Dropped last, after the database (fields drop in order): whoever
    /// waits in [`Store::release`] learns that the directory is free.
    released: Mutex<Vec<tokio::sync::oneshot::Sender<()>>>,
}

/// Where the records are, below the records not yet durable.
enum Engine {
    /// A redb database in a data directory, behind the write-ahead log:
    /// records on disk that the database does not hold yet are in the
    /// memtable (see `embedded`).
    Embedded { db: Arc<redb::Database>, file: PathBuf },
    /// A PostgreSQL database (see `postgres`).
    Postgres(Arc<postgres::Database>),
}

/// A PostgreSQL store whose lease another process holds: see
/// [`Store::stand_by`].
pub struct Standby {
    candidate: postgres::Candidate,
    app_trees: &'static [&'static str],
    options: StoreOptions,
}

impl Standby {
    /// Takes the lease and opens the store, in the name of `holder`; or,
    /// while another process holds it, gives the standby back with the
    /// holder's name (as the lease records it). Blocks on the database.
    pub fn try_activate(self, holder: &str) -> Result<Result<Store, (Standby, Option<String>)>, StoreError> {
        let Standby {
            candidate,
            app_trees,
            options,
        } = self;
        Ok(match candidate.try_lease(holder)? {
            Ok(database) => Ok(Store::on_database(database, app_trees, options)),
            Err((candidate, held_by)) => Err((
                Standby {
                    candidate,
                    app_trees,
                    options,
                },
                held_by,
            )),
        })
    }
}

/// A handle on one node's data directory. Cheap to clone; the directory is
/// released when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The outcome of a transaction, to be acted on only once
/// [`Committed::durable`] has returned it: then every record the
/// transaction wrote or read is on disk. A refusal is such an outcome too:
/// it was decided on what the transaction read, so it is not answered
/// before that is durable either.
#[must_use = "a transaction's outcome may be answered or acted on only once `durable` returns it"]
pub struct Committed<'a, R, E> {
    store: &'a Store,
    /// The last record the transaction wrote or could have read.
    lsn: u64,
    outcome: Result<R, E>,
}

impl<R, E: From<StoreError>> Committed<'_, R, E> {
    /// Waits until the transaction's writes, and every write it read, are
    /// on disk; then its outcome (a result or a refusal) may be answered or
    /// acted on. Fails (the outcome must then be dropped) if the log failed.
    pub async fn durable(self) -> Result<R, E> {
        self.store.wait_durable(self.lsn).await?;
        self.outcome
    }

    /// The outcome without waiting for the disk: only for a change whose
    /// loss in a crash nobody outside this store could notice (it is neither
    /// answered nor told to anyone, such as an outbox's bookkeeping).
    pub fn unconfirmed(self) -> Result<R, E> {
        self.outcome
    }
}

impl Store {
    /// Opens (or creates) the store in `path` with the crate's own trees.
    /// Fails with a clear error naming the path if the directory is locked
    /// by another process, cannot be read, is of another format, or is
    /// damaged.
    pub fn open(path: &Path, app_trees: &[&'static str]) -> Result<Store, StoreError> {
        Store::open_with(path, app_trees, StoreOptions::default())
    }

    /// [`Store::open`] with its options.
    pub fn open_with(path: &Path, app_trees: &[&'static str], options: StoreOptions) -> Result<Store, StoreError> {
        check_format(path)?;
        let db = embedded::open(path, options.cache_bytes).map_err(|detail| StoreError::Open {
            path: path.to_owned(),
            detail,
        })?;
        let names: Vec<&'static str> = COMMON_TREES.iter().chain(app_trees).copied().collect();
        let segments = replay_log(path, &db, &options)?;
        let shared = Arc::new(flusher::Shared::new(segments.1, Arc::clone(&options.faults)));
        let flusher = flusher::Flusher::start(flusher::Log::start(Arc::clone(&db), &shared, segments.0), Arc::clone(&shared));
        let file = embedded::database_path(path);
        Ok(Store::new(names, shared, flusher, Engine::Embedded { db, file }))
    }

    /// Opens (or creates) the store in the PostgreSQL database at `url`
    /// with the crate's own trees, taking the database's lease in the name
    /// of `holder` (an address, for the messages of whoever finds it taken).
    /// Fails with a clear error if the database cannot be reached, holds a
    /// schema newer than this binary's, or is written by another process.
    pub fn open_postgres(url: &str, app_trees: &[&'static str], holder: &str, options: StoreOptions) -> Result<Store, StoreError> {
        Ok(Store::on_database(postgres::Database::open(url, holder)?, app_trees, options))
    }

    /// Connects to the PostgreSQL store at `url` without taking its lease:
    /// a standby, which takes it (and opens the store) when its holder
    /// lets go ([`Standby::try_activate`]).
    pub fn stand_by(url: &str, app_trees: &'static [&'static str], options: StoreOptions) -> Result<Standby, StoreError> {
        Ok(Standby {
            candidate: postgres::Candidate::connect(url)?,
            app_trees,
            options,
        })
    }

    fn on_database(database: postgres::Database, app_trees: &[&'static str], options: StoreOptions) -> Store {
        let names: Vec<&'static str> = COMMON_TREES.iter().chain(app_trees).copied().collect();
        let database = Arc::new(database);
        let shared = Arc::new(flusher::Shared::new(1, Arc::clone(&options.faults)));
        let flusher = flusher::Flusher::start(postgres::Writer::new(Arc::clone(&database)), Arc::clone(&shared));
        Store::new(names, shared, flusher, Engine::Postgres(database))
    }

    fn new(names: Vec<&'static str>, shared: Arc<flusher::Shared>, flusher: flusher::Flusher, engine: Engine) -> Store {
        Store {
            inner: Arc::new(Inner {
                prefixes: names.iter().map(|name| tree_prefix(name)).collect(),
                names,
                shared,
                flusher,
                engine,
                released: Mutex::new(Vec::new()),
            }),
        }
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

    /// The faults injected into this store's log (tests only).
    pub fn faults(&self) -> &Faults {
        &self.inner.shared.faults
    }

    /// Why this store takes no more writes (its log failed), if it does not.
    pub fn failure(&self) -> Option<String> {
        self.inner.shared.failure()
    }

    /// Whether the store failed because another process took its lease (a
    /// PostgreSQL store whose writes a newer holder fenced off): the process
    /// may stand by and take the lease again, unlike after a broken disk.
    pub fn deposed(&self) -> bool {
        self.failure().is_some() && self.inner.shared.deposed.load(Ordering::SeqCst)
    }

    /// Completes when the store's log fails, with why.
    pub fn failed(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut failure = self.inner.shared.failure.subscribe();
        async move {
            let why = match failure.wait_for(Option::is_some).await {
                Ok(why) => why.clone().unwrap_or_default(),
                Err(_) => String::new(),
            };
            if why.is_empty() {
                // The store is gone: it never fails now.
                std::future::pending::<()>().await;
            }
            why
        }
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            inner: &self.inner,
            view: View::Live,
        }
    }

    /// Reads one value, as on disk.
    pub fn get<K: AsRef<[u8]> + ?Sized, V: DeserializeOwned>(&self, table: Table<K, V>, key: &K) -> Result<Option<V>, StoreError> {
        self.reader().get(table, key.as_ref())
    }

    /// Brings `key`'s record (or its absence) into memory before a
    /// transaction reads it, so the transaction does not wait for the
    /// database while it holds the writer lock. A hint: it changes nothing,
    /// and does nothing on the embedded engine (its reads are local).
    pub async fn warm<K: AsRef<[u8]> + ?Sized, V>(&self, table: Table<K, V>, key: &K) {
        self.warming().key(table, key).read().await;
    }

    /// Several records brought into memory together, as [`Store::warm`]
    /// brings one: on PostgreSQL, asked in one statement.
    pub fn warming(&self) -> Warming<'_> {
        Warming {
            store: self,
            keys: Vec::new(),
        }
    }

    /// Iterates over the entries whose key starts with `prefix`, in key
    /// order, as on disk (see [`Store::snapshot`] for one consistent view).
    pub fn scan_prefix<K: ?Sized, V: DeserializeOwned>(
        &self,
        table: Table<K, V>,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + '_ {
        self.reader().scan_prefix(table, prefix)
    }

    /// Iterates over the entries whose key starts with `prefix`, from key
    /// `start` on (inclusive), in key order: a page of a listing reads
    /// from where the last one stopped, not from the prefix's first key.
    pub fn scan_from<K: ?Sized, V: DeserializeOwned>(
        &self,
        table: Table<K, V>,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + '_ {
        self.reader().scan_from(table, prefix, start)
    }

    /// Iterates over the keys that start with `prefix`, in key order.
    pub fn scan_keys<K: ?Sized, V>(&self, table: Table<K, V>, prefix: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.reader().scan_keys(table.tree(), prefix)
    }

    /// Number of entries in a table (walks it; for status, not hot paths).
    pub fn count<K: ?Sized, V>(&self, table: Table<K, V>) -> usize {
        self.reader().count(table.tree())
    }

    /// One consistent view of everything on disk now: later writes do not
    /// show through it, however long it is read (embedded: no checkpoint
    /// starts while a snapshot is alive, the log grows meanwhile;
    /// PostgreSQL: a read-only repeatable-read transaction). For audits.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let pinned = match &self.inner.engine {
            Engine::Embedded { .. } => {
                // Under the writer lock, so no checkpoint starts between the
                // count and the copy (`flusher::rotate` holds it too).
                let _writer = self.inner.shared.writer();
                self.inner.shared.snapshots.fetch_add(1, Ordering::SeqCst);
                Pinned::Embedded(self.inner.shared.memtable().clone())
            }
            Engine::Postgres(database) => Pinned::Postgres(database.pin()?),
        };
        Ok(Snapshot {
            pinned,
            store: self.clone(),
        })
    }

    /// Runs `f` as one serializable transaction over every tree: `f` runs
    /// once, alone among this store's transactions, seeing its own writes
    /// and every committed transaction's; if it returns `Ok` they are
    /// committed together (as one record of the log); if it returns an
    /// error, of the store or the caller's own (a refusal), nothing it wrote
    /// is: a refusal writes nothing by construction. `f` must have no side
    /// effects outside `Tx`. Refused once the log has failed. The outcome, a
    /// result or a refusal, is handed over by the returned ticket once what
    /// the transaction wrote and read is durable.
    pub fn transact<R, E: From<StoreError>>(&self, f: impl FnOnce(&Tx) -> Result<R, E>) -> Committed<'_, R, E> {
        // A panic in another transaction leaves nothing half-applied (the
        // batch is applied whole or not at all), so a poisoned lock is safe.
        let mut next_lsn = self.inner.shared.writer();
        // It may read any record committed so far.
        let read = next_lsn.saturating_sub(1);
        if let Some(why) = self.failure() {
            return Committed {
                store: self,
                lsn: 0,
                outcome: Err(StoreError::Failed(why).into()),
            };
        }
        let tx = Tx {
            store: self,
            writes: RefCell::new(BTreeMap::new()),
        };
        let outcome = f(&tx);
        let writes = tx.writes.into_inner();
        if outcome.is_err() || writes.is_empty() {
            return Committed {
                store: self,
                lsn: read,
                outcome,
            };
        }
        let lsn = *next_lsn;
        self.inner.shared.unsynced().commit(lsn, writes);
        *next_lsn = lsn + 1;
        Committed { store: self, lsn, outcome }
    }

    /// Waits until record `lsn` (and every one before) is on disk.
    async fn wait_durable(&self, lsn: u64) -> Result<(), StoreError> {
        let durable = || lsn <= self.inner.shared.durable_lsn.load(Ordering::SeqCst);
        if durable() {
            return Ok(());
        }
        match self.inner.flusher.flush().await {
            // The store failed after the record was written (a checkpoint
            // failed while the log was being rotated): it is on disk, and
            // a restart replays it, so the outcome stands.
            Err(_) if durable() => Ok(()),
            other => other,
        }
    }

    /// Waits until everything committed so far is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let last = self.inner.shared.writer().saturating_sub(1);
        self.wait_durable(last).await
    }

    /// On PostgreSQL, how many keys the store has asked its database for
    /// and whether it knows yet every key the database holds (a read of any
    /// other key asks it nothing); none on the embedded engine.
    pub fn database_reads(&self) -> Option<DatabaseReads> {
        match &self.inner.engine {
            Engine::Postgres(database) => Some(database.reads()),
            Engine::Embedded { .. } => None,
        }
    }

    /// Size of the data on disk (in the database), in bytes.
    pub fn size_on_disk(&self) -> u64 {
        match &self.inner.engine {
            Engine::Embedded { file, .. } => std::fs::metadata(file).map_or(0, |m| m.len()),
            Engine::Postgres(database) => database.size(),
        }
    }

    /// Which engine holds the store, and where: a data directory's engine
    /// is "embedded", a database's "postgres" and its URL without password.
    pub fn engine(&self) -> (&'static str, Option<String>) {
        match &self.inner.engine {
            Engine::Embedded { .. } => ("embedded", None),
            Engine::Postgres(database) => ("postgres", Some(database.place.clone())),
        }
    }
}

/// A consistent view of a store at the moment it was taken (see
/// [`Store::snapshot`]).
pub struct Snapshot {
    store: Store,
    pinned: Pinned,
}

/// What holds a snapshot's view.
enum Pinned {
    /// The memtable as it was (the database does not change while it is
    /// alive: no checkpoint starts).
    Embedded(memtable::Memtable),
    Postgres(postgres::Pinned),
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Pinned::Embedded(_) = self.pinned {
            self.store.inner.shared.snapshots.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Snapshot {
    fn reader(&self) -> Reader<'_> {
        Reader {
            inner: &self.store.inner,
            view: match &self.pinned {
                Pinned::Embedded(memtable) => View::Frozen(memtable),
                Pinned::Postgres(pinned) => View::Pinned(pinned),
            },
        }
    }

    pub fn scan_keys<K: ?Sized, V>(&self, table: Table<K, V>, prefix: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.reader().scan_keys(table.tree(), prefix)
    }
}

/// What can be read: a store as it is on disk now, or a snapshot. For code
/// that reads the same way from either (self-checks, statements).
pub trait Reads {
    fn get<K: AsRef<[u8]> + ?Sized, V: DeserializeOwned>(&self, table: Table<K, V>, key: &K) -> Result<Option<V>, StoreError>;
    fn scan_prefix<'a, K: ?Sized, V: DeserializeOwned>(
        &'a self,
        table: Table<K, V>,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + use<'a, Self, K, V>;
    fn count<K: ?Sized, V>(&self, table: Table<K, V>) -> usize;
}

/// Whatever can hand out a [`Reader`] reads through it.
mod viewed {
    pub trait Viewed {
        fn reader(&self) -> super::Reader<'_>;
    }
}

impl viewed::Viewed for Store {
    fn reader(&self) -> Reader<'_> {
        Store::reader(self)
    }
}

impl viewed::Viewed for Snapshot {
    fn reader(&self) -> Reader<'_> {
        Snapshot::reader(self)
    }
}

impl<R: viewed::Viewed> Reads for R {
    fn get<K: AsRef<[u8]> + ?Sized, V: DeserializeOwned>(&self, table: Table<K, V>, key: &K) -> Result<Option<V>, StoreError> {
        self.reader().get(table, key.as_ref())
    }
    fn scan_prefix<'a, K: ?Sized, V: DeserializeOwned>(
        &'a self,
        table: Table<K, V>,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + use<'a, K, V, R> {
        self.reader().scan_prefix(table, prefix)
    }
    fn count<K: ?Sized, V>(&self, table: Table<K, V>) -> usize {
        self.reader().count(table.tree())
    }
}

/// Reads of what is on disk: the memtable (the live one, or a snapshot's
/// copy), then the embedded database; or PostgreSQL (live, or a snapshot's transaction).
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    inner: &'a Inner,
    view: View<'a>,
}

/// Stored entries, key and value, in key order.
type Entries<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// What a reader reads.
#[derive(Clone, Copy)]
enum View<'a> {
    /// The store as it is now.
    Live,
    /// An embedded snapshot's memtable.
    Frozen(&'a memtable::Memtable),
    /// A PostgreSQL snapshot's transaction.
    Pinned(&'a postgres::Pinned),
}

impl<'a> Reader<'a> {
    /// `key` of `tree` as stored: the tree's prefix, then the key.
    fn full_key(self, tree: TreeId, key: &[u8]) -> Vec<u8> {
        full_key(self.inner, tree, key)
    }

    /// The value of a stored key on disk.
    fn read(self, full_key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match (&self.inner.engine, self.view) {
            (Engine::Embedded { db, .. }, view) => {
                // The memtable before the database: a checkpoint commits to
                // the database before it releases the frozen table.
                let recent = match view {
                    View::Frozen(memtable) => memtable.lookup(full_key),
                    _ => self.inner.shared.memtable().lookup(full_key),
                };
                match recent {
                    Some(value) => Ok(value),
                    None => embedded::get(db, full_key),
                }
            }
            (Engine::Postgres(_), View::Pinned(pinned)) => pinned.get(full_key),
            (Engine::Postgres(database), _) => database.get(full_key),
        }
    }

    fn get<K: ?Sized, V: DeserializeOwned>(self, table: Table<K, V>, key: &[u8]) -> Result<Option<V>, StoreError> {
        let tree = table.tree();
        match self.read(&self.full_key(tree, key))? {
            Some(bytes) => Ok(Some(decode(self.inner.names[tree.0], &bytes)?)),
            None => Ok(None),
        }
    }

    /// The entries whose stored key starts with the tree's prefix and
    /// `prefix`, from `start` on (inclusive), in key order, with the tree's
    /// prefix removed from the keys. Only the entries from `start` are
    /// read: a page from the middle of a long prefix costs the page.
    fn scan_raw(self, tree: TreeId, prefix: &[u8], start: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a {
        let full_prefix = self.full_key(tree, prefix);
        let full_start = self.full_key(tree, start.max(prefix));
        let skip = self.inner.prefixes[tree.0].len();
        let entries: Entries<'a> = match (&self.inner.engine, self.view) {
            (Engine::Embedded { db, .. }, view) => {
                let recent = match view {
                    View::Frozen(memtable) => memtable.scan_from(&full_prefix, &full_start),
                    _ => self.inner.shared.memtable().scan_from(&full_prefix, &full_start),
                };
                let prefix = full_prefix.clone();
                let older = embedded::range_from(db, &full_start)
                    .take_while(move |item| item.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)));
                Box::new(memtable::Merge::new(recent.into_iter(), older))
            }
            (Engine::Postgres(_), View::Pinned(pinned)) => Box::new(pinned.scan(&full_prefix, &full_start)),
            (Engine::Postgres(database), _) => Box::new(database.scan(&full_prefix, &full_start)),
        };
        entries.map(move |item| {
            let (k, v) = item?;
            Ok((k[skip..].to_vec(), v))
        })
    }

    fn scan_prefix<K: ?Sized, V: DeserializeOwned>(
        self,
        table: Table<K, V>,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + 'a {
        self.scan_from(table, prefix, prefix)
    }

    fn scan_from<K: ?Sized, V: DeserializeOwned>(
        self,
        table: Table<K, V>,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, V), StoreError>> + 'a {
        let tree = table.tree();
        let name = self.inner.names[tree.0];
        self.scan_raw(tree, prefix, start).map(move |item| {
            let (k, v) = item?;
            Ok((k, decode(name, &v)?))
        })
    }

    fn scan_keys(self, tree: TreeId, prefix: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + 'a {
        self.scan_raw(tree, prefix, prefix).map(|item| item.map(|(k, _)| k))
    }

    fn count(self, tree: TreeId) -> usize {
        self.scan_raw(tree, b"", b"").count()
    }
}

/// Records to bring into memory together: see [`Store::warming`].
#[must_use = "nothing is read until read() is called"]
pub struct Warming<'a> {
    store: &'a Store,
    keys: Vec<Vec<u8>>,
}

impl Warming<'_> {
    /// One more record.
    pub fn key<K: AsRef<[u8]> + ?Sized, V>(mut self, table: Table<K, V>, key: &K) -> Self {
        if matches!(self.store.inner.engine, Engine::Postgres(_)) {
            self.keys.push(full_key(&self.store.inner, table.tree(), key.as_ref()));
        }
        self
    }

    /// Reads them (a hint: a failed read is read again by the
    /// transaction), without holding the calling thread while the database
    /// answers.
    pub async fn read(self) {
        if let Engine::Postgres(database) = &self.store.inner.engine {
            let keys: Vec<&[u8]> = self.keys.iter().map(Vec::as_slice).collect();
            database.warm(&keys).await;
        }
    }
}

fn full_key(inner: &Inner, tree: TreeId, key: &[u8]) -> Vec<u8> {
    let prefix = &inner.prefixes[tree.0];
    let mut full = Vec::with_capacity(prefix.len() + key.len());
    full.extend_from_slice(prefix);
    full.extend_from_slice(key);
    full
}

/// The key prefix of the tree named `name`.
fn tree_prefix(name: &str) -> Vec<u8> {
    let mut prefix = name.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// Checks that `path` holds a data directory of this version's format, or
/// makes it one if it is new (missing or empty).
fn check_format(path: &Path) -> Result<(), StoreError> {
    let io_error = |e: std::io::Error| StoreError::Open {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let format_path = path.join(FORMAT_FILE);
    match std::fs::read_to_string(&format_path) {
        Ok(text) if text.trim() == FORMAT => Ok(()),
        Ok(text) => Err(StoreError::Format {
            path: path.to_owned(),
            detail: format!(
                "is of format {:?}, and this version reads {FORMAT:?} only: use the version that wrote it, or start from a new data directory",
                text.trim()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let empty = match std::fs::read_dir(path) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(io_error(e)),
            };
            if !empty {
                return Err(StoreError::Format {
                    path: path.to_owned(),
                    detail: format!(
                        "has no {FORMAT_FILE} file: it was written by an older version of Gongji (or is no data directory), \
                         and this version reads {FORMAT:?} only; start from a new data directory"
                    ),
                });
            }
            std::fs::create_dir_all(path).map_err(io_error)?;
            let file = std::fs::File::create(&format_path).map_err(io_error)?;
            std::os::unix::fs::FileExt::write_all_at(&file, format!("{FORMAT}\n").as_bytes(), 0).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
            wal::sync_dir(path).map_err(io_error)
        }
        Err(e) => Err(io_error(e)),
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

/// Checks the log left in `path`/wal and replays into the database the
/// records it does not have (see `recovery`), refusing a damaged directory:
/// their writes, merged, committed as a checkpoint's are. Then records the
/// checkpoint, deletes the replayed segments and starts a new one. Returns
/// it and the next LSN.
fn replay_log(path: &Path, db: &redb::Database, options: &StoreOptions) -> Result<(flusher::Segments, u64), StoreError> {
    let dir = wal::dir(path);
    let log_error = |detail: String| StoreError::Log { path: dir.clone(), detail };
    std::fs::create_dir_all(&dir).map_err(|e| log_error(e.to_string()))?;
    let database_lsn = embedded::applied_lsn(db)?;
    let mut replayed = 0u64;
    let mut writes = Writes::new();
    let report = recovery::examine_log(&dir, Some(database_lsn), |record| {
        replayed += 1;
        writes.extend(record.writes);
        Ok(())
    })
    .map_err(|e| log_error(e.to_string()))?;
    if let Some(damage) = report.damage {
        return Err(StoreError::Damaged {
            path: path.to_owned(),
            damage,
        });
    }
    if let Some((segment, at)) = &report.torn {
        tracing::warn!(segment = %segment.display(), at, "the log ends in a write cut short by a crash, never acknowledged; dropped");
    }
    if replayed > 0 {
        tracing::info!(records = replayed, "replayed the write-ahead log");
    }
    let next_segment = report.segments.last().map_or(1, |s| s.number + 1);
    if !report.segments.is_empty() {
        let replayed = (replayed > 0).then_some(&writes);
        flusher::make_checkpoint(db, &dir, report.next_lsn - 1, replayed, &options.faults).map_err(log_error)?;
        flusher::delete_before(&dir, next_segment).map_err(|e| log_error(e.to_string()))?;
    }
    let file =
        wal::create_segment(&dir, next_segment, report.next_lsn, Arc::clone(&options.faults)).map_err(|e| log_error(e.to_string()))?;
    Ok((
        flusher::Segments {
            dir,
            current: next_segment,
            file,
            limit: options.segment_bytes,
        },
        report.next_lsn,
    ))
}

/// What a data directory holds, read without changing anything: for
/// `gongji doctor`. The database's own state is not read (that would need
/// opening it, which may write); its files are listed.
#[derive(Debug, Clone)]
pub struct Examination {
    pub path: PathBuf,
    /// The format file's content (none if missing).
    pub format: Option<String>,
    /// Whether the format is this version's.
    pub format_ok: bool,
    /// The database's files (name, bytes), outside the log.
    pub database_files: Vec<(String, u64)>,
    pub log: LogReport,
}

impl Examination {
    /// Whether a server would open the directory.
    pub fn opens(&self) -> bool {
        self.format_ok && self.log.damage.is_none()
    }
}

/// Examines the data directory in `path` without changing anything.
pub fn examine(path: &Path) -> Result<Examination, StoreError> {
    let io_error = |e: std::io::Error| StoreError::Open {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let format = match std::fs::read_to_string(path.join(FORMAT_FILE)) {
        Ok(text) => Some(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(e)),
    };
    let mut database_files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "wal" || name == FORMAT_FILE {
            continue;
        }
        database_files.push((name, entry.metadata().map_err(io_error)?.len()));
    }
    database_files.sort();
    let log = recovery::examine_log(&wal::dir(path), None, |_| Ok(())).map_err(io_error)?;
    Ok(Examination {
        path: path.to_owned(),
        format_ok: format.as_deref() == Some(FORMAT),
        format,
        database_files,
        log,
    })
}

/// The view of the store inside a transaction: committed data (on disk or
/// not yet) overlaid with the transaction's own writes.
pub struct Tx<'a> {
    store: &'a Store,
    writes: RefCell<Writes>,
}

impl Tx<'_> {
    fn name(&self, tree: TreeId) -> &'static str {
        self.store.inner.names[tree.0]
    }

    fn read(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>, TxFail> {
        self.read_stored(&full_key(&self.store.inner, tree, key))
    }

    /// A stored key as this transaction sees it: its own writes, then
    /// records not yet on disk, then what is on disk. (The writer lock is
    /// held, so nothing commits meanwhile; a record moving to the memtable
    /// is found in one place or the other, see `flusher::publish`.)
    fn read_stored(&self, full_key: &[u8]) -> Result<Option<Vec<u8>>, TxFail> {
        if let Some(written) = self.writes.borrow().get(full_key) {
            return Ok(written.clone());
        }
        if let Some(value) = self.store.inner.shared.unsynced().lookup(full_key) {
            return Ok(value);
        }
        self.store.reader().read(full_key)
    }

    pub fn get<K: AsRef<[u8]> + ?Sized, V: DeserializeOwned>(&self, table: Table<K, V>, key: &K) -> Result<Option<V>, TxFail> {
        let tree = table.tree();
        match self.read(tree, key.as_ref())? {
            Some(bytes) => Ok(Some(decode(self.name(tree), &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn contains<K: AsRef<[u8]> + ?Sized, V>(&self, table: Table<K, V>, key: &K) -> Result<bool, TxFail> {
        Ok(self.read(table.tree(), key.as_ref())?.is_some())
    }

    pub fn put<K: AsRef<[u8]> + ?Sized, V: Serialize>(&self, table: Table<K, V>, key: &K, value: &V) -> Result<(), TxFail> {
        let tree = table.tree();
        let bytes = encode(self.name(tree), value)?;
        self.writes
            .borrow_mut()
            .insert(full_key(&self.store.inner, tree, key.as_ref()), Some(bytes));
        Ok(())
    }

    pub fn remove<K: AsRef<[u8]> + ?Sized, V>(&self, table: Table<K, V>, key: &K) -> Result<(), TxFail> {
        self.writes
            .borrow_mut()
            .insert(full_key(&self.store.inner, table.tree(), key.as_ref()), None);
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
            None => 1,
        };
        self.writes
            .borrow_mut()
            .insert(NEXT_ID_KEY.to_vec(), Some((counter + 1).to_be_bytes().to_vec()));
        Ok(counter)
    }
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
