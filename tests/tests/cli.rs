//! The operator CLI against a real network: the devnet's demo seeding, and
//! the `gongji` commands driven through `gongji::run` (the same path as the
//! binary, with the output captured).

use gongji_tests::{code, eventually, v1 as pb, TestNetwork};

/// What one `gongji …` invocation printed and returned.
struct Ran {
    code: u8,
    out: String,
    err: String,
}

async fn gongji(args: &[&str]) -> Ran {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(std::iter::once("gongji").chain(args.iter().copied()), &mut out, &mut err).await;
    Ran {
        code,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 errors"),
    }
}

/// The value of a `key: value` line of a record.
fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

fn node_url(net: &TestNetwork, province: &str) -> String {
    net.network().node_url(code(province))
}

async fn open_period(net: &TestNetwork) -> String {
    net.hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .expect("open period")
        .into_inner()
        .period
}

async fn account(net: &TestNetwork, province: &str, person: &str) -> (String, String) {
    let account = net
        .node(province)
        .get_account(pb::GetAccountRequest { person_id: person.into() })
        .await
        .expect("account")
        .into_inner();
    (account.available, account.frozen)
}

async fn payment(net: &TestNetwork, province: &str, id: &str) -> pb::Payment {
    net.node(province)
        .get_payment(pb::GetPaymentRequest { payment_id: id.into() })
        .await
        .expect("payment")
        .into_inner()
}

async fn relationship(net: &TestNetwork, province: &str, id: &str) -> pb::Relationship {
    net.node(province)
        .get_relationship(pb::GetRelationshipRequest {
            relationship_id: id.into(),
        })
        .await
        .expect("relationship")
        .into_inner()
}

#[tokio::test]
async fn demo_seeding_links_each_province_to_the_next_and_a_second_run_changes_nothing() {
    let net = TestNetwork::start(&["13", "32", "41"]).await;
    let provinces = [code("13"), code("32"), code("41")];
    let manifest = net.network().manifest();

    let first = gongji::demo::seed(&manifest, &provinces).await;
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_eq!(first.provinces.len(), 3);

    // 5000.00 credited, 1000.00 + 200.00 frozen, 88.00 of the cross quota spent.
    for p in ["13", "32", "41"] {
        assert_eq!(
            account(&net, p, &format!("demo-{p}-donor")).await,
            ("3800.00".into(), "1112.00".into()),
            "donor of {p}"
        );
    }
    // demo-32-relative in Jiangsu is a beneficiary of demo-13-donor in Hebei.
    let listed = net
        .node("32")
        .list_relationships(pb::ListRelationshipsRequest {
            person_id: "demo-32-relative".into(),
        })
        .await
        .expect("list")
        .into_inner();
    let mut ids: Vec<&str> = listed.as_beneficiary.iter().map(|r| r.relationship_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["demo-rel-13-32", "demo-rel-32-32"]);
    for (province, id, kind, quota, used) in [
        ("13", "demo-rel-13-32", pb::RelationKind::Parent, "1000.00", "88.00"),
        ("32", "demo-rel-13-32", pb::RelationKind::Parent, "1000.00", "88.00"),
        ("41", "demo-rel-41-13", pb::RelationKind::Parent, "1000.00", "88.00"),
        ("32", "demo-rel-32-32", pb::RelationKind::Spouse, "200.00", "0.00"),
    ] {
        let r = relationship(&net, province, id).await;
        assert_eq!(r.status, pb::RelationshipStatus::Active as i32, "{id} at {province}");
        assert_eq!(r.relation_kind, kind as i32, "{id}");
        assert_eq!((r.quota.as_str(), r.used.as_str()), (quota, used), "{id} at {province}");
    }
    // Each demo payment is approved where it was made and where it was decided.
    let period = open_period(&net).await;
    for (acquirer, issuer) in [("13", "41"), ("32", "13"), ("41", "32")] {
        let id = format!("demo-pay-{acquirer}");
        for node in [acquirer, issuer] {
            let paid = payment(&net, node, &id).await;
            assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{id} at {node}");
            assert_eq!(paid.amount, "88.00");
            assert_eq!(paid.relationship_id, format!("demo-rel-{issuer}-{acquirer}"));
            assert_eq!(paid.institution_id, format!("H{acquirer}010000001"));
            assert_eq!(paid.period, period);
        }
    }

    let second = gongji::demo::seed(&manifest, &provinces).await;
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    for p in ["13", "32", "41"] {
        assert_eq!(
            account(&net, p, &format!("demo-{p}-donor")).await,
            ("3800.00".into(), "1112.00".into()),
            "no double credit or payment for {p}"
        );
    }
    assert_eq!(relationship(&net, "13", "demo-rel-13-32").await.used, "88.00");
    let line = second.provinces[1].to_string();
    assert!(line.contains("demo-32-donor 3800.00 available, 1112.00 frozen"), "{line}");
    assert!(line.contains("demo-pay-32 approved"), "{line}");
    let info = net
        .node("32")
        .get_node_info(pb::GetNodeInfoRequest {})
        .await
        .expect("info")
        .into_inner();
    assert_eq!((info.persons, info.payments, info.trial_balance.as_str()), (2, 2, "0.00"));
    net.shutdown().await;
}

