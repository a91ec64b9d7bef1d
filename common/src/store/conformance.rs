//! The store's promises, checked on both engines: the embedded one in a
//! temporary directory, and PostgreSQL in a new database of the tests'
//! server (`GONGJI_TEST_POSTGRES`, which `scripts/test.sh` starts). Each
//! test is written once, as a function of where its store is.

use std::time::Duration;

use super::*;

const APP: &[&str] = &["things", "thingsx"];
const THINGS: Table<[u8], u32> = Table::app(0);
const THINGSX: Table<[u8], u32> = Table::app(1);

/// Where a test's store is.
enum Place {
    Dir(tempfile::TempDir),
    Database(String),
}

impl Place {
    fn embedded() -> Place {
        Place::Dir(tempfile::tempdir().expect("a temporary directory"))
    }

    fn postgres() -> Place {
        Place::Database(crate::testing::fresh_postgres_database())
    }

    fn open_with(&self, options: StoreOptions) -> Result<Store, StoreError> {
        match self {
            Place::Dir(dir) => Store::open_with(dir.path(), APP, options),
            Place::Database(url) => Store::open_postgres(url, APP, "conformance test", options),
        }
    }

    fn open(&self) -> Store {
        self.open_with(StoreOptions::default()).expect("the store opens")
    }
}

async fn commit<R>(store: &Store, f: impl FnOnce(&Tx) -> Result<R, TxFail>) -> R {
    store.transact(f).durable().await.expect("committed and durable")
}

fn things(store: &Store) -> Vec<(Vec<u8>, u32)> {
    store.scan_prefix(THINGS, b"").map(|item| item.expect("readable")).collect()
}

async fn writes_survive_reopening_once_durable(place: Place) {
    {
        let store = place.open();
        commit(&store, |tx| {
            tx.put(THINGS, b"a", &1)?;
            tx.put(THINGS, b"b", &2)
        })
        .await;
        commit(&store, |tx| tx.remove(THINGS, b"a")).await;
        assert!(store.release(Duration::from_secs(5)).await, "released");
    }
    let store = place.open();
    assert_eq!(things(&store), vec![(b"b".to_vec(), 2)]);
}

async fn a_second_writer_of_one_store_is_refused(place: Place) {
    let _first = place.open();
    let second = place.open_with(StoreOptions::default()).err().expect("refused");
    assert!(matches!(second, StoreError::Open { .. } | StoreError::LeaseHeld { .. }), "{second}");
    let said = second.to_string();
    assert!(said.contains("another process") || said.contains("lock"), "{said}");
}

async fn a_transaction_reads_its_own_writes_and_an_aborted_one_leaves_nothing(place: Place) {
    let store = place.open();
    let seen = commit(&store, |tx| {
        tx.put(THINGS, b"a", &1)?;
        let first = tx.get(THINGS, b"a")?;
        tx.remove(THINGS, b"a")?;
        let removed = tx.contains(THINGS, b"a")?;
        tx.put(THINGS, b"b", &2)?;
        Ok((first, removed))
    })
    .await;
    assert_eq!(seen, (Some(1), false));
    let aborted = store
        .transact(|tx| {
            tx.put(THINGS, b"c", &3)?;
            tx.remove(THINGS, b"b")?;
            Err::<(), _>(StoreError::Invariant("no".into()))
        })
        .durable()
        .await;
    assert!(matches!(aborted, Err(StoreError::Invariant(_))));
    assert_eq!(things(&store), vec![(b"b".to_vec(), 2)]);
}

async fn trees_are_apart_and_scans_keep_to_their_prefix_in_key_order(place: Place) {
    let store = place.open();
    commit(&store, |tx| {
        for (key, n) in [(&b"k\x1fb"[..], 2), (b"k\x1fa", 1), (b"k\x1f\xff", 4), (b"k", 0), (b"l", 5)] {
            tx.put(THINGS, key, &n)?;
        }
        tx.put(THINGSX, b"k\x1fa", &9)
    })
    .await;
    let scanned: Vec<u32> = store.scan_prefix(THINGS, b"k\x1f").map(|item| item.unwrap().1).collect();
    assert_eq!(scanned, vec![1, 2, 4]);
    assert_eq!(store.count(THINGS), 5);
    assert_eq!(store.count(THINGSX), 1);
    assert_eq!(store.get(THINGSX, b"k\x1fb").unwrap(), None);
}

