//! The PostgreSQL engine: the store's records in one table of a database
//! (`gongji_records`: key → value, both `bytea`, the same bytes as the
//! embedded engine's), written by the flusher's group commit in one
//! statement per batch, and read by key or by key range.
//!
//! One process writes a database at a time: it holds the database's lease
//! (an advisory lock on a session of its own) and a fencing epoch, bumped
//! by every holder when it takes the lease; each batch is written only if
//! the epoch is still its own, so a process that lost its lease can never
//! write again, even before it knows. Transactions therefore run one at a
//! time in the process, as with the embedded engine, and need no retry; an
//! acknowledgement still means the database's commit returned (with a
//! synchronous standby, that the standby has it too).
//!
//! The client is tokio-postgres on a small runtime of the store's own; the
//! store's callers are synchronous (a transaction's closure, a scan), so
//! each call waits for its answer on the calling thread. Reads share a few
//! pipelined connections; a scan reads in pages by key, so a caller may
//! read other keys while it scans. A snapshot is a read-only repeatable-
//! read transaction on a connection of its own.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_postgres::{types::ToSql, Client, NoTls, Statement};

use super::{
    flusher::{Shared, Sink},
    known::{Filter, Known},
    wal::Writes,
    StoreError,
};

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory lock that serializes creating the schema.
const SCHEMA_LOCK: i64 = 0x676f_6e67_6a69_0001;
/// The advisory lock whose holder writes the database.
const LEASE_LOCK: i64 = 0x676f_6e67_6a69_0002;

/// Read connections shared by every reader (each pipelines its queries).
const READERS: usize = 4;

/// Rows of a scan's first page, and of every later one.
const FIRST_PAGE: i64 = 64;
const PAGE: i64 = 2048;

const CREATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gongji_schema (
    id integer PRIMARY KEY CHECK (id = 1),
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS gongji_records (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS gongji_lease (
    id integer PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL
);
";

const GET: &str = "SELECT value FROM gongji_records WHERE key = $1";
const GET_MANY: &str = "SELECT key, value FROM gongji_records WHERE key = ANY($1::bytea[])";
/// The most keys one read statement asks for.
const GET_BATCH: usize = 256;
const PAGE_FROM: &str = "SELECT key, value FROM gongji_records WHERE key >= $1 ORDER BY key LIMIT $2";
const PAGE_BETWEEN: &str = "SELECT key, value FROM gongji_records WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3";
/// The keys after one, for the filter of known keys (see [`super::known`]).
const KEYS_AFTER: &str = "SELECT key FROM gongji_records WHERE key > $1 ORDER BY key LIMIT $2";
const KEYS_PAGE: i64 = 10_000;
/// How many records the table holds, as PostgreSQL last estimated it.
const ESTIMATED_RECORDS: &str = "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'gongji_records'::regclass";
/// The pause before a failed scan of the keys is tried again.
const KEYS_RETRY: Duration = Duration::from_secs(5);
/// How often the filter of known keys is checked for being full, or
/// distrusted (then it is built again).
const KEYS_CHECK: Duration = Duration::from_secs(1);
/// One batch: written only while the epoch is this holder's; answers
/// whether it was. Keys the database certainly does not hold ($2, $3) are
/// inserted plainly: an insert `ON CONFLICT` probes the index before it
/// inserts and logs a confirmation after, a fifth more work for the
/// database per new key, and most keys a batch writes are new. The others
/// ($4, $5) are upserted.
const WRITE: &str = "
WITH fence AS (
    SELECT epoch FROM gongji_lease WHERE id = 1 AND epoch = $1 FOR SHARE
), inserted AS (
    INSERT INTO gongji_records (key, value)
    SELECT k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v)
    WHERE EXISTS (SELECT 1 FROM fence)
    RETURNING 1
), upserted AS (
    INSERT INTO gongji_records (key, value)
    SELECT k, v FROM unnest($4::bytea[], $5::bytea[]) AS t(k, v)
    WHERE EXISTS (SELECT 1 FROM fence)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
    RETURNING 1
), deleted AS (
    DELETE FROM gongji_records WHERE key = ANY($6::bytea[]) AND EXISTS (SELECT 1 FROM fence)
    RETURNING 1
)
SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM inserted), (SELECT count(*) FROM upserted), (SELECT count(*) FROM deleted)";

/// How long a store waits out a lost database connection before it fails.
const RECONNECT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
/// The pause between attempts to reconnect.
const RECONNECT_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a statement failed on a key the table holds already.
fn duplicate_key(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// Whether an error means the connection is gone (the database restarted
/// or dropped it), as opposed to a statement's own failure.
fn lost(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        // Connection exceptions and operator intervention (a shutdown).
        Some(db) => matches!(&db.code().code()[..2], "08" | "57"),
        None => true,
    }
}

fn db_error(what: &str, e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(format!("{what}: {}", describe(&e)))
}

/// A PostgreSQL error in words: the server's message when there is one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    get: Statement,
    get_many: Statement,
    page_from: Statement,
    page_between: Statement,
}

impl Conn {
    async fn prepare(client: Client) -> Result<Conn, tokio_postgres::Error> {
        Ok(Conn {
            get: client.prepare(GET).await?,
            get_many: client.prepare(GET_MANY).await?,
            page_from: client.prepare(PAGE_FROM).await?,
            page_between: client.prepare(PAGE_BETWEEN).await?,
            client,
        })
    }
}

/// Records kept in memory for reads: every record this process wrote, and
/// every record (or absence of one) it read, up to a size. The process is
/// the only writer of its database, so what it wrote last is what the
/// database holds, and a key it found missing stays missing until it writes
/// it. The flusher puts each batch here once the database has it; a read
/// fills in what it found only if the key is still absent and nothing was
/// evicted meanwhile (so a batch written during the read cannot have been
/// put here and dropped again), never overwriting a newer write.
#[derive(Default)]
struct Cache {
    values: HashMap<Vec<u8>, Option<Vec<u8>>>,
    order: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Entries dropped so far, to tell a read whether its fill is safe.
    evictions: u64,
    /// Prefixes whose every record is here.
    ranges: Ranges,
    /// Batches put here so far, to tell a scan whether its fill is safe.
    batches: u64,
}

