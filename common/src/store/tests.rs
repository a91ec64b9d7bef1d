use std::time::Duration;

use super::*;

const APP: &[&str] = &["things"];
const THINGS: Table<[u8], u32> = Table::app(0);

/// Commits `f` and waits until it is on disk.
async fn commit<R>(store: &Store, f: impl FnOnce(&Tx) -> Result<R, TxFail>) -> R {
    store.transact(f).durable().await.unwrap()
}

fn things(store: &Store) -> Vec<(Vec<u8>, u32)> {
    store.scan_prefix(THINGS, b"").map(Result::unwrap).collect()
}

fn open_small(path: &Path, segment_bytes: u64) -> Store {
    Store::open_with(
        path,
        APP,
        StoreOptions {
            segment_bytes,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

fn log_files(path: &Path) -> Vec<u64> {
    wal::segments(&wal::dir(path)).unwrap().into_iter().map(|(n, _)| n).collect()
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
async fn release_waits_for_the_other_handles_then_the_directory_opens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), APP).unwrap();
    commit(&store, |tx| tx.put(THINGS.holding(), b"a", &"one".to_string())).await;
    let elsewhere = store.clone();
    let held = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(elsewhere);
    });
    let started = std::time::Instant::now();
    assert!(store.release(Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(150), "waited for the other handle");
    let reopened = Store::open(dir.path(), APP).expect("free right after release");
    assert_eq!(reopened.get(THINGS.holding::<String>(), b"a").unwrap().as_deref(), Some("one"));
    held.await.unwrap();

    // A handle kept past the patience: release says so.
    let kept = reopened.clone();
    assert!(!reopened.release(Duration::from_millis(50)).await);
    drop(kept);
}

#[test]
fn a_second_open_of_the_same_directory_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), APP).unwrap();
    let err = Store::open(dir.path(), APP).err().expect("second open must fail");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
}

#[tokio::test]
async fn trees_are_apart_though_they_share_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &["things", "thingsx"]).unwrap();
    let (things, thingsx) = (THINGS, Table::<[u8], u32>::app(1));
    commit(&store, |tx| {
        tx.put(things, b"k1", &1u32)?;
        tx.put(things, b"k2", &2u32)?;
        tx.put(thingsx, b"k1", &10u32)
    })
    .await;
    let listed: Vec<(Vec<u8>, u32)> = store.scan_prefix(things, b"").map(Result::unwrap).collect();
    assert_eq!(listed, vec![(b"k1".to_vec(), 1), (b"k2".to_vec(), 2)]);
    assert_eq!(
        store.scan_keys(thingsx, b"k").map(Result::unwrap).collect::<Vec<_>>(),
        vec![b"k1".to_vec()]
    );
    assert_eq!((store.count(things), store.count(thingsx)), (2, 1));
}

#[test]
fn keys_join_parts_and_prefixes_select_them() {
    assert_eq!(key(&[b"a", b"b"]), b"a\x1fb".to_vec());
    assert_eq!(key_prefix(&[b"a"]), b"a\x1f".to_vec());
    assert_eq!(last_key_part(b"a\x1fb\x1fc"), b"c");
}

#[test]
fn a_data_directory_that_cannot_be_read_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_directory = dir.path().join("data");
    std::fs::write(&not_a_directory, b"not a database").unwrap();
    let err = Store::open(&not_a_directory, &[]).err().expect("a file is no data directory");
    assert!(err.to_string().contains(&not_a_directory.display().to_string()), "{err}");
}

#[test]
fn a_data_directory_of_another_format_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The layout before the format file: sled's files and a log.
        std::fs::write(dir.path().join("conf"), "segment_size: 524288\n").unwrap();
        std::fs::write(dir.path().join("db"), [0u8; 64]).unwrap();
        std::fs::create_dir(dir.path().join("wal")).unwrap();
    }
    let err = Store::open(dir.path(), APP).err().expect("an older directory is refused");
    assert!(matches!(err, StoreError::Format { .. }), "{err}");
    assert!(err.to_string().contains("older version"), "{err}");
    assert!(
        dir.path().join("db").exists() && !dir.path().join(embedded::DATABASE_FILE).exists(),
        "nothing was written into it"
    );

    // The format before this one kept its records in sled.
    let sled_era = tempfile::tempdir().unwrap();
    std::fs::write(sled_era.path().join(FORMAT_FILE), "gongji-store 2\n").unwrap();
    let err = Store::open(sled_era.path(), APP).err().expect("the previous format is refused");
    assert!(
        err.to_string().contains("gongji-store 2") && err.to_string().contains("gongji-store 3"),
        "{err}"
    );

    let newer = tempfile::tempdir().unwrap();
    std::fs::write(newer.path().join(FORMAT_FILE), "gongji-store 9\n").unwrap();
    let err = Store::open(newer.path(), APP).err().expect("another format is refused");
    assert!(err.to_string().contains("gongji-store 9"), "{err}");
}

