//! What the operator CLI prints for programs and people, on real networks:
//! `--json` (JSON lines) and `--csv` of show, status, prepaid and month
//! commands, `month list`, `oplog`'s filters and order, progress lines of a
//! long import, and the month's HTML report as headless Chromium renders it.

use std::process::Command;

use gongji_tests::{
    code,
    command_line::{gongji, ok},
    eventually, fen, pay, pay_request, v1 as pb, TestNetwork,
};

/// Every line of `text` as a JSON object.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
            assert!(value.is_object(), "not an object: {line}");
            value
        })
        .collect()
}

/// `text` as CSV: the header and the rows, each as strings.
fn csv_table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("a header row").iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// A payment of `amount` at Henan from Hebei's quota (donor-13 gives parent-41).
async fn cross_payment(net: &TestNetwork, id: &str, amount: &str) {
    let paid = pay(&mut net.node("41"), pay_request(id, "parent-41", "H41010000001", amount))
        .await
        .expect("pay");
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{paid:?}");
}

#[tokio::test]
async fn records_print_as_json_lines_and_csv_with_amounts_as_strings() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let hub = net.network().hub_url();
    let henan = net.network().node_url(code("41"));
    gongji_tests::hebei_donor_henan_parent(&net).await;
    cross_payment(&net, "p-41-1", "123.40").await;

    // A Chinese name survives both formats whole.
    ok(&[
        "register",
        "--id",
        "ouyang-41",
        "--name",
        "欧阳娜娜",
        "--insurance",
        "resident",
        "--region",
        "410100",
        "--node",
        &henan,
    ])
    .await;
    let person = json_lines(&ok(&["show", "person", "ouyang-41", "--node", &henan, "--json"]).await);
    assert_eq!(person.len(), 1, "{person:?}");
    assert_eq!(
        (person[0]["person"].as_str(), person[0]["name"].as_str()),
        (Some("ouyang-41"), Some("欧阳娜娜"))
    );
    let (header, rows) = csv_table(&ok(&["show", "person", "ouyang-41", "--node", &henan, "--csv"]).await);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][column(&header, "name")], "欧阳娜娜");

    // An amount is a string with two decimals, never a number.
    let payment = json_lines(&ok(&["show", "payment", "p-41-1", "--node", &henan, "--json"]).await);
    assert_eq!(payment[0]["amount"], serde_json::json!("123.40"));
    assert_eq!(payment[0]["status"], "approved");

    // Relationships as donor and as beneficiary: rows of one shape, so one CSV table.
    let (header, rows) = csv_table(
        &ok(&[
            "show",
            "relationships",
            "donor-13",
            "--node",
            &net.network().node_url(code("13")),
            "--csv",
        ])
        .await,
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0][column(&header, "relationship")].as_str(),
            rows[0][column(&header, "used")].as_str()
        ),
        ("rel-13-41", "123.40")
    );

    // Prepaid: one line per province, usage in its own column.
    let prepaid = json_lines(&ok(&["prepaid", "status", "--hub", &hub, "--json"]).await);
    let hebei = prepaid.iter().find(|p| p["province"] == "13").expect("Hebei's line");
    assert!(hebei["usage_percent"].is_string() && hebei["level"] == "green", "{hebei}");
    let (header, rows) = csv_table(&ok(&["prepaid", "status", "--hub", &hub, "--csv"]).await);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(header.contains(&"top_up".to_owned()), "{header:?}");

    // The month: its record only, no prose.
    let month = json_lines(&ok(&["month", "status", "--hub", &hub, "--json"]).await);
    assert_eq!((month.len(), month[0]["state"].as_str()), (1, Some("open")), "{month:?}");

    // The network at a glance: a row per server.
    let status = ok(&[
        "status",
        "--hub",
        &hub,
        "--node",
        &format!("13={}", net.network().node_url(code("13"))),
        "--node",
        &format!("41={henan}"),
        "--json",
    ])
    .await;
    let servers = json_lines(&status);
    assert_eq!(servers.len(), 3, "{status}");
    assert!(servers.iter().all(|s| s["health"] == "serving"), "{status}");
    assert_eq!(servers[2]["server"], "41");

    // A command that prints only text refuses the formats rather than ignore them.
    let ran = gongji(&["doctor", net.data_dir().to_str().expect("utf-8 path"), "--json"]).await;
    assert_eq!(ran.code, 2, "{}{}", ran.out, ran.err);
    assert!(
        ran.err.contains("--json and --csv are for commands that print records"),
        "{}",
        ran.err
    );
    // --csv FILE is month report's only.
    let ran = gongji(&["show", "person", "ouyang-41", "--node", &henan, "--csv", "out.csv"]).await;
    assert_eq!(ran.code, 2, "{}{}", ran.out, ran.err);
    net.shutdown().await;
}

