//! What a new operator reads when something is not as it should be: every
//! refusal says what is wrong and what to do, once, in words (the cases a
//! newcomer tripped over, quoted in the test names).

use gongji_tests::{
    code, command_line::gongji, employee_with_balance, establish, hebei_donor_henan_parent, pay, pay_request, register, v1 as pb,
    TestNetwork,
};

#[tokio::test]
async fn reconciling_a_month_the_hub_never_had_names_the_open_month_once() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let node = net.network().node_url(code("41"));
    let ran = gongji(&["month", "reconcile", "2020-01", "--node", &node]).await;
    assert_eq!(ran.code, 1);
    assert!(ran.err.contains("the hub has no month 2020-01"), "{}", ran.err);
    assert!(ran.err.contains("the open month is"), "{}", ran.err);
    assert!(
        !ran.err.contains("month month") && !ran.err.contains("not found not found"),
        "{}",
        ran.err
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_nodes_command_at_the_hubs_address_says_it_is_the_hub_and_the_reverse() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let hub = net.network().hub_url();
    let node = net.network().node_url(code("41"));
    let at_hub = gongji(&["show", "person", "anyone", "--node", &hub]).await;
    assert_eq!(at_hub.code, 1);
    assert!(
        at_hub
            .err
            .contains("this is the national hub, which does not serve gongji.v1.ProvinceNode"),
        "{}",
        at_hub.err
    );
    let at_node = gongji(&["month", "status", "--hub", &node]).await;
    assert_eq!(at_node.code, 1);
    assert!(
        at_node
            .err
            .contains("this is province 41's node, which does not serve gongji.v1.NationalHub"),
        "{}",
        at_node.err
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_port_alone_and_a_negative_amount_are_told_what_is_expected() {
    let port = gongji(&["show", "person", "p", "--node", "58302"]).await;
    assert_eq!(port.code, 2);
    assert!(
        port.err.contains("HOST:PORT") && port.err.contains("127.0.0.1:58302"),
        "{}",
        port.err
    );
    for amount in [["--amount", "-5"], ["--amount=-5", ""]] {
        let mut args = vec![
            "pay",
            "--id",
            "p",
            "--beneficiary",
            "b",
            "--institution",
            "H32050000001",
            "--purpose",
            "outpatient",
        ];
        args.extend(amount.iter().filter(|a| !a.is_empty()));
        let ran = gongji(&args).await;
        assert_eq!(ran.code, 2);
        assert!(ran.err.contains("\"-5\" is not an amount"), "{args:?}: {}", ran.err);
    }
    let help = gongji(&["pay", "--help"]).await;
    assert!(help.out.contains("At most 10000000.00"), "the cap is in the help:\n{}", help.out);
}

#[tokio::test]
async fn a_refund_at_the_donors_node_says_where_the_payment_was_served() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    pay(&mut net.node("41"), pay_request("p-1", "parent-41", "H41010000001", "10.00"))
        .await
        .unwrap();
    let hebei = net.network().node_url(code("13"));
    let ran = gongji(&["refund", "--id", "r-1", "--payment", "p-1", "--amount", "1.00", "--node", &hebei]).await;
    assert_eq!(ran.code, 1);
    assert!(
        ran.err.contains("payment p-1 was served at province 41's node") && ran.err.contains("go to province 41's node"),
        "{}",
        ran.err
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_beneficiary_unknown_to_the_province_is_named_with_the_province() {
    let net = TestNetwork::start(&["13", "41"]).await;
    employee_with_balance(&mut net.node("13"), "donor-13", "130100", "100.00").await;
    register(&mut net.node("41"), "someone-41", pb::InsuranceType::Resident, "410100").await;
    let declined = establish(&mut net.node("13"), "rel-x", "donor-13", "nobody", "41", "10.00")
        .await
        .unwrap();
    assert!(
        declined.decline_message.contains("nobody is not insured in province 41"),
        "{}",
        declined.decline_message
    );
    net.shutdown().await;
}

/// Output that the reader has stopped reading (`gongji … | head`).
struct ClosedPipe;

impl std::io::Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn output_closed_by_its_reader_ends_the_command_quietly() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let node = net.network().node_url(code("41"));
    let mut err = Vec::new();
    let code = gongji::run(["gongji", "info", "--node", &node], &mut ClosedPipe, &mut err).await;
    assert_eq!((code, String::from_utf8(err).unwrap()), (0, String::new()));
    net.shutdown().await;
}

#[tokio::test]
async fn the_command_line_wins_over_the_environment() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let devnet = net.data_dir().join("devnet.json");
    std::fs::write(&devnet, serde_json::to_string(&net.network().manifest()).unwrap()).unwrap();
    // A subprocess, so that the variable is its own.
    let output = tokio::process::Command::new(gongji_tests::cluster::binary("gongji"))
        .args(["audit", "--settle=1", "--devnet", devnet.to_str().unwrap()])
        .env("GONGJI_HUB", "127.0.0.1:9")
        .output()
        .await
        .expect("gongji runs");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "--devnet wins over GONGJI_HUB: {said}");
    assert!(said.contains("no violations"), "{said}");
    net.shutdown().await;
}

