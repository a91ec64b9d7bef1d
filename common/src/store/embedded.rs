//! The embedded engine's database: one redb file in the data directory,
//! one table holding every tree of the store (each key starts with its
//! tree's prefix). It receives writes only at checkpoints, in redb write
//! transactions that commit durably (redb syncs its file before a commit
//! returns); the last commit of a checkpoint records the LSN of the last log
//! record it holds, and after a crash the log replays every record after the
//! LSN the database holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{wal, Entries, Faults, StoreError, Writes};

/// The database's file in a data directory.
pub(super) const DATABASE_FILE: &str = "data.redb";

/// The one table, keyed by tree prefix and key.
const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gongji-data");

/// How long opening waits for the file's lock: a store just dropped in this
/// process may hold it a moment longer while its threads end.
const LOCK_PATIENCE: Duration = Duration::from_secs(3);

/// A failure of the database, as the store reports it.
pub(super) fn failure(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Engine(e.into())
}

/// The database of the data directory `path`, opened (or created, with its
/// table) with a page cache of `cache_bytes`.
pub(super) fn open(path: &Path, cache_bytes: u64) -> Result<Arc<redb::Database>, String> {
    let file = database_path(path);
    let started = Instant::now();
    let db = loop {
        let mut builder = redb::Builder::new();
        builder.set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX));
        match builder.create(&file) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.map_err(|e| e.to_string())?,
        }
    };
    // The table exists from the start, so a read never meets its absence.
    let exists = db.begin_read().map_err(|e| e.to_string())?.open_table(DATA).is_ok();
    if !exists {
        let mut tx = db.begin_write().map_err(|e| e.to_string())?;
        tx.set_quick_repair(true);
        tx.open_table(DATA).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    // The file's entry in the directory is durable before any checkpoint
    // relies on the file (redb's commits sync the file, not its directory).
    wal::sync_dir(path).map_err(|e| format!("syncing {}: {e}", path.display()))?;
    Ok(Arc::new(db))
}

/// The database's file in the data directory `path`.
pub(super) fn database_path(path: &Path) -> PathBuf {
    path.join(DATABASE_FILE)
}

/// The value of `key`, as of now.
pub(super) fn get(db: &redb::Database, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let tx = db.begin_read().map_err(failure)?;
    let table = tx.open_table(DATA).map_err(failure)?;
    let value = table.get(key).map_err(failure)?;
    Ok(value.map(|guard| guard.value().to_vec()))
}

/// The entries from `start` on, in key order, as of now (the iterator keeps
/// its read transaction: later commits do not show through it).
pub(super) fn range_from(db: &redb::Database, start: &[u8]) -> Entries<'static> {
    let range = db
        .begin_read()
        .map_err(failure)
        .and_then(|tx| tx.open_table(DATA).map_err(failure))
        .and_then(|table| table.range_owned(start..).map_err(failure));
    match range {
        Ok(range) => Box::new(range.map(|item| {
            item.map(|(key, value)| (key.value().to_vec(), value.value().to_vec()))
                .map_err(failure)
        })),
        Err(e) => Box::new(std::iter::once(Err(e))),
    }
}

/// How many writes one commit of a checkpoint carries. A checkpoint of a
/// full log segment is some 50,000 writes; committing them at once wrote
/// and synced its pages in one burst that delayed the log's own syncs
/// behind it (payments' p99 up by a quarter); commits of a few thousand
/// spread the burst (`docs/BENCHMARKS.md`).
const WRITES_PER_COMMIT: usize = 4096;

