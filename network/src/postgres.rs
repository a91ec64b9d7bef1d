//! A PostgreSQL cluster of the machine's own PostgreSQL binaries, started
//! for a devnet, a benchmark or a test: `initdb` into a directory, a
//! loopback port, run as `nobody` when the caller is root (PostgreSQL
//! refuses to run as root). Also a streaming-replication standby of such a
//! cluster (`pg_basebackup`), synchronous when asked, and its promotion.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// The user the cluster runs as when the caller is root.
const UNPRIVILEGED: &str = "nobody";
/// The cluster's superuser, trusted on loopback.
const USER: &str = "gongji";

/// A cluster in a directory, on a port.
#[derive(Debug, Clone)]
pub struct Cluster {
    bin: PathBuf,
    /// The cluster's data directory (`initdb`'s).
    pub data: PathBuf,
    pub port: u16,
    log: PathBuf,
    as_nobody: bool,
}

/// The newest PostgreSQL under /usr/lib/postgresql/*/bin with initdb and pg_ctl.
pub fn binaries() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL under /usr/lib/postgresql ({e}): install Debian's postgresql package"))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no initdb and pg_ctl under /usr/lib/postgresql/*/bin: install Debian's postgresql package".to_owned())
}

fn is_root() -> bool {
    // The effective uid, read from /proc (no libc call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

impl Cluster {
    /// A new cluster in `dir` (created; must be new or empty) on `port`,
    /// not yet started.
    pub fn init(dir: &Path, port: u16, settings: &[(&str, &str)]) -> Result<Cluster, String> {
        let cluster = Cluster::at(dir, port)?;
        cluster.prepare_dir()?;
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data_arg(),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )?;
        cluster.configure(settings)?;
        Ok(cluster)
    }

    /// The cluster in `dir` as [`Cluster::init`] made it (to start it again).
    pub fn at(dir: &Path, port: u16) -> Result<Cluster, String> {
        let data = dir.join("data");
        Ok(Cluster {
            bin: binaries()?,
            log: dir.join("postgres.log"),
            data,
            port,
            as_nobody: is_root(),
        })
    }

    /// A standby of `primary` in `dir` on `port`, copied from it while it
    /// runs and streaming from it, not yet started. It is named `standby`:
    /// a primary whose `synchronous_standby_names` says so waits for it on
    /// every commit.
    pub fn standby_of(primary: &Cluster, dir: &Path, port: u16) -> Result<Cluster, String> {
        let cluster = Cluster::at(dir, port)?;
        cluster.prepare_dir()?;
        cluster.run(
            "pg_basebackup",
            &[
                "-D",
                &cluster.data_arg(),
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                USER,
                "-R",
                "-X",
                "stream",
            ],
        )?;
        // Named `standby` to the primary; promoted, it waits for no standby of
        // its own (the copied configuration would make every commit wait).
        cluster.configure(&[("cluster_name", "standby"), ("synchronous_standby_names", "")])?;
        Ok(cluster)
    }

    fn data_arg(&self) -> String {
        self.data.display().to_string()
    }

    /// Makes the cluster's directory, owned by the user it runs as.
    fn prepare_dir(&self) -> Result<(), String> {
        let dir = self.data.parent().unwrap_or(&self.data);
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if self.as_nobody {
            let status = Command::new("chown")
                .arg(UNPRIVILEGED)
                .arg(dir)
                .status()
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
            if !status.success() {
                return Err(format!("chown {UNPRIVILEGED} {} failed", dir.display()));
            }
            let writable = Command::new("runuser")
                .args(["-u", UNPRIVILEGED, "--", "test", "-w"])
                .arg(dir)
                .status()
                .map_err(|e| format!("runuser: {e}"))?;
            if !writable.success() {
                return Err(format!(
                    "PostgreSQL runs as {UNPRIVILEGED} here (it refuses root), and {UNPRIVILEGED} cannot reach {}: \
                     use a data directory outside /root (or any directory every user may enter)",
                    dir.display()
                ));
            }
        }
        Ok(())
    }

    /// Appends `settings` to the cluster's configuration, with the loopback
    /// listener on its port and its socket in its own directory.
    fn configure(&self, settings: &[(&str, &str)]) -> Result<(), String> {
        let socket_dir = self.data.parent().unwrap_or(&self.data).display().to_string();
        let mut conf = format!(
            "\n# gongji\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{socket_dir}'\nmax_connections = 300\n",
            self.port
        );
        for (name, value) in settings {
            conf.push_str(&format!("{name} = '{value}'\n"));
        }
        let path = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        text.push_str(&conf);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        // Replication connections on loopback, trusted like the others.
        let hba = self.data.join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).map_err(|e| format!("reading {}: {e}", hba.display()))?;
        if !text.contains("host replication all 127.0.0.1/32 trust") {
            text.push_str("\nhost replication all 127.0.0.1/32 trust\n");
            std::fs::write(&hba, text).map_err(|e| format!("writing {}: {e}", hba.display()))?;
        }
        Ok(())
    }

    /// Runs one of PostgreSQL's programs as the cluster's user.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = if self.as_nobody {
            let mut command = Command::new("runuser");
            command.args(["-u", UNPRIVILEGED, "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir("/")
            .output()
            .map_err(|e| format!("running {program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            Err(format!(
                "{program} failed: {}{}\n{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim(),
                &log[log.len().saturating_sub(2000)..]
            ))
        }
    }

    /// Starts the cluster and waits until it takes connections.
    pub fn start(&self) -> Result<(), String> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_arg(),
                "-l",
                &self.log.display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Stops the cluster: `fast` (clean), or `immediate` (as if killed: it
    /// recovers from its log at the next start).
    pub fn stop(&self, immediate: bool) -> Result<(), String> {
        let mode = if immediate { "immediate" } else { "fast" };
        self.run("pg_ctl", &["-D", &self.data_arg(), "-m", mode, "-w", "stop"])
    }

    /// Makes a standby the primary.
    pub fn promote(&self) -> Result<(), String> {
        self.run("pg_ctl", &["-D", &self.data_arg(), "-w", "promote"])
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `database` unless it exists.
    pub fn create_database(&self, database: &str) -> Result<(), String> {
        let admin = self.url("postgres");
        let database = database.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("connecting to {admin}: {e}"))?;
                tokio::spawn(connection);
                let exists = client
                    .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some();
                if !exists {
                    client
                        .batch_execute(&format!("CREATE DATABASE \"{database}\""))
                        .await
                        .map_err(|e| format!("creating database {database}: {e}"))?;
                }
                Ok(())
            })
        })
        .join()
        .map_err(|_| "creating a database: the thread panicked".to_owned())?
    }

    /// Waits until the cluster takes connections (after a start elsewhere).
    pub fn wait_ready(&self, patience: Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("PostgreSQL on port {} did not come up", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts the cluster in `dir` (made there, on a free loopback port, the
/// first time; started again on its port after that), with a database for
/// the hub and for each province of `spec`, and has `spec`'s servers keep
/// their books there. Stop it with [`Cluster::stop`] when done.
pub fn start_for(spec: &mut crate::NetworkSpec, dir: &Path) -> Result<Cluster, String> {
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port_file = dir.join("port");
    let cluster = if dir.join("data").join("PG_VERSION").exists() {
        let port = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "{} holds a PostgreSQL cluster but no port file {}",
                    dir.display(),
                    port_file.display()
                )
            })?;
        Cluster::at(&dir, port)?
    } else {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("finding a free port for PostgreSQL: {e}"))?
            .port();
        let cluster = Cluster::init(&dir, port, &[("shared_buffers", "256MB")])?;
        std::fs::write(&port_file, format!("{port}\n")).map_err(|e| format!("writing {}: {e}", port_file.display()))?;
        cluster
    };
    cluster.start()?;
    cluster.create_database("hub")?;
    let mut provinces = std::collections::BTreeMap::new();
    for (code, _) in &spec.provinces {
        let name = format!("province_{code}");
        cluster.create_database(&name)?;
        provinces.insert(*code, cluster.url(&name));
    }
    spec.databases = Some(crate::Databases {
        hub: cluster.url("hub"),
        provinces,
    });
    Ok(cluster)
}
