//! Longer chaos runs by hand:
//! `cargo run -p gongji-tests --bin chaos -- --seed 7 --duration 120 [--provinces 13,32,41] [--workers 6] [--store postgres] [--keep DIR]`.
//! Prints what was done and the audit; exits 1 if the audit finds anything.
//! Build the servers first: `cargo build --workspace --bins`.

use std::{process::ExitCode, time::Duration};

use gongji_tests::chaos::{run, ChaosConfig};

fn usage() -> ExitCode {
    eprintln!("usage: chaos [--seed N] [--duration SECONDS] [--provinces 13,32,41] [--workers N] [--store embedded|postgres] [--keep DIR]");
    ExitCode::from(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut config = ChaosConfig::new(1, Duration::from_secs(60));
    let mut keep = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            return usage();
        };
        match flag.as_str() {
            "--seed" => match value.parse() {
                Ok(seed) => config.seed = seed,
                Err(_) => return usage(),
            },
            "--duration" => match value.parse() {
                Ok(seconds) => config.duration = Duration::from_secs(seconds),
                Err(_) => return usage(),
            },
            "--workers" => match value.parse() {
                Ok(workers) => config.workers = workers,
                Err(_) => return usage(),
            },
            "--store" => match value.as_str() {
                "embedded" => config.postgres = false,
                "postgres" => config.postgres = true,
                _ => return usage(),
            },
            "--provinces" => config.provinces = value.split(',').map(|p| p.trim().to_owned()).collect(),
            "--keep" => keep = Some(std::path::PathBuf::from(value)),
            _ => return usage(),
        }
    }
    // In /tmp: on PostgreSQL the cluster runs as nobody, who must reach it.
    let temporary = match tempfile::tempdir_in("/tmp") {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("chaos: no temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = keep.unwrap_or_else(|| temporary.path().to_path_buf());
    println!(
        "chaos: seed {}, {:?}, provinces {:?}, data in {}",
        config.seed,
        config.duration,
        config.provinces,
        dir.display()
    );
    let seed = config.seed;
    let report = run(config, &dir).await;
    println!(
        "seed {seed}: {} operations ({} payments approved, {} unanswered), {} kills, {} link faults, {} disk faults",
        report.operations, report.approved, report.unanswered, report.kills, report.faults, report.disk_faults
    );
    let mut out = std::io::stdout();
    if report.audit.print(&mut out).is_err() {
        return ExitCode::FAILURE;
    }
    if report.audit.passed() {
        ExitCode::SUCCESS
    } else {
        println!(
            "seed {seed} failed: run it again with the same --seed to reproduce; server logs are in {}/logs",
            dir.display()
        );
        ExitCode::FAILURE
    }
}