/// The memory the cache may take (keys and values).
const CACHE_BYTES: usize = 48 * 1024 * 1024;

fn entry_bytes(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + 64
}

impl Cache {
    fn lookup(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.values.get(key).cloned()
    }

    /// What the database now holds for `key`, written by this process.
    fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.bytes += entry_bytes(&key, &value);
        match self.values.insert(key.clone(), value) {
            Some(old) => self.bytes -= entry_bytes(&key, &old),
            None => self.order.push_back(key),
        }
        self.shrink();
    }

    /// What a read found for `key`, if nothing newer can have been here.
    fn fill(&mut self, key: &[u8], value: Option<Vec<u8>>, evictions_before: u64) {
        if self.evictions == evictions_before && !self.values.contains_key(key) {
            self.put(key.to_vec(), value);
        }
    }

    fn commit(&mut self, writes: Writes) {
        self.batches += 1;
        for (key, value) in writes {
            self.ranges.apply(&key, value.as_deref());
            self.put(key, value);
        }
    }

    /// What a scan of all of `prefix` found in one page, if no batch can
    /// have been put here since the scan began (`batches_before`).
    fn fill_range(&mut self, prefix: &[u8], records: &[(Vec<u8>, Vec<u8>)], batches_before: u64) {
        if self.batches == batches_before {
            self.ranges.hold(prefix, records);
        }
    }

    fn shrink(&mut self) {
        while self.bytes > CACHE_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(value) = self.values.remove(&oldest) {
                self.bytes -= entry_bytes(&oldest, &value);
                self.evictions += 1;
            }
        }
    }
}

/// Prefixes whose every record is kept in memory: a short scan (a person's
/// relationships, the open months, the outbox) read once is answered here
/// from then on. Like [`Cache`], they hold what the database holds: every
/// batch this process writes (the only writer) is applied to each held
/// prefix its keys fall under, and a prefix is taken in only from a scan no
/// batch was written during.
#[derive(Default)]
struct Ranges {
    held: HashMap<Vec<u8>, Held>,
    /// How many held prefixes there are of each length, to find the held
    /// prefixes of a written key.
    lengths: BTreeMap<usize, usize>,
    /// Held prefixes, oldest first (one may be listed again after it was
    /// dropped and taken in again; dropping it twice is harmless).
    order: VecDeque<Vec<u8>>,
    bytes: usize,
}

/// The records of a held prefix.
#[derive(Default)]
struct Held {
    records: BTreeMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

/// The memory held prefixes may take, and the most records one may have
/// (a prefix that grows past it is dropped, and scanned from the database).
const RANGE_BYTES: usize = 16 * 1024 * 1024;
const RANGE_RECORDS: usize = 1024;

fn record_bytes(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + 64
}

impl Ranges {
    /// The records of `prefix` from `start` on, if the prefix is held.
    fn lookup(&self, prefix: &[u8], start: &[u8]) -> Option<VecDeque<(Vec<u8>, Vec<u8>)>> {
        let held = self.held.get(prefix)?;
        Some(
            held.records
                .range(start.to_vec()..)
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        )
    }

    /// Takes in every record of `prefix` (as a scan just found them).
    fn hold(&mut self, prefix: &[u8], records: &[(Vec<u8>, Vec<u8>)]) {
        if self.held.contains_key(prefix) || records.len() > RANGE_RECORDS {
            return;
        }
        let mut held = Held::default();
        for (key, value) in records {
            held.bytes += record_bytes(key, value);
            held.records.insert(key.clone(), value.clone());
        }
        self.bytes += held.bytes + prefix.len();
        self.held.insert(prefix.to_vec(), held);
        *self.lengths.entry(prefix.len()).or_default() += 1;
        self.order.push_back(prefix.to_vec());
        if self.order.len() > 2 * self.held.len() + 64 {
            let held = &self.held;
            self.order.retain(|prefix| held.contains_key(prefix));
        }
        while self.bytes > RANGE_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            self.drop_prefix(&oldest);
        }
    }

    fn drop_prefix(&mut self, prefix: &[u8]) {
        if let Some(held) = self.held.remove(prefix) {
            self.bytes -= held.bytes + prefix.len();
            if let Some(count) = self.lengths.get_mut(&prefix.len()) {
                *count -= 1;
                if *count == 0 {
                    self.lengths.remove(&prefix.len());
                }
            }
        }
    }

    /// A record the database now holds (or no longer holds), in every held
    /// prefix it falls under.
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let lengths: Vec<usize> = self.lengths.range(..=key.len()).map(|(length, _)| *length).collect();
        for length in lengths {
            let prefix = &key[..length];
            let Some(held) = self.held.get_mut(prefix) else { continue };
            if let Some(old) = held.records.remove(key) {
                held.bytes -= record_bytes(key, &old);
                self.bytes -= record_bytes(key, &old);
            }
            if let Some(value) = value {
                held.bytes += record_bytes(key, value);
                self.bytes += record_bytes(key, value);
                held.records.insert(key.to_vec(), value.to_vec());
            }
            if held.records.len() > RANGE_RECORDS {
                let prefix = prefix.to_vec();
                self.drop_prefix(&prefix);
            }
        }
        while self.bytes > RANGE_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            self.drop_prefix(&oldest);
        }
    }
}

