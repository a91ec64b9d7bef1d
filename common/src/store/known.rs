//! Which keys a PostgreSQL store's database may hold, kept in memory so that
//! a read of a key it cannot hold is answered without a round trip: every
//! payment asks whether its id was recorded before (at the acquirer, the
//! hub and the issuer), and the answer is almost always no.
//!
//! A Bloom filter of every key in the database, built by a scan of the keys
//! once the store has opened (after it took the lease, so no other process
//! writes the database from then on) and told of every key the store writes
//! from its opening on, those written during the scan included. So a key
//! the filter was never told of is not in the database. For some keys it
//! was not told of it answers "maybe" (about 1% while it holds no more keys
//! than it was sized for): those are read from the database, as every key
//! is until the first scan has finished. A filter that has taken more keys
//! than it was sized for is built again, twice as large, by another scan,
//! the full one answering meanwhile.
//!
//! Writes and the scan meet at one lock: a batch holds [`Telling`] from
//! before its statement until after it, and a scan's filter is installed
//! only while no batch holds it. So a batch either tells the new filter of
//! its keys or committed them before the scan began.

use std::{
    collections::hash_map::RandomState,
    hash::BuildHasher,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock, RwLockReadGuard,
    },
};

/// Bits per key a filter is sized for: about 1% false "maybe" with
/// [`HASHES`] probes.
const BITS_PER_KEY: u64 = 10;
const HASHES: u64 = 7;
/// The fewest keys a filter is sized for (some 1.3 MB).
pub(super) const LEAST_CAPACITY: u64 = 1 << 20;

/// A Bloom filter of keys.
pub(super) struct Filter {
    words: Vec<AtomicU64>,
    bits: u64,
    capacity: u64,
    /// Keys that set a bit: nearly every new key, no key told twice.
    keys: AtomicU64,
    hasher: RandomState,
}

impl Filter {
    /// A filter for about `capacity` keys (at least [`LEAST_CAPACITY`]).
    pub(super) fn with_capacity(capacity: u64) -> Filter {
        let capacity = capacity.max(LEAST_CAPACITY);
        let words = (capacity * BITS_PER_KEY).div_ceil(64);
        Filter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            bits: words * 64,
            capacity,
            keys: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }

    /// The bits of `key`: two halves of one hash, combined
    /// (Kirsch–Mitzenmacher).
    fn probes(&self, key: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
        let hash = self.hasher.hash_one(key);
        let (first, step) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        (0..HASHES).map(move |n| {
            let bit = first.wrapping_add(n.wrapping_mul(step)) % self.bits;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    pub(super) fn insert(&self, key: &[u8]) {
        let mut new = false;
        for (word, mask) in self.probes(key) {
            new |= self.words[word].fetch_or(mask, Ordering::SeqCst) & mask == 0;
        }
        if new {
            self.keys.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// False only if `key` was never inserted.
    pub(super) fn may_hold(&self, key: &[u8]) -> bool {
        self.probes(key)
            .all(|(word, mask)| self.words[word].load(Ordering::SeqCst) & mask != 0)
    }

    /// About how many keys it holds.
    pub(super) fn keys(&self) -> u64 {
        self.keys.load(Ordering::Relaxed)
    }

    /// Whether it holds more keys than it was sized for.
    pub(super) fn full(&self) -> bool {
        self.keys() > self.capacity
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bits / 8
    }
}

/// The filters of one store: the one reads trust, and the one a scan is
/// building.
#[derive(Default)]
pub(super) struct Known {
    ready: RwLock<Option<Arc<Filter>>>,
    building: RwLock<Option<Building>>,
    /// How often a filter turned out wrong ([`Known::distrust`]).
    distrusts: AtomicU64,
}

/// A filter a scan is building, and the count of distrusts when it began:
/// a filter distrusted meanwhile may have been scanned past a key written
/// behind the process's back, so it is not installed.
struct Building {
    filter: Arc<Filter>,
    distrusts: u64,
}

/// Held by a batch while it is written (see the module's text).
pub(super) struct Telling<'a> {
    _building: RwLockReadGuard<'a, Option<Building>>,
}

impl Known {
    /// Whether `key` is certainly not in the database.
    pub(super) fn absent(&self, key: &[u8]) -> bool {
        let ready = self.ready.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        ready.as_ref().is_some_and(|filter| !filter.may_hold(key))
    }

    /// Tells the filters of the keys a batch is about to write; hold the
    /// answer until the batch's statement has returned.
    pub(super) fn telling<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Telling<'_> {
        let building = self.building.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ready = self.ready.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        for key in keys {
            if let Some(filter) = &ready {
                filter.insert(key);
            }
            if let Some(building) = &*building {
                building.filter.insert(key);
            }
        }
        Telling { _building: building }
    }

    /// Starts building `filter`: from now on every batch tells it of its
    /// keys; a batch being written now has finished when this returns.
    pub(super) fn build(&self, filter: Arc<Filter>) {
        let distrusts = self.distrusts.load(Ordering::SeqCst);
        *self.building.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Building { filter, distrusts });
    }

    /// The filter being built holds every key of the database: reads trust
    /// it from now on, unless a filter was distrusted since its scan began
    /// (then it is dropped, and the caller scans again).
    pub(super) fn built(&self) {
        let mut building = self.building.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(built) = building.take() {
            if built.distrusts == self.distrusts.load(Ordering::SeqCst) {
                *self.ready.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(built.filter);
            }
        }
    }

    /// The scan failed: the filter being built is dropped.
    pub(super) fn abandon(&self) {
        *self.building.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// The filter turned out wrong (a key it denied is in the database):
    /// reads and writes trust none until one is built again.
    pub(super) fn distrust(&self) {
        self.distrusts.fetch_add(1, Ordering::SeqCst);
        *self.ready.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// How often a filter turned out wrong.
    pub(super) fn distrusts(&self) -> u64 {
        self.distrusts.load(Ordering::SeqCst)
    }

    /// Whether `filter` is the one reads trust.
    pub(super) fn trusts(&self, filter: &Arc<Filter>) -> bool {
        self.ready().is_some_and(|ready| Arc::ptr_eq(&ready, filter))
    }

    /// The filter reads trust, if there is one yet.
    pub(super) fn ready(&self) -> Option<Arc<Filter>> {
        self.ready.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Vec<u8> {
        format!("payments\u{1f}P{n:012}").into_bytes()
    }

    #[test]
    fn a_filter_holds_every_key_told_and_few_others() {
        let filter = Filter::with_capacity(LEAST_CAPACITY);
        let told = LEAST_CAPACITY;
        for n in 0..told {
            filter.insert(&key(n));
        }
        assert!((0..told).all(|n| filter.may_hold(&key(n))), "no key told is ever denied");
        let others = 100_000;
        let maybe = (told..told + others).filter(|&n| filter.may_hold(&key(n))).count();
        // About 0.8% expected at the capacity it was sized for.
        assert!(maybe < 2_000, "{maybe} of {others} keys never told answered maybe");
        assert!(!filter.full(), "{} keys counted", filter.keys());
        assert!(filter.keys() > told * 99 / 100, "{} keys counted of {told}", filter.keys());
        for n in told..told * 11 / 10 {
            filter.insert(&key(n));
        }
        assert!(filter.full(), "past its capacity, it asks to be built again");
    }

    #[test]
    fn reads_trust_no_filter_until_its_scan_is_done_and_a_batch_during_the_scan_is_in_it() {
        let known = Known::default();
        assert!(!known.absent(b"k1"), "nothing is known absent before a scan");
        drop(known.telling([b"k0".as_slice()]));
        known.build(Arc::new(Filter::with_capacity(16)));
        assert!(!known.absent(b"k1"), "nor while one runs");
        // A batch written while the scan runs (after its own key range was
        // scanned, say) tells the filter being built.
        drop(known.telling([b"k2".as_slice()]));
        known.built();
        assert!(known.absent(b"k1"), "a key never written is known absent");
        assert!(!known.absent(b"k2"), "a key written during the scan is not");
        drop(known.telling([b"k3".as_slice()]));
        assert!(!known.absent(b"k3"), "nor a key written after it");
        // A rebuild: the old filter answers until the new one is built,
        // and both are told meanwhile.
        known.build(Arc::new(Filter::with_capacity(16)));
        drop(known.telling([b"k4".as_slice()]));
        assert!(!known.absent(b"k4"));
        known.built();
        assert!(!known.absent(b"k4"), "the new filter was told too");
        assert!(known.absent(b"k1"));
    }

    #[test]
    fn a_filter_distrusted_while_another_is_built_is_not_replaced_by_it() {
        let known = Known::default();
        known.build(Arc::new(Filter::with_capacity(16)));
        known.built();
        assert!(known.absent(b"k1"));
        // A scan starts; then a key is found behind the process's back.
        let scanning = Arc::new(Filter::with_capacity(16));
        known.build(Arc::clone(&scanning));
        known.distrust();
        assert!(!known.absent(b"k1"), "nothing is known absent once distrusted");
        assert_eq!(known.distrusts(), 1);
        // The scan that began before may have passed the key: not trusted.
        known.built();
        assert!(!known.trusts(&scanning) && known.ready().is_none());
        // A scan begun after is.
        let again = Arc::new(Filter::with_capacity(16));
        known.build(Arc::clone(&again));
        known.built();
        assert!(known.trusts(&again) && known.absent(b"k1"));
    }

    #[test]
    fn a_scan_waits_for_the_batch_being_written() {
        let known = Arc::new(Known::default());
        let telling = known.telling([b"k1".as_slice()]);
        let installed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scan = {
            let (known, installed) = (Arc::clone(&known), Arc::clone(&installed));
            std::thread::spawn(move || {
                known.build(Arc::new(Filter::with_capacity(16)));
                installed.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!installed.load(Ordering::SeqCst), "the scan's filter waits for the batch");
        drop(telling);
        scan.join().expect("the scan's filter is installed once the batch is written");
        assert!(installed.load(Ordering::SeqCst));
    }
}
