//! Group commit: one thread owns the durable writes (a [`Sink`]: the
//! write-ahead log of the embedded engine, or the PostgreSQL database).
//! Waiters queue a reply channel; the thread takes every waiter queued so
//! far, writes every record committed so far as one batch, durably, moves
//! its writes out of the unsynced records to where reads outside
//! transactions find them, and answers every waiter. A waiter that queues
//! during a write is served by the next one, so nothing is acknowledged,
//! nor seen outside a transaction, before it is on disk.
//!
//! The rest of this module is the embedded engine's log ([`Log`]):
//! When a segment is full the thread starts the next one (holding the
//! store's writer lock, so that every record in the old segments is in the
//! memtable) and hands the memtable to the checkpointer thread, which
//! commits it to the database (durable commits of a few thousand writes
//! each), records the checkpoint and only then deletes the old segments.
//!
//! A failed log write stops the store for good: every later transaction and
//! wait fails, the records of the failed batch stay unseen (they are in no
//! file a restart reads, or in a batch a restart drops or refuses), and the
//! store reports its failure so the server can say it is not serving.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        mpsc, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::{oneshot, watch};

use super::{faults::Faults, memtable::Memtable, unsynced::Unsynced, wal, wal::Writes, StoreError};

type Waiter = oneshot::Sender<Result<(), String>>;

/// The least time between the starts of two syncs while several waiters
/// share each one.
const BUSY_SYNC_INTERVAL: Duration = Duration::from_micros(1000);

/// What the store and the flusher share.
pub(super) struct Shared {
    /// Held by each transaction while it runs and commits; its value is the
    /// LSN of the next record.
    pub writer: Mutex<u64>,
    /// Records committed but not yet on disk.
    pub unsynced: Mutex<Unsynced>,
    /// Writes on disk that the database does not hold yet.
    pub memtable: RwLock<Memtable>,
    /// The LSN of the last record on disk.
    pub durable_lsn: AtomicU64,
    /// Why the log stopped taking writes; none while it works.
    pub failure: watch::Sender<Option<String>>,
    /// Snapshots alive; no checkpoint starts while there is one.
    pub snapshots: AtomicUsize,
    /// Set with the failure when another process took this store's lease
    /// (a replicated engine only): the store failed because it was deposed.
    pub deposed: AtomicBool,
    pub faults: Arc<Faults>,
}

impl Shared {
    pub(super) fn new(next_lsn: u64, faults: Arc<Faults>) -> Shared {
        Shared {
            writer: Mutex::new(next_lsn),
            unsynced: Mutex::new(Unsynced::default()),
            memtable: RwLock::new(Memtable::default()),
            durable_lsn: AtomicU64::new(next_lsn.saturating_sub(1)),
            failure: watch::Sender::new(None),
            snapshots: AtomicUsize::new(0),
            deposed: AtomicBool::new(false),
            faults,
        }
    }

    // A panic while a lock is held leaves nothing half-done (each holder
    // changes the guarded value in one step), so a poisoned lock is safe.

    pub(super) fn memtable(&self) -> RwLockReadGuard<'_, Memtable> {
        self.memtable.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn memtable_mut(&self) -> RwLockWriteGuard<'_, Memtable> {
        self.memtable.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn unsynced(&self) -> MutexGuard<'_, Unsynced> {
        self.unsynced.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn writer(&self) -> MutexGuard<'_, u64> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Why the log stopped taking writes, if it did.
    pub(super) fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    pub(super) fn fail(&self, why: &str) {
        if self.failure().is_none() {
            tracing::error!(error = %why, "the write-ahead log failed: this store takes no more writes until the server restarts");
            self.failure.send_replace(Some(why.to_owned()));
        }
    }
}

/// A frozen memtable to commit to the database, and the LSN of its last record.
struct Checkpoint {
    writes: Arc<Writes>,
    lsn: u64,
    /// The first segment whose records it may not hold.
    keep_from: u64,
}

/// Where the log is, and the segment open for writing.
pub(super) struct Segments {
    /// The `wal` directory.
    pub dir: PathBuf,
    pub current: u64,
    pub file: wal::SegmentFile,
    /// A segment is closed (and a checkpoint started) once it holds this much.
    pub limit: u64,
}