/// An open PostgreSQL store.
pub(super) struct Database {
    /// Drives the connections; shut down (not waited for) on drop, which
    /// may happen on an async task.
    runtime: Option<tokio::runtime::Runtime>,
    /// Read connections, each replaced when found lost.
    readers: Arc<Readers>,
    /// Reads of single records, gathered by [`gather_gets`].
    gets: mpsc::UnboundedSender<GetRequest>,
    /// The writer's connection and its batch statement.
    writer: Mutex<(Conn, Statement)>,
    /// The session that holds the lease: the lock is released when it
    /// ends, or when the store is dropped.
    lease: Mutex<Client>,
    epoch: i64,
    /// The name this process holds the lease in.
    holder: String,
    config: tokio_postgres::Config,
    cache: Mutex<Cache>,
    /// The keys the database may hold.
    known: Arc<Known>,
    /// Keys asked of the database so far.
    asked: AtomicU64,
    /// Keys written so far as certainly new (a plain insert).
    inserted: AtomicU64,
    /// Where the store is, for messages (the URL without its password).
    pub(super) place: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        // Released at once, so that the store can be opened again now
        // (ending the session would release it too, a little later).
        let lease = self.lease.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = wait(lease.execute("SELECT pg_advisory_unlock_all()", &[]));
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The read connections, taken in turn.
struct Readers {
    conns: Vec<Mutex<Arc<Conn>>>,
    next: AtomicUsize,
}

impl Readers {
    fn pick(&self) -> (usize, Arc<Conn>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        (n, self.get(n))
    }

    fn get(&self, n: usize) -> Arc<Conn> {
        Arc::clone(&self.conns[n].lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn replace(&self, n: usize, conn: Arc<Conn>) {
        *self.conns[n].lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = conn;
    }
}

/// A read of one record: the value (none if absent), or the read connection
/// whose statement failed (the reader asks again on its own there,
/// reconnecting it if it was lost).
struct GetRequest {
    key: Vec<u8>,
    answer: oneshot::Sender<Result<Option<Vec<u8>>, usize>>,
}

/// What a [`GetRequest`] is answered with, to come.
type Answer = oneshot::Receiver<Result<Option<Vec<u8>>, usize>>;

/// Keys looked up in memory by [`Database::ask`].
struct Asked {
    /// Each key's value in memory, in the keys' order: `None` where not
    /// found, or known not to be in the database.
    values: Vec<Option<Vec<u8>>>,
    /// For each other key, its position and the answer to come from
    /// [`gather_gets`] (`None` if the store is closing).
    answers: Vec<(usize, Option<Answer>)>,
    /// The cache's evictions before, for [`Cache::fill`].
    evictions: u64,
}

/// Reads single records for every thread of the process, many in one
/// statement: at most one statement per read connection runs at a time, and
/// whatever is asked meanwhile goes into the next one. Unloaded, a read is
/// one statement as before; under load, the reads of many calls share a
/// round trip (a cross-province payment reads some four new ids, each
/// absent, across the three servers).
async fn gather_gets(readers: Arc<Readers>, mut requests: mpsc::UnboundedReceiver<GetRequest>) {
    let idle = Arc::new(Semaphore::new(readers.conns.len()));
    while let Some(first) = requests.recv().await {
        let Ok(permit) = Arc::clone(&idle).acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < GET_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let (reader, conn) = readers.pick();
        tokio::spawn(async move {
            let found = {
                let keys: Vec<&[u8]> = batch.iter().map(|request| request.key.as_slice()).collect();
                conn.client.query(&conn.get_many, &[&keys]).await
            };
            match found {
                Ok(rows) => {
                    let values: HashMap<Vec<u8>, Vec<u8>> = rows.into_iter().map(|row| (row.get(0), row.get(1))).collect();
                    for request in batch {
                        let value = values.get(&request.key).cloned();
                        let _ = request.answer.send(Ok(value));
                    }
                }
                Err(_) => {
                    for request in batch {
                        let _ = request.answer.send(Err(reader));
                    }
                }
            }
            drop(permit);
        });
    }
}

/// Waits for `future` on the calling thread, whether or not it runs an
/// async runtime: the connections are driven by the store's own runtime.
/// On a worker of a multi-threaded runtime (a server answering a call), the
/// worker's other tasks move to another thread while this one waits for the
/// database, so a read never stalls the calls the worker would serve
/// meanwhile (a server has as many workers as cores, two here).
///
/// The future runs outside tokio's cooperative budget: a task that used up
/// its budget has its tokio-aware futures (a channel's receiver, a join
/// handle) answer "not yet" and wake it only once the scheduler runs again,
/// which never happens while this thread blocks here in the task's place.
fn wait<F: std::future::Future>(future: F) -> F::Output {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let future = tokio::task::unconstrained(future);
    match Handle::try_current().map(|runtime| runtime.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| futures_executor::block_on(future)),
        _ => futures_executor::block_on(future),
    }
}

/// The URL of a store, safe to print: without its password.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A connection to a PostgreSQL store, its schema checked, whose lease
/// this process does not hold (yet): a standby waits with one.
/// The store's own runtime while it is a candidate: shut down without
/// waiting when dropped (which may happen on an async task, where dropping a
/// runtime the usual way would block and panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn get(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("the runtime is there until it is dropped or handed on")
    }

