//! Benchmark of the monthly cycle: loads one month with many cross-province
//! payments over many provinces and times the close (with the clearing),
//! fetching the clearing, one province's reconciliation and the settlement,
//! printing each time and the peak memory of each process.
//!
//! The hub and every node run as child processes (this binary again, in a
//! hidden serve mode), so each one's peak resident memory (VmHWM) is its own.
//! A smaller baseline month runs first in a fresh network; the final table
//! sets the two side by side, so memory that stays flat shows as a ratio near
//! 1 while times grow with the month.
//!
//! ```sh
//! cargo bench -p gongji-tests --bench monthly_cycle -- --help
//! cargo bench -p gongji-tests --bench monthly_cycle -- --transactions 20000 --provinces 8
//! ```

mod cluster;
mod cycle;
mod serve;
mod workload;

use std::{
    fmt,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use gongji_common::ProvinceCode;

use crate::{
    cluster::{disk_use, peak_kib, reset_peak, Cluster},
    cycle::Cycle,
    workload::{Load, Plan},
};

/// Times the monthly cycle (close and clearing, GetClearing, one province's
/// reconciliation, settlement) of a month loaded with cross-province
/// payments, with each server in its own process, and reports each
/// process's peak memory. A baseline month of a fraction of the size runs
/// first, in a fresh network, for comparison.
#[derive(Debug, Parser)]
#[command(name = "monthly_cycle")]
struct Options {
    /// Cross-province payments in the month.
    #[arg(long, default_value_t = 1_000_000)]
    transactions: u64,

    /// Provinces (the first ones of the national list), 2 to 32.
    #[arg(long, default_value_t = 32)]
    provinces: usize,

    /// Payments in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,

    /// Size of the baseline month as a fraction of --transactions (0 for
    /// no baseline).
    #[arg(long, default_value_t = 0.1)]
    baseline_fraction: f64,

    /// The province that reconciles (default: the first one).
    #[arg(long)]
    reconcile: Option<ProvinceCode>,

    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Why the benchmark stopped.
pub struct Failure(String);

pub fn failure(message: impl Into<String>) -> Failure {
    Failure(message.into())
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure(error.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn secs(duration: Duration) -> String {
    format!("{:.3} s", duration.as_secs_f64())
}

pub fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = args
        .get(1)
        .filter(|a| [cluster::SERVE_HUB, cluster::SERVE_NODE].contains(&a.as_str()))
    {
        return serve::serve(mode, &args[2..]);
    }
    if args.len() == 1 {
        // `cargo test --benches` runs bench targets with no arguments: a
        // million payments is not a test.
        println!("monthly_cycle: run it with `cargo bench -p gongji-tests --bench monthly_cycle -- --help`");
        return ExitCode::SUCCESS;
    }
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("monthly_cycle: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("monthly_cycle: finished, but not every payment was approved (see above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("monthly_cycle: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the baseline and the large month; returns whether every payment of
/// both was approved.
async fn bench(options: Options) -> Result<bool, Failure> {
    if !(2..=32).contains(&options.provinces) {
        return Err(failure("--provinces must be 2 to 32"));
    }
    if options.transactions == 0 || options.concurrency == 0 {
        return Err(failure("--transactions and --concurrency must be at least 1"));
    }
    if !(0.0..1.0).contains(&options.baseline_fraction) {
        return Err(failure("--baseline-fraction must be at least 0 and below 1"));
    }
    let provinces: Vec<ProvinceCode> = ProvinceCode::all_known().take(options.provinces).collect();
    let reconciling = options.reconcile.unwrap_or(provinces[0]);
    if !provinces.contains(&reconciling) {
        return Err(failure(format!(
            "--reconcile {reconciling} is not one of the first {} provinces",
            provinces.len()
        )));
    }
    let baseline_size = (options.transactions as f64 * options.baseline_fraction).round() as u64;

    println!(
        "monthly_cycle: {} cross-province payments over {} provinces ({}), {} in flight; {} cores",
        options.transactions,
        provinces.len(),
        provinces.iter().map(ProvinceCode::to_string).collect::<Vec<_>>().join(" "),
        options.concurrency,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("each server is a child process; each month runs in a fresh network with its own data directory");

    let baseline = if baseline_size > 0 {
        println!(
            "\n== baseline month: {baseline_size} payments ({} of the large one) ==",
            options.baseline_fraction
        );
        Some(month(&provinces, baseline_size, options.concurrency, reconciling).await?)
    } else {
        None
    };
    println!("\n== large month: {} payments ==", options.transactions);
    let large = month(&provinces, options.transactions, options.concurrency, reconciling).await?;

    print_table(baseline.as_ref(), &large, reconciling);
    Ok(baseline.as_ref().is_none_or(Measured::all_approved) && large.all_approved())
}

/// Peak resident memory (KiB) of the processes of one network over one phase.
struct Peaks {
    hub: Option<u64>,
    reconciling: Option<u64>,
    /// Every node's, in province order.
    nodes: Vec<Option<u64>>,
    orchestrator: Option<u64>,
}

impl Peaks {
    fn read(cluster: &Cluster, reconciling: ProvinceCode) -> Peaks {
        Peaks {
            hub: peak_kib(Some(cluster.hub.pid())),
            reconciling: peak_kib(Some(cluster.node(reconciling).pid())),
            nodes: cluster.nodes.iter().map(|(_, s)| peak_kib(Some(s.pid()))).collect(),
            orchestrator: peak_kib(None),
        }
    }

    fn node_max(&self) -> Option<u64> {
        self.nodes.iter().copied().collect::<Option<Vec<_>>>()?.into_iter().max()
    }

    fn node_mean(&self) -> Option<u64> {
        let all = self.nodes.iter().copied().collect::<Option<Vec<_>>>()?;
        Some(all.iter().sum::<u64>() / all.len().max(1) as u64)
    }
}

/// Resets the peak of every process of the network and of this one.
fn reset_peaks(cluster: &Cluster) -> bool {
    cluster
        .servers()
        .map(|s| reset_peak(Some(s.pid())))
        .fold(reset_peak(None), |a, b| a && b)
}

/// What one month measured.
struct Measured {
    transactions: u64,
    setup: Duration,
    load: Load,
    cycle: Cycle,
    load_peaks: Peaks,
    cycle_peaks: Peaks,
    /// Whether the peaks were reset between load and cycle (else the cycle
    /// peaks include the load).
    peaks_split: bool,
    disk_hub: u64,
    disk_total: u64,
}

impl Measured {
    fn all_approved(&self) -> bool {
        self.load.approved == self.transactions
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// Sets up a fresh network, loads one month and runs its cycle.
async fn month(provinces: &[ProvinceCode], transactions: u64, concurrency: usize, reconciling: ProvinceCode) -> Result<Measured, Failure> {
    let dir = tempfile::Builder::new().prefix("gongji-bench-").tempdir()?;
    println!("  data in {}", dir.path().display());
    let started = Instant::now();
    let cluster = Cluster::start(dir.path(), provinces).await?;
    println!(
        "  started the hub and {} nodes in {} (pids: hub {}, nodes {}…)",
        provinces.len(),
        secs(started.elapsed()),
        cluster.hub.pid(),
        cluster.nodes[0].1.pid()
    );
    reset_peak(None);

    let plan = Arc::new(Plan::new(provinces.to_vec(), transactions)?);
    let started = Instant::now();
    workload::set_up(&cluster, &plan).await?;
    let setup = started.elapsed();
    println!(
        "  setup:        {} ({} donors, {} relationships of quota {} each)",
        secs(setup),
        provinces.len(),
        plan.pairs.len() as u64 * plan.lanes,
        plan.quota
    );

    let load = workload::load(&cluster, plan.clone(), concurrency).await?;
    println!(
        "  load:         {} for {transactions} payments, {:.0} payments/s; approved {}, declined {}, failed {}, retried {} time(s)",
        secs(load.elapsed),
        load.rate(),
        load.approved,
        load.declined,
        load.failed,
        load.retries
    );
    let mut problems: Vec<_> = load.problems.iter().collect();
    problems.sort_by(|a, b| b.1.cmp(a.1));
    for (problem, count) in problems.iter().take(10) {
        println!("    {count} × {problem}");
    }
    let load_peaks = Peaks::read(&cluster, reconciling);
    let peaks_split = reset_peaks(&cluster);

    let cycle = cycle::run(&cluster, &plan, &load, reconciling).await;
    let cycle_peaks = Peaks::read(&cluster, reconciling);
    let disk_hub = disk_use(&dir.path().join("hub"));
    let disk_total = disk_use(dir.path());
    for note in cluster.stop() {
        println!("  {note}");
    }
    let cycle = cycle?;

    print_peaks("load", &load_peaks, provinces);
    print_peaks(
        if peaks_split { "cycle" } else { "cycle (not reset after the load)" },
        &cycle_peaks,
        provinces,
    );
    println!(
        "  disk:         {:.1} MiB in all, hub {:.1} MiB",
        disk_total as f64 / 1048576.0,
        disk_hub as f64 / 1048576.0
    );
    Ok(Measured {
        transactions,
        setup,
        load,
        cycle,
        load_peaks,
        cycle_peaks,
        peaks_split,
        disk_hub,
        disk_total,
    })
}

fn print_peaks(phase: &str, peaks: &Peaks, provinces: &[ProvinceCode]) {
    println!(
        "  peak RSS, {phase} (MiB): hub {}, orchestrator {}, nodes max {} mean {}",
        mib(peaks.hub),
        mib(peaks.orchestrator),
        mib(peaks.node_max()),
        mib(peaks.node_mean())
    );
    let each: Vec<String> = provinces
        .iter()
        .zip(&peaks.nodes)
        .map(|(p, kib)| format!("{p} {}", mib(*kib)))
        .collect();
    for row in each.chunks(8) {
        println!("    {}", row.join(", "));
    }
}

fn print_table(baseline: Option<&Measured>, large: &Measured, reconciling: ProvinceCode) {
    fn seconds(d: Duration) -> Option<f64> {
        Some(d.as_secs_f64())
    }
    fn mebibytes(kib: Option<u64>) -> Option<f64> {
        kib.map(|k| k as f64 / 1024.0)
    }
    type Row = (String, fn(&Measured) -> Option<f64>);
    let rows: Vec<Row> = vec![
        ("load rate (payments/s)".into(), |m| Some(m.load.rate())),
        ("setup (s)".into(), |m| seconds(m.setup)),
        ("load (s)".into(), |m| seconds(m.load.elapsed)),
        ("close: CloseMonth → CLOSED (s)".into(), |m| seconds(m.cycle.close)),
        ("  of which hub clearing (s)".into(), |m| seconds(m.cycle.hub_clearing)),
        ("GetClearing (s)".into(), |m| seconds(m.cycle.get_clearing)),
        (format!("reconcile, province {reconciling} (s)"), |m| seconds(m.cycle.reconcile)),
        ("settle (s)".into(), |m| seconds(m.cycle.settle)),
        ("peak RSS hub, load (MiB)".into(), |m| mebibytes(m.load_peaks.hub)),
        ("peak RSS hub, cycle (MiB)".into(), |m| mebibytes(m.cycle_peaks.hub)),
        (format!("peak RSS node {reconciling}, load (MiB)"), |m| {
            mebibytes(m.load_peaks.reconciling)
        }),
        (format!("peak RSS node {reconciling}, cycle (MiB)"), |m| {
            mebibytes(m.cycle_peaks.reconciling)
        }),
        ("peak RSS nodes max, load (MiB)".into(), |m| mebibytes(m.load_peaks.node_max())),
        ("peak RSS nodes max, cycle (MiB)".into(), |m| mebibytes(m.cycle_peaks.node_max())),
        ("peak RSS nodes mean, load (MiB)".into(), |m| mebibytes(m.load_peaks.node_mean())),
        ("peak RSS nodes mean, cycle (MiB)".into(), |m| mebibytes(m.cycle_peaks.node_mean())),
        ("peak RSS orchestrator (MiB)".into(), |m| {
            mebibytes(m.cycle_peaks.orchestrator.max(m.load_peaks.orchestrator))
        }),
        ("disk, hub (MiB)".into(), |m| Some(m.disk_hub as f64 / 1048576.0)),
        ("disk, all servers (MiB)".into(), |m| Some(m.disk_total as f64 / 1048576.0)),
    ];
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"));
    println!();
    let large_head = format!("large ({})", large.transactions);
    match baseline {
        Some(base) => {
            let base_head = format!("baseline ({})", base.transactions);
            println!("| figure | {base_head} | {large_head} | large/baseline |");
            println!("|---|---:|---:|---:|");
            for (name, value) in &rows {
                let (b, l) = (value(base), value(large));
                let ratio = match (b, l) {
                    (Some(b), Some(l)) if b > 0.0 => format!("{:.2}", l / b),
                    _ => "n/a".to_owned(),
                };
                println!("| {name} | {} | {} | {ratio} |", show(b), show(l));
            }
            println!(
                "(size ratio {:.2}; each month in a fresh network)",
                large.transactions as f64 / base.transactions as f64
            );
        }
        None => {
            println!("| figure | {large_head} |");
            println!("|---|---:|");
            for (name, value) in &rows {
                println!("| {name} | {} |", show(value(large)));
            }
        }
    }
    if !large.peaks_split || baseline.is_some_and(|b| !b.peaks_split) {
        println!("(peaks could not be reset after the load: cycle peaks include the load)");
    }
}
