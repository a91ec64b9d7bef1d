//! The README's walkthroughs, run as written against a devnet-like network
//! (mutual TLS, clients only, the demo population): every ```sh block, in
//! order, as one shell script from a directory that holds `gongji-data/` as
//! a devnet leaves it, the way a reader runs them in one terminal. Only the
//! addresses (README ports → port-0 servers) and the path of the `gongji`
//! binary change. Blocks that build or test (`cargo …`, `./scripts/…`) are
//! the README's two commands and the benchmark, which CI runs otherwise.
//! If the README drifts from the product, this test fails.

use gongji_tests::{code, TestNetwork};

/// The devnet's default layout, as the README documents it.
const DEFAULT_PROVINCES: [&str; 5] = ["13", "32", "34", "37", "41"];
const DEFAULT_BASE_PORT: u16 = 50050;

/// The ```sh blocks of the README that walk through the product, in order.
fn walkthroughs(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (line.trim(), &mut block) {
            ("```sh", None) => block = Some(Vec::new()),
            ("```", Some(lines)) => {
                let builds = lines
                    .iter()
                    .any(|l| l.trim_start().starts_with("cargo ") || l.trim_start().starts_with("./scripts/"));
                if !builds {
                    blocks.push(lines.join("\n"));
                }
                block = None;
            }
            (_, Some(lines)) => lines.push(line),
            _ => {}
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthroughs_work_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let blocks = walkthroughs(&readme);
    assert!(blocks.len() >= 10, "the walkthroughs lost their blocks: {blocks:#?}");
    for section in [
        "grpcurl $T",
        "$G change-quota",
        "$G month close open",
        "$G audit",
        "$G status",
        "$G oplog",
        "$G pay --id cli-pay-1",
        "SendToWallet",
        "$G wallet send",
        "$G statement",
        "$G show payments",
        "$G show refunds",
        "$G show transfers",
    ] {
        assert!(blocks.iter().any(|b| b.contains(section)), "no walkthrough runs {section}");
    }

    // Like the devnet: mutual TLS, clients only, the demo population.
    let net = TestNetwork::start_tls_with_clients(&DEFAULT_PROVINCES).await;
    let operator = net.clients().token("ops-wang").to_owned();
    let provinces: Vec<_> = DEFAULT_PROVINCES.iter().map(|p| code(p)).collect();
    let as_operator = gongji_operator::credentials::Credentials::new(Some(&operator), Some("README walkthrough")).expect("credentials");
    let session = gongji_operator::session::Session::for_network(net.network().manifest(), as_operator).expect("a session");
    let report = gongji::demo::seed(&session, &provinces).await;
    assert!(report.warnings.is_empty(), "demo seeding: {:?}", report.warnings);

    // Wallet transfers are not sent 22:00-06:00 CST: a reader then starts the
    // devnet with --clock-offset-ms, as the README says; so does this test.
    let clock = net.network().clock();
    let (day, second) = gongji_common::period::cst_day_and_second(clock.now_millis());
    if !(6 * 3600..21 * 3600).contains(&second) {
        clock.set(gongji_common::period::cst_day_hour_millis(day + 1, 10));
    }

    // Where the reader stands: gongji-data/ as `gongji devnet` leaves it.
    let here = tempfile::tempdir().expect("a directory");
    let data = here.path().join("gongji-data");
    std::fs::create_dir_all(&data).expect("gongji-data");
    std::os::unix::fs::symlink(net.network().certs().expect("a TLS network"), data.join("certs")).expect("certs");
    std::fs::write(data.join("operator.token"), format!("{operator}\n")).expect("operator.token");
    std::fs::write(data.join("viewer.token"), format!("{}\n", net.clients().token("auditor"))).expect("viewer.token");
    let mut manifest = net.network().manifest();
    manifest.certs = data.join("certs").display().to_string();
    manifest.operator_token_file = data.join("operator.token").display().to_string();
    std::fs::write(data.join("devnet.json"), serde_json::to_string(&manifest).expect("json")).expect("devnet.json");

    let mut script = String::from("set -e\n");
    for block in &blocks {
        script.push_str(block);
        script.push('\n');
    }
    let mut addresses = vec![(format!("127.0.0.1:{DEFAULT_BASE_PORT}"), net.network().hub_addr().to_string())];
    for (i, province) in provinces.iter().enumerate() {
        let readme_port = DEFAULT_BASE_PORT + 1 + i as u16;
        addresses.push((
            format!("127.0.0.1:{readme_port}"),
            net.network().node_addr(*province).expect("node").to_string(),
        ));
    }
    for (documented, actual) in &addresses {
        script = script.replace(documented, actual);
    }
    let gongji = gongji_tests::cluster::binary("gongji");
    script = script.replace("target/debug/gongji", &gongji.display().to_string());

    let mut command = tokio::process::Command::new("sh");
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("GONGJI_")) {
        command.env_remove(key);
    }
    let output = command
        .arg("-c")
        .arg(&script)
        .current_dir(here.path())
        .output()
        .await
        .expect("run sh");
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let errors = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "a README walkthrough failed:\n{said}\n--- stderr\n{errors}\n--- script\n{script}"
    );

    // What the README promises about the answers.
    assert!(
        said.contains("TRANSACTION_STATUS_APPROVED") && said.contains("\"donorProvince\": \"13\""),
        "the grpcurl payment: {said}"
    );
    assert!(said.contains("\"frozen\": \"983.50\""), "frozen went down by 128.50: {said}");
    assert!(said.contains("\"payerPosition\": \"-128.50\""), "the hub's record: {said}");
    assert!(said.contains("dry run: closing "), "{said}");
    assert!(said.contains("no violations"), "the audit: {said}");
    assert!(said.contains("all 6 servers are serving"), "the status: {said}");
    assert!(said.contains("cli-pay-1"), "{said}");
    assert!(
        said.contains("payment,status,beneficiary,institution,amount,relationship,donor,created_at"),
        "the payments listing as CSV: {said}"
    );
    assert!(
        said.contains("next page: --cursor "),
        "a page of the payments listing names the next: {said}"
    );
    assert!(said.contains("readme-refund-1"), "the refunds listing: {said}");
    assert!(
        said.contains(r#""refund":"readme-refund-1","status":"approved""#),
        "the donor's node lists the refund as JSON: {said}"
    );
    assert!(
        said.contains("transfer,status,person,from,to_region,amount,created_at")
            && said.contains("readme-transfer-1,approved,demo-13-donor"),
        "the transfers listing as CSV: {said}"
    );
    assert!(said.contains("WALLET_TRANSFER_STATUS_ACCEPTED"), "the wallet acceptance: {said}");
    assert!(said.contains("TRANSACTION_KIND_WALLET_TRANSFER"), "the hub's wallet record: {said}");
    assert!(here.path().join("report.csv").exists(), "the month's report was written");
    assert!(
        said.contains("statement of") && said.contains("available/demo-37-donor"),
        "the statement: {said}"
    );
    let statement = std::fs::read_to_string(here.path().join("statement.csv")).expect("the statement's CSV was written");
    assert!(
        statement.contains("available/demo-37-donor") && statement.contains("cli-wallet-1"),
        "{statement}"
    );
    let page = std::fs::read_to_string(here.path().join("report.html")).expect("the month's HTML report was written");
    assert!(page.contains("data-payer=") && page.contains("<svg id=\"nets\""), "{page}");
    assert!(
        said.contains(r#""payment":"cli-pay-1","status":"approved""#) && said.contains(r#""amount":"25.00""#),
        "--json: {said}"
    );
    let prepaid = std::fs::read_to_string(here.path().join("prepaid.csv")).expect("prepaid.csv");
    assert!(
        prepaid.starts_with("province,balance,unsettled_outflow,reserved,usage_percent,level,required,top_up\r\n"),
        "{prepaid}"
    );
    net.shutdown().await;
}