    /// Hands the runtime on (to the opened store).
    fn hand_on(mut self) -> tokio::runtime::Runtime {
        self.0.take().expect("the runtime is there until it is dropped or handed on")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

pub(super) struct Candidate {
    runtime: OwnRuntime,
    config: tokio_postgres::Config,
    place: String,
    /// The session that takes (and then holds) the lease.
    session: Client,
}

impl Candidate {
    /// Connects and creates or checks the schema.
    pub(super) fn connect(url: &str) -> Result<Candidate, StoreError> {
        let place = redacted(url);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Database(format!("{place} is not a PostgreSQL connection URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("store-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("starting the PostgreSQL client: {e}")))?;
        let runtime = OwnRuntime(Some(runtime));
        let connecting = {
            let (handle, config, place) = (runtime.get().handle().clone(), config.clone(), place.clone());
            runtime.get().spawn(async move {
                let session = connect(&handle, &config, &place).await?;
                create_schema(&session).await?;
                Ok::<_, StoreError>(session)
            })
        };
        match wait(connecting).unwrap_or_else(|e| Err(StoreError::Database(format!("connecting: {e}")))) {
            Ok(session) => Ok(Candidate {
                runtime,
                config,
                place,
                session,
            }),
            Err(e) => Err(e),
        }
    }

    /// Takes the lease and opens the store on it; or, if another process
    /// holds the lease, gives itself back with the holder's name.
    #[allow(clippy::type_complexity)]
    pub(super) fn try_lease(self, holder: &str) -> Result<Result<Database, (Candidate, Option<String>)>, StoreError> {
        let Candidate {
            runtime,
            config,
            place,
            session,
        } = self;
        let opening = {
            let (handle, config, place, holder) = (runtime.get().handle().clone(), config.clone(), place.clone(), holder.to_owned());
            runtime.get().spawn(async move {
                let epoch = match take_lease(&session, &holder).await? {
                    Ok(epoch) => epoch,
                    Err(held_by) => return Ok(Err((session, held_by))),
                };
                let writer = Conn::prepare(connect(&handle, &config, &place).await?)
                    .await
                    .map_err(|e| db_error("preparing the writer", e))?;
                let write = writer
                    .client
                    .prepare(WRITE)
                    .await
                    .map_err(|e| db_error("preparing the writer", e))?;
                let mut readers = Vec::with_capacity(READERS);
                for _ in 0..READERS {
                    readers.push(
                        Conn::prepare(connect(&handle, &config, &place).await?)
                            .await
                            .map_err(|e| db_error("preparing a reader", e))?,
                    );
                }
                Ok::<_, StoreError>(Ok((session, epoch, writer, write, readers)))
            })
        };
        let opened = wait(opening).unwrap_or_else(|e| Err(StoreError::Database(format!("opening the store: {e}"))));
        let (lease, epoch, writer, write, readers) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err((session, held_by))) => {
                return Ok(Err((
                    Candidate {
                        runtime,
                        config,
                        place,
                        session,
                    },
                    held_by,
                )))
            }
            Err(e) => return Err(e),
        };
        tracing::info!(store = %place, epoch, "opened the PostgreSQL store and took its lease");
        let readers = Arc::new(Readers {
            conns: readers.into_iter().map(|conn| Mutex::new(Arc::new(conn))).collect(),
            next: AtomicUsize::new(0),
        });
        let (gets, requests) = mpsc::unbounded_channel();
        runtime.get().spawn(gather_gets(Arc::clone(&readers), requests));
        let known = Arc::new(Known::default());
        runtime.get().spawn(know_keys(config.clone(), place.clone(), Arc::clone(&known)));
        Ok(Ok(Database {
            runtime: Some(runtime.hand_on()),
            readers,
            gets,
            writer: Mutex::new((writer, write)),
            lease: Mutex::new(lease),
            epoch,
            holder: holder.to_owned(),
            config,
            cache: Mutex::new(Cache::default()),
            known,
            asked: AtomicU64::new(0),
            inserted: AtomicU64::new(0),
            place,
        }))
    }

    /// Who holds the lease, as this candidate last read it.
    pub(super) fn held(self, held_by: Option<String>) -> StoreError {
        StoreError::LeaseHeld {
            place: self.place.clone(),
            holder: held_by,
        }
    }
}

impl Database {
    /// Connects, creates or checks the schema, and takes the lease (refused
    /// if another process holds it).
    pub(super) fn open(url: &str, holder: &str) -> Result<Database, StoreError> {
        match Candidate::connect(url)?.try_lease(holder)? {
            Ok(database) => Ok(database),
            Err((candidate, held_by)) => Err(candidate.held(held_by)),
        }
    }

    fn reader(&self) -> (usize, Arc<Conn>) {
        self.readers.pick()
    }

