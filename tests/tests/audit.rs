//! `gongji audit` checks every invariant of DESIGN.md across a live network:
//! it passes on honest books and names what is wrong in tampered ones.

use gongji_operator::audit::{audit, audit_settling, Target};
use gongji_tests::{
    change_quota, dissolve, establish, eventually, hebei_donor_henan_parent, pay, pay_request, refund, register, relationship,
    relationship_becomes, reverse, v1 as pb, TestNetwork,
};

fn target(net: &TestNetwork) -> Target {
    Target::from_manifest(&net.network().manifest()).unwrap()
}

/// Payments, a refund, a reversal, a dissolution and a closed month.
async fn some_history(net: &TestNetwork) {
    hebei_donor_henan_parent(net).await;
    let mut henan = net.node("41");
    for i in 0..3 {
        pay(&mut henan, pay_request(&format!("p{i}"), "parent-41", "H41010000001", "12.34"))
            .await
            .unwrap();
    }
    refund(&mut henan, "r0", "p0", "2.34").await.unwrap();
    reverse(&mut henan, "p1").await.unwrap();
    reverse(&mut henan, "never-seen").await.unwrap();
    let period = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period;
    net.hub().close_month(pb::CloseMonthRequest { period }).await.unwrap();
    pay(&mut henan, pay_request("p-next", "parent-41", "H41010000001", "1.00"))
        .await
        .unwrap();
    dissolve(&mut net.node("13"), "rel-13-41", pb::Party::Donor).await.unwrap();
    eventually("everything settles down", || {
        let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
        async move {
            let idle = |info: pb::NodeInfo| info.pending == 0;
            let a = hebei.get_node_info(pb::GetNodeInfoRequest {}).await.ok()?.into_inner();
            let b = henan.get_node_info(pb::GetNodeInfoRequest {}).await.ok()?.into_inner();
            (idle(a) && idle(b)).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn an_honest_network_passes_the_audit() {
    let net = TestNetwork::start(&["13", "32", "41"]).await;
    some_history(&net).await;
    relationship_becomes(&net, "41", "rel-13-41", pb::RelationshipStatus::Dissolved).await;
    // A relationship that stays active, paid from and with a new quota, and one at home.
    let mut hebei = net.node("13");
    register(&mut net.node("32"), "child-32", pb::InsuranceType::Resident, "320500").await;
    register(&mut hebei, "spouse-13", pb::InsuranceType::Resident, "130100").await;
    establish(&mut hebei, "rel-13-32", "donor-13", "child-32", "32", "300.00")
        .await
        .unwrap();
    establish(&mut hebei, "rel-13-13", "donor-13", "spouse-13", "13", "100.00")
        .await
        .unwrap();
    change_quota(&mut hebei, "q-13-32", "rel-13-32", "350.00").await.unwrap();
    let paid = pay(&mut net.node("32"), pay_request("p-32", "child-32", "H32050000001", "20.00"))
        .await
        .unwrap();
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{paid:?}");
    eventually("Jiangsu sees the new quota", || {
        let mut jiangsu = net.node("32");
        async move { (relationship(&mut jiangsu, "rel-13-32").await.quota == "350.00").then_some(()) }
    })
    .await;

    let report = audit(&net.session(), &target(&net), &mut std::io::sink()).await.unwrap();
    assert!(report.passed(), "{:?}", report.violations);
    assert!(report.in_flight.is_empty(), "{:?}", report.in_flight);
    assert_eq!(report.relationships, 3, "rel-13-41, rel-13-32 and rel-13-13, each once");
    assert_eq!(report.servers, 4);
    assert!(report.journal_entries > 10 && report.lines >= 6, "{report:?}");
    assert_eq!(report.months, 2);
    // 2000.00 came in; held: the donor's 2000 less what was paid and not returned; out: paid.
    assert_eq!(report.inflows.to_string(), "2000.00");
    assert_eq!(report.held.checked_add(report.outflows).unwrap(), report.inflows);

    // Through the command line too: exit 0 and the summary.
    let devnet = net.data_dir().join("devnet.json");
    std::fs::write(&devnet, serde_json::to_string(&net.network().manifest()).unwrap()).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(["gongji", "audit", "--devnet", devnet.to_str().unwrap()], &mut out, &mut err).await;
    let printed = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{printed}{}", String::from_utf8_lossy(&err));
    assert!(printed.contains("no violations"), "{printed}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_tampered_store_fails_the_audit_naming_what_is_wrong() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    some_history(&net).await;

    // Henan's node loses a booked line, and a balance changes behind its journal.
    net.stop_node("41").await;
    {
        let store = net.open_stopped_node_store("41");
        let period = net
            .hub()
            .get_open_period(pb::GetOpenPeriodRequest {})
            .await
            .unwrap()
            .into_inner()
            .period;
        let key = province_node::store::cross_line_key(gongji_common::Period::parse("p", &period).unwrap(), "payment", "p-next");
        let account = gongji_common::books::Account::new(gongji_common::books::AccountKind::Institution, "H41010000001");
        store
            .transact(|tx| {
                tx.remove(province_node::store::CROSS_LINES, &key)?;
                tx.put(
                    gongji_common::books::BALANCES,
                    account.key().as_str(),
                    &gongji_common::Money::from_fen(1),
                )
            })
            .durable()
            .await
            .unwrap();
    }
    net.start_node("41").await;
    // The hub's clearing sums of a pair drift from its statement lines.
    net.stop_hub().await;
    {
        use national_hub::store::PAIR_SUMS;
        let store = net.open_stopped_hub_store(national_hub::store::TREES);
        let (key, mut pair) = store.scan_prefix(PAIR_SUMS, b"").next().unwrap().unwrap();
        pair.gross = pair.gross.checked_add(gongji_common::Money::from_fen(1)).unwrap();
        store.transact(|tx| tx.put(PAIR_SUMS, &key, &pair)).durable().await.unwrap();
    }
    net.start_hub().await;

    // Nothing is in flight: the differences need not be given long to settle.
    let report = audit_settling(
        &net.session(),
        &target(&net),
        &mut std::io::sink(),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(!report.passed());
    let said = report.violations.join("\n");
    assert!(
        said.contains("payment p-next: approved at the hub, not booked by the node"),
        "{said}"
    );
    assert!(said.contains("institution/H41010000001 has balance 0.01"), "{said}");
    assert!(said.contains("money is not conserved"), "{said}");
    assert!(
        said.contains("13 → 41 (payment)") && said.contains("the clearing's sums say"),
        "{said}"
    );

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let hub = net.network().hub_url();
    let nodes: Vec<String> = ["13", "41"]
        .iter()
        .map(|p| format!("{p}={}", net.network().node_url(gongji_tests::code(p))))
        .collect();
    let mut args = vec!["gongji".to_string(), "audit".into(), "--settle=1".into(), "--hub".into(), hub];
    for n in &nodes {
        args.extend(["--node".to_string(), n.clone()]);
    }
    let code = gongji::run(args, &mut out, &mut err).await;
    assert_eq!(code, 1, "a violation fails the command");
    assert!(String::from_utf8(out).unwrap().contains("violation(s):"));
    net.shutdown().await;
}

/// Changes a relationship as a stopped node stores it, and stores it under `stored_as`.
async fn tamper_relationship(
    net: &TestNetwork,
    province: &str,
    id: &str,
    stored_as: &str,
    change: impl FnOnce(&mut province_node::domain::Relationship),
) {
    use province_node::{domain::Relationship, store::RELATIONSHIPS};
    let store = net.open_stopped_node_store(province);
    let mut held: Relationship = store
        .get(RELATIONSHIPS, &gongji_common::Id::parse("id", id).unwrap())
        .unwrap()
        .expect("the relationship is stored");
    change(&mut held);
    store
        .transact(|tx| tx.put(RELATIONSHIPS, &gongji_common::Id::parse("id", stored_as).unwrap(), &held))
        .durable()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_relationship_whose_two_sides_disagree_fails_the_audit() {
    use province_node::domain::RelationshipStatus;
    let mut net = TestNetwork::start(&["13", "32", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    register(&mut net.node("41"), "child-41", pb::InsuranceType::Resident, "410100").await;
    establish(&mut net.node("13"), "rel-13-41-b", "donor-13", "child-41", "41", "200.00")
        .await
        .unwrap();
    let clean = audit_settling(
        &net.session(),
        &target(&net),
        &mut std::io::sink(),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(clean.passed() && clean.relationships == 2, "{clean:?}");

    // Henan's node believes one grant ended and the other has more quota, and
    // holds a grant of Hebei's to Jiangsu, to which it is no party.
    net.stop_node("41").await;
    tamper_relationship(&net, "41", "rel-13-41", "rel-13-41", |r| r.status = RelationshipStatus::Dissolved).await;
    tamper_relationship(&net, "41", "rel-13-41-b", "rel-13-41-b", |r| {
        r.quota = gongji_common::Money::from_fen(25_000)
    })
    .await;
    tamper_relationship(&net, "41", "rel-13-41-b", "rel-13-32-stray", |r| {
        r.grant.relationship_id = gongji_common::Id::parse("id", "rel-13-32-stray").unwrap();
        r.grant.beneficiary_province = gongji_tests::code("32");
    })
    .await;
    net.start_node("41").await;

    let report = audit_settling(
        &net.session(),
        &target(&net),
        &mut std::io::sink(),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(!report.passed());
    let said = report.violations.join("\n");
    for expected in [
        "relationship rel-13-41: active at the donor's node (province 13), dissolved at the beneficiary's node (province 41)",
        "relationship rel-13-41-b: quota 200.00 at the donor's node (province 13), 250.00 at the beneficiary's node (province 41)",
        "relationship rel-13-32-stray: province 41 holds it (active), but is no party to it (the donor's province is 13, the beneficiary's 32)",
    ] {
        assert!(said.contains(expected), "{expected}\nnot in:\n{said}");
    }
    assert_eq!(report.violation_count, 3, "{said}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_relationship_whose_end_is_still_in_an_outbox_is_in_flight() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    // The hub cannot reach Henan: Hebei's end of the grant waits in its outbox.
    let to_henan = net.proxy_hub_to("41").await;
    to_henan.set(gongji_tests::proxy::Fault::Refuse);
    dissolve(&mut net.node("13"), "rel-13-41", pb::Party::Donor).await.unwrap();

    let report = audit_settling(
        &net.session(),
        &target(&net),
        &mut std::io::sink(),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(report.passed(), "{:?}", report.violations);
    assert!(
        report.in_flight.iter().any(|item| item.starts_with(
            "relationship rel-13-41: dissolved at the donor's node (province 13), active at the beneficiary's node (province 41)"
        )),
        "{:?}",
        report.in_flight
    );

    to_henan.heal();
    relationship_becomes(&net, "41", "rel-13-41", pb::RelationshipStatus::Dissolved).await;
    let report = audit(&net.session(), &target(&net), &mut std::io::sink()).await.unwrap();
    assert!(report.passed() && report.in_flight.is_empty(), "{report:?}");
    net.shutdown().await;
}

/// Payments both ways between 13 and 41 and within 41, refunds of some,
/// until `stop`: 0.01 each, so the quotas last.
async fn traffic(net: &TestNetwork, worker: usize, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u64 {
    let mut henan = net.node("41");
    let mut paid = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let id = format!("live-{worker}-{paid}");
        if pay(&mut henan, pay_request(&id, "parent-41", "H41010000001", "0.01")).await.is_ok() {
            paid += 1;
            if paid % 5 == 0 {
                let _ = refund(&mut henan, &format!("{id}-r"), &id, "0.01").await;
            }
        }
    }
    paid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_while_payments_flow_finds_nothing_wrong() {
    let net = std::sync::Arc::new(TestNetwork::start(&["13", "41"]).await);
    hebei_donor_henan_parent(&net).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (net, stop) = (net.clone(), stop.clone());
            tokio::spawn(async move { traffic(&net, worker, stop).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut audited = 0;
    for _ in 0..3 {
        let report = audit(&net.session(), &target(&net), &mut std::io::sink()).await.unwrap();
        assert!(report.passed(), "an audit during traffic: {:?}", report.violations);
        audited += report.lines;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut paid = 0;
    for worker in workers {
        paid += worker.await.unwrap();
    }
    assert!(
        paid >= 50 && audited > 0,
        "the audits ran among real traffic: {paid} payments, {audited} lines"
    );
    let quiet = audit(&net.session(), &target(&net), &mut std::io::sink()).await.unwrap();
    assert!(quiet.passed() && quiet.in_flight.is_empty(), "{quiet:?}");
    assert_eq!(quiet.between_provinces, gongji_common::Money::ZERO);
}