async fn a_scan_from_a_key_reads_from_it_on_within_its_prefix_only(place: Place) {
    {
        let store = place.open();
        commit(&store, |tx| {
            for (key, n) in [(&b"k\x1fa"[..], 1), (b"k\x1fc", 3), (b"j\x1fz", 0), (b"l", 9)] {
                tx.put(THINGS, key, &n)?;
            }
            Ok(())
        })
        .await;
        assert!(store.release(Duration::from_secs(5)).await, "released");
    }
    // Some entries on disk, some recent, one recent removal.
    let store = place.open();
    commit(&store, |tx| {
        tx.put(THINGS, b"k\x1fb", &2)?;
        tx.put(THINGS, b"k\x1fd", &4)?;
        tx.remove(THINGS, b"k\x1fc")
    })
    .await;
    let from = |start: &[u8]| -> Vec<u32> { store.scan_from(THINGS, b"k\x1f", start).map(|item| item.unwrap().1).collect() };
    assert_eq!(from(b"k\x1f"), vec![1, 2, 4]);
    assert_eq!(from(b"k\x1fa\x00"), vec![2, 4]);
    assert_eq!(from(b"k\x1fc"), vec![4]);
    assert_eq!(from(b"a"), vec![1, 2, 4], "a start before the prefix is the prefix");
    assert_eq!(from(b"k\x1fe"), Vec::<u32>::new());
}

async fn a_long_scan_reads_every_record_while_the_caller_reads_others(place: Place) {
    let store = place.open();
    commit(&store, |tx| {
        for n in 0..5000u32 {
            tx.put(THINGS, &n.to_be_bytes(), &n)?;
        }
        tx.put(THINGSX, b"x", &7)
    })
    .await;
    let mut seen = 0u32;
    for item in store.scan_prefix(THINGS, b"") {
        let (key, n) = item.unwrap();
        assert_eq!(key, seen.to_be_bytes());
        assert_eq!(n, seen);
        assert_eq!(store.get(THINGSX, b"x").unwrap(), Some(7), "a read in the middle of a scan");
        seen += 1;
    }
    assert_eq!(seen, 5000);
}

async fn nothing_is_seen_outside_a_transaction_before_it_is_durable(place: Place) {
    let store = place.open();
    store.faults().stall_writes(Duration::from_millis(600));
    drop(store.transact(|tx| tx.put(THINGS, b"a", &1)));
    assert_eq!(store.get(THINGS, b"a").unwrap(), None);
    let read = store.transact(|tx| tx.get(THINGS, b"a"));
    let started = std::time::Instant::now();
    assert_eq!(read.durable().await.unwrap(), Some(1));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for the stalled write it read"
    );
    assert_eq!(store.get(THINGS, b"a").unwrap(), Some(1), "durable now");
    store.faults().stall_writes(Duration::ZERO);
}

async fn a_refusal_is_handed_over_only_once_what_it_read_is_durable(place: Place) {
    let store = place.open();
    store.faults().stall_writes(Duration::from_millis(600));
    drop(store.transact(|tx| tx.put(THINGS, b"spent", &1)));
    let refusal = store.transact(|tx| match tx.get(THINGS, b"spent")? {
        Some(_) => Err(StoreError::Invariant("already spent".into())),
        None => tx.put(THINGS, b"spent", &2),
    });
    let started = std::time::Instant::now();
    assert!(matches!(refusal.durable().await, Err(StoreError::Invariant(_))));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for the stalled write it read"
    );
    assert_eq!(store.get(THINGS, b"spent").unwrap(), Some(1));
    store.faults().stall_writes(Duration::ZERO);
}

async fn a_failed_write_stops_the_store_and_nothing_of_it_is_seen(place: Place) {
    {
        let store = place.open();
        commit(&store, |tx| tx.put(THINGS, b"before", &1)).await;
        store.faults().fail_write(1);
        let err = store
            .transact(|tx| tx.put(THINGS, b"lost", &2))
            .durable()
            .await
            .expect_err("the write failed");
        assert!(err.is_unavailable(), "{err}");
        assert!(store.failure().is_some());
        assert!(!store.deposed(), "a broken write is not a lost lease");
        assert_eq!(store.get(THINGS, b"lost").unwrap(), None);
        let refused = store.transact(|tx| tx.get(THINGS, b"before")).unconfirmed().expect_err("refused");
        assert!(refused.is_unavailable(), "{refused}");
        assert!(store.release(Duration::from_secs(5)).await, "released");
    }
    let store = place.open();
    assert_eq!(things(&store), vec![(b"before".to_vec(), 1)]);
}