    /// Runs `work` on the store's runtime and waits for it here.
    fn on_runtime<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Failed("the store is closing".into()))?;
        wait(runtime.spawn(work)).unwrap_or_else(|e| Err(StoreError::Database(format!("a task of the store failed: {e}"))))
    }

    /// A new connection with the read statements prepared.
    fn new_conn(&self) -> Result<Conn, StoreError> {
        let (handle, config, place) = (self.runtime_handle()?, self.config.clone(), self.place.clone());
        self.on_runtime(async move {
            Conn::prepare(connect(&handle, &config, &place).await?)
                .await
                .map_err(|e| db_error("preparing a connection", e))
        })
    }

    fn runtime_handle(&self) -> Result<tokio::runtime::Handle, StoreError> {
        self.runtime
            .as_ref()
            .map(|runtime| runtime.handle().clone())
            .ok_or_else(|| StoreError::Failed("the store is closing".into()))
    }

    /// Runs `query` on a read connection, replacing the connection and
    /// trying once more if it was lost (the database restarted, say).
    fn on_reader<T>(&self, query: impl Fn(&Conn) -> Result<T, tokio_postgres::Error>) -> Result<T, tokio_postgres::Error> {
        let (n, conn) = self.reader();
        self.on_reader_at(n, conn, query)
    }

    /// Runs `query` on read connection `n` (`conn`), replacing it and
    /// trying once more if it was lost.
    fn on_reader_at<T>(
        &self,
        n: usize,
        conn: Arc<Conn>,
        query: impl Fn(&Conn) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, tokio_postgres::Error> {
        match query(&conn) {
            Err(e) if lost(&e) => match self.new_conn() {
                Ok(fresh) => {
                    let fresh = Arc::new(fresh);
                    self.readers.replace(n, Arc::clone(&fresh));
                    query(&fresh)
                }
                Err(_) => Err(e),
            },
            answered => answered,
        }
    }

    /// After the connection was lost: a new session takes the lease again,
    /// if it is still this process's (the epoch unchanged: no one took over
    /// meanwhile), and a new writer connection; else this process is deposed.
    fn reconnect_writer(&self) -> Result<(Conn, Statement, Client), String> {
        let (handle, config, place, epoch) = (
            self.runtime_handle().map_err(|e| e.to_string())?,
            self.config.clone(),
            self.place.clone(),
            self.epoch,
        );
        self.on_runtime(async move {
            let session = connect(&handle, &config, &place).await?;
            let taken: bool = session
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEASE_LOCK])
                .await
                .map_err(|e| db_error("taking the lease again", e))?
                .get(0);
            let recorded: Option<i64> = session
                .query_opt("SELECT epoch FROM gongji_lease WHERE id = 1", &[])
                .await
                .map_err(|e| db_error("reading the lease", e))?
                .map(|row| row.get(0));
            if !taken || recorded != Some(epoch) {
                return Err(StoreError::Failed(format!(
                    "another process took the lease of {place} while the connection was lost (this one's epoch {epoch} is over): it writes the store now"
                )));
            }
            let writer = Conn::prepare(connect(&handle, &config, &place).await?)
                .await
                .map_err(|e| db_error("preparing the writer", e))?;
            let write = writer.client.prepare(WRITE).await.map_err(|e| db_error("preparing the writer", e))?;
            Ok((writer, write, session))
        })
        .map_err(|e| match e {
            StoreError::Failed(why) => why,
            other => other.to_string(),
        })
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value of a stored key.
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_many(&[key])?.pop().flatten())
    }

    /// The values of stored keys, in their order: from memory where they
    /// are there, the others asked of the database together (see
    /// [`gather_gets`]) and kept in memory.
    pub(super) fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let Asked {
            mut values,
            answers,
            evictions,
        } = self.ask(keys);
        for (n, answered) in answers {
            let read_alone = |conn: &Conn| wait(conn.client.query_opt(&conn.get, &[&keys[n]]));
            let value = match answered.map(wait) {
                Some(Ok(Ok(value))) => value,
                // The gathered statement failed on a reader (lost with the
                // database's restart, say): read alone on that reader,
                // replaced if it was lost, so the next gathered read finds
                // a live one.
                Some(Ok(Err(reader))) => self
                    .on_reader_at(reader, self.readers.get(reader), read_alone)
                    .map_err(|e| db_error("reading a record", e))?
                    .map(|row| row.get(0)),
                // Not answered (the store closing): read alone.
                _ => self
                    .on_reader(read_alone)
                    .map_err(|e| db_error("reading a record", e))?
                    .map(|row| row.get(0)),
            };
            self.cache().fill(keys[n], value.clone(), evictions);
            values[n] = value;
        }
        Ok(values)
    }

    /// Brings stored keys into memory, as [`Database::get_many`] reads
    /// them, but awaiting the database's answer instead of holding the
    /// calling thread (a server's worker serves other calls meanwhile). A
    /// hint: a key whose read failed is read again when it is needed.
    pub(super) async fn warm(&self, keys: &[&[u8]]) {
        let Asked { answers, evictions, .. } = self.ask(keys);
        for (n, answered) in answers {
            let Some(answered) = answered else { continue };
            if let Ok(Ok(value)) = answered.await {
                self.cache().fill(keys[n], value, evictions);
            }
        }
    }

    /// What memory holds of `keys`, and the database asked for the rest.
    fn ask(&self, keys: &[&[u8]]) -> Asked {
        let mut values = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        let evictions = {
            let cache = self.cache();
            for (n, key) in keys.iter().enumerate() {
                match cache.lookup(key) {
                    Some(value) => values.push(value),
                    None => {
                        values.push(None);
                        if !self.known.absent(key) {
                            missing.push(n);
                        }
                    }
                }
            }
            cache.evictions
        };
        self.asked.fetch_add(missing.len() as u64, Ordering::Relaxed);
        let answers = missing
            .into_iter()
            .map(|n| {
                let (answer, answered) = oneshot::channel();
                let sent = self.gets.send(GetRequest {
                    key: keys[n].to_vec(),
                    answer,
                });
                (n, sent.is_ok().then_some(answered))
            })
            .collect();
        Asked {
            values,
            answers,
            evictions,
        }
    }

    /// The records whose key starts with `prefix`, from `start` on, in key
    /// order, read in pages.
    pub(super) fn scan(self: &Arc<Self>, prefix: &[u8], start: &[u8]) -> Pages {
        Pages::new(Source::Live(Arc::clone(self)), prefix, start)
    }

    /// Writes the net writes of a batch in one statement, if this process
    /// still holds the lease; then keeps them for reads. Called by the
    /// flusher only, so batches are written in order.
    pub(super) fn write(&self, shared: &Shared, last: u64, writes: &Writes) -> Result<(), String> {
        shared
            .faults
            .before_log_write()
            .map_err(|e| format!("writing to {}: {e}", self.place))?;
        let mut new = Put::default();
        let mut put = Put::default();
        let mut deletes: Vec<&[u8]> = Vec::new();
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // This process alone writes the database (it holds the lease, and
        // the flusher writes one batch at a time), so a key the filter
        // denies now is still absent when the statement runs.
        for (key, value) in writes {
            match value {
                Some(value) if self.known.absent(key) => new.push(key, value),
                Some(value) => put.push(key, value),
                None => deletes.push(key),
            }
        }
        // Held until the statement has returned: a scan of the keys
        // starting meanwhile waits for it (see [`super::known`]).
        let telling = self.known.telling(new.keys.iter().chain(&put.keys).copied());
        // A lost connection (the database restarting) is waited out: the
        // batch is written again once the lease is this process's again,
        // every key upserted then (the lost attempt may have committed; a
        // batch holds each key's final value, so writing it twice is safe).
        let started = std::time::Instant::now();
        let row = loop {
            let params: [&(dyn ToSql + Sync); 6] = [&self.epoch, &new.keys, &new.values, &put.keys, &put.values, &deletes];
            let (conn, write) = &*writer;
            match wait(conn.client.query_one(write, &params)) {
                Ok(row) => break row,
                // A key the filter denied is in the table: someone else
                // wrote it (a restore, a hand, a bug). The statement wrote
                // nothing; the batch is written again with every key
                // upserted, and the filter is built again from the table.
                Err(e) if !new.keys.is_empty() && duplicate_key(&e) => {
                    tracing::error!(
                        store = %self.place,
                        error = %describe(&e),
                        "a key the filter of known keys denied is in the database: writing the batch again with every key upserted, and building the filter again"
                    );
                    self.known.distrust();
                    put.append(&mut new);
                }
                Err(e) if lost(&e) && started.elapsed() < RECONNECT_PATIENCE => {
                    tracing::warn!(store = %self.place, error = %describe(&e), "the database connection was lost; reconnecting");
                    // The lost attempt may have committed its plain inserts.
                    put.append(&mut new);
                    std::thread::sleep(RECONNECT_PAUSE);
                    match self.reconnect_writer() {
                        Ok((conn, write, session)) => {
                            *writer = (conn, write);
                            *self.lease.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = session;
                            tracing::info!(store = %self.place, holder = %self.holder, "reconnected; the lease is still this process's");
                        }
                        Err(why) if why.contains("took the lease") => return Err(deposed(shared, why)),
                        Err(why) => tracing::warn!(store = %self.place, error = %why, "reconnecting failed; trying again"),
                    }
                }
                Err(e) => return Err(format!("writing to {}: {}", self.place, describe(&e))),
            }
        };
        let fenced: i64 = row.get(0);
        if fenced != 1 {
            return Err(deposed(
                shared,
                format!(
                    "another process took the lease of {} (this one's epoch {} is over): it writes the store now",
                    self.place, self.epoch
                ),
            ));
        }
        drop(telling);
        drop(writer);
        // A batch written again upserted every key: `new` is empty then.
        self.inserted.fetch_add(new.keys.len() as u64, Ordering::Relaxed);
        // Both locks together, so a transaction finds each key either
        // among the records not yet written or here.
        let mut cache = self.cache();
        for writes in shared.unsynced().drain_through(last) {
            cache.commit(writes);
        }
        shared.durable_lsn.store(last, Ordering::SeqCst);
        Ok(())
    }

    /// A read-only view of the database as it is now, on a connection of
    /// its own, for as long as it is kept.
    pub(super) fn pin(&self) -> Result<Pinned, StoreError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Failed("the store is closing".into()))?;
        let (handle, config, place) = (runtime.handle().clone(), self.config.clone(), self.place.clone());
        let pinning = runtime.spawn(async move {
            let client = connect(&handle, &config, &place).await?;
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")
                .await
                .map_err(|e| db_error("starting a snapshot", e))?;
            Conn::prepare(client).await.map_err(|e| db_error("preparing a snapshot", e))
        });
        let conn = wait(pinning).unwrap_or_else(|e| Err(StoreError::Database(format!("taking a snapshot: {e}"))))?;
        Ok(Pinned { conn: Arc::new(conn) })
    }

    /// The size of the store's records in the database, in bytes.
    pub(super) fn size(&self) -> u64 {
        let (_, conn) = self.reader();
        wait(conn.client.query_one("SELECT pg_total_relation_size('gongji_records')", &[]))
            .ok()
            .and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok())
            .unwrap_or(0)
    }

    /// How many keys this store has asked its database for so far, how
    /// many it wrote as certainly new, and whether it knows yet every key
    /// the database holds.
    pub(super) fn reads(&self) -> DatabaseReads {
        DatabaseReads {
            asked: self.asked.load(Ordering::Relaxed),
            inserted: self.inserted.load(Ordering::Relaxed),
            distrusted: self.known.distrusts(),
            keys_known: self.known.ready().is_some(),
        }
    }
}

