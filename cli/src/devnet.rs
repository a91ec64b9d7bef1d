//! `gongji devnet`: the hub and a node per province in this process, with
//! their data under one directory (started by `gongji-network`'s
//! [`Devnet`]), the demo population seeded, and a grpcurl cheat sheet with
//! the real addresses. Serves until Ctrl-C or SIGTERM, or until a server
//! fails, then stops every server before returning.

use std::{
    io::Write,
    time::{SystemTime, UNIX_EPOCH},
};

use gongji_common::{server::shutdown_signal, Period, ProvinceCode};
use gongji_network::devnet::Devnet;
use gongji_operator::{
    args::DevnetArgs,
    error::{CliError, EXIT_OK},
    manifest::Manifest,
    ready,
    session::Session,
};
use gongji_proto::v1 as pb;

use crate::demo;

/// What ended the devnet's run.
enum Ended {
    Stopped,
    Failed(String),
    StartupFailed(CliError),
}

pub async fn run(args: DevnetArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    if args.insecure {
        writeln!(err, "warning: --insecure: {}", gongji_common::auth::PLAINTEXT_WARNING)?;
    }
    let devnet = Devnet::start(&args).await?;
    devnet.network.clock().advance(args.clock_offset_ms);
    if let Some(dir) = &devnet.certs_made {
        writeln!(out, "certificates (a development CA) written to {}", dir.display())?;
    }
    // The devnet seeds as its operator, over its certificates.
    let session = match devnet.operator_session() {
        Ok(session) => session,
        Err(error) => {
            let _ = devnet.network.shutdown().await;
            return Err(error);
        }
    };
    let pids = devnet.network.hub_pids();
    let Devnet {
        mut network,
        manifest,
        postgres,
        ..
    } = devnet;
    if let (Some(cluster), [active, standby]) = (&postgres, pids.as_slice()) {
        let hubs: Vec<&str> = manifest.hub.split(',').collect();
        writeln!(
            out,
            "books in PostgreSQL on port {} (in {}); two hubs share the hub's database:",
            cluster.port,
            cluster.data.display()
        )?;
        writeln!(
            out,
            "  {} (pid {active}) is active; {} (pid {standby}) stands by",
            hubs[0],
            hubs.get(1).unwrap_or(&"?")
        )?;
        writeln!(
            out,
            "  to see failover: kill {active}; then `gongji status` shows the other hub active"
        )?;
    }

    let stop = shutdown_signal();
    tokio::pin!(stop);
    // The signal is watched from the start, so Ctrl-C during seeding still
    // stops the servers cleanly.
    let ended = tokio::select! {
        started = start_up(&session, &manifest, &args, out, err) => match started {
            Err(error) => Ended::StartupFailed(error),
            Ok(()) => tokio::select! {
                () = &mut stop => Ended::Stopped,
                failure = network.failed() => Ended::Failed(failure),
            },
        },
        () = &mut stop => Ended::Stopped,
        failure = network.failed() => Ended::Failed(failure),
    };

    let _ = writeln!(out, "stopping the devnet...");
    let _ = out.flush();
    let stopped = network.shutdown().await;
    if let Some(cluster) = postgres {
        if let Err(e) = tokio::task::spawn_blocking(move || cluster.stop(false))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        {
            let _ = writeln!(err, "warning: stopping PostgreSQL: {e}");
        }
    }
    match (ended, stopped) {
        (Ended::StartupFailed(error), _) => Err(error),
        (Ended::Failed(failure), _) => Err(CliError::Other(format!("a server failed: {failure}"))),
        (Ended::Stopped, Err(e)) => Err(CliError::Other(format!("the devnet did not stop cleanly: {e}"))),
        (Ended::Stopped, Ok(())) => {
            writeln!(out, "stopped; the data stays in {}", args.data_dir.display())?;
            Ok(EXIT_OK)
        }
    }
}

