//! `gongji devnet --store postgres`, as the README tells a newcomer to try
//! it: the real binary starts a PostgreSQL cluster of its own and two hubs,
//! each a process; killing the active one, `gongji status` shows the other
//! active, a payment goes through, and the audit passes.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gongji_tests::cluster::binary;

/// Runs `gongji ARGS` to the end; its exit code and output.
fn gongji(args: &[&str]) -> (i32, String) {
    let output = Command::new(binary("gongji")).args(args).output().expect("gongji runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), said)
}

/// Polls `probe` until it says yes, for at most `patience`.
fn within(patience: Duration, what: &str, mut probe: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The devnet's process, stopped (SIGTERM, so that it stops its
/// PostgreSQL and hubs too) if the test ends early.
struct Stopping(std::process::Child);

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_newcomer_kills_the_active_hub_and_sees_the_other_take_over() {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let data = dir.path().join("devnet");
    let log = dir.path().join("devnet.log");
    let devnet = Command::new(binary("gongji"))
        .args([
            "devnet",
            "--store",
            "postgres",
            "--base-port",
            "0",
            "--metrics-base-port",
            "0",
            "--provinces",
            "13,32",
        ])
        .arg("--data-dir")
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("the devnet starts");
    let mut devnet = Stopping(devnet);
    let manifest = data.join("devnet.json");
    let manifest = manifest.to_str().unwrap();

    // Ready once it prints its cheat sheet; it named the hubs' processes.
    let said = within(Duration::from_secs(120), "the devnet to start", || {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        said.contains("running; press Ctrl-C").then_some(said)
    });
    let active_pid = said
        .lines()
        .find(|line| line.contains(") is active;"))
        .and_then(|line| line.split("(pid ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("the devnet names the active hub's process:\n{said}"))
        .to_owned();

    let (code, status) = gongji(&["status", "--network", manifest]);
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("hub (active)") && status.contains("hub (standby)"), "{status}");

    let killed = Command::new("kill").args(["-KILL", &active_pid]).status().unwrap();
    assert!(killed.success());
    let status = within(Duration::from_secs(20), "the standby hub to take over", || {
        let (_, status) = gongji(&["status", "--network", manifest]);
        status
            .lines()
            .any(|line| line.starts_with("hub (active)") && line.contains("serving"))
            .then_some(status)
    });
    assert!(
        status.contains("hub (not active)"),
        "the killed hub is listed as not active:\n{status}"
    );

    // A cross-province payment (Jiangsu's relative, Hebei's donor) goes
    // through the hub that took over.
    let paid = within(Duration::from_secs(30), "a payment through the new active hub", || {
        let (code, paid) = gongji(&[
            "pay",
            "--network",
            manifest,
            "--province",
            "32",
            "--id",
            "after-failover",
            "--beneficiary",
            "demo-32-relative",
            "--institution",
            "H32010000001",
            "--amount",
            "1.00",
            "--purpose",
            "outpatient",
            "--relationship",
            "demo-rel-13-32",
        ]);
        (code == 0).then_some(paid)
    });
    assert!(
        paid.contains("status:               approved") && paid.contains("demo-rel-13-32"),
        "{paid}"
    );
    let (code, audit) = gongji(&["audit", "--network", manifest]);
    assert_eq!(code, 0, "{audit}");
    assert!(audit.contains("no violations"), "{audit}");

    let _ = Command::new("kill").args(["-TERM", &devnet.0.id().to_string()]).status();
    let stopped = within(Duration::from_secs(60), "the devnet to stop", || {
        devnet.0.try_wait().ok().flatten().map(|status| status.to_string())
    });
    assert!(stopped.contains("exit status: 0"), "{stopped}");
    let running = Command::new("sh")
        .arg("-c")
        .arg(format!("ps ax | grep -c '[p]ostgres -D {}'", data.display()))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&running.stdout).trim(),
        "0",
        "PostgreSQL stopped with the devnet"
    );
}
