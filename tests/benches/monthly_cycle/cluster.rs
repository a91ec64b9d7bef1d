//! The servers of one benchmark network, each in an OS process of its own (this
//! binary run again in serve mode) so that each one's peak memory can be read
//! from `/proc/<pid>/status`. A guard stops them all however the run ends:
//! closing a child's stdin shuts it down gracefully; one that does not stop
//! in time is killed.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use gongji_common::ProvinceCode;
use tonic::transport::Channel;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};

use crate::{failure, Failure};

/// The hidden first argument that turns this binary into the national hub.
pub const SERVE_HUB: &str = "--serve-hub";
/// The hidden first argument that turns this binary into a province node.
pub const SERVE_NODE: &str = "--serve-node";

/// Deadline of the hub's calls to nodes; the nodes' calls to the hub get a
/// little more. Generous: 33 processes share two cores under full load.
const HUB_CALL_TIMEOUT_MS: u64 = 25_000;
const NODE_CALL_TIMEOUT_MS: u64 = 30_000;
const RECOVERY_INTERVAL_MS: u64 = 3_000;
/// Prepaid funds every province starts with: far more than any benchmark
/// month nets, so the real-time prepaid check never declines.
const OPENING_PREPAID: &str = "100000000.00";
/// How long a server may take to answer its first health check.
const START_PATIENCE: Duration = Duration::from_secs(90);
/// How long a stopping server may take before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(20);

/// One server process.
pub struct Server {
    pub name: String,
    pub url: String,
    pub log: PathBuf,
    child: Child,
    /// Held open for the life of the server: closing it asks the child to stop.
    stdin: Option<ChildStdin>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The hub and one node per province, in child processes.
pub struct Cluster {
    pub hub: Server,
    /// In the order of the provinces given to [`Cluster::start`].
    pub nodes: Vec<(ProvinceCode, Server)>,
    stopped: bool,
}

/// Ports for `count` servers: bound on loopback at port 0 all together (so
/// they differ), read, and released for the children to bind.
fn free_ports(count: usize) -> Result<Vec<u16>, Failure> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()?)
}

fn loopback(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

impl Cluster {
    /// Starts the hub and the nodes with their data under `root` and waits
    /// until every one of them answers its health check.
    pub async fn start(root: &Path, provinces: &[ProvinceCode]) -> Result<Cluster, Failure> {
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)?;
        let ports = free_ports(provinces.len() + 1)?;
        let (hub_port, node_ports) = ports.split_first().expect("one port per server, the hub's first");
        // The links are authenticated as in production: one secret for the
        // hub, one per province.
        let hub_token = gongji_common::auth::random_token().expect("a random token");
        let tokens: Vec<String> = provinces
            .iter()
            .map(|_| gongji_common::auth::random_token().expect("a random token"))
            .collect();

        let mut hub_args = vec![
            "--listen".to_owned(),
            loopback(*hub_port),
            "--data-dir".to_owned(),
            root.join("hub").display().to_string(),
            "--call-timeout-ms".to_owned(),
            HUB_CALL_TIMEOUT_MS.to_string(),
            "--recovery-interval-ms".to_owned(),
            RECOVERY_INTERVAL_MS.to_string(),
            "--opening-prepaid".to_owned(),
            OPENING_PREPAID.to_owned(),
            format!("--hub-token={hub_token}"),
            // Plaintext with link tokens, as the runs in docs/BENCHMARKS.md.
            "--insecure".to_owned(),
        ];
        for ((code, port), token) in provinces.iter().zip(node_ports).zip(&tokens) {
            let name = code.known_name().unwrap_or("Province");
            hub_args.push("--province".to_owned());
            hub_args.push(format!("{code}={name}=http://{}", loopback(*port)));
            hub_args.push(format!("--province-token={code}={token}"));
        }
        let hub = spawn("hub", SERVE_HUB, &hub_args, &loopback(*hub_port), &logs)?;
        let mut cluster = Cluster {
            hub,
            nodes: Vec::new(),
            stopped: false,
        };
        for ((code, port), token) in provinces.iter().zip(node_ports).zip(&tokens) {
            let args = vec![
                "--province".to_owned(),
                code.to_string(),
                "--listen".to_owned(),
                loopback(*port),
                "--data-dir".to_owned(),
                root.join(format!("province-{code}")).display().to_string(),
                "--hub".to_owned(),
                format!("http://{}", loopback(*hub_port)),
                "--call-timeout-ms".to_owned(),
                NODE_CALL_TIMEOUT_MS.to_string(),
                "--recovery-interval-ms".to_owned(),
                RECOVERY_INTERVAL_MS.to_string(),
                format!("--link-token={token}"),
                format!("--hub-token={hub_token}"),
                "--insecure".to_owned(),
            ];
            let node = spawn(&format!("node {code}"), SERVE_NODE, &args, &loopback(*port), &logs)?;
            cluster.nodes.push((*code, node));
        }
        let deadline = Instant::now() + START_PATIENCE;
        wait_healthy(&mut cluster.hub, deadline).await?;
        for (_, node) in &mut cluster.nodes {
            wait_healthy(node, deadline).await?;
        }
        Ok(cluster)
    }

    pub fn node(&self, province: ProvinceCode) -> &Server {
        &self
            .nodes
            .iter()
            .find(|(code, _)| *code == province)
            .expect("only provinces of the network are asked for")
            .1
    }

    pub fn servers(&self) -> impl Iterator<Item = &Server> {
        std::iter::once(&self.hub).chain(self.nodes.iter().map(|(_, s)| s))
    }

    /// Stops every server and reports how each one ended, and the warnings
    /// and errors they logged.
    pub fn stop(mut self) -> Vec<String> {
        self.stopped = true;
        let mut notes = stop_all(self.servers_mut());
        for server in self.servers() {
            notes.extend(log_findings(server));
        }
        notes
    }

    fn servers_mut(&mut self) -> Vec<&mut Server> {
        std::iter::once(&mut self.hub)
            .chain(self.nodes.iter_mut().map(|(_, s)| s))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            for note in stop_all(self.servers_mut()) {
                eprintln!("{note}");
            }
        }
    }
}