pub(super) struct Flusher {
    queue: Mutex<Option<mpsc::Sender<Waiter>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Where the flusher writes batches, durably.
pub(super) trait Sink: Send + 'static {
    /// Writes every record committed so far, durably, then lets reads
    /// outside transactions see it (and marks it durable).
    fn write_tail(&mut self, shared: &Shared) -> Result<(), String>;
    /// After a write that answered its waiters: the engine's housekeeping.
    fn after_write(&mut self, _shared: &Shared) {}
    /// The store is closing and everything committed is written.
    fn close(self);
}

impl Flusher {
    pub(super) fn start(sink: impl Sink, shared: Arc<Shared>) -> Flusher {
        let (queue, waiting) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || run(sink, shared, &waiting))
            .expect("spawning the flusher thread needs only memory");
        Flusher {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Waits until every record committed before the call is on disk.
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let queue = self
                .queue
                .lock()
                .map_err(|_| StoreError::Failed("the flusher's lock is poisoned".into()))?;
            let queue = queue.as_ref().ok_or_else(|| StoreError::Failed("the store is closing".into()))?;
            queue
                .send(reply)
                .map_err(|_| StoreError::Failed("the flusher thread stopped".into()))?;
        }
        match answer.await {
            Ok(result) => result.map_err(StoreError::Failed),
            Err(_) => Err(StoreError::Failed("the flusher thread stopped".into())),
        }
    }
}

/// Writes every record committed so far to the log, durably, then lets
/// reads outside transactions see them.
fn write_tail(shared: &Shared, segments: &mut Segments) -> Result<(), String> {
    let batch = shared.unsynced().take_batch();
    let Some(batch) = batch else {
        return Ok(());
    };
    segments
        .file
        .append_durably(&batch.bytes)
        .map_err(|e| format!("writing the log in {}: {e}", segments.dir.display()))?;
    publish(shared, batch.last);
    Ok(())
}

/// Moves the writes of the records up to `lsn`, now on disk, to the
/// memtable. Both locks are held together, so a transaction finds each
/// key in one or the other.
fn publish(shared: &Shared, lsn: u64) {
    let mut memtable = shared.memtable_mut();
    for writes in shared.unsynced().drain_through(lsn) {
        memtable.commit(writes);
    }
    shared.durable_lsn.store(lsn, Ordering::SeqCst);
}