mod durability {
    use super::*;

    #[tokio::test]
    async fn a_crash_during_a_stalled_write_loses_only_what_was_never_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let image = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), APP).unwrap();
        commit(&store, |tx| tx.put(THINGS, b"acknowledged", &1u32)).await;
        store.faults().stall_writes(Duration::from_millis(800));
        let waiting = {
            let store = store.clone();
            tokio::spawn(async move { store.transact(|tx| tx.put(THINGS, b"in-flight", &2u32)).durable().await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "not acknowledged while the write stalls");
        crash_image(dir.path(), &image.path().join("data"));
        waiting.await.unwrap().unwrap();

        let after_crash = Store::open(&image.path().join("data"), APP).unwrap();
        assert_eq!(things(&after_crash), vec![(b"acknowledged".to_vec(), 1)]);
    }

    #[tokio::test]
    async fn a_failed_log_write_stops_the_store_and_nothing_of_it_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), APP).unwrap();
            let failed = store.failed();
            commit(&store, |tx| tx.put(THINGS, b"before", &1u32)).await;
            store.faults().fail_write(1);
            let err = store
                .transact(|tx| tx.put(THINGS, b"lost", &2u32))
                .durable()
                .await
                .expect_err("the write failed");
            assert!(err.is_unavailable(), "{err}");
            assert!(err.to_string().contains("no space left"), "{err}");
            let why = tokio::time::timeout(Duration::from_secs(1), failed)
                .await
                .expect("the failure is reported");
            assert!(why.contains("no space left"), "{why}");
            assert_eq!(store.failure().as_deref(), Some(why.as_str()));
            // Nothing of the failed batch is seen, and nothing more is taken.
            assert_eq!(store.get(THINGS, b"lost").unwrap(), None);
            let refused = store.transact(|tx| tx.get(THINGS, b"lost")).unconfirmed().expect_err("refused");
            assert!(refused.is_unavailable(), "{refused}");
            assert!(store.durable().await.is_err() || store.failure().is_some());
        }
        let store = Store::open(dir.path(), APP).unwrap();
        assert_eq!(
            things(&store),
            vec![(b"before".to_vec(), 1)],
            "a restart replays only what is on disk"
        );
        commit(&store, |tx| tx.put(THINGS, b"after", &3u32)).await;
    }

    #[tokio::test]
    async fn a_snapshot_stays_as_it_was_taken_across_writes_and_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_small(dir.path(), 4096);
        for i in 0..50u32 {
            commit(&store, |tx| tx.put(THINGS, format!("k{:02}", i % 20).as_bytes(), &i)).await;
        }
        let snapshot = store.snapshot().unwrap();
        let before: Vec<(Vec<u8>, u32)> = snapshot.scan_prefix(THINGS, b"").map(Result::unwrap).collect();
        for i in 50..400u32 {
            commit(&store, |tx| tx.put(THINGS, format!("k{:02}", i % 30).as_bytes(), &i)).await;
        }
        let during: Vec<(Vec<u8>, u32)> = snapshot.scan_prefix(THINGS, b"").map(Result::unwrap).collect();
        assert_eq!(before, during, "the snapshot does not move");
        assert_eq!(snapshot.count(THINGS), 20);
        assert_eq!(store.count(THINGS), 30, "the store does");
        let (segments, checkpoint) = (log_files(dir.path()), wal::read_checkpoint(&wal::dir(dir.path())).unwrap());
        assert_eq!(segments.len(), 1, "no new segment while the snapshot lives: {segments:?}");
        drop(snapshot);
        for i in 400..800u32 {
            commit(&store, |tx| tx.put(THINGS, format!("k{:02}", i % 30).as_bytes(), &i)).await;
        }
        for _ in 0..200 {
            if wal::read_checkpoint(&wal::dir(dir.path())).unwrap() != checkpoint {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_ne!(
            wal::read_checkpoint(&wal::dir(dir.path())).unwrap(),
            checkpoint,
            "checkpoints resumed"
        );
    }
}