async fn a_snapshot_stays_as_it_was_taken_while_writes_go_on(place: Place) {
    let store = place.open();
    commit(&store, |tx| tx.put(THINGS, b"a", &1)).await;
    let snapshot = store.snapshot().unwrap();
    commit(&store, |tx| {
        tx.put(THINGS, b"a", &2)?;
        tx.put(THINGS, b"b", &3)
    })
    .await;
    assert_eq!(snapshot.get(THINGS, b"a").unwrap(), Some(1));
    let seen: Vec<(Vec<u8>, u32)> = snapshot.scan_prefix(THINGS, b"").map(|item| item.unwrap()).collect();
    assert_eq!(seen, vec![(b"a".to_vec(), 1)]);
    assert_eq!(things(&store), vec![(b"a".to_vec(), 2), (b"b".to_vec(), 3)]);
}

async fn numbers_handed_out_only_grow_across_reopening(place: Place) {
    let first = {
        let store = place.open();
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(commit(&store, |tx| tx.next_id()).await);
        }
        assert!(store.release(Duration::from_secs(5)).await, "released");
        ids
    };
    let store = place.open();
    let later = commit(&store, |tx| tx.next_id()).await;
    assert!(
        first.windows(2).all(|w| w[0] < w[1]) && first.iter().all(|id| *id < later),
        "{first:?} then {later}"
    );
}

async fn many_reads_at_once_each_get_their_own_record_or_its_absence(place: Place) {
    let store = place.open();
    commit(&store, |tx| {
        for n in 0..200u32 {
            tx.put(THINGS, format!("k{n:03}").as_bytes(), &n)?;
        }
        Ok(())
    })
    .await;
    // Sixteen threads read at once (on PostgreSQL their reads share
    // statements): every one gets its own answer, present or absent, read
    // alone or several together.
    let readers: Vec<_> = (0..16u32)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in (thread..400).step_by(16) {
                    let key = format!("k{n:03}");
                    futures_executor::block_on(store.warming().key(THINGS, key.as_bytes()).key(THINGSX, key.as_bytes()).read());
                    let expected = (n < 200).then_some(n);
                    assert_eq!(store.get(THINGS, key.as_bytes()).expect("readable"), expected, "{key}");
                    assert_eq!(
                        store.get(THINGSX, key.as_bytes()).expect("readable"),
                        None,
                        "{key} in the other tree"
                    );
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().expect("every read answered as written");
    }
}

async fn a_task_reading_many_records_without_yielding_gets_every_answer(place: Place) {
    let store = place.open();
    commit(&store, |tx| tx.put(THINGS, b"k000", &0)).await;
    // A transaction of a server's task reads record after record without
    // yielding (an index built at start, a large import): far past the
    // task's cooperative budget of the async runtime. Each read still gets
    // its answer (a read that waited for a wake-up only the runtime's
    // scheduler gives would wait forever). Run on a thread of its own, so
    // that a hang fails the test instead of stopping it.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let found = runtime.block_on(async {
            store
                .transact(|tx| {
                    let mut found = 0;
                    for n in 0..1000u32 {
                        found += usize::from(tx.get(THINGS, format!("k{n:03}").as_bytes())?.is_some());
                    }
                    Ok::<_, TxFail>(found)
                })
                .unconfirmed()
                .expect("read")
        });
        let _ = done.send(found);
    });
    let found = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("a thousand reads in one task answered within a minute");
    assert_eq!(found, 1);
}

/// Runs `sql` on the database at `url`, as an administrator would.
#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_naming_both_versions() {
    let place = Place::postgres();
    drop(place.open());
    let Place::Database(url) = &place else { unreachable!("a database") };
    crate::testing::administer_postgres(url, "UPDATE gongji_schema SET version = 99");
    let refused = place.open_with(StoreOptions::default()).err().expect("refused");
    let said = refused.to_string();
    assert!(
        said.contains("version 99") && said.contains(&format!("version {SCHEMA_VERSION}")),
        "{said}"
    );
}

