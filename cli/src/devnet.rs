//! `gongji devnet`: the hub and a node per province in this process, with
//! their data under one directory, the demo population seeded, and a grpcurl
//! cheat sheet with the real addresses. Serves until Ctrl-C or SIGTERM, or
//! until a server fails, then stops every server before returning.

use std::{
    collections::BTreeSet,
    io::Write,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use gongji_common::{server::shutdown_signal, Period, ProvinceCode};
use gongji_proto::v1 as pb;

use crate::{
    args::{CertsArgs, DevnetArgs},
    certs, client, credentials, demo,
    devnet_access::DevnetAccess,
    error::{CliError, EXIT_OK},
    network::{Manifest, Network, NetworkSpec},
};

/// The provinces `gongji certs` makes certificates for by default: the
/// devnet's (its --provinces default).
const DEVNET_PROVINCES: [&str; 5] = ["13", "32", "34", "37", "41"];

/// How long the servers have to answer after they start.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// What ended the devnet's run.
enum Ended {
    Stopped,
    Failed(String),
    StartupFailed(CliError),
}

pub async fn run(args: DevnetArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    check_provinces(&args.provinces)?;
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| CliError::Other(format!("cannot create the data directory {}: {e}", args.data_dir.display())))?;
    let mut spec = NetworkSpec::on_ports(args.data_dir.clone(), args.host, args.base_port, &args.provinces).map_err(CliError::Other)?;
    spec.metrics_base_port = Some(args.metrics_base_port);
    if args.insecure {
        writeln!(err, "warning: --insecure: {}", gongji_common::auth::PLAINTEXT_WARNING)?;
    } else {
        spec.certs = Some(ensure_certs(&args, out)?);
    }
    let access = DevnetAccess::prepare(&args.data_dir)?;
    spec.clients = Some(access.clients_file.clone());
    let mut network = Network::start(spec)
        .await
        .map_err(|e| CliError::Other(format!("cannot start the devnet: {e}")))?;
    let mut manifest = network.manifest();
    manifest.operator_token_file = access.operator_token_file.display().to_string();
    let connection = client::Connection::for_manifest(&manifest)?;
    let operator = access.operator()?;

    let stop = shutdown_signal();
    tokio::pin!(stop);
    // The signal is watched from the start, so Ctrl-C during seeding still
    // stops the servers cleanly.
    let ended = tokio::select! {
        started = client::with_connection(connection, credentials::scope(operator, start_up(&manifest, &args, out, err))) => match started {
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

/// The devnet's certificates (DATA_DIR/certs): made on first start, and
/// made again (a new CA and all) when a province has none yet or --host
/// changed. Returns the directory's absolute path.
fn ensure_certs(args: &DevnetArgs, out: &mut dyn Write) -> Result<std::path::PathBuf, CliError> {
    let dir = args.data_dir.join("certs");
    let mut spec = certs::CertsSpec {
        provinces: args.provinces.clone(),
        hosts: Vec::new(),
    };
    if !args.host.is_loopback() && !args.host.is_unspecified() {
        spec.hosts.push(args.host.to_string());
    }
    if !certs::complete(&dir, &spec) {
        certs::write(&dir, &spec).map_err(CliError::Other)?;
        writeln!(out, "certificates (a development CA) written to {}", dir.display())?;
    }
    std::fs::canonicalize(&dir).map_err(|e| CliError::Other(format!("{}: {e}", dir.display())))
}

/// `gongji certs`: writes a development CA and every certificate of a
/// network, or (with --add) certificates for more provinces from the CA
/// already there.
pub fn certs(args: CertsArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let has_ca = args.out.join("ca.pem").exists();
    if has_ca && !args.force && !args.add {
        return Err(CliError::Other(format!(
            "{} already holds a CA (ca.pem): give --add to issue certificates for more provinces from it, or --force to replace \
             it and every certificate (servers using the old ones need the new ones and a restart)",
            args.out.display()
        )));
    }
    if args.add && !has_ca {
        return Err(CliError::Other(format!(
            "{} holds no CA (ca.pem) to add certificates from: run gongji certs without --add first",
            args.out.display()
        )));
    }
    let provinces = match (args.provinces.is_empty(), args.add) {
        (true, true) => return Err(CliError::Usage("--add needs --provinces: which provinces join".into())),
        (true, false) => DEVNET_PROVINCES
            .iter()
            .map(|code| ProvinceCode::parse("province", code).map_err(|e| CliError::Other(e.to_string())))
            .collect::<Result<_, _>>()?,
        (false, _) => args.provinces,
    };
    check_provinces(&provinces)?;
    let spec = certs::CertsSpec {
        provinces,
        hosts: args.hosts,
    };
    let written = if args.add {
        certs::add_provinces(&args.out, &spec)
    } else {
        certs::write(&args.out, &spec)
    }
    .map_err(CliError::Other)?;
    for path in &written {
        writeln!(out, "{}", path.display())?;
    }
    if args.add {
        writeln!(
            out,
            "{} files: {} province nodes, issued by the CA in {}",
            written.len(),
            spec.provinces.len(),
            args.out.display()
        )?;
    } else {
        writeln!(
            out,
            "{} files: a development CA, the hub, {} province nodes and a client certificate",
            written.len(),
            spec.provinces.len()
        )?;
    }
    Ok(EXIT_OK)
}

fn check_provinces(provinces: &[ProvinceCode]) -> Result<(), CliError> {
    if provinces.is_empty() {
        return Err(CliError::Other("--provinces needs at least one province code".into()));
    }
    let mut seen = BTreeSet::new();
    if let Some(twice) = provinces.iter().find(|p| !seen.insert(**p)) {
        return Err(CliError::Other(format!("province {twice} is listed twice in --provinces")));
    }
    Ok(())
}

/// Writes the manifest, waits for every server, seeds and prints the cheat sheet.
async fn start_up(manifest: &Manifest, args: &DevnetArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CliError> {
    writeln!(
        out,
        "gongji devnet: the national hub and {} province nodes, data in {}",
        manifest.provinces.len(),
        args.data_dir.display()
    )?;
    writeln!(out, "  hub  {:<9} {:<16} metrics {}", "", bare(&manifest.hub), manifest.hub_metrics)?;
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

    wait_ready(manifest).await?;
    // Written only once every server answers, so a devnet that cannot start
    // (say, the data is in use by another one) leaves the file alone.
    let manifest_path = args.data_dir.join("devnet.json");
    let json = serde_json::to_string_pretty(manifest).map_err(|e| CliError::Other(format!("encoding devnet.json: {e}")))?;
    std::fs::write(&manifest_path, json + "\n").map_err(|e| CliError::Other(format!("cannot write {}: {e}", manifest_path.display())))?;
    writeln!(out, "addresses written to {}", manifest_path.display())?;

    let report = demo::seed(manifest, &args.provinces).await;
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

    let period = match open_period(&manifest.hub).await {
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

/// Waits until the hub and every node answer a call.
pub(crate) async fn wait_ready(manifest: &Manifest) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    let answered = |result: Result<(), String>, what: &str| -> Result<bool, CliError> {
        match result {
            Ok(()) => Ok(true),
            // Waiting does not mend a certificate: say so at once.
            Err(e) if e.contains("certificate") => Err(CliError::Other(format!(
                "{what} refused the TLS handshake: {e} (the certificates do not fit the servers: make new ones with gongji certs --force, or delete the certificates' directory of a devnet)"
            ))),
            Err(_) if tokio::time::Instant::now() < deadline => Ok(false),
            Err(e) => Err(CliError::Other(format!(
                "{what} did not answer within {} s: {e}",
                READY_WITHIN.as_secs()
            ))),
        }
    };
    while !answered(
        open_period(&manifest.hub).await.map(|_| ()),
        &format!("the hub at {}", manifest.hub),
    )? {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for entry in &manifest.provinces {
        let what = format!("the node of province {} at {}", entry.code, entry.address);
        while !answered(node_info(&entry.address, &entry.code).await, &what)? {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn open_period(hub: &str) -> Result<String, String> {
    let mut hub = client::hub_at(hub).await.map_err(|e| e.to_string())?;
    let period = hub
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .map_err(|s| s.message().to_owned())?;
    Ok(period.into_inner().period)
}

/// Asks province `code`'s node (over TLS, its certificate must say so) for its info.
async fn node_info(address: &str, code: &str) -> Result<(), String> {
    let name = ProvinceCode::parse("province", code)
        .map(gongji_common::tls::province_name)
        .map_err(|e| e.to_string())?;
    let channel = client::connect_to(address, client::CALL_TIMEOUT, Some(&name))
        .await
        .map_err(|e| e.to_string())?;
    let mut node = client::node_on(channel);
    node.get_node_info(pb::GetNodeInfoRequest {})
        .await
        .map_err(|s| s.message().to_owned())?;
    Ok(())
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
    let hub = bare(&manifest.hub);
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
    fn a_province_listed_twice_is_refused() {
        let codes: Vec<ProvinceCode> = ["13", "32", "13"].iter().map(|c| c.parse().unwrap()).collect();
        assert!(check_provinces(&codes).unwrap_err().to_string().contains("13"));
        assert!(check_provinces(&[]).is_err());
    }

    #[test]
    fn the_cheat_sheet_uses_the_real_addresses_and_demo_ids() {
        let manifest = Manifest {
            hub: "http://127.0.0.1:6000".into(),
            provinces: vec![
                crate::network::ManifestEntry {
                    code: "13".into(),
                    name: "Hebei".into(),
                    address: "http://127.0.0.1:6001".into(),
                    data_dir: String::new(),
                    metrics: String::new(),
                },
                crate::network::ManifestEntry {
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