/// Waits for every server, writes the manifest, seeds (in `session`) and
/// prints the cheat sheet.
async fn start_up(
    session: &Session,
    manifest: &Manifest,
    args: &DevnetArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(
        out,
        "gongji devnet: the national hub and {} province nodes, data in {}",
        manifest.provinces.len(),
        args.data_dir.display()
    )?;
    for (n, hub) in manifest.hub.split(',').enumerate() {
        let metrics = if n == 0 { manifest.hub_metrics.as_str() } else { "-" };
        writeln!(out, "  hub  {:<9} {:<16} metrics {metrics}", "", bare(hub))?;
    }
    for entry in &manifest.provinces {
        writeln!(
            out,
            "  {}   {:<9} {:<16} metrics {}",
            entry.code,
            entry.name,
            bare(&entry.address),
            entry.metrics
        )?;
    }
    out.flush()?;

    ready::wait_for_network(&session.connection, manifest).await?;
    // Written only once every server answers, so a devnet that cannot start
    // (say, the data is in use by another one) leaves the file alone.
    let manifest_path = args.data_dir.join("devnet.json");
    let json = serde_json::to_string_pretty(manifest).map_err(|e| CliError::Other(format!("encoding devnet.json: {e}")))?;
    std::fs::write(&manifest_path, json + "\n").map_err(|e| CliError::Other(format!("cannot write {}: {e}", manifest_path.display())))?;
    writeln!(out, "addresses written to {}", manifest_path.display())?;

    let report = demo::seed(session, &args.provinces).await;
    writeln!(out)?;
    writeln!(
        out,
        "demo population (fixed ids: running again finds the same records, nothing is credited twice):"
    )?;
    for line in &report.provinces {
        writeln!(out, "  {line}")?;
    }
    for warning in &report.warnings {
        writeln!(err, "warning: demo data: {warning}")?;
    }
    for note in &report.notes {
        writeln!(err, "note: demo data: {note}")?;
    }

    let period = match open_period(session, &manifest.hub).await {
        Ok(period) => period,
        Err(e) => {
            let current = Period::current().to_string();
            writeln!(err, "warning: cannot read the hub's open month ({e}); assuming {current}")?;
            current
        }
    };
    writeln!(out)?;
    cheat_sheet(out, manifest, &args.provinces, &period)?;
    writeln!(out)?;
    writeln!(out, "running; press Ctrl-C to stop (RUST_LOG=info shows the servers' logs)")?;
    out.flush()?;
    Ok(())
}

async fn open_period(session: &Session, hub: &str) -> Result<String, String> {
    let mut hub = session.hub_at(hub).await.map_err(|e| e.to_string())?;
    let period = hub
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .map_err(|s| s.message().to_owned())?;
    Ok(period.into_inner().period)
}

/// `http://host:port` → `host:port`, as grpcurl wants it.
fn bare(address: &str) -> &str {
    address.split_once("://").map_or(address, |(_, rest)| rest)
}