#[tokio::test]
async fn seeding_a_single_province_makes_only_the_same_province_relationship() {
    let net = TestNetwork::start(&["32"]).await;
    let report = gongji::demo::seed(&net.network().manifest(), &[code("32")]).await;
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(account(&net, "32", "demo-32-donor").await, ("4800.00".into(), "200.00".into()));
    assert_eq!(
        report.provinces[0].relationships,
        [("demo-rel-32-32".to_owned(), "active".to_owned())]
    );
    assert!(report.provinces[0].payment.is_none());
    net.shutdown().await;
}

#[tokio::test]
async fn import_lists_every_rejected_line_and_a_second_import_changes_nothing() {
    let net = TestNetwork::start(&["32"]).await;
    let node = node_url(&net, "32");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("persons.csv");
    std::fs::write(
        &file,
        "id,name,insurance_type,region_code,status\n\
         p-2,Wang Fang,employee,320500,active\n\
         p-3,Zhang Wei,student,320500,active\n\
         p-4,Liu Yang,resident,410100,active\n\
         p-5,Chen Jing,resident,320100,\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let first = gongji(&["import", path, "--node", &node]).await;
    assert_eq!(first.code, 1, "{}{}", first.out, first.err);
    assert_eq!(value(&first.out, "imported"), Some("2"), "{}", first.out);
    assert_eq!(value(&first.out, "rejected"), Some("2"), "{}", first.out);
    // Line 3 is refused here (an unknown insurance type), line 4 by the node
    // (a Henan region at the Jiangsu node).
    assert!(first.out.contains("line 3 (p-3): insurance_type:"), "{}", first.out);
    assert!(first.out.contains("line 4 (p-4): region_code:"), "{}", first.out);
    assert!(!first.out.contains("line 2"), "{}", first.out);

    let second = gongji(&["import", path, "--node", &node]).await;
    assert_eq!(value(&second.out, "imported"), Some("0"), "{}", second.out);
    assert_eq!(value(&second.out, "unchanged"), Some("2"), "{}", second.out);
    assert_eq!(value(&second.out, "rejected"), Some("2"), "{}", second.out);

    let shown = gongji(&["show", "person", "p-5", "--node", &node]).await;
    assert_eq!(shown.code, 0, "{}", shown.err);
    assert_eq!(value(&shown.out, "insurance"), Some("resident"));
    assert_eq!(value(&shown.out, "status"), Some("active"));

    let missing = gongji(&["import", "/nonexistent/persons.csv", "--node", &node]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.err.starts_with("error: cannot open /nonexistent/persons.csv"),
        "{}",
        missing.err
    );
    net.shutdown().await;
}

#[tokio::test]
async fn the_cli_pays_across_provinces_and_shows_the_payment_on_both_nodes_and_the_hub() {
    let net = TestNetwork::start(&["13", "32"]).await;
    let (hebei, jiangsu, hub) = (node_url(&net, "13"), node_url(&net, "32"), net.network().hub_url());

    for (node, args) in [
        (
            &hebei,
            vec![
                "register",
                "--id",
                "li-13",
                "--name",
                "Li Lei",
                "--insurance",
                "employee",
                "--region",
                "130100",
            ],
        ),
        (
            &jiangsu,
            vec![
                "register",
                "--id",
                "li-mother-32",
                "--name",
                "Han Mei",
                "--insurance",
                "resident",
                "--region",
                "320500",
            ],
        ),
        (
            &hebei,
            vec!["credit", "--contribution-id", "c-li-1", "--person", "li-13", "--amount", "600"],
        ),
    ] {
        let ran = gongji(&[&args[..], &["--node", node.as_str()]].concat()).await;
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.err);
    }
    let established = gongji(&[
        "establish",
        "--id",
        "rel-li",
        "--donor",
        "li-13",
        "--beneficiary",
        "li-mother-32",
        "--beneficiary-province",
        "32",
        "--kind",
        "parent",
        "--quota",
        "300.00",
        "--node",
        &hebei,
    ])
    .await;
    assert_eq!(established.code, 0, "{}", established.err);
    assert_eq!(value(&established.out, "status"), Some("active"), "{}", established.out);
    assert_eq!(value(&established.out, "kind"), Some("parent"));

    let pay = |id: &'static str, amount: &'static str| {
        let jiangsu = jiangsu.clone();
        async move {
            gongji(&[
                "pay",
                "--id",
                id,
                "--beneficiary",
                "li-mother-32",
                "--institution",
                "H32050000001",
                "--amount",
                amount,
                "--purpose",
                "inpatient",
                "--relationship",
                "rel-li",
                "--node",
                &jiangsu,
            ])
            .await
        }
    };
    let paid = pay("pay-li-1", "120.50").await;
    assert_eq!(paid.code, 0, "{}", paid.err);
    assert_eq!(value(&paid.out, "status"), Some("approved"), "{}", paid.out);
    assert_eq!(value(&paid.out, "amount"), Some("120.50"));
    assert_eq!(value(&paid.out, "purpose"), Some("inpatient"));
    let period = open_period(&net).await;
    assert_eq!(value(&paid.out, "period"), Some(period.as_str()));

    // The same payment as each node knows it.
    for node in [&jiangsu, &hebei] {
        let shown = gongji(&["show", "payment", "pay-li-1", "--node", node]).await;
        assert_eq!(shown.code, 0, "{}", shown.err);
        assert_eq!(value(&shown.out, "status"), Some("approved"), "{}", shown.out);
        assert_eq!(value(&shown.out, "relationship"), Some("rel-li"));
        assert_eq!(value(&shown.out, "donor"), Some("li-13 in 13 (Hebei)"));
    }
    let account = gongji(&["show", "account", "li-13", "--node", &hebei]).await;
    assert_eq!(
        (value(&account.out, "available"), value(&account.out, "frozen")),
        (Some("300.00"), Some("179.50")),
        "{}",
        account.out
    );

    // A refusal is an answer, printed with its reason in words.
    let refused = pay("pay-li-2", "500.00").await;
    assert_eq!(refused.code, 0, "{}", refused.err);
    assert_eq!(value(&refused.out, "status"), Some("declined"), "{}", refused.out);
    assert_eq!(value(&refused.out, "decline reason"), Some("insufficient_quota"));

    let listed = gongji(&["show", "transactions", "--period", &period, "--hub", &hub]).await;
    assert_eq!(listed.code, 0, "{}", listed.err);
    let row = listed.out.lines().find(|l| l.starts_with("pay-li-1 ")).expect("pay-li-1 listed");
    assert!(
        row.contains("120.50") && row.contains("approved") && row.contains("rel-li"),
        "{row}"
    );
    assert!(listed.out.contains("declined (insufficient_quota)"), "{}", listed.out);

    let positions = gongji(&["show", "positions", "--hub", &hub]).await;
    assert!(
        positions.out.lines().any(|l| l.starts_with("32") && l.ends_with("120.50")),
        "{}",
        positions.out
    );
    assert!(
        positions.out.lines().any(|l| l.starts_with("13") && l.ends_with("-120.50")),
        "{}",
        positions.out
    );

    let info = gongji(&["info", "--node", &jiangsu]).await;
    assert_eq!(value(&info.out, "province"), Some("32 (Jiangsu)"), "{}", info.out);
    assert_eq!(value(&info.out, "trial balance"), Some("0.00 (the books balance)"));
    net.shutdown().await;
}