#[test]
fn a_store_url_that_is_not_postgresql_is_refused_naming_the_flag() {
    let flags = StoreFlags {
        url: Some("mysql://user:secret@db/x".into()),
        ..StoreFlags::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let refused = flags.open(dir.path(), APP, DEFAULT_CACHE_BYTES, "test").err().expect("refused");
    let said = refused.to_string();
    assert!(
        said.contains("--store") && said.contains("not a PostgreSQL URL") && !said.contains("secret"),
        "{said}"
    );
}

#[tokio::test]
async fn a_writer_that_lost_its_lease_never_writes_again_and_a_standby_takes_over() {
    let place = Place::postgres();
    let Place::Database(url) = &place else { unreachable!("a database") };
    let first = place.open();
    commit(&first, |tx| tx.put(THINGS, b"a", &1)).await;

    // A standby waits while the lease is held, and learns by whom.
    let standby = Store::stand_by(url, APP, StoreOptions::default()).unwrap();
    let (standby, holder) = standby.try_activate("the second").unwrap().err().expect("the lease is held");
    assert_eq!(holder.as_deref(), Some("conformance test"));

    // The first writer's session ends (as when its machine dies, or the
    // database drops it) without the first writer knowing: the standby takes
    // the lease, and the first writer's next write is fenced off.
    crate::testing::administer_postgres(
        url,
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    // The database ends the session a moment later: the standby tries again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut standby = standby;
    let second = loop {
        match standby.try_activate("the second").unwrap() {
            Ok(store) => break store,
            Err((waiting, _)) => {
                assert!(std::time::Instant::now() < deadline, "the lease never came free");
                standby = waiting;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let late = first
        .transact(|tx| tx.put(THINGS, b"late", &2))
        .durable()
        .await
        .expect_err("fenced off");
    assert!(late.to_string().contains("took the lease"), "{late}");
    assert!(first.failure().is_some(), "the deposed writer takes no more writes");
    assert!(first.deposed(), "it knows it was deposed, so it may stand by");

    commit(&second, |tx| tx.put(THINGS, b"b", &3)).await;
    assert_eq!(
        things(&second),
        vec![(b"a".to_vec(), 1), (b"b".to_vec(), 3)],
        "the late write is nowhere"
    );
}

#[tokio::test]
async fn a_store_rides_out_the_loss_of_its_database_connections() {
    let place = Place::postgres();
    let Place::Database(url) = &place else { unreachable!("a database") };
    let store = place.open();
    commit(&store, |tx| tx.put(THINGS, b"a", &1)).await;
    // Every session of the store ends, as when the database restarts.
    crate::testing::administer_postgres(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    commit(&store, |tx| tx.put(THINGS, b"b", &2)).await;
    assert!(store.failure().is_none(), "{:?}", store.failure());
    assert_eq!(things(&store), vec![(b"a".to_vec(), 1), (b"b".to_vec(), 2)]);
    assert_eq!(store.get(THINGSX, b"cold").unwrap(), None, "a read on a new connection");
    // Each read connection was lost: reads taken in turn by all of them
    // each get their answer, the lost ones replaced as they are found.
    for n in 0..16u32 {
        assert_eq!(store.get(THINGSX, format!("cold{n}").as_bytes()).unwrap(), None, "read {n}");
    }
    // The lease is this store's again: another writer is still refused.
    let second = place.open_with(StoreOptions::default()).err().expect("refused");
    assert!(matches!(second, StoreError::LeaseHeld { .. }), "{second}");
}

#[tokio::test]
async fn a_reopened_store_knows_every_key_of_its_database_and_asks_it_for_no_other() {
    let place = Place::postgres();
    // More keys than one page of the scan of the keys.
    let written = 25_000u32;
    {
        let store = place.open();
        commit(&store, |tx| {
            for n in 0..written {
                tx.put(THINGS, format!("k{n:05}").as_bytes(), &n)?;
            }
            Ok(())
        })
        .await;
    }
    let store = place.open();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !store.database_reads().expect("a database").keys_known {
        assert!(std::time::Instant::now() < deadline, "the keys are known within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every key written before is read, from the database (nothing is in
    // memory yet); a key written by this store is read too.
    for n in (0..written).step_by(97).chain([written - 1]) {
        assert_eq!(store.get(THINGS, format!("k{n:05}").as_bytes()).unwrap(), Some(n), "k{n:05}");
    }
    commit(&store, |tx| tx.put(THINGSX, b"new", &7)).await;
    assert_eq!(store.get(THINGSX, b"new").unwrap(), Some(7));
    // Keys the database does not hold are answered without asking it
    // (a filter may answer "maybe" for about 1% of them).
    let asked = store.database_reads().expect("a database").asked;
    for n in written..written + 2_000 {
        assert_eq!(store.get(THINGS, format!("k{n:05}").as_bytes()).unwrap(), None, "k{n:05}");
        assert_eq!(store.get(THINGSX, format!("k{n:05}").as_bytes()).unwrap(), None, "k{n:05}");
    }
    let asked = store.database_reads().expect("a database").asked - asked;
    assert!(asked < 80, "{asked} of 4,000 reads of absent keys asked the database");

    // New keys are inserted plainly, those it may hold upserted: a batch
    // of both, then the same keys again (all known now), and a key
    // removed and written again, all land.
    let inserted = store.database_reads().expect("a database").inserted;
    let mixed = |value: u32| {
        move |tx: &Tx| -> Result<(), TxFail> {
            for n in (0..written).step_by(50).chain(written + 10_000..written + 10_500) {
                tx.put(THINGS, format!("k{n:05}").as_bytes(), &(n + value))?;
            }
            Ok(())
        }
    };
    commit(&store, mixed(1)).await;
    let inserted_now = store.database_reads().expect("a database").inserted;
    let fresh = inserted_now - inserted;
    assert!((490..=500).contains(&fresh), "{fresh} of the 500 new keys inserted plainly");
    commit(&store, mixed(2)).await;
    assert_eq!(
        store.database_reads().expect("a database").inserted,
        inserted_now,
        "known keys are upserted"
    );
    commit(&store, |tx| tx.put(THINGS, b"n1", &1)).await;
    commit(&store, |tx| tx.remove(THINGS, b"n1")).await;
    commit(&store, |tx| tx.put(THINGS, b"n1", &3)).await;

    // Keys written behind the store's back, which the filter denies: the
    // plain insert fails, the batch is written again with upserts, and the
    // filter is built again from the table, with the keys the store never
    // wrote too.
    let Place::Database(url) = &place else { unreachable!("a database") };
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connected");
    tokio::spawn(connection);
    for n in 0..40 {
        let key = format!("thingsx\0behind{n:02}").into_bytes();
        let value: &[u8] = b"5";
        client
            .execute("INSERT INTO gongji_records (key, value) VALUES ($1, $2)", &[&key, &value])
            .await
            .expect("written behind the store's back");
    }
    let before = store.database_reads().expect("a database");
    commit(&store, |tx| {
        for n in 0..20 {
            tx.put(THINGSX, format!("behind{n:02}").as_bytes(), &6)?;
        }
        Ok(())
    })
    .await;
    assert_eq!(store.failure(), None);
    let after = store.database_reads().expect("a database");
    assert_eq!(after.distrusted, before.distrusted + 1, "the filter was found wrong once");
    assert_eq!(after.inserted, before.inserted, "the batch was written again, upserted");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !store.database_reads().expect("a database").keys_known {
        assert!(std::time::Instant::now() < deadline, "the filter is built again within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..40 {
        let expected = if n < 20 { 6 } else { 5 };
        assert_eq!(
            store.get(THINGSX, format!("behind{n:02}").as_bytes()).unwrap(),
            Some(expected),
            "behind{n:02}"
        );
    }
    drop(store);
    let store = place.open();
    assert_eq!(store.get(THINGS, b"k00000").unwrap(), Some(2));
    assert_eq!(store.get(THINGS, b"n1").unwrap(), Some(3));
    assert_eq!(store.get(THINGSX, b"behind00").unwrap(), Some(6));
    assert_eq!(
        store.get(THINGS, format!("k{:05}", written + 10_499).as_bytes()).unwrap(),
        Some(written + 10_501)
    );
    assert_eq!(store.count(THINGS), written as usize + 501);
}

/// Each test, once per engine.
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Place::embedded()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Place::postgres()).await
                }
            )*
        }
    };
}

on_both_engines!(
    writes_survive_reopening_once_durable,
    a_second_writer_of_one_store_is_refused,
    a_transaction_reads_its_own_writes_and_an_aborted_one_leaves_nothing,
    trees_are_apart_and_scans_keep_to_their_prefix_in_key_order,
    a_scan_from_a_key_reads_from_it_on_within_its_prefix_only,
    a_long_scan_reads_every_record_while_the_caller_reads_others,
    nothing_is_seen_outside_a_transaction_before_it_is_durable,
    a_refusal_is_handed_over_only_once_what_it_read_is_durable,
    a_failed_write_stops_the_store_and_nothing_of_it_is_seen,
    a_snapshot_stays_as_it_was_taken_while_writes_go_on,
    numbers_handed_out_only_grow_across_reopening,
    many_reads_at_once_each_get_their_own_record_or_its_absence,
    a_task_reading_many_records_without_yielding_gets_every_answer,
);