/// Runs the `gongji` binary in `dir` (so that ./gongji-data/devnet.json is
/// what that directory holds), without the caller's GONGJI_* variables.
async fn gongji_in(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut command = tokio::process::Command::new(gongji_tests::cluster::binary("gongji"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("GONGJI_")) {
        command.env_remove(key);
    }
    let output = command.args(args).current_dir(dir).output().await.expect("gongji runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn everyday_commands_find_nodes_by_province_and_the_hub_in_the_networks_address_file() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    // Where a devnet was started: ./gongji-data/devnet.json, naming its certificates.
    let here = tempfile::tempdir().unwrap();
    let data = here.path().join("gongji-data");
    std::fs::create_dir_all(&data).unwrap();
    let manifest = net.network().manifest();
    assert!(
        !manifest.certs.is_empty(),
        "a TLS network: the commands below need its certificates"
    );
    std::fs::write(data.join("devnet.json"), serde_json::to_string(&manifest).unwrap()).unwrap();

    let (status, said) = gongji_in(here.path(), &["show", "person", "donor-13", "--province", "13"]).await;
    assert_eq!(status, 0, "{said}");
    assert!(said.contains("donor-13"), "{said}");
    let (status, said) = gongji_in(here.path(), &["month", "status"]).await;
    assert_eq!(status, 0, "the hub from the address file: {said}");
    let (status, said) = gongji_in(here.path(), &["status"]).await;
    assert_eq!(status, 0, "every server from the address file: {said}");
    let (status, said) = gongji_in(here.path(), &["audit", "--settle=1"]).await;
    assert_eq!(status, 0, "{said}");
    assert!(said.contains("no violations"), "{said}");
    let (status, said) = gongji_in(here.path(), &["show", "person", "x", "--province", "99"]).await;
    assert_eq!(status, 2);
    assert!(
        said.contains("province 99 has no node in the network's address file (it has 13, 41)"),
        "{said}"
    );

    // Elsewhere: --network FILE says where the file is; without it, --province is explained.
    let elsewhere = tempfile::tempdir().unwrap();
    let file = data.join("devnet.json");
    let (status, said) = gongji_in(elsewhere.path(), &["--network", file.to_str().unwrap(), "info", "--province", "41"]).await;
    assert_eq!(status, 0, "{said}");
    let (status, said) = gongji_in(elsewhere.path(), &["info", "--province", "41"]).await;
    assert_eq!(status, 2, "{said}");
    assert!(said.contains("--province 41 needs the network's address file"), "{said}");
    net.shutdown().await;
}

#[tokio::test]
async fn closing_settling_over_and_withdrawing_need_yes_and_a_dry_run_changes_nothing() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let here = tempfile::tempdir().unwrap();
    let hub = net.network().hub_url();
    let open = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period;
    // Not on a terminal and without --yes: refused, naming the flags; nothing changes.
    for args in [
        vec!["month", "close", "open", "--hub", &hub],
        vec![
            "month",
            "settle",
            "previous",
            "--override",
            "why",
            "--operator",
            "wang",
            "--hub",
            &hub,
        ],
        vec![
            "prepaid",
            "withdraw",
            "--id",
            "w1",
            "--province",
            "41",
            "--amount",
            "1.00",
            "--operator",
            "wang",
            "--reason",
            "r",
            "--hub",
            &hub,
        ],
    ] {
        let (status, said) = gongji_in(here.path(), &args).await;
        assert_eq!(status, 2, "{args:?}: {said}");
        assert!(said.contains("cannot be undone: add --yes") && said.contains("--dry-run"), "{said}");
    }
    let (status, said) = gongji_in(here.path(), &["month", "close", "--hub", &hub]).await;
    assert_eq!(status, 2, "the month must be named: {said}");
    let (status, said) = gongji_in(here.path(), &["month", "close", "open", "--dry-run", "--hub", &hub]).await;
    assert_eq!(status, 0, "{said}");
    assert!(
        said.contains(&format!("dry run: closing {open}")) && said.contains("nothing was changed"),
        "{said}"
    );
    let (status, said) = gongji_in(
        here.path(),
        &[
            "prepaid",
            "withdraw",
            "--id",
            "w2",
            "--province",
            "41",
            "--amount",
            "999999.00",
            "--operator",
            "wang",
            "--reason",
            "r",
            "--dry-run",
            "--hub",
            &hub,
        ],
    )
    .await;
    assert_eq!(status, 0, "{said}");
    assert!(
        said.contains("would leave province 41 1.00") && said.contains("needs --force"),
        "{said}"
    );
    let still = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period;
    assert_eq!(still, open, "nothing was closed");
    let funds = net.hub().get_prepaid(pb::GetPrepaidRequest {}).await.unwrap().into_inner();
    assert!(
        funds.provinces.iter().all(|p| p.balance == "1000000.00"),
        "nothing was withdrawn: {funds:?}"
    );
    let (status, said) = gongji_in(here.path(), &["month", "close", "open", "--yes", "--hub", &hub]).await;
    assert_eq!(status, 0, "{said}");
    net.shutdown().await;
}