#[tokio::test]
async fn errors_name_the_status_in_words_and_fail_the_command() {
    let net = TestNetwork::start(&["32"]).await;
    let node = node_url(&net, "32");

    let missing = gongji(&["show", "person", "nobody", "--node", &node]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(missing.out, "");
    assert_eq!(missing.err, "error: not found: person nobody not found\n");

    let bad_amount = gongji(&[
        "credit",
        "--contribution-id",
        "c",
        "--person",
        "p",
        "--amount",
        "1.001",
        "--node",
        &node,
    ])
    .await;
    assert_eq!(bad_amount.code, 2, "{}", bad_amount.err);
    assert!(bad_amount.err.contains("more than two decimal places"), "{}", bad_amount.err);

    let unreachable = gongji(&["info", "--node", "127.0.0.1:1"]).await;
    assert_eq!(unreachable.code, 1);
    assert!(
        unreachable.err.starts_with("error: cannot reach http://127.0.0.1:1"),
        "{}",
        unreachable.err
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_payment_whose_donor_province_is_down_is_reported_pending_then_completes() {
    let mut net = TestNetwork::start(&["13", "32"]).await;
    gongji::demo::seed(&net.network().manifest(), &[code("13"), code("32")]).await;
    let jiangsu = node_url(&net, "32");
    net.stop_node("13").await;

    let args = [
        "pay",
        "--id",
        "pay-while-13-down",
        "--beneficiary",
        "demo-32-relative",
        "--institution",
        "H32010000001",
        "--amount",
        "10.00",
        "--purpose",
        "outpatient",
        "--relationship",
        "demo-rel-13-32",
        "--node",
        &jiangsu,
    ];
    let pending = gongji(&args).await;
    assert_eq!(pending.code, 3, "{}{}", pending.out, pending.err);
    assert!(pending.err.starts_with("error: unavailable: "), "{}", pending.err);
    assert!(pending.err.contains("payment pay-while-13-down is pending"), "{}", pending.err);

    net.start_node("13").await;
    eventually("the pending payment completes", || async {
        let ran = gongji(&["show", "payment", "pay-while-13-down", "--node", &jiangsu]).await;
        (value(&ran.out, "status") == Some("approved")).then_some(())
    })
    .await;
    let again = gongji(&args).await;
    assert_eq!(again.code, 0, "{}", again.err);
    assert_eq!(value(&again.out, "status"), Some("approved"));
    net.shutdown().await;
}