/// A few grpcurl calls against the running devnet, with its real addresses
/// and the demo ids.
fn cheat_sheet(out: &mut dyn Write, manifest: &Manifest, provinces: &[ProvinceCode], period: &str) -> std::io::Result<()> {
    let address = |p: ProvinceCode| {
        manifest
            .provinces
            .iter()
            .find(|e| e.code == p.as_str())
            .map_or(String::new(), |e| bare(&e.address).to_owned())
    };
    let Some(&first) = provinces.first() else { return Ok(()) };
    // A payment in the second province from the first one's donor, or within
    // the only province.
    let (donor_province, payer) = match provinces.get(1) {
        Some(&second) => (first, second),
        None => (first, first),
    };
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let payment_id = format!("try-{payer}-{seconds}");
    // The first hub (of two on PostgreSQL, the one active at the start).
    let hub = bare(manifest.hub.split(',').next().unwrap_or_default());
    let node = address(payer);
    let kind = if donor_province == payer {
        "a same-province"
    } else {
        "a cross-province"
    };

    let tls = match manifest.certs.as_str() {
        "" => "-plaintext".to_owned(),
        dir => format!("-cacert {dir}/ca.pem -cert {dir}/client.pem -key {dir}/client.key"),
    };
    // Every call but reflection presents the operator's client token.
    let auth = match manifest.operator_token_file.as_str() {
        "" => String::new(),
        file => format!("-H \"authorization: Bearer $(cat {file})\" "),
    };
    writeln!(out, "grpcurl cheat sheet:")?;
    if !manifest.certs.is_empty() {
        writeln!(
            out,
            "  # every connection is mutual TLS: grpcurl presents the devnet's client certificate (-cacert, -cert, -key),"
        )?;
        writeln!(out, "  # this CLI reads it from --certs or GONGJI_CERTS (or --devnet FILE)")?;
        writeln!(out, "  export GONGJI_CERTS={}", manifest.certs)?;
    }
    if !auth.is_empty() {
        writeln!(
            out,
            "  # every call presents a client token: the operator's is in {} (a read-only viewer's beside it);",
            manifest.operator_token_file
        )?;
        writeln!(
            out,
            "  # grpcurl sends it with -H, this CLI reads it from --token-file or GONGJI_TOKEN_FILE (or --devnet FILE)"
        )?;
        writeln!(out, "  export GONGJI_TOKEN_FILE={}", manifest.operator_token_file)?;
    }
    writeln!(out, "  # the services of a node, and the documented ProvinceNode contract")?;
    writeln!(out, "  grpcurl {tls} {node} list")?;
    writeln!(out, "  grpcurl {tls} {node} describe gongji.v1.ProvinceNode")?;
    writeln!(out, "  # the personal account of a demo donor")?;
    writeln!(
        out,
        "  grpcurl {tls} {auth}-d '{{\"person_id\":\"{}\"}}' {} gongji.v1.ProvinceNode/GetAccount",
        demo::donor(donor_province),
        address(donor_province)
    )?;
    writeln!(
        out,
        "  # {kind} payment at {payer}'s node for {}, from the quota {} gives (a fresh payment id)",
        demo::relative(payer),
        demo::donor(donor_province)
    )?;
    writeln!(
        out,
        "  grpcurl {tls} {auth}-d '{{\"payment_id\":\"{payment_id}\",\"beneficiary_id\":\"{}\",\"institution_id\":\"{}\",\
         \"amount\":\"12.50\",\"purpose\":\"PAYMENT_PURPOSE_OUTPATIENT\",\"relationship_id\":\"{}\"}}' {node} gongji.v1.ProvinceNode/Pay",
        demo::relative(payer),
        demo::institution(payer),
        demo::relationship(donor_province, payer)
    )?;
    writeln!(
        out,
        "  grpcurl {tls} {auth}-d '{{\"payment_id\":\"{payment_id}\"}}' {node} gongji.v1.ProvinceNode/GetPayment"
    )?;
    writeln!(
        out,
        "  # the cross-province transactions of the open month, as the hub recorded them"
    )?;
    writeln!(
        out,
        "  grpcurl {tls} {auth}-d '{{\"period\":\"{period}\"}}' {hub} gongji.v1.NationalHub/ListTransactions"
    )?;
    writeln!(
        out,
        "  # or with this CLI: gongji show payment {} --node {node}; gongji show transactions --period {period} --hub {hub}",
        demo::payment(payer)
    )?;
    writeln!(
        out,
        "  # the monthly cycle with this CLI: the open month, closing it, prepaid funds (more: gongji month --help)"
    )?;
    writeln!(out, "  gongji month status --hub {hub}")?;
    writeln!(
        out,
        "  gongji month close open --dry-run --hub {hub}   # what closing would do; --yes closes it"
    )?;
    writeln!(out, "  gongji prepaid status --hub {hub}")?;
    writeln!(out, "  # what operators did at the hub, and why (--reason TEXT on any command)")?;
    writeln!(out, "  gongji oplog --hub {hub}")?;
    writeln!(
        out,
        "  # the network at a glance: health, versions, pending, outboxes, prepaid usage"
    )?;
    let nodes: Vec<String> = manifest
        .provinces
        .iter()
        .map(|p| format!("--node {}={}", p.code, bare(&p.address)))
        .collect();
    writeln!(out, "  gongji status --hub {hub} {}", nodes.join(" "))?;
    if !manifest.hub_metrics.is_empty() {
        writeln!(out, "  # the hub's Prometheus metrics (each node has its own, listed above)")?;
        writeln!(out, "  curl -s {}", manifest.hub_metrics)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_scheme_for_grpcurl() {
        assert_eq!(bare("http://127.0.0.1:50051"), "127.0.0.1:50051");
        assert_eq!(bare("127.0.0.1:50051"), "127.0.0.1:50051");
    }

    #[test]
    fn the_cheat_sheet_uses_the_real_addresses_and_demo_ids() {
        let manifest = Manifest {
            hub: "http://127.0.0.1:6000".into(),
            provinces: vec![
                gongji_operator::manifest::ManifestEntry {
                    code: "13".into(),
                    name: "Hebei".into(),
                    address: "http://127.0.0.1:6001".into(),
                    data_dir: String::new(),
                    metrics: String::new(),
                },
                gongji_operator::manifest::ManifestEntry {
                    code: "32".into(),
                    name: "Jiangsu".into(),
                    address: "http://127.0.0.1:6002".into(),
                    data_dir: String::new(),
                    metrics: String::new(),
                },
            ],
            hub_metrics: String::new(),
            certs: String::new(),
            operator_token_file: String::new(),
        };
        let codes: Vec<ProvinceCode> = ["13", "32"].iter().map(|c| c.parse().unwrap()).collect();
        let mut out = Vec::new();
        cheat_sheet(&mut out, &manifest, &codes, "2026-01").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("grpcurl -plaintext 127.0.0.1:6002 list"), "{text}");
        assert!(text.contains(r#"{"person_id":"demo-13-donor"}' 127.0.0.1:6001"#), "{text}");
        assert!(
            text.contains(r#""relationship_id":"demo-rel-13-32"}' 127.0.0.1:6002 gongji.v1.ProvinceNode/Pay"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{"period":"2026-01"}' 127.0.0.1:6000 gongji.v1.NationalHub/ListTransactions"#),
            "{text}"
        );
        assert!(
            text.contains("\n  gongji month close open --dry-run --hub 127.0.0.1:6000"),
            "{text}"
        );
        assert!(!text.contains("authorization"), "an open network needs no token: {text}");

        let secured = Manifest {
            operator_token_file: "/data/operator.token".into(),
            ..manifest
        };
        let mut out = Vec::new();
        cheat_sheet(&mut out, &secured, &codes, "2026-01").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                r#"grpcurl -plaintext -H "authorization: Bearer $(cat /data/operator.token)" -d '{"person_id":"demo-13-donor"}'"#
            ),
            "{text}"
        );
        assert!(text.contains("export GONGJI_TOKEN_FILE=/data/operator.token"), "{text}");
        assert!(!text.contains("GONGJI_CERTS"), "a plaintext network has no certificates: {text}");

        let tls = Manifest {
            certs: "/data/certs".into(),
            ..secured
        };
        let mut out = Vec::new();
        cheat_sheet(&mut out, &tls, &codes, "2026-01").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "grpcurl -cacert /data/certs/ca.pem -cert /data/certs/client.pem -key /data/certs/client.key 127.0.0.1:6002 list"
            ),
            "{text}"
        );
        assert!(text.contains("export GONGJI_CERTS=/data/certs"), "{text}");
        assert!(!text.contains("-plaintext"), "{text}");
    }
}
