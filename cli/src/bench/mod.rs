//! `gongji bench`: throughput and latency of the network under load, beside
//! a do-nothing baseline of the same topology measured in the same run.
//!
//! It starts a durable network of the given provinces in this process
//! (`gongji_network`; or loads a running devnet), sets up its population,
//! then runs each workload first against a stub network
//! (`gongji_network::baseline`) and then against the real one, each for a
//! warm-up and a measured window (`load`), and prints a table with the
//! ratio of the two rates and the targets. Every client it drives
//! is made by the command's session, before it is handed to a task.

mod load;
mod population;

use std::{
    collections::BTreeMap,
    io::Write,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use gongji_common::ProvinceCode;
use gongji_network::{
    baseline::{PaymentRoute, StubNetwork},
    Network, NetworkSpec,
};
use gongji_operator::{
    args::{BenchArgs, BenchWorkload, StoreEngine},
    connection::CALL_TIMEOUT,
    error::{CliError, EXIT_FAILED, EXIT_OK},
    manifest::Manifest,
    progress::Display,
    ready,
    session::Session,
};

use self::{
    load::{Measured, Shape},
    population::{Call, Nodes, Population},
};

/// Setup calls in flight at once.
const SETUP_CONCURRENCY: usize = 32;
/// Prepaid funds of each province of a started network: payments must
/// never be declined for want of them during a run.
const OPENING_PREPAID: &str = "100000000.00";

/// The targets, printed beside the figures (never asserted).
const CROSS_RATIO_TARGET: f64 = 0.5;
const CROSS_P99_TARGET_MS: f64 = 30.0;
const SAME_RATE_TARGET: f64 = 10_000.0;

/// How a workload is named in the report.
fn label(workload: BenchWorkload) -> &'static str {
    match workload {
        BenchWorkload::Cross => "cross-province payments",
        BenchWorkload::Same => "same-province payments",
        BenchWorkload::Establish => "relationships established",
        BenchWorkload::Wallet => "wallet transfers accepted",
    }
}

/// Where the baseline's stub nodes send the workload's payments.
fn route(workload: BenchWorkload) -> PaymentRoute {
    match workload {
        BenchWorkload::Cross | BenchWorkload::Wallet => PaymentRoute::ViaHub,
        BenchWorkload::Same | BenchWorkload::Establish => PaymentRoute::Local,
    }
}

/// The workload's `n`th call of `client`, if it has one.
fn call(workload: BenchWorkload, population: &Population, nodes: &Nodes, client: usize, n: u64) -> Option<Call> {
    match workload {
        BenchWorkload::Cross => Some(population.cross_payment(nodes, client, n)),
        BenchWorkload::Same => Some(population.same_payment(nodes, client, n)),
        BenchWorkload::Establish => population.establishment(nodes, client, n),
        BenchWorkload::Wallet => Some(population.wallet_transfer(nodes, client, n)),
    }
}

/// One workload's figures: the real network's, and the baseline's if run.
struct Row {
    workload: BenchWorkload,
    real: Measured,
    baseline: Option<Measured>,
}

/// A network the benchmark started (without one, it loads a devnet).
struct Started {
    network: Network,
    /// The PostgreSQL cluster its servers keep their books in, if any.
    postgres: Option<gongji_network::postgres::Cluster>,
    data_dir: PathBuf,
    /// Whether its data stays after the run (given with --data-dir).
    keep: bool,
}

