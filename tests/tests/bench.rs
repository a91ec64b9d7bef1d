//! `gongji bench`: a short run against a running network measures every
//! workload beside its baseline, leaves books that pass the audit, and
//! refuses bad arguments naming them.

use gongji_tests::TestNetwork;

async fn gongji(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(std::iter::once("gongji").chain(args.iter().copied()), &mut out, &mut err).await;
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_measures_every_workload_beside_its_baseline_and_keeps_the_books() {
    // Over mutual TLS, as a devnet runs: the baseline then runs TLS too.
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    let devnet = net.data_dir().join("devnet.json");
    std::fs::write(&devnet, serde_json::to_string(&net.network().manifest()).unwrap()).unwrap();

    let (code, out, err) = gongji(&[
        "bench",
        "--devnet",
        devnet.to_str().unwrap(),
        "--provinces",
        "13,41",
        "--clients",
        "4",
        "--warmup",
        "0",
        "--duration",
        "1",
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    for workload in ["cross-province payments", "same-province payments", "relationships established"] {
        let row = out
            .lines()
            .find(|line| line.starts_with(workload))
            .unwrap_or_else(|| panic!("no row for {workload} in\n{out}"));
        let rate: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(rate > 0.0, "{row}");
        assert!(!row.ends_with(" -"), "a ratio against the baseline: {row}");
    }
    assert_eq!(out.matches("baseline (no-op servers)").count(), 3, "{out}");
    assert!(out.contains("cross-province: at least 50% of the baseline"), "{out}");
    assert!(err.contains("(measuring)"), "progress lines while it runs: {err}");

    // Without the baseline: the ratio target is not judged (no "MISSED"), and
    // the warm-up's seconds are called warm-up.
    let (code, out, err) = gongji(&[
        "bench",
        "--devnet",
        devnet.to_str().unwrap(),
        "--provinces",
        "13,41",
        "--clients",
        "2",
        "--warmup",
        "1",
        "--duration",
        "1",
        "--no-baseline",
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is not judged without the baseline run"), "{out}");
    assert!(!out.contains("no baseline of"), "{out}");
    let first_tick = err.lines().find(|l| l.contains(" 1 s (")).unwrap_or_default();
    assert!(first_tick.contains("(warm-up)"), "the first second was warm-up: {err}");

    // What the benchmark did is real money: the audit finds the books whole.
    let (code, audited, audit_err) = gongji(&["audit", "--devnet", devnet.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{audited}{audit_err}");
    assert!(audited.contains("no violations"), "{audited}");
    net.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_are_refused_naming_them() {
    let (code, _, err) = gongji(&["bench", "--provinces", "11"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--provinces needs at least two provinces"), "{err}");

    let (code, _, err) = gongji(&["bench", "--provinces", "11,11"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--provinces lists a province twice"), "{err}");

    let (code, _, err) = gongji(&["bench", "--clients", "0"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("--clients"), "{err}");

    let (code, _, err) = gongji(&["bench", "--workloads", "cross,everything"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("everything"), "{err}");
}

/// The benchmark's clients run on tasks of their own. On a network like a
/// devnet (mutual TLS, only the clients of its clients file), every call
/// they make presents the client certificate, the operator's token and the
/// command's reason, as the command itself does: the tasks are handed the
/// command's session. Before, how to connect and what to present were
/// task-locals, and a task spawned without them connected in plaintext
/// without a token (refused here, so the run would exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmarks_clients_on_their_own_tasks_present_the_certificate_token_and_reason() {
    let net = TestNetwork::start_tls_with_clients(&["13", "41"]).await;
    let token_file = net.data_dir().join("operator.token");
    std::fs::write(&token_file, net.clients().token("ops-wang")).unwrap();
    let mut manifest = net.network().manifest();
    manifest.operator_token_file = token_file.display().to_string();
    let devnet = net.data_dir().join("devnet.json");
    std::fs::write(&devnet, serde_json::to_string(&manifest).unwrap()).unwrap();

    let (code, out, err) = gongji(&[
        "bench",
        "--devnet",
        devnet.to_str().unwrap(),
        "--provinces",
        "13,41",
        "--clients",
        "4",
        "--warmup",
        "0",
        "--duration",
        "1",
        "--workloads",
        "cross",
        "--no-baseline",
        "--reason",
        "load from spawned tasks",
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");

    // Every payment was the operator's, with the command's reason, at both nodes.
    for province in ["13", "41"] {
        let mut node = net.node_as(province, Some("auditor"), None);
        let logged = node
            .list_operator_actions(gongji_tests::v1::ListOperatorActionsRequest { after_seq: 0, limit: 1000 })
            .await
            .expect("the node's operator log")
            .into_inner()
            .actions;
        let payments: Vec<_> = logged.iter().filter(|a| a.action == "Pay").collect();
        assert!(!payments.is_empty(), "province {province} logged no payment: {logged:?}");
        for action in &logged {
            assert_eq!(
                (action.who.as_str(), action.why.as_str()),
                ("ops-wang", "load from spawned tasks"),
                "{action:?}"
            );
        }
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_workload_sends_and_accepts_across_provinces_beside_its_baseline() {
    let (code, out, err) = gongji(&[
        "bench",
        "--provinces",
        "13,41",
        "--clients",
        "2",
        "--warmup",
        "0",
        "--duration",
        "1",
        "--workloads",
        "wallet",
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let row = out
        .lines()
        .find(|line| line.starts_with("wallet transfers accepted"))
        .unwrap_or_else(|| panic!("no wallet row in\n{out}"));
    assert!(!row.ends_with(" -"), "a ratio against the baseline: {row}");
    assert_eq!(out.matches("baseline (no-op servers)").count(), 1, "{out}");
    let rate: f64 = row.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(rate > 0.0, "transfers were sent and accepted: {row}");
}
