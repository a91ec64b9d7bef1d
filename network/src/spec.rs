//! What an in-process network is made of: where its data lives, where each
//! server listens, its timings, and whether it runs mutual TLS and admits
//! only the clients of a clients file.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use gongji_common::ProvinceCode;
use gongji_operator::certs::{self, CertsSpec};

/// What to start.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    /// Parent of every server's data directory (`hub`, `province-CODE`).
    pub data_dir: PathBuf,
    /// Where the hub listens (port 0: any free port).
    pub hub: SocketAddr,
    /// Each province and where its node listens (port 0: any free port).
    pub provinces: Vec<(ProvinceCode, SocketAddr)>,
    /// How often every server retries pending transactions.
    pub recovery_interval: Duration,
    /// Deadline of the hub's calls to nodes.
    pub hub_call_timeout: Duration,
    /// Deadline of the nodes' calls to the hub (longer than the hub's).
    pub node_call_timeout: Duration,
    /// Prepaid funds the hub deposits for each province at first start (CNY).
    pub opening_prepaid: String,
    /// The least required prepaid level of any province (CNY).
    pub prepaid_floor: String,
    /// How long nodes let a payment stay pending before reversing it.
    pub give_up_after: Duration,
    /// Wallet transfers a sender may make a day (the pilot's 3 by default;
    /// the benchmark raises it).
    pub wallet_daily_count: u32,
    /// Where the servers serve metrics: none, or the hub's port with the
    /// provinces on the following ports in order (all ports 0 when it is 0).
    pub metrics_base_port: Option<u16>,
    /// Calls one peer may have in progress at a server at once.
    pub max_in_flight_per_peer: usize,
    /// The directory of the network's certificates (`gongji certs`): every
    /// server runs mutual TLS with its own. None: plaintext (`--insecure`).
    pub certs: Option<PathBuf>,
    /// The clients file of the public services (`--clients`); none: open.
    pub clients: Option<PathBuf>,
    /// The servers' PostgreSQL databases (`--store`); none: each keeps the
    /// embedded store in its data directory.
    pub databases: Option<Databases>,
    /// More hubs' addresses the nodes are given after this network's own
    /// (standby hubs on the hub's database, started by the caller).
    pub more_hubs: Vec<String>,
    /// Run the hub as a process of this program (`PROGRAM serve-hub FLAGS`:
    /// the `gongji` binary) instead of in this process, so that it can be
    /// killed on its own; none: in this process.
    pub hub_program: Option<PathBuf>,
}

/// A PostgreSQL database (its URL) for the hub and for each province's node.
#[derive(Debug, Clone)]
pub struct Databases {
    pub hub: String,
    pub provinces: BTreeMap<ProvinceCode, String>,
}

impl NetworkSpec {
    /// The hub at `base_port`, the provinces on the following ports in order
    /// (all ports 0 when `base_port` is 0).
    pub fn on_ports(data_dir: PathBuf, host: std::net::IpAddr, base_port: u16, provinces: &[ProvinceCode]) -> Result<NetworkSpec, String> {
        let port = |offset: usize| -> Result<u16, String> {
            if base_port == 0 {
                return Ok(0);
            }
            u16::try_from(usize::from(base_port) + offset)
                .map_err(|_| format!("base port {base_port} leaves no room for {} provinces", provinces.len()))
        };
        Ok(NetworkSpec {
            data_dir,
            hub: SocketAddr::new(host, port(0)?),
            provinces: provinces
                .iter()
                .enumerate()
                .map(|(i, code)| Ok((*code, SocketAddr::new(host, port(i + 1)?))))
                .collect::<Result<_, String>>()?,
            recovery_interval: Duration::from_secs(2),
            hub_call_timeout: Duration::from_secs(5),
            node_call_timeout: Duration::from_secs(8),
            opening_prepaid: "1000000.00".into(),
            prepaid_floor: "100000.00".into(),
            give_up_after: Duration::from_secs(600),
            wallet_daily_count: 3,
            metrics_base_port: None,
            max_in_flight_per_peer: gongji_common::server::DEFAULT_MAX_IN_FLIGHT_PER_PEER,
            certs: None,
            clients: None,
            databases: None,
            more_hubs: Vec::new(),
            hub_program: None,
        })
    }

    /// Has every server run mutual TLS with the certificates in
    /// `DATA_DIR/certs` (as `gongji certs` writes them): made there, a new
    /// CA and all, unless a complete set for these provinces and `hosts`
    /// (more names the servers are reached by) is there already. Returns
    /// the directory when it made them.
    pub fn run_tls(&mut self, hosts: Vec<String>) -> Result<Option<PathBuf>, String> {
        let dir = self.data_dir.join("certs");
        let wanted = CertsSpec {
            provinces: self.provinces.iter().map(|(code, _)| *code).collect(),
            hosts,
        };
        let made = !certs::complete(&dir, &wanted);
        if made {
            certs::write(&dir, &wanted)?;
        }
        let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.certs = Some(dir.clone());
        Ok(made.then_some(dir))
    }
}
