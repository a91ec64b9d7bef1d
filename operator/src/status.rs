//! `gongji status`: the network at a glance. One row per server (the hub,
//! then each province node): whether it answers its `grpc.health.v1` check,
//! its version, the open month (the hub's), what is pending and waiting in
//! its outbox, and for each province its prepaid usage at the hub with the
//! hub's warning level; then a warning line for every province at yellow or
//! red. Every server is asked at once, each with a short deadline, so a
//! server that is down costs seconds, not minutes.

use std::{io::Write, time::Duration};

use gongji_common::{peer::endpoint_uri, ProvinceCode};
use gongji_proto::v1 as pb;
use tonic::transport::Channel;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};

use crate::{
    args::NetworkArgs,
    audit::Target,
    error::{with_causes, CliError, EXIT_FAILED, EXIT_OK},
    output::{cycle::prepaid_level_word, Out, Table},
    session::Session,
};

/// How long `status` waits for any one server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What one server said (or why it said nothing).
#[derive(Debug, Clone)]
pub struct ServerStatus {
    /// "hub" or the province code.
    pub name: String,
    pub address: String,
    /// "serving", or why not ("unreachable: …", "not serving").
    pub health: String,
    pub healthy: bool,
    pub version: String,
    pub pending: Option<u64>,
    pub outbox: Option<u64>,
}

/// The whole network's status.
#[derive(Debug, Clone)]
pub struct NetworkStatus {
    /// The active hub (the first serving one of the hubs given), or the
    /// first hub if none serves.
    pub hub: ServerStatus,
    /// The other hubs given (standing by, on the active hub's database).
    pub standby_hubs: Vec<ServerStatus>,
    pub open_period: Option<String>,
    pub nodes: Vec<ServerStatus>,
    /// Each province's prepaid funds as the hub reports them (empty if the
    /// hub did not answer).
    pub prepaid: Vec<pb::ProvincePrepaid>,
}

impl NetworkStatus {
    /// True when every server answered and is serving.
    pub fn healthy(&self) -> bool {
        self.hub.healthy && self.nodes.iter().all(|n| n.healthy)
    }

    pub fn print(&self, out: &mut Out) -> std::io::Result<()> {
        let mut table = Table::new(&[
            "server",
            "address",
            "health",
            "version",
            "open month",
            "pending",
            "outbox",
            "prepaid usage",
        ])
        .right_aligned([5, 6]);
        let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
        table.row(vec![
            self.hub.name.clone(),
            self.hub.address.clone(),
            self.hub.health.clone(),
            self.hub.version.clone(),
            self.open_period.clone().unwrap_or_else(|| "-".into()),
            count(self.hub.pending),
            count(self.hub.outbox),
            "-".into(),
        ]);
        for standby in &self.standby_hubs {
            table.row(vec![
                standby.name.clone(),
                standby.address.clone(),
                standby.health.clone(),
                standby.version.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for node in &self.nodes {
            let usage = self.prepaid_of(&node.name).map_or_else(
                || "-".to_owned(),
                |p| format!("{}% {}", p.usage_percent, prepaid_level_word(p.level)),
            );
            table.row(vec![
                node.name.clone(),
                node.address.clone(),
                node.health.clone(),
                node.version.clone(),
                "-".into(),
                count(node.pending),
                count(node.outbox),
                usage,
            ]);
        }
        table.write(out)?;
        for p in &self.prepaid {
            let level = pb::PrepaidLevel::try_from(p.level).unwrap_or(pb::PrepaidLevel::Unspecified);
            if matches!(level, pb::PrepaidLevel::Yellow | pb::PrepaidLevel::Red) {
                writeln!(
                    out,
                    "warning: province {}'s prepaid funds are {}: {} (balance {}, required {}, top-up {})",
                    p.province,
                    prepaid_level_word(p.level),
                    p.level_reason,
                    p.balance,
                    p.required,
                    p.top_up
                )?;
            }
        }
        let down: Vec<&str> = std::iter::once(&self.hub)
            .chain(&self.nodes)
            .filter(|s| !s.healthy)
            .map(|s| s.name.as_str())
            .collect();
        if down.is_empty() {
            writeln!(out, "all {} servers are serving", self.nodes.len() + 1)
        } else {
            writeln!(out, "not serving: {}", down.join(", "))
        }
    }

    fn prepaid_of(&self, province: &str) -> Option<&pb::ProvincePrepaid> {
        self.prepaid.iter().find(|p| p.province == province)
    }
}

/// Asks every server of `target` at once, each on a task of its own
/// holding a clone of the session.
pub async fn probe(session: &Session, target: &Target) -> NetworkStatus {
    let nodes = target
        .provinces
        .iter()
        .map(|(code, address)| probe_node(session.clone(), *code, address.clone()));
    let hubs: Vec<String> = target
        .hub
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    let (probed, nodes) = tokio::join!(join_hubs(session, &hubs), join_all(nodes));
    let mut probed = probed.into_iter();
    let Some(first) = probed.next() else {
        let mut none = server("hub".into(), "");
        none.health = "no hub address given".into();
        return NetworkStatus {
            hub: none,
            standby_hubs: Vec::new(),
            open_period: None,
            nodes,
            prepaid: Vec::new(),
        };
    };
    // The active hub is the one that serves; the others stand by.
    let mut all: Vec<_> = std::iter::once(first).chain(probed).collect();
    let active = all.iter().position(|(status, _, _)| status.healthy).unwrap_or(0);
    let (mut hub, open_period, prepaid) = all.remove(active);
    let several = !all.is_empty();
    if several {
        hub.name = "hub (active)".into();
    }
    let standby_hubs = all
        .into_iter()
        .map(|(mut status, _, _)| {
            status.name = if status.health.starts_with("standing by") {
                "hub (standby)".into()
            } else {
                "hub (not active)".into()
            };
            status
        })
        .collect();
    NetworkStatus {
        hub,
        standby_hubs,
        open_period,
        nodes,
        prepaid,
    }
}

/// Probes each hub, concurrently, keeping their order.
async fn join_hubs(session: &Session, hubs: &[String]) -> Vec<(ServerStatus, Option<String>, Vec<pb::ProvincePrepaid>)> {
    let handles: Vec<_> = hubs
        .iter()
        .map(|address| {
            let (session, address) = (session.clone(), address.clone());
            tokio::spawn(async move { probe_hub(&session, address).await })
        })
        .collect();
    let mut probed = Vec::with_capacity(handles.len());
    for (handle, address) in handles.into_iter().zip(hubs) {
        probed.push(handle.await.unwrap_or_else(|e| {
            let mut status = server("hub".into(), address);
            status.health = format!("probe failed: {e}");
            (status, None, Vec::new())
        }));
    }
    probed
}

/// Runs the futures concurrently, keeping their order.
async fn join_all<F: std::future::Future<Output = ServerStatus> + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<ServerStatus> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.unwrap_or_else(|e| ServerStatus {
            name: "?".into(),
            address: String::new(),
            health: format!("probe failed: {e}"),
            healthy: false,
            version: "-".into(),
            pending: None,
            outbox: None,
        }));
    }
    results
}

