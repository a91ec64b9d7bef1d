//! What `deploy/` holds for running the network in production: the
//! Prometheus alert rules pass `promtool check rules`, and every metric they
//! name is one a server serves (as `deploy/metrics.txt` lists, which
//! `visibility::every_metric_keeps_its_name_type_help_and_labels` checks
//! against running servers); the example configurations and the systemd
//! units pass only what the servers accept, and the units pass
//! `systemd-analyze verify`.

use std::{collections::BTreeSet, path::PathBuf, process::Command};

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|error| panic!("read deploy/{path}: {error}"))
}

/// The sample names a server serves: each family of `deploy/metrics.txt`,
/// and a histogram's `_bucket`, `_sum` and `_count`.
fn served() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in read("metrics.txt").lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (name, kind) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Every `gongji_…` name in `text`.
fn named(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("gongji_") {
        let word: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + word.len()..];
        names.insert(word);
    }
    names
}

#[test]
fn the_alert_rules_name_only_metrics_a_server_serves() {
    let served = served();
    let named = named(&read("prometheus/alerts.yml"));
    assert!(named.len() >= 4, "the rules name the servers' metrics: {named:?}");
    let unknown: Vec<&String> = named.difference(&served).collect();
    assert!(
        unknown.is_empty(),
        "deploy/prometheus/alerts.yml names metrics no server serves: {unknown:?}"
    );
}

#[test]
fn the_dashboard_charts_only_metrics_a_server_serves() {
    let text = read("grafana/gongji.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str())
        .collect();
    assert!(exprs.len() >= panels.len(), "every panel has a query");
    let named: BTreeSet<String> = exprs.iter().flat_map(|expr| named(expr)).collect();
    for family in [
        "gongji_transactions_total",
        "gongji_rpc_duration_seconds_bucket",
        "gongji_pending_intents",
        "gongji_pending_oldest_age_seconds",
        "gongji_outbox_oldest_age_seconds",
        "gongji_prepaid_usage_percent",
        "gongji_month_state",
    ] {
        assert!(named.contains(family), "the dashboard charts {family}");
    }
    let served = served();
    let unknown: Vec<&String> = named.difference(&served).collect();
    assert!(
        unknown.is_empty(),
        "deploy/grafana/gongji.json names metrics no server serves: {unknown:?}"
    );
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let rules = deploy("prometheus/alerts.yml");
    let output = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "promtool could not be run ({error}): install it with `apt-get install prometheus` \
             (Debian's package brings promtool), or run ./scripts/test.sh, which does"
            )
        });
    assert!(
        output.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `KEY=VALUE` lines of an example configuration.
fn variables(path: &str) -> Vec<(String, String)> {
    read(path)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.split_once('=').unwrap_or_else(|| panic!("deploy/{path}: {l:?} is not KEY=VALUE"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// Environment variables are process-wide: the tests that set them take turns.
static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Checks that `server` (`national-hub` or `province-node`) knows every one
/// of `vars` (by its `env` name) and starts parsing with them and `args`.
fn assert_accepted(server: &str, what: &str, vars: &[(String, String)], args: &[String]) {
    use clap::{CommandFactory as _, Parser as _};
    let command = match server {
        "national-hub" => national_hub::HubConfig::command(),
        _ => province_node::NodeConfig::command(),
    };
    let known: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    for (key, _) in vars {
        assert!(
            key == "RUST_LOG" || known.contains(key),
            "{what}: {key} is none of the server's variables {known:?}"
        );
    }
    let _turn = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (key, value) in vars {
        std::env::set_var(key, value);
    }
    let argv = std::iter::once(server.to_owned()).chain(args.iter().cloned());
    let parsed = match server {
        "national-hub" => national_hub::HubConfig::try_parse_from(argv).map(|_| ()),
        _ => province_node::NodeConfig::try_parse_from(argv).map(|_| ()),
    };
    for (key, _) in vars {
        std::env::remove_var(key);
    }
    if let Err(error) = parsed {
        panic!("{what} is refused: {error}");
    }
}

#[test]
fn the_example_configurations_are_read_by_the_servers() {
    for server in ["national-hub", "province-node"] {
        let path = format!("config/{server}.env");
        assert_accepted(server, &format!("deploy/{path}"), &variables(&path), &[]);
    }
}

/// The values of `key=` lines of a unit's `[Service]` section.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_systemd_units_verify_and_pass_only_what_the_servers_accept() {
    let dir = tempfile::tempdir().expect("a directory");
    for server in ["national-hub", "province-node"] {
        let path = format!("systemd/{server}.service");
        let unit = read(&path);

        // What the unit passes: ExecStart's arguments, Environment= lines and
        // the EnvironmentFile, which is deploy/config's example installed.
        let exec = unit_values(&unit, "ExecStart");
        assert_eq!(exec.len(), 1, "deploy/{path}: one ExecStart");
        let mut words = exec[0].split_whitespace().map(str::to_owned);
        let installed = words.next().expect("ExecStart names a binary");
        assert_eq!(
            installed,
            format!("/usr/local/bin/{server}"),
            "deploy/{path}: the binary the comment says"
        );
        let args: Vec<String> = words.collect();
        let mut vars: Vec<(String, String)> = unit_values(&unit, "Environment")
            .iter()
            .flat_map(|line| {
                line.split_whitespace()
                    .map(|pair| pair.trim_matches('"').to_owned())
                    .collect::<Vec<_>>()
            })
            .map(|pair| {
                let (key, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("deploy/{path}: Environment {pair:?}"));
                (key.to_owned(), value.to_owned())
            })
            .collect();
        let files = unit_values(&unit, "EnvironmentFile");
        assert_eq!(
            files,
            [format!("/etc/gongji/{server}.env")],
            "deploy/{path}: the example configuration's place"
        );
        vars.extend(variables(&format!("config/{server}.env")));
        assert_accepted(server, &format!("deploy/{path} with deploy/config/{server}.env"), &vars, &args);

        // systemd's own check, on a copy that runs the binary the tests built.
        // (Paths systemd takes whole: without `..`.)
        let binary = std::fs::canonicalize(gongji_tests::cluster::binary(server)).expect("the built binary");
        let config = std::fs::canonicalize(deploy(&format!("config/{server}.env"))).expect("the example configuration");
        let copy = dir.path().join(format!("{server}.service"));
        let runnable = unit
            .replace(&installed, &binary.display().to_string())
            .replace(&files[0], &config.display().to_string());
        std::fs::write(&copy, runnable).expect("write the unit");
        let output = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy)
            .output()
            .unwrap_or_else(|error| {
                panic!(
                    "systemd-analyze could not be run ({error}): install it with `apt-get install systemd`, \
                     or run ./scripts/test.sh, which does"
                )
            });
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "systemd-analyze verify deploy/{path}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