mod log_and_checkpoints {
    use super::*;

    #[tokio::test]
    async fn checkpoints_move_writes_into_the_database_and_delete_the_closed_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = BTreeMap::new();
        {
            let store = open_small(dir.path(), 4096);
            for i in 0..400u32 {
                let key = format!("k{:03}", i % 50).into_bytes();
                if i % 7 == 0 {
                    commit(&store, |tx| tx.remove(THINGS, &key)).await;
                    expected.remove(&key);
                } else {
                    commit(&store, |tx| tx.put(THINGS, &key, &i)).await;
                    expected.insert(key.clone(), i);
                }
                assert_eq!(store.get(THINGS, &key).unwrap(), expected.get(&key).copied());
            }
            // Checkpoints run beside the flusher: wait for the last one.
            for _ in 0..200 {
                if !store.inner.shared.memtable().is_frozen() && log_files(dir.path()).len() <= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let files = log_files(dir.path());
            assert!(
                files.len() <= 2 && files[0] >= 3,
                "several checkpoints, closed segments deleted: {files:?}"
            );
            let checkpoint = wal::read_checkpoint(&wal::dir(dir.path())).unwrap().expect("a checkpoint recorded");
            assert!(
                checkpoint > 100,
                "the checkpoint names the records the database holds: {checkpoint}"
            );
            assert_eq!(things(&store), expected.clone().into_iter().collect::<Vec<_>>());
            assert_eq!(store.count(THINGS), expected.len());
        }
        let store = open_small(dir.path(), 4096);
        assert_eq!(things(&store), expected.into_iter().collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_checkpoint_stops_the_store_and_a_restart_has_every_acknowledged_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = BTreeMap::new();
        {
            let store = open_small(dir.path(), 4096);
            let failed = store.failed();
            store.faults().fail_commit(1);
            for i in 0..2_000u32 {
                let key = format!("k{:03}", i % 50).into_bytes();
                match store.transact(|tx| tx.put(THINGS, &key, &i)).durable().await {
                    Ok(()) => {
                        expected.insert(key, i);
                    }
                    Err(e) => {
                        assert!(e.is_unavailable(), "{e}");
                        break;
                    }
                }
            }
            let why = tokio::time::timeout(Duration::from_secs(5), failed)
                .await
                .expect("the failed checkpoint is reported");
            assert!(why.contains("checkpoint failed") && why.contains("no space left"), "{why}");
            let refused = store
                .transact(|tx| tx.put(THINGS, b"after", &0))
                .unconfirmed()
                .expect_err("refused");
            assert!(refused.is_unavailable(), "{refused}");
            // Dropping the store ends its threads (the checkpoint thread
            // gave up): this block ends.
        }
        let store = open_small(dir.path(), 4096);
        assert!(!expected.is_empty());
        assert_eq!(things(&store), expected.into_iter().collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_replay_cut_between_its_commits_is_replayed_whole_at_the_next_opening() {
        let dir = tempfile::tempdir().unwrap();
        let key = |i: u32| format!("k{i:05}").into_bytes();
        let mut expected = BTreeMap::new();
        {
            // Two records, more writes than one commit of the database
            // takes, neither checkpointed: the next opening replays them.
            let store = Store::open(dir.path(), APP).unwrap();
            commit(&store, |tx| {
                for i in 0..6_000u32 {
                    tx.put(THINGS, &key(i), &i)?;
                    expected.insert(key(i), i);
                }
                Ok(())
            })
            .await;
            let mut second = expected.clone();
            commit(&store, |tx| {
                for i in (0..6_000u32).step_by(3) {
                    tx.put(THINGS, &key(i), &(i + 1))?;
                    second.insert(key(i), i + 1);
                }
                for i in (1..6_000u32).step_by(7) {
                    tx.remove(THINGS, &key(i))?;
                    second.remove(&key(i));
                }
                Ok(())
            })
            .await;
            expected = second;
        }
        let faults = Arc::new(Faults::none());
        faults.fail_commit(2);
        let err = Store::open_with(
            dir.path(),
            APP,
            StoreOptions {
                faults,
                ..StoreOptions::default()
            },
        )
        .err()
        .expect("the replay's second commit failed");
        assert!(err.to_string().contains("no space left"), "{err}");
        {
            // The first commit is in the database, without the LSN of the
            // records it comes from.
            let db = embedded::open(dir.path(), 1 << 20).unwrap();
            assert_eq!(embedded::applied_lsn(&db).unwrap(), 0);
            assert_eq!(embedded::get(&db, b"things\0k00000").unwrap(), Some(b"1".to_vec()));
        }
        let store = Store::open(dir.path(), APP).unwrap();
        assert_eq!(things(&store), expected.into_iter().collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn after_a_crash_numbers_continue_and_every_durable_write_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let image = tempfile::tempdir().unwrap();
        let numbered = |tx: &Tx| -> Result<u64, TxFail> {
            let id = tx.next_id()?;
            tx.put(THINGS, &id.to_be_bytes(), &(id as u32))?;
            Ok(id)
        };
        let first: Vec<u64> = {
            let store = Store::open(dir.path(), APP).unwrap();
            let mut ids = Vec::new();
            for _ in 1..=5 {
                ids.push(commit(&store, numbered).await);
            }
            crash_image(dir.path(), &image.path().join("data"));
            ids
        };
        let store = Store::open(&image.path().join("data"), APP).unwrap();
        let later = commit(&store, numbered).await;
        assert!(first.iter().all(|id| *id < later), "{first:?} then {later}");
        assert_eq!(things(&store).len(), 6);
    }

    /// A stopped store's data directory with `n` durable records, each in
    /// its own batch, one segment, and where each batch starts.
    async fn stopped_store(dir: &Path, n: u32) -> Vec<u64> {
        {
            let store = Store::open(dir, APP).unwrap();
            for i in 0..n {
                commit(&store, |tx| tx.put(THINGS.holding(), format!("k{i:03}").as_bytes(), &vec![i; 60])).await;
            }
        }
        let (_, path) = last_segment(dir);
        let bytes = std::fs::read(path).unwrap();
        let mut starts = Vec::new();
        let mut at = wal::SEGMENT_HEADER as usize;
        while bytes[at..at + 4] == *b"GJB2" {
            starts.push(at as u64);
            at += 28 + u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        assert_eq!(starts.len(), n as usize, "one batch per durable commit");
        starts
    }

    fn last_segment(path: &Path) -> (u64, PathBuf) {
        wal::segments(&wal::dir(path)).unwrap().into_iter().next_back().unwrap()
    }

    fn open_error(dir: &Path) -> String {
        Store::open(dir, APP).err().expect("a damaged directory is refused").to_string()
    }

    #[tokio::test]
    async fn a_last_write_cut_short_by_a_crash_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        stopped_store(dir.path(), 30).await;
        let last = {
            // One more write, spanning several sectors.
            let store = Store::open(dir.path(), APP).unwrap();
            commit(&store, |tx| tx.put(THINGS.holding(), b"large", &vec![7u32; 1000])).await;
            drop(store);
            let (_, segment) = last_segment(dir.path());
            let bytes = std::fs::read(&segment).unwrap();
            assert_eq!(&bytes[32..36], b"GJB2", "the restart started a new segment: one batch in it");
            (segment, bytes)
        };
        let (segment, mut bytes) = last;
        // Its last sector never reached the disk.
        let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
        let sector = (end - 1) / 512 * 512;
        assert!(sector > 32 + 28, "the write spans sectors");
        bytes[sector..end].fill(0);
        std::fs::write(&segment, &bytes).unwrap();
        let store = Store::open(dir.path(), APP).unwrap();
        assert_eq!(store.count(THINGS), 30, "the torn last write is dropped, the rest is there");
        assert_eq!(store.get(THINGS.holding::<Vec<u32>>(), b"large").unwrap(), None);
        drop(store);
        let store = Store::open(dir.path(), APP).unwrap();
        assert_eq!(store.count(THINGS), 30, "and it opens again");
    }

    #[tokio::test]
    async fn a_log_cut_short_in_its_middle_is_refused_naming_the_file_and_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let starts = stopped_store(dir.path(), 30).await;
        let (_, segment) = last_segment(dir.path());
        let bytes = std::fs::read(&segment).unwrap();
        let middle = starts[15] as usize + 20;
        std::fs::write(&segment, &bytes[..middle]).unwrap();
        let err = open_error(dir.path());
        assert!(err.contains(&segment.display().to_string()), "{err}");
        assert!(err.contains(&format!("at byte {}", starts[15])), "{err}");
        assert!(err.contains("gongji doctor"), "says what to do: {err}");
    }

    #[tokio::test]
    async fn a_damaged_length_field_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let starts = stopped_store(dir.path(), 30).await;
        let (_, segment) = last_segment(dir.path());
        let mut bytes = std::fs::read(&segment).unwrap();
        for (i, at) in [starts[10], *starts.last().unwrap()].into_iter().enumerate() {
            let field = at as usize + 4;
            let original = bytes[field];
            bytes[field] = original.wrapping_add(13);
            std::fs::write(&segment, &bytes).unwrap();
            let err = open_error(dir.path());
            assert!(err.contains(&format!("at byte {at}")), "case {i}: {err}");
            bytes[field] = original;
        }
        // A flipped byte inside a record.
        bytes[starts[3] as usize + 40] ^= 0x10;
        std::fs::write(&segment, &bytes).unwrap();
        assert!(open_error(dir.path()).contains(&format!("at byte {}", starts[3])));
    }

    #[tokio::test]
    async fn a_database_deleted_beside_its_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        stopped_store(dir.path(), 10).await;
        // A restart took a checkpoint: the log no longer holds everything.
        drop(Store::open(dir.path(), APP).unwrap());
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "wal" || name == FORMAT_FILE {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                std::fs::remove_dir_all(entry.path()).unwrap();
            } else {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        let err = open_error(dir.path());
        assert!(err.contains("database holds records up to 0"), "{err}");
    }

    #[tokio::test]
    async fn a_deleted_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        stopped_store(dir.path(), 10).await;
        drop(Store::open(dir.path(), APP).unwrap());
        for number in log_files(dir.path()) {
            std::fs::remove_file(wal::segment_path(&wal::dir(dir.path()), number)).unwrap();
        }
        let err = open_error(dir.path());
        assert!(err.contains("no log segment"), "{err}");
    }

    #[tokio::test]
    async fn the_doctor_reads_what_the_open_would_refuse_without_changing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let starts = stopped_store(dir.path(), 12).await;
        let healthy = examine(dir.path()).unwrap();
        assert!(healthy.opens(), "{healthy:?}");
        assert_eq!(healthy.log.segments.iter().map(|s| s.scan.records).sum::<u64>(), 12);
        let (_, segment) = last_segment(dir.path());
        let mut bytes = std::fs::read(&segment).unwrap();
        bytes[starts[5] as usize + 4] ^= 0x20;
        std::fs::write(&segment, &bytes).unwrap();
        let before: Vec<_> = std::fs::read_dir(wal::dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let damaged = examine(dir.path()).unwrap();
        assert!(!damaged.opens());
        let damage = damaged.log.damage.expect("found");
        assert_eq!((damage.file, damage.at), (segment.clone(), Some(starts[5])));
        assert_eq!(std::fs::read(&segment).unwrap(), bytes, "nothing changed");
        let after: Vec<_> = std::fs::read_dir(wal::dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(before, after);
    }
}

#[test]
fn a_store_is_named_by_its_database_without_the_password_or_by_its_data_directory() {
    let database = StoreFlags {
        url: Some("postgres://gongji:secret@db1,db2/hub".into()),
        ..Default::default()
    };
    let place = database.place(Path::new("/var/lib/gongji"));
    assert!(place.starts_with("postgres://gongji") && place.contains("db1,db2/hub"), "{place}");
    assert!(!place.contains("secret"), "{place}");
    assert_eq!(StoreFlags::default().place(Path::new("/var/lib/gongji")), "/var/lib/gongji");
}