/// Runs the benchmark: with --devnet, on the session's network (its address
/// file); else on a network it starts. Its clients present the session's
/// credentials.
pub async fn run(session: &Session, args: BenchArgs, display: Display, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let provinces = check_provinces(&args.provinces)?;
    let clients = usize::from(args.clients);
    let shape = Shape {
        clients,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
        display,
    };
    let workloads = distinct(&args.workloads);
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let population = Population::new(format!("bench{millis}"), provinces.clone(), clients, args.warmup + args.duration);

    let (started, manifest) = match &args.devnet {
        Some(path) => (None, Manifest::read(path)?),
        None => {
            let (data_dir, keep) = match &args.data_dir {
                Some(dir) => (dir.clone(), true),
                None => (
                    std::env::temp_dir().join(format!("gongji-bench-{}-{millis}", std::process::id())),
                    false,
                ),
            };
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| CliError::Other(format!("cannot create the data directory {}: {e}", data_dir.display())))?;
            let mut spec =
                NetworkSpec::on_ports(data_dir.clone(), std::net::Ipv4Addr::LOCALHOST.into(), 0, &provinces).map_err(CliError::Other)?;
            spec.opening_prepaid = OPENING_PREPAID.into();
            // Every client sends one wallet transfer after another.
            spec.wallet_daily_count = u32::MAX;
            if args.tls {
                spec.run_tls(Vec::new()).map_err(CliError::Other)?;
            }
            let postgres = match args.store {
                StoreEngine::Embedded => None,
                StoreEngine::Postgres => Some(
                    gongji_network::postgres::start_for(&mut spec, &data_dir.join("postgres"))
                        .map_err(|e| CliError::Other(format!("cannot start PostgreSQL: {e}")))?,
                ),
            };
            let network = Network::start(spec)
                .await
                .map_err(|e| CliError::Other(format!("cannot start the network: {e}")))?;
            // Wallet transfers are not sent 22:00-06:00 CST: the network's
            // clock reads 10:00 tomorrow (a devnet's is its own).
            let clock = network.clock();
            let day = gongji_common::period::cst_day_and_second(clock.now_millis()).0 + 1;
            clock.set(gongji_common::period::cst_day_hour_millis(day, 10));
            let manifest = network.manifest();
            (
                Some(Started {
                    network,
                    postgres,
                    data_dir,
                    keep,
                }),
                manifest,
            )
        }
    };
    writeln!(
        out,
        "gongji bench: {} clients, {} s warm-up + {} s measured per workload, provinces {}",
        clients,
        args.warmup,
        args.duration,
        provinces.iter().map(ProvinceCode::as_str).collect::<Vec<_>>().join(",")
    )?;
    match &started {
        Some(started) => writeln!(
            out,
            "network: started in this process, durable, {}, {}, data in {}",
            if args.tls { "mutual TLS (the baseline too)" } else { "plaintext" },
            match &started.postgres {
                Some(cluster) => format!("books in PostgreSQL on port {}", cluster.port),
                None => "embedded stores".to_owned(),
            },
            started.data_dir.display()
        )?,
        None => writeln!(out, "network: the devnet at {}", manifest.hub)?,
    }
    out.flush()?;

    // Over the network's certificates, presenting the command's credentials.
    let certs = (!manifest.certs.is_empty()).then(|| PathBuf::from(&manifest.certs));
    let outcome = match Session::for_network(manifest, session.credentials.clone()) {
        Ok(session) => measure(&session, &population, &workloads, shape, !args.no_baseline, certs.as_deref(), err).await,
        Err(error) => Err(error),
    };
    let stopped = match started {
        Some(Started {
            network,
            postgres,
            data_dir,
            keep,
        }) => {
            let stopped = network.shutdown().await;
            if let Some(cluster) = postgres {
                if let Err(e) = cluster.stop(false) {
                    let _ = writeln!(err, "warning: stopping PostgreSQL: {e}");
                }
            }
            if !keep {
                let _ = std::fs::remove_dir_all(&data_dir);
            }
            stopped
        }
        None => Ok(()),
    };
    let rows = outcome?;
    stopped.map_err(|e| CliError::Other(format!("the network did not stop cleanly: {e}")))?;

    report(out, &rows, clients)?;
    let problems: Vec<_> = rows
        .iter()
        .flat_map(|row| {
            [Some(&row.real), row.baseline.as_ref()]
                .into_iter()
                .flatten()
                .map(move |m| (row.workload, m))
        })
        .filter(|(_, m)| m.refused + m.failed > 0)
        .collect();
    for (workload, m) in &problems {
        writeln!(
            err,
            "error: {}: {} refused, {} failed; first: {}",
            label(*workload),
            m.refused,
            m.failed,
            m.first_problem.as_deref().unwrap_or("?")
        )?;
    }
    Ok(if problems.is_empty() { EXIT_OK } else { EXIT_FAILED })
}

/// Sets up the population, then runs every workload (baseline first), on
/// the session's network.
async fn measure(
    session: &Session,
    population: &Population,
    workloads: &[BenchWorkload],
    shape: Shape,
    with_baseline: bool,
    certs: Option<&std::path::Path>,
    progress: &mut dyn Write,
) -> Result<Vec<Row>, CliError> {
    let Some(manifest) = session.network() else {
        return Err(CliError::Other("the benchmark has no network to load".into()));
    };
    ready::wait_for_network(&session.connection, manifest).await?;
    let nodes = connect(session, manifest, &population.provinces).await?;
    let establish = workloads.contains(&BenchWorkload::Establish);
    let payments = workloads.iter().any(|w| *w != BenchWorkload::Establish);
    writeln!(progress, "setting up the population")?;
    let steps = [
        ("registering persons", population.registrations(&nodes, establish)),
        ("crediting contributions", population.contributions(&nodes, establish)),
        (
            "establishing payment relationships",
            if payments {
                population.payment_relationships(&nodes)
            } else {
                Vec::new()
            },
        ),
        (
            "opening wallets",
            if workloads.contains(&BenchWorkload::Wallet) {
                population.wallets(&nodes)
            } else {
                Vec::new()
            },
        ),
    ];
    for (label, calls) in steps {
        load::all(label, calls, SETUP_CONCURRENCY, shape.display, progress)
            .await
            .map_err(CliError::Other)?;
    }

    let mut rows = Vec::new();
    for &workload in workloads {
        let baseline = if with_baseline {
            let stubs = StubNetwork::start(&population.provinces, route(workload), certs)
                .await
                .map_err(CliError::Other)?;
            let stub_nodes = connect_urls(session, population.provinces.iter().map(|p| (*p, stubs.node_url(*p)))).await?;
            let baseline_label = format!("{} (baseline)", label(workload));
            let measured = drive(workload, &baseline_label, population, stub_nodes, shape, progress).await;
            stubs.stop().await.map_err(CliError::Other)?;
            Some(measured)
        } else {
            None
        };
        let real = drive(workload, label(workload), population, nodes.clone(), shape, progress).await;
        rows.push(Row { workload, real, baseline });
    }
    Ok(rows)
}