/// Writes the records of the log up to `lsn` into the database: `writes`
/// (each key once) in durable commits of [`WRITES_PER_COMMIT`], the last of
/// which also records `lsn`. A crash between two commits leaves the
/// database with part of the writes and the LSN of an earlier checkpoint;
/// the log's replay from there writes every one of them again, in order, so
/// the result is the same.
pub(super) fn apply(db: &redb::Database, lsn: u64, writes: &Writes, faults: &Faults) -> Result<(), redb::Error> {
    let writes: Vec<_> = writes.iter().collect();
    let mut chunks = writes.chunks(WRITES_PER_COMMIT).peekable();
    if chunks.peek().is_none() {
        faults.before_commit()?;
        return commit(db, &[], Some(lsn));
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        faults.before_commit()?;
        commit(db, chunk, last.then_some(lsn))?;
    }
    Ok(())
}

/// Commits `writes`, and `lsn` if given, in one durable transaction.
fn commit(db: &redb::Database, writes: &[(&Vec<u8>, &Option<Vec<u8>>)], lsn: Option<u64>) -> Result<(), redb::Error> {
    let mut tx = db.begin_write()?;
    // The allocator's state is saved with the commit, so opening after a
    // crash does not walk the whole file to rebuild it.
    tx.set_quick_repair(true);
    {
        let mut table = tx.open_table(DATA)?;
        for (key, value) in writes {
            match value {
                Some(value) => table.insert(key.as_slice(), value.as_slice())?,
                None => table.remove(key.as_slice())?,
            };
        }
        if let Some(lsn) = lsn {
            table.insert(wal::LSN_KEY, lsn.to_be_bytes().as_slice())?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The LSN of the last record the database holds (0: none).
pub(super) fn applied_lsn(db: &redb::Database) -> Result<u64, StoreError> {
    Ok(get(db, wal::LSN_KEY)?
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(keys: std::ops::Range<u32>, value: Option<&str>) -> Writes {
        keys.map(|i| (format!("k{i:05}").into_bytes(), value.map(|v| v.as_bytes().to_vec())))
            .collect()
    }

    fn value(db: &redb::Database, i: u32) -> Option<String> {
        get(db, format!("k{i:05}").as_bytes())
            .unwrap()
            .map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn a_checkpoint_records_its_lsn_only_with_its_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), 1 << 20).unwrap();
        let count = 2 * WRITES_PER_COMMIT as u32 + 10;
        apply(&db, 10, &writes(0..count, Some("a")), &Faults::none()).unwrap();
        assert_eq!(applied_lsn(&db).unwrap(), 10);
        assert_eq!((value(&db, 0), value(&db, count - 1)), (Some("a".into()), Some("a".into())));

        // A crash after the first commit of the next checkpoint: the
        // database holds part of its writes and still the earlier LSN, so
        // the log is replayed from there.
        let mut next = writes(0..count / 2, Some("b"));
        next.extend(writes(count / 2..count, None));
        let first: Vec<_> = next.iter().take(WRITES_PER_COMMIT).collect();
        commit(&db, &first, None).unwrap();
        assert_eq!(applied_lsn(&db).unwrap(), 10, "a part of a checkpoint names no LSN");
        assert_eq!(value(&db, 0), Some("b".into()));
        assert_eq!(value(&db, count - 1), Some("a".into()));

        // The replay writes them all again, then the LSN.
        apply(&db, 20, &next, &Faults::none()).unwrap();
        assert_eq!(applied_lsn(&db).unwrap(), 20);
        assert_eq!(value(&db, count / 2 - 1), Some("b".into()));
        assert_eq!(value(&db, count / 2), None);
        let held: Vec<_> = range_from(&db, b"k").map(Result::unwrap).collect();
        assert_eq!(held.len(), count as usize / 2);
    }

    #[test]
    fn a_checkpoint_without_writes_still_records_its_lsn_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path(), 1 << 20).unwrap();
            apply(&db, 3, &writes(0..5, Some("x")), &Faults::none()).unwrap();
            apply(&db, 7, &Writes::new(), &Faults::none()).unwrap();
        }
        let db = open(dir.path(), 1 << 20).unwrap();
        assert_eq!(applied_lsn(&db).unwrap(), 7);
        assert_eq!(value(&db, 4), Some("x".into()));
    }
}