/// Keys and their values, as a statement's two array parameters.
#[derive(Default)]
struct Put<'a> {
    keys: Vec<&'a [u8]>,
    values: Vec<&'a [u8]>,
}

impl<'a> Put<'a> {
    fn push(&mut self, key: &'a [u8], value: &'a [u8]) {
        self.keys.push(key);
        self.values.push(value);
    }

    /// Takes `other`'s keys and values in, leaving it empty.
    fn append(&mut self, other: &mut Put<'a>) {
        self.keys.append(&mut other.keys);
        self.values.append(&mut other.values);
    }
}

/// See [`Database::reads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseReads {
    pub asked: u64,
    /// Keys written with a plain insert, known to be new.
    pub inserted: u64,
    /// Filters of known keys found wrong (a key denied was in the table).
    pub distrusted: u64,
    pub keys_known: bool,
}

/// Builds the store's filter of the keys its database holds (see
/// [`super::known`]), and builds it again, larger, whenever it is full; a
/// failed scan (the database restarting, say) is tried again. Ends with the
/// store's runtime.
async fn know_keys(config: tokio_postgres::Config, place: String, known: Arc<Known>) {
    let mut sized_for = 0;
    loop {
        let started = Instant::now();
        match scan_keys(&config, &place, &known, sized_for).await {
            Ok(filter) if !known.trusts(&filter) => {
                sized_for = filter.keys();
                tracing::info!(store = %place, "a filter of known keys was distrusted while this one was built; building it again");
            }
            Ok(filter) => {
                tracing::info!(
                    store = %place,
                    keys = filter.keys(),
                    bytes = filter.bytes(),
                    seconds = started.elapsed().as_secs_f64(),
                    "every key of the database is known: a read of a key it does not hold asks it no more"
                );
                while !filter.full() && known.trusts(&filter) {
                    tokio::time::sleep(KEYS_CHECK).await;
                }
                sized_for = filter.keys();
                if known.trusts(&filter) {
                    tracing::info!(store = %place, keys = sized_for, "the filter of known keys is full; building a larger one");
                }
            }
            Err(e) => {
                let known = Arc::clone(&known);
                let _ = tokio::task::spawn_blocking(move || known.abandon()).await;
                tracing::warn!(store = %place, error = %e, "scanning the database's keys failed; trying again (meanwhile every read asks the database)");
                tokio::time::sleep(KEYS_RETRY).await;
            }
        }
    }
}