/// Asks every server to stop (closes its stdin), waits, kills stragglers.
fn stop_all(mut servers: Vec<&mut Server>) -> Vec<String> {
    for server in servers.iter_mut() {
        server.stdin.take();
    }
    let deadline = Instant::now() + STOP_PATIENCE;
    let mut notes = Vec::new();
    for server in servers {
        loop {
            match server.child.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => {
                    notes.push(format!("{} exited with {status} (log: {})", server.name, server.log.display()));
                    break;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) | Err(_) => {
                    notes.push(format!("{} did not stop within {STOP_PATIENCE:?}; killed", server.name));
                    let _ = server.child.kill();
                    let _ = server.child.wait();
                    break;
                }
            }
        }
    }
    notes
}

/// What a server logged at WARN or above (the children log at `warn`).
fn log_findings(server: &Server) -> Vec<String> {
    let Ok(file) = File::open(&server.log) else {
        return Vec::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    let flagged: Vec<&String> = lines.iter().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
    if flagged.is_empty() {
        return Vec::new();
    }
    let mut notes = vec![format!(
        "{} logged {} warning/error line(s) ({}); first ones:",
        server.name,
        flagged.len(),
        server.log.display()
    )];
    notes.extend(flagged.iter().take(3).map(|l| format!("    {l}")));
    notes
}

fn spawn(name: &str, mode: &str, args: &[String], addr: &str, logs: &Path) -> Result<Server, Failure> {
    let exe = std::env::current_exe()?;
    let log = logs.join(format!("{}.log", name.replace(' ', "-")));
    let mut command = Command::new(exe);
    command
        .arg(mode)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(File::create(&log)?)
        // Per-RPC info logs would measure the logger; warnings are what matter.
        .env("RUST_LOG", "warn");
    // Flags say everything; a stray GONGJI_PROVINCES_FILE must not add to them.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GONGJI_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn()?;
    let stdin = child.stdin.take();
    Ok(Server {
        name: name.to_owned(),
        url: format!("http://{addr}"),
        log,
        child,
        stdin,
    })
}

async fn wait_healthy(server: &mut Server, deadline: Instant) -> Result<(), Failure> {
    loop {
        if let Some(status) = server.child.try_wait()? {
            return Err(failure(format!(
                "{} exited with {status} while starting; its log {} ends:\n{}",
                server.name,
                server.log.display(),
                tail(&server.log, 10)
            )));
        }
        if healthy(&server.url).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(failure(format!(
                "{} did not answer its health check within {START_PATIENCE:?}",
                server.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn healthy(url: &str) -> bool {
    let Ok(endpoint) = Channel::from_shared(url.to_owned()) else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await;
    reply.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---- Memory and disk --------------------------------------------------------------------

/// A process's peak resident set (VmHWM) in KiB, or `None` if it cannot be read.
pub fn peak_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}

/// Resets a process's peak resident set to its current one (Linux:
/// `echo 5 > /proc/<pid>/clear_refs`), so a later peak covers only what
/// follows. Returns whether it worked.
pub fn reset_peak(pid: Option<u32>) -> bool {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/clear_refs"),
        None => "/proc/self/clear_refs".to_owned(),
    };
    std::fs::write(path, "5").is_ok()
}

/// Bytes the files under `dir` occupy on disk (allocated blocks).
pub fn disk_use(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_use(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
