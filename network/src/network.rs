//! A running network: the hub and a set of province nodes in this process,
//! each with its own data directory and listener. Every listener is bound
//! before any server starts, so port-0 addresses are known at once; every
//! server can be stopped and started again on the same address and data
//! directory, which is how tests take a node down and bring it back.

use std::{collections::BTreeMap, future::Future, net::SocketAddr, path::PathBuf, pin::Pin, time::Duration};

use gongji_common::{clock::Clock, store::StoreFlags, tls::TlsFlags, ProvinceCode};
use gongji_operator::{
    certs::province_file,
    connection::Connection,
    manifest::{Manifest, ManifestEntry},
    ready,
};
use national_hub::{HubConfig, ProvinceEntry};
use province_node::NodeConfig;
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::{server::Server, spec::NetworkSpec};

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    /// Stops the server and waits until its data directory is released.
    async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(format!("server task failed: {join}")),
            Err(_) => Err("server did not stop within 30 s".into()),
        }
    }
}

/// A running network.
pub struct Network {
    spec: NetworkSpec,
    hub_addr: SocketAddr,
    node_addrs: BTreeMap<ProvinceCode, SocketAddr>,
    /// Where each server serves metrics, when it does.
    hub_metrics: Option<SocketAddr>,
    node_metrics: BTreeMap<ProvinceCode, SocketAddr>,
    hub: Option<Running>,
    /// The process id of the hub, when it runs as a process of its own.
    hub_pid: Option<u32>,
    /// Standby hubs on the hub's database, each a process: address, pid.
    standbys: Vec<(SocketAddr, u32, Running)>,
    nodes: BTreeMap<ProvinceCode, Running>,
    failures: Failures,
    /// Where the hub reaches a province instead of its node's own address
    /// (tests put a fault-injecting proxy there).
    hub_sees: BTreeMap<ProvinceCode, SocketAddr>,
    /// The links' secrets, made fresh for this network.
    tokens: Tokens,
    /// The one clock every server of the network reads (tests move it).
    clock: Clock,
}

/// The secrets of a network's links: the hub's and each province's.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub hub: String,
    pub provinces: BTreeMap<ProvinceCode, String>,
}

