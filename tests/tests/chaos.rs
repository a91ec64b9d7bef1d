//! The chaos test (see `gongji_tests::chaos`): real server processes killed
//! with SIGKILL and restarted, faulty links, a seeded workload; afterwards
//! the audit must find nothing wrong. CI runs a few fixed seeds; longer runs
//! by hand: `cargo run -p gongji-tests --bin chaos -- --seed 7 --duration 120`.

use std::time::Duration;

use gongji_tests::chaos::{run, ChaosConfig};

async fn chaos(seed: u64) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let report = run(ChaosConfig::new(seed, Duration::from_secs(12)), dir.path()).await;
    println!(
        "seed {seed}: {} operations ({} approved, {} unanswered), {} kills, {} faults; audit: {} lines, {} journal entries",
        report.operations,
        report.approved,
        report.unanswered,
        report.kills,
        report.faults,
        report.audit.lines,
        report.audit.journal_entries
    );
    assert!(report.kills >= 10 && report.faults >= 5, "the chaos was real: {report:?}");
    assert!(report.approved >= 20, "the network did work meanwhile: {report:?}");
    assert!(
        report.audit.passed(),
        "seed {seed}: the audit found violations:\n{}",
        report.audit.violations.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_1() {
    chaos(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_2() {
    chaos(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_3() {
    chaos(3).await;
}