/// Runs headless Chromium on `page` and returns the DOM it rendered.
fn rendered_dom(page: &std::path::Path) -> String {
    let profile = tempfile::tempdir().expect("a profile directory");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "chromium could not be run ({error}): install it with `apt-get install chromium` (Debian's package), \
                 or run ./scripts/test.sh, which does"
            )
        });
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 DOM")
}

#[tokio::test]
async fn a_month_is_listed_and_its_html_report_renders_the_clearings_figures() {
    let net = TestNetwork::start(&["13", "32", "41"]).await;
    let hub = net.network().hub_url();
    gongji_tests::hebei_donor_henan_parent(&net).await;
    cross_payment(&net, "p-41-1", "100.00").await;
    cross_payment(&net, "p-41-2", "23.45").await;
    gongji_tests::refund(&mut net.node("41"), "r-41-1", "p-41-1", "10.00")
        .await
        .expect("refund");
    let period = net.open_period().await;

    let open = json_lines(&ok(&["month", "list", "--hub", &hub, "--json"]).await);
    let listed = open
        .iter()
        .find(|m| m["month"] == period.as_str())
        .expect("the open month is listed");
    assert_eq!(
        (listed["state"].as_str(), listed["gross"].as_str()),
        (Some("open"), Some("-")),
        "{listed}"
    );

    ok(&["month", "close", &period, "--yes", "--hub", &hub]).await;
    eventually("the month closes", || async {
        let month = json_lines(&ok(&["month", "status", &period, "--hub", &hub, "--json"]).await);
        (month[0]["state"] == "closed").then_some(())
    })
    .await;
    let (header, rows) = csv_table(&ok(&["month", "list", "--hub", &hub, "--csv"]).await);
    let row = rows
        .iter()
        .find(|r| r[column(&header, "month")] == period)
        .expect("the closed month is listed");
    // Two payments 13 → 41 and a refund 41 → 13: 133.45 owed in all.
    assert_eq!(
        (
            row[column(&header, "state")].as_str(),
            row[column(&header, "transactions")].as_str(),
            row[column(&header, "provinces")].as_str(),
            row[column(&header, "gross")].as_str()
        ),
        ("closed", "3", "2", "133.45"),
        "{row:?}"
    );

    // The report for a program: each record names its kind; the nets sum to zero.
    let report = json_lines(&ok(&["month", "report", &period, "--hub", &hub, "--json"]).await);
    let kinds: std::collections::BTreeSet<&str> = report.iter().filter_map(|r| r["record"].as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["clearing_line", "matrix_row", "net"],
        "{report:?}"
    );
    let nets: Vec<&serde_json::Value> = report.iter().filter(|r| r["record"] == "net" && r["province"] != "total").collect();
    assert_eq!(
        nets.iter().map(|n| fen(n["net"].as_str().expect("a net"))).sum::<i64>(),
        0,
        "{nets:?}"
    );
    assert_eq!(
        nets.iter().find(|n| n["province"] == "41").map(|n| n["net"].clone()),
        Some(serde_json::json!("113.45"))
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let page = dir.path().join("report.html");
    let said = ok(&[
        "month",
        "report",
        &period,
        "--hub",
        &hub,
        "--html",
        page.to_str().expect("utf-8 path"),
    ])
    .await;
    assert!(said.contains("report written to"), "{said}");
    let dom = rendered_dom(&page);

    // The clearing as the hub has it, figure by figure, in the rendered page.
    let clearing = net
        .hub()
        .get_clearing(pb::GetClearingRequest { period: period.clone() })
        .await
        .expect("clearing")
        .into_inner();
    assert!(!clearing.lines.is_empty());
    for line in &clearing.lines {
        let kind = if line.kind == pb::TransactionKind::Refund as i32 {
            "refund"
        } else {
            "payment"
        };
        assert!(dom.contains(&format!("data-kind=\"{kind}\"")), "{kind} missing");
    }
    for (payer, payee, amount) in [("13", "41", "123.45"), ("41", "13", "10.00")] {
        let cell = format!("data-payer=\"{payer}\" data-payee=\"{payee}\" data-amount=\"{amount}\"");
        assert!(dom.contains(&cell), "{cell} missing from:\n{dom}");
    }
    for net_line in &clearing.nets {
        let bar = format!(
            "<g class=\"net\" data-province=\"{}\" data-net=\"{}\">",
            net_line.province, net_line.net
        );
        assert!(dom.contains(&bar), "{bar} missing from:\n{dom}");
    }
    assert_eq!(clearing.nets.iter().map(|n| fen(&n.net)).sum::<i64>(), 0);
    assert!(dom.contains(r#"<td id="gross" class="amount">133.45</td>"#), "{dom}");
    assert!(dom.contains(r#"<td id="transactions" class="count">3</td>"#), "{dom}");
    assert!(dom.contains(r#"data-kind="payment" data-count="2" data-gross="123.45""#), "{dom}");
    assert!(
        dom.contains(r#"<tr data-province="13" data-usage=""#),
        "Hebei's prepaid usage: {dom}"
    );
    assert!(dom.contains("<svg id=\"nets\""), "the nets are drawn: {dom}");
    net.shutdown().await;
}

#[tokio::test]
async fn oplog_filters_by_time_client_action_and_outcome_newest_first() {
    let net = TestNetwork::start_with_clients(&["13", "32"]).await;
    let hub_url = net.network().hub_url();
    let deposit = |id: &str| pb::PrepaidOperationRequest {
        operation_id: id.into(),
        province: "13".into(),
        amount: "1000.00".into(),
        operator: "wang".into(),
        reason: "top-up".into(),
        force: false,
    };
    let mut wang = net.hub_as(Some("ops-wang"), Some("月末结账"));
    wang.deposit_prepaid(deposit("dep-1")).await.expect("deposit 1");
    wang.close_month(pb::CloseMonthRequest { period: "2099-01".into() })
        .await
        .expect_err("a month not started cannot be closed");
    wang.deposit_prepaid(deposit("dep-2")).await.expect("deposit 2");

    let token = net.clients().token("auditor").to_owned();
    let oplog = |extra: &[&str]| {
        let mut args = vec!["oplog", "--insecure", "--hub", hub_url.as_str(), "--token", token.as_str()];
        args.extend_from_slice(extra);
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&refs).await
    };
    let seqs = |text: &str| -> Vec<u64> { json_lines(text).iter().map(|a| a["seq"].as_u64().expect("a seq")).collect() };

    // Newest first; --tail keeps the newest.
    assert_eq!(seqs(&run(oplog(&["--json"])).await), [3, 2, 1]);
    assert_eq!(seqs(&run(oplog(&["--json", "--tail", "2"])).await), [3, 2]);
    // By action (any case), outcome and client.
    assert_eq!(seqs(&run(oplog(&["--json", "--action", "depositprepaid"])).await), [3, 1]);
    assert_eq!(seqs(&run(oplog(&["--json", "--outcome", "failed"])).await), [2]);
    assert_eq!(seqs(&run(oplog(&["--json", "--outcome", "ok"])).await), [3, 1]);
    assert_eq!(seqs(&run(oplog(&["--json", "--client", "ops-wang"])).await), [3, 2, 1]);
    assert_eq!(seqs(&run(oplog(&["--json", "--client", "someone-else"])).await), Vec::<u64>::new());
    // By time: everything happened today, China Standard Time; nothing tomorrow.
    let all = json_lines(&run(oplog(&["--json"])).await);
    let today = all[0]["at"].as_str().expect("at")[..10].to_owned();
    assert_eq!(
        seqs(&run(oplog(&["--json", "--since", &today, "--until", &today])).await),
        [3, 2, 1]
    );
    let first_at = all[2]["at"].as_str().expect("at").to_owned();
    let rfc3339 = format!("{}T{}+08:00", &first_at[..10], &first_at[11..19]);
    assert_eq!(
        seqs(&run(oplog(&["--json", "--until", &rfc3339])).await),
        Vec::<u64>::new(),
        "until is exclusive"
    );
    assert_eq!(seqs(&run(oplog(&["--json", "--since", &rfc3339])).await), [3, 2, 1]);
    let ran = gongji(&oplog(&["--since", "yesterday"]).iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(ran.code, 2, "{}", ran.err);
    assert!(ran.err.contains("is not a time"), "{}", ran.err);

    // JSON carries everything: the request and the Chinese reason.
    assert!(all[0]["what"].as_str().expect("what").contains("dep-2"), "{}", all[0]);
    assert_eq!(all[0]["why"], "月末结账");
    // The table is narrow: no request; CSV has every column.
    let table = run(oplog(&[])).await;
    let header = table.lines().next().expect("a header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["seq", "at", "who", "action", "outcome", "why"],
        "{table}"
    );
    assert!(!table.contains("dep-2") && table.contains("月末结账"), "{table}");
    let (header, rows) = csv_table(&run(oplog(&["--csv"])).await);
    assert_eq!(rows.len(), 3);
    assert!(rows[0][column(&header, "what")].contains("dep-2"), "{rows:?}");
    assert_ne!(rows[1][column(&header, "outcome")], "OK", "{rows:?}");
    assert_eq!(rows[1][column(&header, "action")], "CloseMonth", "{rows:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_long_import_reports_progress_on_stderr_and_keeps_stdout_for_its_summary() {
    let net = TestNetwork::start(&["32"]).await;
    let node = net.network().node_url(code("32"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("persons.csv");
    let mut rows = String::from("id,name,insurance_type,region_code,status\n");
    for i in 0..2000 {
        rows.push_str(&format!("p-{i},欧阳娜娜{i},resident,320100,active\n"));
    }
    std::fs::write(&file, rows).expect("write the file");
    let path = file.to_str().expect("utf-8 path");

    // Not on a terminal (the output is captured): plain lines, no bar's
    // control characters, and a summary with the count, the time and the rate.
    let ran = gongji(&["import", path, "--node", &node]).await;
    assert_eq!(ran.code, 0, "{}{}", ran.out, ran.err);
    assert!(!ran.err.contains('\u{1b}') && !ran.err.contains('\r'), "{:?}", ran.err);
    let summary = ran.err.lines().last().expect("a summary line");
    let expected = format!("importing {path}: 2000 rows in ");
    assert!(summary.starts_with(&expected) && summary.ends_with(" rows/s)"), "{}", ran.err);
    // Standard output is the import's own record, nothing else.
    assert_eq!(ran.out, "imported:  2000\nunchanged: 0\nrejected:  0\n");
    net.shutdown().await;
}