/// One scan of every key into a new filter, sized for twice the keys the
/// table holds (as estimated, or as the last filter counted).
async fn scan_keys(config: &tokio_postgres::Config, place: &str, known: &Arc<Known>, sized_for: u64) -> Result<Arc<Filter>, StoreError> {
    let client = connect(&tokio::runtime::Handle::current(), config, place).await?;
    let estimate: i64 = client
        .query_one(ESTIMATED_RECORDS, &[])
        .await
        .map_err(|e| db_error("estimating the records", e))?
        .get(0);
    let filter = Arc::new(Filter::with_capacity(2 * sized_for.max(u64::try_from(estimate).unwrap_or(0))));
    // Waits for a batch being written (its keys are then in the table), so
    // on a thread that may block: this runtime drives that batch.
    let installing = (Arc::clone(known), Arc::clone(&filter));
    tokio::task::spawn_blocking(move || installing.0.build(installing.1))
        .await
        .map_err(|e| StoreError::Database(format!("installing the filter of known keys: {e}")))?;
    let page = client.prepare(KEYS_AFTER).await.map_err(|e| db_error("scanning the keys", e))?;
    let mut after: Vec<u8> = Vec::new();
    loop {
        let rows = client
            .query(&page, &[&after, &KEYS_PAGE])
            .await
            .map_err(|e| db_error("scanning the keys", e))?;
        for row in &rows {
            filter.insert(row.get::<_, &[u8]>(0));
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == KEYS_PAGE => after = last.get(0),
            _ => break,
        }
    }
    let known = Arc::clone(known);
    tokio::task::spawn_blocking(move || known.built())
        .await
        .map_err(|e| StoreError::Database(format!("installing the filter of known keys: {e}")))?;
    Ok(filter)
}

/// A new connection, driven on the store's runtime (`handle`).
async fn connect(handle: &tokio::runtime::Handle, config: &tokio_postgres::Config, place: &str) -> Result<Client, StoreError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Database(format!("cannot connect to {place}: {}", describe(&e))))?;
    handle.spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e), "a PostgreSQL connection of the store ended");
        }
    });
    Ok(client)
}

/// Marks the store deposed (before its failure is told, so whoever sees the
/// failure sees why) and gives back `why`.
fn deposed(shared: &Shared, why: String) -> String {
    shared.deposed.store(true, Ordering::SeqCst);
    why
}

/// Takes the database's lease on `session` and returns the new fencing
/// epoch; or, if another process holds it, who (as the lease records).
async fn take_lease(session: &Client, holder: &str) -> Result<Result<i64, Option<String>>, StoreError> {
    let taken: bool = session
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEASE_LOCK])
        .await
        .map_err(|e| db_error("taking the lease", e))?
        .get(0);
    if !taken {
        let holder: Option<String> = session
            .query_opt("SELECT holder FROM gongji_lease WHERE id = 1", &[])
            .await
            .map_err(|e| db_error("reading the lease", e))?
            .map(|row| row.get(0));
        return Ok(Err(holder));
    }
    // Should this process's machine die or be cut off, the database notices
    // the silent session within seconds and frees the lease for a standby.
    session
        .batch_execute("SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 2")
        .await
        .map_err(|e| db_error("setting the lease session's keepalives", e))?;
    Ok(Ok(session
        .query_one(
            "INSERT INTO gongji_lease (id, epoch, holder, since) VALUES (1, 1, $1, now()) \
             ON CONFLICT (id) DO UPDATE SET epoch = gongji_lease.epoch + 1, holder = $1, since = now() RETURNING epoch",
            &[&holder],
        )
        .await
        .map_err(|e| db_error("recording the lease", e))?
        .get(0)))
}

async fn create_schema(client: &Client) -> Result<(), StoreError> {
    let schema = |e| db_error("creating the schema", e);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(schema)?;
    let created = async {
        client.batch_execute(CREATE_SCHEMA).await.map_err(schema)?;
        let version: Option<i32> = client
            .query_opt("SELECT version FROM gongji_schema WHERE id = 1", &[])
            .await
            .map_err(schema)?
            .map(|row| row.get(0));
        match version {
            None => {
                client
                    .execute("INSERT INTO gongji_schema (id, version) VALUES (1, $1)", &[&SCHEMA_VERSION])
                    .await
                    .map_err(schema)?;
                Ok(())
            }
            Some(version) if version == SCHEMA_VERSION => Ok(()),
            Some(version) => Err(StoreError::Database(format!(
                "the database's schema is version {version}, and this binary knows version {SCHEMA_VERSION} only: \
                 use the version of Gongji that wrote it (or a newer one)"
            ))),
        }
    }
    .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(schema)?;
    created
}

/// The PostgreSQL engine's sink: each batch of records is one statement.
pub(super) struct Writer {
    database: Arc<Database>,
}

impl Writer {
    pub(super) fn new(database: Arc<Database>) -> Writer {
        Writer { database }
    }
}

impl Sink for Writer {
    fn write_tail(&mut self, shared: &Shared) -> Result<(), String> {
        let Some(batch) = shared.unsynced().take_batch() else {
            return Ok(());
        };
        let writes = shared.unsynced().net_writes_through(batch.last);
        self.database.write(shared, batch.last, &writes)
    }

    fn close(self) {}
}

/// A snapshot's connection, in its read-only transaction.
#[derive(Clone)]
pub(super) struct Pinned {
    conn: Arc<Conn>,
}

impl Pinned {
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let row = wait(self.conn.client.query_opt(&self.conn.get, &[&key])).map_err(|e| db_error("reading a record", e))?;
        Ok(row.map(|row| row.get(0)))
    }

    pub(super) fn scan(&self, prefix: &[u8], start: &[u8]) -> Pages {
        Pages::new(Source::Pinned(self.clone()), prefix, start)
    }
}

enum Source {
    Live(Arc<Database>),
    Pinned(Pinned),
}

/// A scan, read page by page in key order.
pub(super) struct Pages {
    source: Source,
    /// The prefix, while the scan may still take it into memory whole (a
    /// live scan of all of it, before its first page).
    whole: Option<Vec<u8>>,
    /// The next key to read from (inclusive); none once done.
    from: Option<Vec<u8>>,
    /// The first key past the prefix; none if no key is.
    end: Option<Vec<u8>>,
    page: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: i64,
}