impl Network {
    /// Binds every listener (so port-0 addresses are known before anyone
    /// needs them), then starts the hub and every node.
    pub async fn start(spec: NetworkSpec) -> Result<Network, String> {
        let hub_listener = bind(spec.hub).await?;
        let hub_addr = local_addr(&hub_listener)?;
        let mut node_listeners = BTreeMap::new();
        for (code, addr) in &spec.provinces {
            if node_listeners.contains_key(code) {
                return Err(format!("province {code} is listed twice"));
            }
            node_listeners.insert(*code, bind(*addr).await?);
        }
        let node_addrs = node_listeners
            .iter()
            .map(|(code, listener)| Ok((*code, local_addr(listener)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        let (mut hub_metrics_listener, mut node_metrics_listeners) = (None, BTreeMap::new());
        if let Some(base) = spec.metrics_base_port {
            let port = |offset: usize| -> Result<u16, String> {
                if base == 0 {
                    return Ok(0);
                }
                u16::try_from(usize::from(base) + offset)
                    .map_err(|_| format!("metrics base port {base} leaves no room for {} provinces", spec.provinces.len()))
            };
            hub_metrics_listener = Some(bind(SocketAddr::new(spec.hub.ip(), port(0)?)).await?);
            for (i, (code, addr)) in spec.provinces.iter().enumerate() {
                node_metrics_listeners.insert(*code, bind(SocketAddr::new(addr.ip(), port(i + 1)?)).await?);
            }
        }
        let hub_metrics = hub_metrics_listener.as_ref().map(local_addr).transpose()?;
        let node_metrics = node_metrics_listeners
            .iter()
            .map(|(code, listener)| Ok((*code, local_addr(listener)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        let mut network = Network {
            spec,
            hub_addr,
            hub_metrics,
            node_metrics,
            node_addrs: node_addrs.clone(),
            hub: None,
            hub_pid: None,
            standbys: Vec::new(),
            nodes: BTreeMap::new(),
            failures: mpsc::unbounded_channel(),
            hub_sees: BTreeMap::new(),
            clock: Clock::default(),
            tokens: Tokens {
                hub: gongji_common::auth::random_token()?,
                provinces: node_addrs
                    .keys()
                    .map(|code| Ok((*code, gongji_common::auth::random_token()?)))
                    .collect::<Result<_, String>>()?,
            },
        };
        network.hub = Some(network.spawn_hub(hub_listener, hub_metrics_listener)?);
        for (code, listener) in node_listeners {
            let running = network.spawn_node(code, listener, node_metrics_listeners.remove(&code));
            network.nodes.insert(code, running);
        }
        Ok(network)
    }

    /// The links' secrets (tests use them to play a server).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn hub_addr(&self) -> SocketAddr {
        self.hub_addr
    }

    /// The scheme of the servers' addresses: `https` with TLS, else `http`.
    fn scheme(&self) -> &'static str {
        if self.spec.certs.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The address of the hub (`https://` with TLS, else `http://`).
    pub fn hub_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.hub_addr)
    }

    /// The directory of the network's certificates, when it runs TLS.
    pub fn certs(&self) -> Option<&std::path::Path> {
        self.spec.certs.as_deref()
    }

    pub fn node_addr(&self, code: ProvinceCode) -> Option<SocketAddr> {
        self.node_addrs.get(&code).copied()
    }

    /// The address of a province node (`https://` with TLS, else `http://`).
    pub fn node_url(&self, code: ProvinceCode) -> String {
        self.node_addr(code)
            .map(|addr| format!("{}://{addr}", self.scheme()))
            .unwrap_or_default()
    }

    /// The hub's metrics URL (`http://…/metrics`), when it serves metrics.
    pub fn hub_metrics_url(&self) -> Option<String> {
        self.hub_metrics.map(|addr| format!("http://{addr}/metrics"))
    }

    /// A province node's metrics URL (`http://…/metrics`), when it serves metrics.
    pub fn node_metrics_url(&self, code: ProvinceCode) -> Option<String> {
        self.node_metrics.get(&code).map(|addr| format!("http://{addr}/metrics"))
    }

    pub fn provinces(&self) -> impl Iterator<Item = ProvinceCode> + '_ {
        self.node_addrs.keys().copied()
    }

    /// Where the hub keeps its books, as its `--store` flags say.
    pub fn hub_store(&self) -> StoreFlags {
        StoreFlags {
            url: self.spec.databases.as_ref().map(|d| d.hub.clone()),
            ..StoreFlags::default()
        }
    }

    /// Where a node keeps its books, as its `--store` flags say.
    pub fn node_store(&self, code: ProvinceCode) -> StoreFlags {
        StoreFlags {
            url: self.spec.databases.as_ref().and_then(|d| d.provinces.get(&code).cloned()),
            ..StoreFlags::default()
        }
    }

    pub fn hub_data_dir(&self) -> PathBuf {
        self.spec.data_dir.join("hub")
    }

    pub fn node_data_dir(&self, code: ProvinceCode) -> PathBuf {
        self.spec.data_dir.join(format!("province-{code}"))
    }

    pub fn manifest(&self) -> Manifest {
        Manifest {
            hub: std::iter::once(self.hub_url())
                .chain(self.standbys.iter().map(|(addr, _, _)| self.url_of(*addr)))
                .collect::<Vec<_>>()
                .join(","),
            provinces: self
                .node_addrs
                .keys()
                .map(|code| ManifestEntry {
                    code: code.to_string(),
                    name: code.known_name().unwrap_or("").to_owned(),
                    address: self.node_url(*code),
                    data_dir: self.node_data_dir(*code).display().to_string(),
                    metrics: self.node_metrics_url(*code).unwrap_or_default(),
                })
                .collect(),
            hub_metrics: self.hub_metrics_url().unwrap_or_default(),
            certs: self.certs().map(|dir| dir.display().to_string()).unwrap_or_default(),
            operator_token_file: String::new(),
        }
    }

    /// Binds a restarting server's metrics listener again, if it has one.
    async fn metrics_again(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, String> {
        match addr {
            Some(addr) => Ok(Some(bind_again(addr).await?)),
            None => Ok(None),
        }
    }

    /// The clock every server of the network reads: a test moves it
    /// forward (past 06:00, into the quiet hours) with [`Clock::advance`].
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The hub's configuration, as this network starts it (a standby hub
    /// on its database starts with it too, on another address).
    pub fn hub_config(&self) -> HubConfig {
        let registry = self
            .node_addrs
            .iter()
            .map(|(code, addr)| ProvinceEntry {
                code: *code,
                name: code.known_name().unwrap_or("Province").to_owned(),
                address: format!("http://{}", self.hub_sees.get(code).unwrap_or(addr)),
            })
            .collect();
        let mut config = HubConfig::new(self.hub_addr, self.hub_data_dir(), registry);
        config.call_timeout_ms = self.spec.hub_call_timeout.as_millis() as u64;
        config.serve.max_in_flight_per_peer = self.spec.max_in_flight_per_peer;
        config.recovery_interval_ms = self.spec.recovery_interval.as_millis() as u64;
        config.opening_prepaid = self.spec.opening_prepaid.clone();
        config.prepaid_floor = self.spec.prepaid_floor.clone();
        config.tls = self.tls_flags("hub");
        // Over TLS, certificates say who is calling; plaintext links
        // (tests) still check tokens.
        if self.spec.certs.is_none() {
            config.hub_token = Some(self.tokens.hub.clone());
            config.province_tokens = self
                .tokens
                .provinces
                .iter()
                .map(|(code, token)| format!("{code}={token}"))
                .collect();
        }
        config.access = self.client_flags();
        config.store = self.hub_store();
        config.clock.shared = Some(self.clock.clone());
        config
    }

    fn spawn_hub(&mut self, listener: TcpListener, metrics: Option<TcpListener>) -> Result<Running, String> {
        let mut config = self.hub_config();
        if let Some(program) = self.spec.hub_program.clone() {
            // The process binds the address itself.
            config.serve.metrics_listen = metrics.as_ref().map(local_addr).transpose()?;
            drop((listener, metrics));
            let (running, pid) = spawn_process(&self.failures.0, &program, config.to_args(), "hub")?;
            self.hub_pid = Some(pid);
            return Ok(running);
        }
        let hub = Server::Hub(Box::new(config));
        Ok(spawn(&self.failures.0, |stop| async move {
            hub.run(listener, metrics, stop).await.map_err(|e| format!("hub: {e}"))
        }))
    }

    /// Starts another hub on the hub's database, listening on `listen`, as
    /// a process of `spec.hub_program`: it stands by while the hub is
    /// active and takes over when it stops. Returns its process id.
    pub fn start_standby_hub(&mut self, listen: SocketAddr) -> Result<u32, String> {
        let program = self
            .spec
            .hub_program
            .clone()
            .ok_or_else(|| "a standby hub runs as a process: the network has no hub program".to_owned())?;
        let mut config = self.hub_config();
        config.listen = listen;
        config.serve.metrics_listen = None;
        let (running, pid) = spawn_process(&self.failures.0, &program, config.to_args(), "standby hub")?;
        self.standbys.push((listen, pid, running));
        Ok(pid)
    }

    /// The process ids of the hubs run as processes: the first hub's, then
    /// each standby's.
    pub fn hub_pids(&self) -> Vec<u32> {
        self.hub_pid
            .into_iter()
            .chain(self.standbys.iter().map(|(_, pid, _)| *pid))
            .collect()
    }

    fn url_of(&self, addr: SocketAddr) -> String {
        let scheme = if self.spec.certs.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    fn spawn_node(&self, code: ProvinceCode, listener: TcpListener, metrics: Option<TcpListener>) -> Running {
        let addr = self.node_addrs[&code];
        let hubs = std::iter::once(self.hub_url())
            .chain(self.spec.more_hubs.iter().cloned())
            .collect::<Vec<_>>()
            .join(",");
        let mut config = NodeConfig::new(code, addr, self.node_data_dir(code), hubs);
        config.call_timeout_ms = self.spec.node_call_timeout.as_millis() as u64;
        config.recovery_interval_ms = self.spec.recovery_interval.as_millis() as u64;
        config.serve.max_in_flight_per_peer = self.spec.max_in_flight_per_peer;
        config.give_up_after_ms = self.spec.give_up_after.as_millis() as u64;
        config.wallet.wallet_daily_count = self.spec.wallet_daily_count;
        config.tls = self.tls_flags(&province_file(code));
        if self.spec.certs.is_none() {
            config.link_token = self.tokens.provinces.get(&code).cloned();
            config.hub_token = Some(self.tokens.hub.clone());
        }
        config.access = self.client_flags();
        config.store = self.node_store(code);
        config.clock.shared = Some(self.clock.clone());
        let node = Server::Node(Box::new(config));
        spawn(&self.failures.0, move |stop| async move {
            node.run(listener, metrics, stop).await.map_err(|e| format!("province {code}: {e}"))
        })
    }

    /// The servers' client flags: the network's clients file, or (a test
    /// network without one) anonymous clients.
    fn client_flags(&self) -> gongji_common::access::ClientFlags {
        gongji_common::access::ClientFlags {
            clients: self.spec.clients.clone(),
            anonymous_clients: self.spec.clients.is_none(),
        }
    }

    /// A server's TLS flags: its files in the certificates directory, or
    /// `--insecure` when the network has none.
    fn tls_flags(&self, name: &str) -> TlsFlags {
        match &self.spec.certs {
            Some(dir) => TlsFlags::in_dir(dir, name),
            None => TlsFlags {
                insecure: true,
                ..TlsFlags::default()
            },
        }
    }

    /// How a client reaches this network: with the client certificate of its
    /// certificates directory, when it runs TLS.
    pub fn connection(&self) -> Result<Connection, String> {
        match self.certs() {
            Some(dir) => Connection::with_certs(dir).map_err(|e| e.to_string()),
            None => Ok(Connection::plaintext()),
        }
    }

    /// Waits until the hub and every node answer their health check (over
    /// TLS, each with its own certificate); a certificate that does not fit
    /// fails at once.
    pub async fn wait_ready(&self) -> Result<(), String> {
        ready::wait_for_network(&self.connection()?, &self.manifest())
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits until the hub serves (after [`Network::start_hub`]).
    pub async fn wait_hub_ready(&self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + ready::READY_WITHIN;
        ready::wait_for_hub(&self.connection()?, &self.hub_url(), deadline)
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits until province `code`'s node serves (after [`Network::start_node`]).
    pub async fn wait_node_ready(&self, code: ProvinceCode) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + ready::READY_WITHIN;
        ready::wait_for_node(&self.connection()?, code, &self.node_url(code), deadline)
            .await
            .map_err(|e| e.to_string())
    }

    /// Makes the hub reach a province at `addr` (a proxy in front of its
    /// node) from the hub's next start on.
    pub fn route_hub_via(&mut self, code: ProvinceCode, addr: SocketAddr) {
        self.hub_sees.insert(code, addr);
    }

    /// Stops one province node (its address stays reserved for a restart).
    pub async fn stop_node(&mut self, code: ProvinceCode) -> Result<(), String> {
        match self.nodes.remove(&code) {
            Some(running) => running.stop().await,
            None => Err(format!("province {code} is not running")),
        }
    }

    /// Starts a stopped province node again on its address and data directory.
    pub async fn start_node(&mut self, code: ProvinceCode) -> Result<(), String> {
        if self.nodes.contains_key(&code) {
            return Err(format!("province {code} is already running"));
        }
        let addr = self
            .node_addr(code)
            .ok_or_else(|| format!("province {code} is not part of this network"))?;
        let listener = bind_again(addr).await?;
        let metrics = Self::metrics_again(self.node_metrics.get(&code).copied()).await?;
        let running = self.spawn_node(code, listener, metrics);
        self.nodes.insert(code, running);
        Ok(())
    }

    pub async fn stop_hub(&mut self) -> Result<(), String> {
        match self.hub.take() {
            Some(running) => running.stop().await,
            None => Err("the hub is not running".into()),
        }
    }

    pub async fn start_hub(&mut self) -> Result<(), String> {
        if self.hub.is_some() {
            return Err("the hub is already running".into());
        }
        let listener = bind_again(self.hub_addr).await?;
        let metrics = Self::metrics_again(self.hub_metrics).await?;
        self.hub = Some(self.spawn_hub(listener, metrics)?);
        Ok(())
    }

    /// Stops every server; reports the first failure of any.
    pub async fn shutdown(mut self) -> Result<(), String> {
        let mut first_error = None;
        for (_, running) in std::mem::take(&mut self.nodes) {
            if let Err(e) = running.stop().await {
                first_error.get_or_insert(e);
            }
        }
        if let Some(hub) = self.hub.take() {
            if let Err(e) = hub.stop().await {
                first_error.get_or_insert(e);
            }
        }
        for (_, _, standby) in std::mem::take(&mut self.standbys) {
            if let Err(e) = standby.stop().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Completes when a server fails on its own, with its error.
    pub async fn failed(&mut self) -> String {
        match self.failures.1.recv().await {
            Some(error) => error,
            None => std::future::pending().await,
        }
    }
}

type Failures = (mpsc::UnboundedSender<String>, mpsc::UnboundedReceiver<String>);

/// Runs `program serve-hub ARGS` (the `gongji` binary's hidden command) as
/// a process of its own. Stopping it sends SIGTERM and waits; the process
/// ending by itself (killed, say, to see a standby take over) is logged,
/// not a failure of the network.
fn spawn_process(
    failures: &mpsc::UnboundedSender<String>,
    program: &std::path::Path,
    args: Vec<String>,
    name: &'static str,
) -> Result<(Running, u32), String> {
    let mut child = tokio::process::Command::new(program)
        .arg("serve-hub")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {} serve-hub: {e}", program.display()))?;
    let pid = child.id().ok_or_else(|| format!("the {name} process ended at once"))?;
    let running = spawn(failures, move |stop| async move {
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(pid, status = %status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()), "the {name} process ended");
                Ok(())
            }
            () = stop => {
                let _ = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
                match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
                    Ok(_) => Ok(()),
                    Err(_) => {
                        let _ = child.start_kill();
                        Err(format!("the {name} process (pid {pid}) did not stop in 20 s; killed"))
                    }
                }
            }
        }
    });
    Ok((running, pid))
}

fn spawn<F, Fut>(failures: &mpsc::UnboundedSender<String>, serve: F) -> Running
where
    F: FnOnce(Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let signal: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
        let _ = stopped.await;
    });
    let failures = failures.clone();
    let serving = serve(signal);
    let task = tokio::spawn(async move {
        let result = serving.await;
        if let Err(error) = &result {
            let _ = failures.send(error.clone());
        }
        result
    });
    Running { stop, task }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Binds an address a stopped server just released; the kernel may take a
/// moment to let go of it.
async fn bind_again(addr: SocketAddr) -> Result<TcpListener, String> {
    let mut last_error = String::new();
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("cannot listen on {addr} again: {last_error}"))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, String> {
    listener.local_addr().map_err(|e| format!("listener address: {e}"))
}
