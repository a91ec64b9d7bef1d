//! Writes committed since the last checkpoint, read before the database.
//!
//! A committed transaction's writes go to the active table (and, as a
//! record, to the log); the embedded database receives them only at a
//! checkpoint, when the active table is frozen and committed to the
//! database, each key once however often it was written. Until that commit
//! returns, reads find them here: the active table first, then the frozen
//! one, then the database. The database therefore never holds a write the
//! log does not.

use std::{cmp::Ordering, iter::Peekable, ops::Bound, sync::Arc};

use super::wal::Writes;

/// A key as stored and its value; `None` is a removal.
pub(super) type Entry = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default, Clone)]
pub(super) struct Memtable {
    active: Writes,
    frozen: Option<Arc<Writes>>,
}

impl Memtable {
    /// The latest write of `key` held here: `Some(None)` if it was removed,
    /// `None` if the database has the answer.
    pub(super) fn lookup(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some(value) = self.active.get(key) {
            return Some(value.clone());
        }
        self.frozen.as_ref().and_then(|frozen| frozen.get(key).cloned())
    }

    /// Takes in the writes of a committed transaction.
    pub(super) fn commit(&mut self, writes: Writes) {
        self.active.extend(writes);
    }

    /// The writes held here of keys starting with `prefix`, from key `start`
    /// on (inclusive), in key order, the latest of each key (removals
    /// included: they hide the database's values).
    pub(super) fn scan_from(&self, prefix: &[u8], start: &[u8]) -> Vec<Entry> {
        let start = start.max(prefix);
        let mut latest = std::collections::BTreeMap::new();
        for table in self.frozen.iter().map(|frozen| frozen.as_ref()).chain([&self.active]) {
            let in_range = table
                .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
                .take_while(|(key, _)| key.starts_with(prefix));
            for (key, value) in in_range {
                latest.insert(key.clone(), value.clone());
            }
        }
        latest.into_iter().collect()
    }

    /// Whether a frozen table waits for its checkpoint.
    pub(super) fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Freezes the active table for a checkpoint (a new one starts empty).
    /// `None` if a frozen table is still waiting.
    pub(super) fn freeze(&mut self) -> Option<Arc<Writes>> {
        if self.frozen.is_some() {
            return None;
        }
        let frozen = Arc::new(std::mem::take(&mut self.active));
        self.frozen = Some(Arc::clone(&frozen));
        Some(frozen)
    }

    /// Drops the frozen table once the database holds it on disk.
    pub(super) fn release_frozen(&mut self) {
        self.frozen = None;
    }
}

/// Merges the writes held in memory (`recent`, which win) with what the database
/// holds (`older`), both in key order, leaving out removed keys.
pub(super) struct Merge<R: Iterator<Item = Entry>, O: Iterator> {
    recent: Peekable<R>,
    older: Peekable<O>,
}

impl<R: Iterator<Item = Entry>, O: Iterator> Merge<R, O> {
    pub(super) fn new(recent: R, older: O) -> Self {
        Merge {
            recent: recent.peekable(),
            older: older.peekable(),
        }
    }
}

impl<R, O, K, V, E> Iterator for Merge<R, O>
where
    R: Iterator<Item = Entry>,
    O: Iterator<Item = Result<(K, V), E>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    type Item = Result<(Vec<u8>, Vec<u8>), E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.recent.peek(), self.older.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) | (Some(_), Some(Err(_))) => Ordering::Greater,
                (Some((recent, _)), Some(Ok((older, _)))) => recent.as_slice().cmp(older.as_ref()),
            };
            if order == Ordering::Greater {
                return self
                    .older
                    .next()
                    .map(|item| item.map(|(key, value)| (key.as_ref().to_vec(), value.as_ref().to_vec())));
            }
            if order == Ordering::Equal {
                self.older.next();
            }
            if let Some((key, Some(value))) = self.recent.next() {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: Option<&str>) -> Entry {
        (key.as_bytes().to_vec(), value.map(|v| v.as_bytes().to_vec()))
    }

    fn writes(entries: &[Entry]) -> Writes {
        entries.iter().cloned().collect()
    }

    #[test]
    fn merging_prefers_recent_writes_and_drops_removed_keys() {
        let recent = vec![entry("a", Some("A2")), entry("b", None), entry("d", Some("D"))];
        let older = ["a", "b", "c", "e"]
            .iter()
            .map(|k| Ok::<_, ()>((k.as_bytes().to_vec(), k.to_uppercase().into_bytes())));
        let merged: Vec<(Vec<u8>, Vec<u8>)> = Merge::new(recent.into_iter(), older).map(Result::unwrap).collect();
        let shown: Vec<(String, String)> = merged
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        let expected = [("a", "A2"), ("c", "C"), ("d", "D"), ("e", "E")];
        assert_eq!(shown, expected.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn the_active_table_shadows_the_frozen_one() {
        let mut table = Memtable::default();
        table.commit(writes(&[
            entry("p1", Some("old")),
            entry("p2", Some("two")),
            entry("p3", Some("three")),
        ]));
        let frozen = table.freeze().expect("nothing frozen yet");
        assert_eq!(frozen.len(), 3);
        assert!(table.freeze().is_none(), "one frozen table at a time");
        table.commit(writes(&[entry("p1", Some("new")), entry("p3", None), entry("q", Some("other"))]));

        assert_eq!(table.lookup(b"p1"), Some(Some(b"new".to_vec())));
        assert_eq!(table.lookup(b"p2"), Some(Some(b"two".to_vec())));
        assert_eq!(table.lookup(b"p3"), Some(None));
        assert_eq!(table.lookup(b"zz"), None);
        assert_eq!(
            table.scan_from(b"p", b"p"),
            vec![entry("p1", Some("new")), entry("p2", Some("two")), entry("p3", None)]
        );

        table.release_frozen();
        assert_eq!(table.lookup(b"p2"), None, "the database has it now");
        assert!(!table.is_frozen());
    }
}
