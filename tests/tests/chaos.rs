//! The chaos test (see `gongji_tests::chaos`): real server processes killed
//! with SIGKILL and restarted, faulty links, a seeded workload; afterwards
//! the audit must find nothing wrong. CI runs a few fixed seeds; longer runs
//! by hand: `cargo run -p gongji-tests --bin chaos -- --seed 7 --duration 120`.
//! Besides killed processes and faulty links, servers are restarted with a
//! slow disk (log writes stall, then a kill during one) or a full one (a log
//! write fails: the server says NOT_SERVING until it is restarted).

use std::time::Duration;

use gongji_tests::chaos::{run, ChaosConfig};

async fn chaos(seed: u64) {
    chaos_with(ChaosConfig::new(seed, Duration::from_secs(12))).await
}

async fn chaos_with(config: ChaosConfig) {
    let seed = config.seed;
    // Outside /root: on PostgreSQL runs the cluster runs as nobody.
    let dir = tempfile::tempdir_in("/tmp").expect("temporary directory");
    let report = run(config, dir.path()).await;
    println!(
        "seed {seed}: {} operations ({} approved, {} unanswered; {} on wallets, {} accepted), {} kills, {} link faults, {} disk faults, {} database restarts; audit: {} lines, {} journal entries",
        report.operations,
        report.approved,
        report.unanswered,
        report.wallet_operations,
        report.wallet_accepted,
        report.kills,
        report.faults,
        report.disk_faults,
        report.database_restarts,
        report.audit.lines,
        report.audit.journal_entries
    );
    assert!(
        report.kills >= 5 && report.faults >= 5 && report.disk_faults >= 2,
        "the chaos was real: {report:?}"
    );
    assert!(report.approved >= 20, "the network did work meanwhile: {report:?}");
    assert!(
        report.wallet_operations >= 10 && report.wallet_accepted >= 1 && report.clock_moves == 1,
        "wallet transfers went on, and the clock passed 06:00: {report:?}"
    );
    if !report.audit.passed() {
        // Keep the data and put what the logs say of each named transaction
        // in the failure itself: a rare race must not leave only its verdict.
        let kept = dir.keep();
        panic!(
            "seed {seed}: the audit found violations:\n{}\ndata and logs kept in {}\n{}",
            report.audit.violations.join("\n"),
            kept.display(),
            evidence(&kept, seed, &report.audit.violations)
        );
    }
}

/// The log lines of every server that name a transaction of the violations
/// (ids of this seed's workload: `s{seed}-w…`), at most 60 per id.
fn evidence(dir: &std::path::Path, seed: u64, violations: &[String]) -> String {
    let prefix = format!("s{seed}-w");
    let mut ids: Vec<String> = violations
        .iter()
        .flat_map(|v| v.split_whitespace())
        .filter(|word| word.starts_with(&prefix))
        .map(|word| word.trim_end_matches([':', ',', '.']).to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    let logs: Vec<(String, String)> = std::fs::read_dir(dir.join("logs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = String::new();
    for id in &ids {
        text.push_str(&format!("--- {id}\n"));
        for (name, log) in &logs {
            for line in log.lines().filter(|line| line.contains(id.as_str())).take(60) {
                text.push_str(&format!("{name}: {line}\n"));
            }
        }
    }
    text
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_4() {
    chaos(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_seed_5() {
    chaos(5).await;
}

/// Every server on PostgreSQL with a standby hub: the hubs, the nodes and
/// PostgreSQL itself crash and restart; the audit must pass.
#[tokio::test(flavor = "multi_thread")]
async fn chaos_on_postgres_seed_1() {
    let mut config = ChaosConfig::new(1, Duration::from_secs(15));
    config.postgres = true;
    chaos_with(config).await;
}