impl Pages {
    /// The records whose key starts with `prefix`, from `start` on
    /// (inclusive; `prefix` itself for all of them); from memory when a
    /// live scan's prefix is held there.
    fn new(source: Source, prefix: &[u8], start: &[u8]) -> Pages {
        let start = start.max(prefix);
        let mut pages = Pages {
            whole: None,
            from: Some(start.to_vec()),
            end: successor(prefix),
            page: VecDeque::new(),
            size: FIRST_PAGE,
            source,
        };
        if let Source::Live(db) = &pages.source {
            if let Some(held) = db.cache().ranges.lookup(prefix, start) {
                pages.page = held;
                pages.from = None;
            } else if start == prefix {
                pages.whole = Some(prefix.to_vec());
            }
        }
        pages
    }

    fn fetch(&mut self) -> Result<(), StoreError> {
        let Some(from) = self.from.take() else { return Ok(()) };
        let page = |conn: &Conn| match &self.end {
            Some(end) => wait(conn.client.query(&conn.page_between, &[&from, end, &self.size])),
            None => wait(conn.client.query(&conn.page_from, &[&from, &self.size])),
        };
        let whole = self.whole.take();
        let rows = match &self.source {
            Source::Live(db) => {
                let batches = db.cache().batches;
                let rows = db.on_reader(page).map_err(|e| db_error("scanning records", e))?;
                if let Some(prefix) = whole.filter(|_| (rows.len() as i64) < self.size) {
                    let records: Vec<(Vec<u8>, Vec<u8>)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
                    db.cache().fill_range(&prefix, &records, batches);
                }
                rows
            }
            Source::Pinned(pinned) => page(&pinned.conn).map_err(|e| db_error("scanning records", e))?,
        };
        let full = rows.len() as i64 == self.size;
        for row in rows {
            self.page.push_back((row.get(0), row.get(1)));
        }
        if full {
            if let Some((last, _)) = self.page.back() {
                let mut next = last.clone();
                next.push(0);
                self.from = Some(next);
            }
        }
        self.size = PAGE;
        Ok(())
    }
}

impl Iterator for Pages {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() {
            if let Err(e) = self.fetch() {
                self.from = None;
                return Some(Err(e));
            }
        }
        self.page.pop_front().map(Ok)
    }
}

/// The least key greater than every key that starts with `prefix` (none if
/// the prefix is all 0xff bytes, or empty).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_never_overwrites_a_newer_write_nor_refills_after_an_eviction() {
        let mut cache = Cache::default();
        let before = cache.evictions;
        cache.put(b"k".to_vec(), Some(b"new".to_vec()));
        cache.fill(b"k", None, before);
        assert_eq!(cache.lookup(b"k"), Some(Some(b"new".to_vec())), "the write stays");
        cache.fill(b"absent", None, before);
        assert_eq!(cache.lookup(b"absent"), Some(None), "a missing key is remembered");
        cache.evictions += 1;
        cache.fill(b"other", Some(b"old".to_vec()), before);
        assert_eq!(cache.lookup(b"other"), None, "not filled: something was evicted during the read");
        let big = vec![0u8; CACHE_BYTES / 2];
        cache.put(b"a".to_vec(), Some(big.clone()));
        cache.put(b"b".to_vec(), Some(big));
        assert!(cache.bytes <= CACHE_BYTES && cache.lookup(b"k").is_none(), "the oldest went");
    }

    fn records(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn a_held_prefix_follows_every_batch_written_under_it_and_no_other() {
        let mut cache = Cache::default();
        let before = cache.batches;
        cache.fill_range(b"rel/a/", &records(&[("rel/a/1", "x")]), before);
        cache.fill_range(b"rel/", &records(&[("rel/a/1", "x"), ("rel/b/1", "y")]), before);
        let mut batch = Writes::new();
        batch.insert(b"rel/a/2".to_vec(), Some(b"z".to_vec()));
        batch.insert(b"rel/b/1".to_vec(), None);
        batch.insert(b"other/1".to_vec(), Some(b"w".to_vec()));
        cache.commit(batch);
        let held = |cache: &Cache, prefix: &str, start: &str| {
            cache.ranges.lookup(prefix.as_bytes(), start.as_bytes()).map(|records| {
                records
                    .into_iter()
                    .map(|(k, _)| String::from_utf8(k).unwrap_or_default())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            held(&cache, "rel/a/", "rel/a/"),
            Some(vec!["rel/a/1".to_owned(), "rel/a/2".to_owned()])
        );
        assert_eq!(held(&cache, "rel/", "rel/"), Some(vec!["rel/a/1".to_owned(), "rel/a/2".to_owned()]));
        assert_eq!(held(&cache, "rel/", "rel/a/2"), Some(vec!["rel/a/2".to_owned()]), "from a start");
        assert_eq!(held(&cache, "other/", "other/"), None, "never scanned whole");

        // A scan that a batch was written during is not taken in.
        let during = cache.batches;
        cache.commit(Writes::new());
        cache.fill_range(b"late/", &[], during);
        assert_eq!(held(&cache, "late/", "late/"), None);

        // A prefix that grows past the limit is dropped, and scanned again.
        let mut batch = Writes::new();
        for n in 0..=RANGE_RECORDS {
            batch.insert(format!("rel/a/{n:05}").into_bytes(), Some(b"v".to_vec()));
        }
        cache.commit(batch);
        assert_eq!(held(&cache, "rel/a/", "rel/a/"), None);
        assert_eq!(held(&cache, "rel/", "rel/"), None);
        assert_eq!(
            (cache.ranges.bytes, cache.ranges.lengths.len()),
            (0, 0),
            "nothing is counted for them"
        );
    }

    #[test]
    fn a_prefix_ends_where_its_successor_begins() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(successor(&[0xff, 0xff]), None);
        assert_eq!(successor(b""), None);
    }

    #[test]
    fn a_url_is_printed_without_its_password() {
        assert_eq!(
            redacted("postgres://gongji:secret@db1,db2/hub"),
            "postgres://gongji:***@db1,db2/hub"
        );
        assert_eq!(redacted("postgres://gongji@127.0.0.1:5432/x"), "postgres://gongji@127.0.0.1:5432/x");
        assert_eq!(redacted("host=/tmp dbname=x"), "host=/tmp dbname=x");
    }
}