/// A connected channel and its health, or why there is none.
async fn connect(session: &Session, address: &str) -> Result<Channel, String> {
    let endpoint = session.endpoint(address, PROBE_TIMEOUT, None).map_err(|e| e.to_string())?;
    match tokio::time::timeout(PROBE_TIMEOUT, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(format!("unreachable ({})", with_causes(&e))),
        Err(_) => Err("unreachable (no connection in time)".into()),
    }
}

/// Whether the server on `channel` says it serves; if not, its word for why
/// ("not serving": a standby hub, or a server whose store failed).
pub(crate) async fn health(channel: Channel) -> Result<(), String> {
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map_err(|status| format!("health check failed: {}", status.message()))?;
    match reply.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(other.as_str_name().to_ascii_lowercase().replace('_', " ")),
    }
}

fn server(name: String, address: &str) -> ServerStatus {
    ServerStatus {
        name,
        address: endpoint_uri(address.trim()),
        health: String::new(),
        healthy: false,
        version: "-".into(),
        pending: None,
        outbox: None,
    }
}

async fn probe_hub(session: &Session, address: String) -> (ServerStatus, Option<String>, Vec<pb::ProvincePrepaid>) {
    let mut status = server("hub".into(), &address);
    let channel = match connect(session, &address).await {
        Ok(channel) => channel,
        Err(why) => {
            status.health = why;
            return (status, None, Vec::new());
        }
    };
    if let Err(why) = health(channel.clone()).await {
        // A standby says why it does not serve, naming the active hub.
        status.health = match session.hub_on(channel).get_hub_info(pb::GetHubInfoRequest {}).await {
            Err(refused) if refused.code() == tonic::Code::Unavailable && refused.message().contains("standby") => {
                match refused
                    .metadata()
                    .get(gongji_common::hubs::ACTIVE_HUB_HEADER)
                    .and_then(|v| v.to_str().ok())
                {
                    Some(active) => format!("standing by (active: {active})"),
                    None => "standing by".into(),
                }
            }
            _ => why,
        };
        return (status, None, Vec::new());
    }
    let mut hub = session.hub_on(channel);
    let mut for_prepaid = hub.clone();
    let (info, prepaid) = tokio::join!(
        hub.get_hub_info(pb::GetHubInfoRequest {}),
        for_prepaid.get_prepaid(pb::GetPrepaidRequest {})
    );
    let open_period = match info {
        Ok(info) => {
            let info = info.into_inner();
            status.version = info.version;
            status.pending = Some(info.pending);
            status.outbox = Some(info.outbox);
            status.health = "serving".into();
            status.healthy = true;
            Some(info.open_period)
        }
        Err(e) => {
            status.health = format!("serving, but GetHubInfo failed: {}", e.message());
            None
        }
    };
    let prepaid = prepaid.map(|p| p.into_inner().provinces).unwrap_or_default();
    (status, open_period, prepaid)
}

async fn probe_node(session: Session, code: ProvinceCode, address: String) -> ServerStatus {
    let mut status = server(code.to_string(), &address);
    let channel = match connect(&session, &address).await {
        Ok(channel) => channel,
        Err(why) => {
            status.health = why;
            return status;
        }
    };
    if let Err(why) = health(channel.clone()).await {
        status.health = why;
        return status;
    }
    match session.node_on(channel).get_node_info(pb::GetNodeInfoRequest {}).await {
        Ok(info) => {
            let info = info.into_inner();
            if info.province_code != code.as_str() {
                status.health = format!("serving province {}, not {code}", info.province_code);
                return status;
            }
            status.version = if info.version.is_empty() { "unknown".into() } else { info.version };
            status.pending = Some(info.pending);
            status.outbox = Some(info.outbox);
            status.health = "serving".into();
            status.healthy = true;
        }
        Err(e) => status.health = format!("serving, but GetNodeInfo failed: {}", e.message()),
    }
    status
}

/// `gongji status`: the table on `out`; exit 1 if any server is unreachable
/// or unhealthy.
pub async fn command(session: &Session, args: NetworkArgs, out: &mut Out<'_>) -> Result<u8, CliError> {
    let target = Target::from_args(session, &args)?;
    let status = probe(session, &target).await;
    status.print(out).map_err(CliError::from)?;
    Ok(if status.healthy() { EXIT_OK } else { EXIT_FAILED })
}