async fn drive(
    workload: BenchWorkload,
    label: &str,
    population: &Population,
    nodes: Nodes,
    shape: Shape,
    progress: &mut dyn Write,
) -> Measured {
    let population = population.clone();
    load::drive(label, shape, progress, move |client, n| {
        call(workload, &population, &nodes, client, n)
    })
    .await
}

async fn connect(session: &Session, manifest: &Manifest, provinces: &[ProvinceCode]) -> Result<Nodes, CliError> {
    let addresses = provinces.iter().map(|p| {
        let address = manifest
            .provinces
            .iter()
            .find(|entry| entry.code == p.as_str())
            .map(|entry| entry.address.clone());
        (*p, address)
    });
    connect_urls(session, addresses).await
}

async fn connect_urls(session: &Session, addresses: impl Iterator<Item = (ProvinceCode, Option<String>)>) -> Result<Nodes, CliError> {
    let mut nodes = BTreeMap::new();
    for (code, address) in addresses {
        let address = address.ok_or_else(|| CliError::Other(format!("the network has no node for province {code}")))?;
        nodes.insert(code, session.node_on(session.connect(&address, CALL_TIMEOUT, None).await?));
    }
    Ok(Arc::new(nodes))
}

fn check_provinces(provinces: &[ProvinceCode]) -> Result<Vec<ProvinceCode>, CliError> {
    let distinct = distinct(provinces);
    if distinct.len() != provinces.len() {
        return Err(CliError::Other("--provinces lists a province twice".into()));
    }
    if distinct.len() < 2 {
        return Err(CliError::Other(
            "--provinces needs at least two provinces (cross-province traffic needs two)".into(),
        ));
    }
    Ok(distinct)
}

/// `items` without repeats, in their first order.
fn distinct<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(*item);
        }
    }
    out
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// The results table, then each target and whether it was met.
fn report(out: &mut dyn Write, rows: &[Row], clients: usize) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{:<27} {:>9} {:>8} {:>8} {:>8} {:>8} {:>11} {:>7}",
        "workload", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms", "baseline/s", "ratio"
    )?;
    for row in rows {
        let figures = |label: &str, m: &Measured, baseline: Option<&Measured>| {
            let (base, ratio) = match baseline {
                Some(b) if b.rate() > 0.0 => (format!("{:.0}", b.rate()), format!("{:.2}", m.rate() / b.rate())),
                _ => ("-".into(), "-".into()),
            };
            format!(
                "{label:<27} {:>9.0} {:>8} {:>8} {:>8} {:>8} {base:>11} {ratio:>7}",
                m.rate(),
                ms(m.latency_ms(0.5)),
                ms(m.latency_ms(0.95)),
                ms(m.latency_ms(0.99)),
                ms(m.latency_ms(1.0)),
            )
        };
        writeln!(out, "{}", figures(label(row.workload), &row.real, row.baseline.as_ref()))?;
        if let Some(baseline) = &row.baseline {
            writeln!(out, "{}", figures("  baseline (no-op servers)", baseline, None))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "targets ({clients} clients; the cross-province target is set at 64):")?;
    for row in rows {
        let rate = row.real.rate();
        match row.workload {
            BenchWorkload::Cross => {
                let p99 = row.real.latency_ms(0.99);
                match row.baseline.as_ref().filter(|b| b.rate() > 0.0).map(|b| rate / b.rate()) {
                    Some(ratio) => {
                        let met = ratio >= CROSS_RATIO_TARGET && p99.is_some_and(|p| p < CROSS_P99_TARGET_MS);
                        writeln!(
                            out,
                            "  cross-province: at least {:.0}% of the baseline with p99 under {CROSS_P99_TARGET_MS} ms: {:.0}% of the baseline, p99 {} ms: {}",
                            CROSS_RATIO_TARGET * 100.0,
                            ratio * 100.0,
                            ms(p99),
                            verdict(met)
                        )?;
                    }
                    None => writeln!(
                        out,
                        "  cross-province: p99 {} ms; the target (at least {:.0}% of the baseline) is not judged without the baseline run",
                        ms(p99),
                        CROSS_RATIO_TARGET * 100.0
                    )?,
                }
            }
            BenchWorkload::Same => writeln!(
                out,
                "  same-province: at least {SAME_RATE_TARGET:.0} a second: {rate:.0} a second: {}",
                verdict(rate >= SAME_RATE_TARGET)
            )?,
            BenchWorkload::Establish | BenchWorkload::Wallet => {}
        }
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}
