//! Group commit: one thread owns the write-ahead log. Waiters queue a reply
//! channel; the thread takes every waiter queued so far, writes the log's
//! tail (every record committed so far) to the current segment, syncs it
//! once and answers them all. A waiter that queues during a write is served
//! by the next one, so no transaction is acknowledged before it is on disk.
//!
//! When a segment is full the thread starts the next one (holding the
//! store's writer lock, so that every record in the old segments is applied
//! to sled) and asks the checkpointer thread to flush sled and then delete
//! the old segments. A failed write poisons the log: every later wait fails
//! (the node answers errors, and a restart replays what is on disk).

use std::{
    path::PathBuf,
    sync::{mpsc, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use super::{memtable::Memtable, wal, wal::Writes, StoreError};

type Waiter = oneshot::Sender<Result<(), String>>;

/// The least time between the starts of two syncs while several waiters
/// share each one.
const BUSY_SYNC_INTERVAL: Duration = Duration::from_micros(1000);

/// What the store and the flusher share.
pub(super) struct Shared {
    /// Records committed but not yet handed to the flusher.
    pub tail: Mutex<Vec<u8>>,
    /// Held by each transaction while it runs and commits; its value is the
    /// LSN of the next record.
    pub writer: Mutex<u64>,
    /// Committed writes sled does not hold yet.
    pub memtable: RwLock<Memtable>,
}

impl Shared {
    // A panic while a lock is held leaves nothing half-done (each holder
    // changes the guarded value in one step), so a poisoned lock is safe.

    pub(super) fn memtable(&self) -> RwLockReadGuard<'_, Memtable> {
        self.memtable.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn memtable_mut(&self) -> RwLockWriteGuard<'_, Memtable> {
        self.memtable.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, u64> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A frozen memtable to apply to sled, and the LSN of its last record.
struct Checkpoint {
    writes: Arc<Writes>,
    lsn: u64,
    /// The first segment whose records it may not hold.
    keep_from: u64,
}

/// Where the log is, and the segment open for writing.
pub(super) struct Segments {
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

impl Flusher {
    pub(super) fn start(db: sled::Db, data: sled::Tree, shared: Arc<Shared>, segments: Segments) -> Flusher {
        let (queue, waiting) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || run(db, data, shared, segments, &waiting))
            .expect("spawning the flusher thread needs only memory");
        Flusher {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        }
    }

    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let queue = self.queue.lock().map_err(|_| StoreError::Flush("flusher lock poisoned".into()))?;
            let queue = queue.as_ref().ok_or_else(|| StoreError::Flush("store is closing".into()))?;
            queue.send(reply).map_err(|_| StoreError::Flush("flusher thread stopped".into()))?;
        }
        match answer.await {
            Ok(result) => result.map_err(StoreError::Flush),
            Err(_) => Err(StoreError::Flush("flusher thread stopped".into())),
        }
    }
}

/// Takes the records committed so far.
fn take_tail(shared: &Shared) -> Vec<u8> {
    let mut tail = shared.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut *tail)
}

fn run(db: sled::Db, data: sled::Tree, shared: Arc<Shared>, mut segments: Segments, waiting: &mpsc::Receiver<Waiter>) {
    let (checkpoint, checkpoints) = mpsc::channel::<Checkpoint>();
    let checkpointer = {
        let dir = segments.dir.clone();
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || checkpoint_loop(&db, &data, &shared, &dir, &checkpoints))
            .expect("spawning the checkpoint thread needs only memory")
    };

    let mut poisoned: Option<String> = None;
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
        let result = match &poisoned {
            Some(why) => Err(why.clone()),
            None => {
                let bytes = take_tail(&shared);
                segments.file.append_durably(&bytes).map_err(|e| format!("writing the log: {e}"))
            }
        };
        if let Err(why) = &result {
            if poisoned.is_none() {
                tracing::error!(error = %why, "the write-ahead log failed; every later write fails until the server restarts");
                poisoned = Some(why.clone());
            }
        }
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
        // A full segment is closed once the last checkpoint is done (one
        // frozen memtable at a time); until then it grows.
        if poisoned.is_none() && segments.file.written() >= segments.limit && !shared.memtable().is_frozen() {
            match rotate(&shared, &mut segments) {
                Ok(frozen) => {
                    let _ = checkpoint.send(frozen);
                }
                Err(why) => {
                    tracing::error!(error = %why, "starting a new log segment failed; every later write fails until the server restarts");
                    poisoned = Some(why);
                }
            }
        }
    }
    // The queue closed: the store is being dropped. Whatever was committed
    // goes to the log, then the checkpointer finishes.
    if poisoned.is_none() {
        let _ = segments.file.append_durably(&take_tail(&shared));
    }
    drop(checkpoint);
    let _ = checkpointer.join();
}

/// Closes the current segment with every record committed so far, opens
/// the next one and freezes the memtable, whose writes are then exactly
/// those of the closed segments' records not yet in sled. Holds the writer
/// lock, so no transaction commits meanwhile.
fn rotate(shared: &Shared, segments: &mut Segments) -> Result<Checkpoint, String> {
    let writer = shared.writer();
    segments
        .file
        .append_durably(&take_tail(shared))
        .map_err(|e| format!("writing the log: {e}"))?;
    let next = segments.current + 1;
    segments.file = wal::create_segment(&segments.dir, next).map_err(|e| format!("creating log segment {next}: {e}"))?;
    segments.current = next;
    let writes = shared
        .memtable_mut()
        .freeze()
        .ok_or_else(|| "a checkpoint was still running".to_string())?;
    Ok(Checkpoint {
        writes,
        lsn: writer.saturating_sub(1),
        keep_from: next,
    })
}

/// For each frozen memtable: applies it to sled, flushes sled (which then
/// holds every record of the closed segments), drops the frozen table and
/// deletes the closed segments. A failed checkpoint is retried: until it
/// succeeds the log keeps every record and the memtable every write.
fn checkpoint_loop(db: &sled::Db, data: &sled::Tree, shared: &Shared, dir: &std::path::Path, checkpoints: &mpsc::Receiver<Checkpoint>) {
    while let Ok(checkpoint) = checkpoints.recv() {
        while let Err(e) = super::apply(data, checkpoint.lsn, &checkpoint.writes).and_then(|()| db.flush().map(drop)) {
            tracing::error!(error = %e, "checkpoint: writing the data failed; the log is kept, retrying in a second");
            std::thread::sleep(Duration::from_secs(1));
        }
        shared.memtable_mut().release_frozen();
        if let Err(e) = delete_before(dir, checkpoint.keep_from) {
            tracing::warn!(error = %e, "checkpoint: deleting old log segments failed; they will be replayed harmlessly");
        }
    }
}

/// Deletes the segments numbered below `keep_from`.
pub(super) fn delete_before(dir: &std::path::Path, keep_from: u64) -> std::io::Result<()> {
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
