//! A network of real server processes on loopback: the `national-hub` and
//! `province-node` binaries, each on its own port and data directory, with a
//! fault-injecting proxy on every link between the hub and a node (both
//! ways). Every link runs mutual TLS with certificates made for the cluster
//! (`gongji certs`), and link tokens on top, as in production. Any process
//! can be killed (SIGKILL) and started again on its data.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use gongji_common::tls::{Tls, TlsFiles};
use tonic::transport::{Channel, Endpoint};

use crate::proxy::FaultProxy;

/// The directory of the workspace's binaries, next to the running executable
/// (`target/<profile>/` for a test in `target/<profile>/deps/`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let mut dir = exe.parent().expect("a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the servers first with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A free loopback port below Linux's ephemeral range (32768 and up): the
/// servers are killed and restarted on their ports, and a port the kernel
/// hands out for port 0 could meanwhile go to another test's server. A port
/// is handed out once per process, so two clusters of one test binary never
/// share one (a port is free, and could be chosen again, while its server is
/// down between a kill and a restart).
fn free_port() -> SocketAddr {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        if handed_out.contains(&port) {
            continue;
        }
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            handed_out.insert(port);
            return listener.local_addr().expect("local address");
        }
    }
    panic!("no free loopback port in 20000-31999")
}

/// One server process and how to start it again.
struct Server {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// Environment variables beyond the parent's (store faults).
    env: Vec<(String, String)>,
    /// Whether the running process was started with store faults.
    faulty: bool,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let child = Command::new(&self.program)
            .args(&self.args)
            // Info: every call's span names its transaction, so the logs of a
            // failed run follow each payment through the three processes.
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        self.faulty = self.env.iter().any(|(key, _)| key == "GONGJI_STORE_FAULTS");
        self.child = Some(child);
    }

    /// Whether the process ended by itself.
    fn exited(&mut self) -> bool {
        match self.child.as_mut().map(|child| child.try_wait()) {
            Some(Ok(Some(_))) => {
                self.child = None;
                true
            }
            _ => false,
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The hub and province nodes as processes, with proxies between them.
pub struct Cluster {
    pub hub_addr: SocketAddr,
    /// A second hub on the first one's database (on PostgreSQL only):
    /// standing by, or active once the first died.
    pub standby_hub_addr: Option<SocketAddr>,
    /// The PostgreSQL cluster the servers keep their books in, if any.
    pub postgres: Option<gongji_network::postgres::Cluster>,
    pub node_addrs: BTreeMap<String, SocketAddr>,
    /// Proxies the hub uses to reach each node, and each node to reach the hub.
    pub proxies: Vec<FaultProxy>,
    servers: BTreeMap<String, Server>,
    pub data_dir: PathBuf,
    /// The client certificate every call of the tests presents.
    client: Tls,
}

impl Cluster {
    pub async fn start(data_dir: &Path, provinces: &[&str]) -> Cluster {
        Cluster::start_on(data_dir, provinces, false).await
    }

    /// Starts the cluster; `on_postgres`: every server keeps its books in a
    /// PostgreSQL cluster of its own (in DATA_DIR/postgres), and a second
    /// hub stands by on the first one's database.
    pub async fn start_on(data_dir: &Path, provinces: &[&str], on_postgres: bool) -> Cluster {
        let hub_addr = free_port();
        let standby_hub_addr = on_postgres.then(free_port);
        let postgres = on_postgres.then(|| {
            let port = free_port().port();
            let pg = gongji_network::postgres::Cluster::init(&data_dir.join("postgres"), port, &[]).expect("a PostgreSQL cluster");
            pg.start().expect("PostgreSQL starts");
            for name in std::iter::once("hub".to_owned()).chain(provinces.iter().map(|p| format!("province_{p}"))) {
                pg.create_database(&name).expect("a database");
            }
            pg
        });
        let store_arg = |database: &str| postgres.as_ref().map(|pg| format!("--store={}", pg.url(database)));
        let node_addrs: BTreeMap<String, SocketAddr> = provinces.iter().map(|p| (p.to_string(), free_port())).collect();
        let mut proxies = Vec::new();
        let mut registry = Vec::new();
        let hub_token = gongji_common::auth::random_token().expect("a random token");
        let tokens: BTreeMap<String, String> = node_addrs
            .keys()
            .map(|p| (p.clone(), gongji_common::auth::random_token().expect("a random token")))
            .collect();
        let mut hub_seen_by = BTreeMap::new();
        for (code, addr) in &node_addrs {
            let to_node = FaultProxy::start(*addr).await;
            registry.push(national_hub::ProvinceEntry {
                code: crate::code(code),
                name: format!("Province {code}"),
                address: format!("http://{}", to_node.addr()),
            });
            proxies.push(to_node);
            let to_hub = FaultProxy::start(hub_addr).await;
            hub_seen_by.insert(code.clone(), to_hub.addr());
            proxies.push(to_hub);
        }
        std::fs::create_dir_all(data_dir.join("logs")).expect("log directory");
        let certs = data_dir.join("certs");
        let spec = gongji_operator::certs::CertsSpec {
            provinces: provinces.iter().map(|p| crate::code(p)).collect(),
            hosts: Vec::new(),
        };
        gongji_operator::certs::write(&certs, &spec).expect("certificates");
        let tls_args = |name: &str| {
            let files = TlsFiles::in_dir(&certs, name);
            vec![
                format!("--tls-ca={}", files.ca.display()),
                format!("--tls-cert={}", files.cert.display()),
                format!("--tls-key={}", files.key.display()),
            ]
        };
        let mut servers = BTreeMap::new();
        let mut hub = national_hub::HubConfig::new(hub_addr, data_dir.join("hub"), registry);
        hub.call_timeout_ms = 1500;
        hub.recovery_interval_ms = 200;
        hub.opening_prepaid = "100000000.00".into();
        hub.hub_token = Some(hub_token.clone());
        // The chaos clients present no token.
        hub.access.anonymous_clients = true;
        hub.tls = gongji_common::tls::TlsFlags::in_dir(&certs, "hub");
        hub.province_tokens = tokens.iter().map(|(code, token)| format!("{code}={token}")).collect();
        hub.store.url = postgres.as_ref().map(|pg| pg.url("hub"));
        if let Some(standby) = standby_hub_addr {
            let mut other = hub.clone();
            other.listen = standby;
            other.data_dir = data_dir.join("hub-b");
            other.advertise = Some(format!("https://{standby}"));
            servers.insert(
                "hub-b".to_string(),
                Server {
                    name: "standby hub".into(),
                    program: binary("national-hub"),
                    args: other.to_args(),
                    log: data_dir.join("logs/hub-b.log"),
                    env: Vec::new(),
                    faulty: false,
                    child: None,
                },
            );
            hub.advertise = Some(format!("https://{hub_addr}"));
        }
        let hub_args = hub.to_args();
        servers.insert(
            "hub".to_string(),
            Server {
                name: "hub".into(),
                program: binary("national-hub"),
                args: hub_args,
                log: data_dir.join("logs/hub.log"),
                env: Vec::new(),
                faulty: false,
                child: None,
            },
        );
        for (code, addr) in &node_addrs {
            servers.insert(
                code.clone(),
                Server {
                    name: format!("province {code}"),
                    program: binary("province-node"),
                    args: [
                        format!("--province={code}"),
                        format!("--listen={addr}"),
                        format!("--data-dir={}", data_dir.join(format!("province-{code}")).display()),
                        match standby_hub_addr {
                            Some(standby) => format!("--hub=http://{},https://{standby}", hub_seen_by[code]),
                            None => format!("--hub=http://{}", hub_seen_by[code]),
                        },
                        "--call-timeout-ms=3000".into(),
                        "--recovery-interval-ms=200".into(),
                        // The chaos workload sends many wallet transfers a day.
                        "--wallet-daily-count=1000000".into(),
                        format!("--link-token={}", tokens[code]),
                        format!("--hub-token={hub_token}"),
                        "--anonymous-clients".into(),
                    ]
                    .into_iter()
                    .chain(tls_args(&format!("province-{code}")))
                    .chain(store_arg(&format!("province_{code}")))
                    .collect(),
                    log: data_dir.join(format!("logs/province-{code}.log")),
                    env: Vec::new(),
                    faulty: false,
                    child: None,
                },
            );
        }
        let mut cluster = Cluster {
            hub_addr,
            standby_hub_addr,
            postgres,
            node_addrs,
            proxies,
            servers,
            data_dir: data_dir.to_path_buf(),
            client: Tls::load(&TlsFiles::in_dir(&certs, "client")).expect("the client certificate"),
        };
        let names: Vec<String> = cluster.servers.keys().cloned().collect();
        for name in names {
            cluster.restart(&name).await;
        }
        cluster
    }

    /// The servers' names: "hub" and the province codes.
    pub fn names(&self) -> Vec<String> {
        self.servers.keys().cloned().collect()
    }

    fn addr(&self, name: &str) -> SocketAddr {
        match name {
            "hub" => self.hub_addr,
            "hub-b" => self.standby_hub_addr.expect("a standby hub"),
            province => self.node_addrs[province],
        }
    }

    /// Restarts the PostgreSQL cluster as a crash would (immediate stop:
    /// it recovers from its log), if the servers keep their books there.
    pub async fn restart_postgres(&self) {
        if let Some(pg) = self.postgres.clone() {
            tokio::task::spawn_blocking(move || {
                pg.stop(true).expect("PostgreSQL stops");
                pg.start().expect("PostgreSQL starts again");
            })
            .await
            .expect("the restart task");
        }
    }

    /// The hubs' addresses, comma-separated (the active one among them).
    pub fn hubs_url(&self) -> String {
        std::iter::once(self.hub_url())
            .chain(self.standby_hub_addr.map(|addr| format!("https://{addr}")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills a server with SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self, name: &str) {
        if let Some(server) = self.servers.get_mut(name) {
            server.kill();
        }
    }

    /// The faults injected into a server's store from its next start on
    /// (`--store-faults`, e.g. `stall-ms=2000`); `None`: none.
    pub fn set_store_faults(&mut self, name: &str, faults: Option<&str>) {
        if let Some(server) = self.servers.get_mut(name) {
            server.env.retain(|(key, _)| key != "GONGJI_STORE_FAULTS");
            if let Some(faults) = faults {
                server.env.push(("GONGJI_STORE_FAULTS".into(), faults.into()));
            }
        }
    }

    /// Moves every server's clock to `offset_ms` from the system time
    /// (`--clock-offset-ms`, by the environment) and restarts each, so all
    /// read the new time.
    pub async fn set_clock_offset(&mut self, offset_ms: i64) {
        for server in self.servers.values_mut() {
            server.env.retain(|(key, _)| key != "GONGJI_CLOCK_OFFSET_MS");
            server.env.push(("GONGJI_CLOCK_OFFSET_MS".into(), offset_ms.to_string()));
        }
        for name in self.names() {
            self.restart(&name).await;
        }
    }

    /// Whether a server runs with store faults (see [`Cluster::set_store_faults`]).
    pub fn has_store_faults(&self, name: &str) -> bool {
        self.servers.get(name).is_some_and(|s| s.faulty)
    }

    /// A server's data directory.
    pub fn server_data_dir(&self, name: &str) -> PathBuf {
        if name == "hub" {
            self.data_dir.join("hub")
        } else {
            self.data_dir.join(format!("province-{name}"))
        }
    }

    /// Starts a server that must refuse to start; returns what it logged.
    /// Panics if it serves instead, or keeps running for 30 s.
    pub async fn start_expecting_refusal(&mut self, name: &str) -> String {
        let server = self.servers.get_mut(name).expect("a known server");
        server.kill();
        let before = std::fs::read_to_string(&server.log).map(|t| t.len()).unwrap_or(0);
        server.start();
        let mut child = server.child.take().expect("started");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("the server's status") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not refuse to start within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let log = std::fs::read_to_string(&self.servers[name].log).unwrap_or_default();
        assert!(
            !status.success(),
            "{name} exited successfully; its log:\n{}",
            &log[before.min(log.len())..]
        );
        log[before.min(log.len())..].to_owned()
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.servers.get(name).is_some_and(|s| s.child.is_some())
    }

    /// Starts a server (again) on its port and data, and waits until it serves.
    pub async fn restart(&mut self, name: &str) {
        let addr = self.addr(name);
        if let Some(server) = self.servers.get_mut(name) {
            server.kill();
            server.start();
        }
        let endpoint = self.endpoint(&format!("https://{addr}"));
        let log = self.servers[name].log.clone();
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                // Like a supervisor, start it again when it exits at once
                // (its database is restarting, say).
                if let Some(server) = self.servers.get_mut(name) {
                    if server.exited() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        server.start();
                    }
                }
                if let Ok(channel) = endpoint.connect().await {
                    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                    if health
                        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                        .await
                        .is_ok()
                    {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await;
        if waited.is_err() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "{name} did not come up on {addr}; its log:\n{}",
                &tail[tail.len().saturating_sub(4000)..]
            );
        }
    }

    pub fn hub_url(&self) -> String {
        format!("https://{}", self.hub_addr)
    }

    pub fn node_url(&self, province: &str) -> String {
        format!("https://{}", self.node_addrs[province])
    }

    /// Where the tests' calls to the cluster's certificates are.
    pub fn certs(&self) -> PathBuf {
        self.data_dir.join("certs")
    }

    /// An endpoint for `url` that presents the client certificate, with
    /// short deadlines (servers come and go).
    pub fn endpoint(&self, url: &str) -> Endpoint {
        Channel::from_shared(url.to_owned())
            .expect("a server url")
            .tls_config(self.client.client_config(None))
            .expect("TLS configuration")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(4))
    }

    /// Waits until no server has work pending or notices unsent.
    pub async fn wait_idle(&self, patience: Duration) {
        let hubs: Vec<Endpoint> = self.hubs_url().split(',').map(|url| self.endpoint(url)).collect();
        let nodes: Vec<(String, Endpoint)> = self
            .node_addrs
            .keys()
            .map(|p| (self.node_url(p), self.endpoint(&self.node_url(p))))
            .collect();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut busy = Vec::new();
            let mut active = None;
            for hub in &hubs {
                if let Some(check) = hub_check(hub).await {
                    active = Some(check);
                    break;
                }
            }
            if let Some(check) = active {
                if check.pending + check.outbox > 0 {
                    busy.push(format!("hub ({} pending, {} unsent)", check.pending, check.outbox));
                }
            } else {
                busy.push("hub (no answer)".into());
            }
            for (url, endpoint) in &nodes {
                match node_check(endpoint).await {
                    Some(check) if check.pending + check.outbox == 0 => {}
                    Some(check) => busy.push(format!("{url} ({} pending, {} unsent)", check.pending, check.outbox)),
                    None => busy.push(format!("{url} (no answer)")),
                }
            }
            if busy.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the network did not settle: {}",
                busy.join(", ")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Cluster {
    /// The servers are killed with their handles; PostgreSQL is stopped as a
    /// crash would stop it (its directory goes with the test's).
    fn drop(&mut self) {
        self.servers.clear();
        if let Some(pg) = self.postgres.take() {
            let _ = pg.stop(true);
        }
    }
}

async fn hub_check(endpoint: &Endpoint) -> Option<gongji_proto::v1::SelfCheckReport> {
    let channel = endpoint.connect().await.ok()?;
    let mut hub = gongji_proto::v1::national_hub_client::NationalHubClient::new(channel);
    Some(hub.self_check(gongji_proto::v1::SelfCheckRequest {}).await.ok()?.into_inner())
}

async fn node_check(endpoint: &Endpoint) -> Option<gongji_proto::v1::NodeInfo> {
    let channel = endpoint.connect().await.ok()?;
    let mut node = gongji_proto::v1::province_node_client::ProvinceNodeClient::new(channel);
    Some(node.get_node_info(gongji_proto::v1::GetNodeInfoRequest {}).await.ok()?.into_inner())
}
