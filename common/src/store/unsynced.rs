//! Writes committed but not yet on disk. Transactions read them (each one
//! runs after the last has committed); nothing else does: reads outside a
//! transaction see only what is on disk, and a transaction's result is
//! acted on only once its ticket says the records it saw are durable. So no
//! other server, client or background task ever learns of a write this
//! store could still lose.
//!
//! When a batch is on disk, its writes move to the memtable (see
//! `flusher::publish`); if the log fails, they stay here, unseen, until the
//! process ends.

use std::collections::{HashMap, VecDeque};

use super::wal::{Batch, Tail, Writes};

#[derive(Default)]
pub(super) struct Unsynced {
    /// The records as they will be written.
    tail: Tail,
    /// Each record's writes, by LSN (consecutive, oldest first).
    records: VecDeque<(u64, Writes)>,
    /// The LSN of the latest record that writes each key.
    latest: HashMap<Vec<u8>, u64>,
}

impl Unsynced {
    /// Takes in the writes of the transaction numbered `lsn`.
    pub(super) fn commit(&mut self, lsn: u64, writes: Writes) {
        self.tail.push(lsn, &writes);
        for key in writes.keys() {
            self.latest.insert(key.clone(), lsn);
        }
        self.records.push_back((lsn, writes));
    }

    /// The latest write of `key` held here: `Some(None)` if it was removed,
    /// `None` if it is not held here.
    pub(super) fn lookup(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let lsn = *self.latest.get(key)?;
        let oldest = self.records.front()?.0;
        let (_, writes) = self.records.get(usize::try_from(lsn.checked_sub(oldest)?).ok()?)?;
        writes.get(key).cloned()
    }

    /// The records not yet handed to the log, as one batch.
    pub(super) fn take_batch(&mut self) -> Option<Batch> {
        self.tail.take()
    }

    /// The net writes of every record held up to `lsn`: each key's latest.
    pub(super) fn net_writes_through(&self, lsn: u64) -> Writes {
        let mut net = Writes::new();
        for (_, writes) in self.records.iter().take_while(|(record, _)| *record <= lsn) {
            for (key, value) in writes {
                net.insert(key.clone(), value.clone());
            }
        }
        net
    }

    /// Gives up the writes of every record up to `lsn`, now on disk, oldest first.
    pub(super) fn drain_through(&mut self, lsn: u64) -> Vec<Writes> {
        let mut drained = Vec::new();
        while self.records.front().is_some_and(|(first, _)| *first <= lsn) {
            let Some((_, writes)) = self.records.pop_front() else { break };
            for key in writes.keys() {
                if self.latest.get(key).is_some_and(|latest| *latest <= lsn) {
                    self.latest.remove(key);
                }
            }
            drained.push(writes);
        }
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wal::tests::writes;

    #[test]
    fn the_latest_write_wins_until_it_is_drained() {
        let mut unsynced = Unsynced::default();
        unsynced.commit(5, writes(&[(b"a", Some(b"1")), (b"b", Some(b"1"))]));
        unsynced.commit(6, writes(&[(b"a", Some(b"2"))]));
        unsynced.commit(7, writes(&[(b"b", None)]));
        assert_eq!(unsynced.lookup(b"a"), Some(Some(b"2".to_vec())));
        assert_eq!(unsynced.lookup(b"b"), Some(None));
        assert_eq!(unsynced.lookup(b"c"), None);
        assert!(unsynced.take_batch().is_some());
        assert!(unsynced.take_batch().is_none(), "handed to the log once");

        assert_eq!(unsynced.drain_through(6).len(), 2);
        assert_eq!(unsynced.lookup(b"a"), None, "on disk now: read from the memtable");
        assert_eq!(unsynced.lookup(b"b"), Some(None), "record 7 is not on disk yet");
        assert_eq!(unsynced.drain_through(7).len(), 1);
        assert_eq!(unsynced.lookup(b"b"), None);
    }
}