fn run(mut sink: impl Sink, shared: Arc<Shared>, waiting: &mpsc::Receiver<Waiter>) {
    let mut last_sync: Option<Instant> = None;
    while let Ok(first) = waiting.recv() {
        // Under load (the last sync served several waiters), let more
        // waiters join before syncing: fewer, fuller syncs.
        if let Some(at) = last_sync {
            let due = at + BUSY_SYNC_INTERVAL;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let mut batch = vec![first];
        batch.extend(waiting.try_iter());
        last_sync = (batch.len() > 1).then(Instant::now);
        let result = match shared.failure() {
            Some(why) => Err(why),
            None => sink.write_tail(&shared),
        };
        if let Err(why) = &result {
            shared.fail(why);
        }
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
        if shared.failure().is_none() {
            sink.after_write(&shared);
        }
    }
    // The queue closed: the store is being dropped. Whatever was committed
    // is written, then the sink finishes.
    if shared.failure().is_none() {
        if let Err(why) = sink.write_tail(&shared) {
            shared.fail(&why);
        }
    }
    sink.close();
}

/// The embedded engine's sink: the write-ahead log, and the checkpointer
/// thread that moves what the log holds into the database.
pub(super) struct Log {
    segments: Segments,
    checkpoint: mpsc::Sender<Checkpoint>,
    checkpointer: JoinHandle<()>,
}

impl Log {
    pub(super) fn start(db: Arc<redb::Database>, shared: &Arc<Shared>, segments: Segments) -> Log {
        let (checkpoint, checkpoints) = mpsc::channel::<Checkpoint>();
        let checkpointer = {
            let dir = segments.dir.clone();
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name("store-checkpoint".into())
                .spawn(move || checkpoint_loop(&db, &shared, &dir, &checkpoints))
                .expect("spawning the checkpoint thread needs only memory")
        };
        Log {
            segments,
            checkpoint,
            checkpointer,
        }
    }
}

impl Sink for Log {
    fn write_tail(&mut self, shared: &Shared) -> Result<(), String> {
        write_tail(shared, &mut self.segments)
    }

    /// A full segment is closed once the last checkpoint is done (one
    /// frozen memtable at a time); until then it grows.
    fn after_write(&mut self, shared: &Shared) {
        if self.segments.file.written() >= self.segments.limit && !shared.memtable().is_frozen() {
            match rotate(shared, &mut self.segments) {
                Ok(Some(frozen)) => {
                    let _ = self.checkpoint.send(frozen);
                }
                Ok(None) => {}
                Err(why) => shared.fail(&why),
            }
        }
    }

    fn close(self) {
        drop(self.checkpoint);
        let _ = self.checkpointer.join();
    }
}

/// Closes the current segment with every record committed so far, opens
/// the next one and freezes the memtable, whose writes are then exactly
/// those of the closed segments' records not yet in the database. Holds the writer
/// lock, so no transaction commits (and no snapshot is taken) meanwhile;
/// waits while a snapshot is alive (`None`).
fn rotate(shared: &Shared, segments: &mut Segments) -> Result<Option<Checkpoint>, String> {
    let writer = shared.writer();
    if shared.snapshots.load(Ordering::SeqCst) > 0 {
        return Ok(None);
    }
    write_tail(shared, segments)?;
    let next = segments.current + 1;
    segments.file = wal::create_segment(&segments.dir, next, *writer, Arc::clone(&shared.faults))
        .map_err(|e| format!("creating log segment {next} in {}: {e}", segments.dir.display()))?;
    segments.current = next;
    let writes = shared
        .memtable_mut()
        .freeze()
        .ok_or_else(|| "a checkpoint was still running".to_string())?;
    Ok(Some(Checkpoint {
        writes,
        lsn: writer.saturating_sub(1),
        keep_from: next,
    }))
}

/// For each frozen memtable: commits it to the database, records the
/// checkpoint, drops the frozen table and deletes the closed segments. A
/// failed checkpoint stops the store, as a failed log write does (the
/// database refuses every later commit after an I/O error until it is
/// opened again): the log keeps every record, and a restart replays them.
fn checkpoint_loop(db: &redb::Database, shared: &Shared, dir: &Path, checkpoints: &mpsc::Receiver<Checkpoint>) {
    while let Ok(checkpoint) = checkpoints.recv() {
        if let Err(e) = make_checkpoint(db, dir, checkpoint.lsn, Some(&checkpoint.writes), &shared.faults) {
            shared.fail(&format!("a checkpoint failed ({e}); the log holds every record"));
            return;
        }
        shared.memtable_mut().release_frozen();
        if let Err(e) = delete_before(dir, checkpoint.keep_from) {
            tracing::warn!(error = %e, "checkpoint: deleting old log segments failed; they will be replayed harmlessly");
        }
    }
}

/// Makes the database hold every record up to `lsn` on disk (committing
/// `writes`, the records it does not hold yet, if any), then records the
/// checkpoint. Each commit returns once redb has synced the database's
/// file (whose entry in the data directory was synced when it was created),
/// so the log may be dropped after.
pub(super) fn make_checkpoint(db: &redb::Database, dir: &Path, lsn: u64, writes: Option<&Writes>, faults: &Faults) -> Result<(), String> {
    if let Some(writes) = writes {
        super::embedded::apply(db, lsn, writes, faults).map_err(|e| format!("writing to the database: {e}"))?;
    }
    wal::write_checkpoint(dir, lsn).map_err(|e| format!("recording the checkpoint: {e}"))
}

/// Deletes the segments numbered below `keep_from`.
pub(super) fn delete_before(dir: &Path, keep_from: u64) -> std::io::Result<()> {
    for (number, path) in wal::segments(dir)? {
        if number < keep_from {
            std::fs::remove_file(path)?;
        }
    }
    wal::sync_dir(dir)
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which drops its handle on the
        // database; joining makes the directory free to reopen at once.
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        if let Ok(mut thread) = self.thread.lock() {
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}
