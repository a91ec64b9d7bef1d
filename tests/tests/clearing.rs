//! Monthly clearing (按月全额清算): the hub clears each closed month
//! (国家统一清分), every province reconciles its statement line by line
//! (对账) and the month settles against prepaid funds (预付金). Four
//! provinces, transactions in every direction, refunds and an account
//! transfer; the test computes the nets itself and compares.

use std::collections::BTreeMap;

use gongji_tests::{
    balances, employee_with_balance, establish, eventually, fen, pay, pay_request, refund, register, v1 as pb, TestNetwork,
};
use pb::TransactionStatus as Ts;
use tonic::Code;

const PROVINCES: [&str; 4] = ["13", "32", "34", "41"];

fn region(province: &str) -> String {
    format!("{province}0100")
}

fn money(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// What the test itself expects the clearing to say.
#[derive(Default)]
struct Expected {
    /// (payer, payee, kind) → (count, gross fen)
    lines: BTreeMap<(String, String, i32), (u64, i64)>,
}

impl Expected {
    fn add(&mut self, payer: &str, payee: &str, kind: pb::TransactionKind, amount: i64) {
        let entry = self.lines.entry((payer.into(), payee.into(), kind as i32)).or_default();
        entry.0 += 1;
        entry.1 += amount;
    }

    fn nets(&self) -> BTreeMap<String, i64> {
        let mut nets = BTreeMap::new();
        for ((payer, payee, _), (_, gross)) in &self.lines {
            *nets.entry(payer.clone()).or_insert(0) -= gross;
            *nets.entry(payee.clone()).or_insert(0) += gross;
        }
        nets
    }
}

/// Every province pays every other one (payments in all twelve directions),
/// two payments are partly refunded, and a person moves from 41 to 13 with
/// their balance. Returns what the clearing should say.
async fn a_month_of_traffic(net: &TestNetwork) -> Expected {
    let mut expected = Expected::default();
    for p in PROVINCES {
        employee_with_balance(&mut net.node(p), &format!("donor-{p}"), &region(p), "50000.00").await;
    }
    let mut n = 0;
    for p in PROVINCES {
        for q in PROVINCES.iter().filter(|q| **q != p) {
            n += 1;
            let kin = format!("kin-{q}-of-{p}");
            register(&mut net.node(q), &kin, pb::InsuranceType::Resident, &region(q)).await;
            let rel = format!("rel-{p}-{q}");
            establish(&mut net.node(p), &rel, &format!("donor-{p}"), &kin, q, "5000.00")
                .await
                .unwrap();
            let amount = 1_000 * n + 17; // distinct amounts, in fen
            let paid = pay(
                &mut net.node(q),
                pay_request(&format!("pay-{p}-{q}"), &kin, &format!("H{q}010000001"), &money(amount)),
            )
            .await
            .unwrap();
            assert_eq!(paid.status, Ts::Approved as i32, "{paid:?}");
            expected.add(p, q, pb::TransactionKind::Payment, amount);
        }
    }
    // Refunds: the beneficiary's province pays back.
    for (p, q, amount) in [("13", "32", 500), ("41", "34", 1_017)] {
        let back = refund(&mut net.node(q), &format!("ref-{p}-{q}"), &format!("pay-{p}-{q}"), &money(amount))
            .await
            .unwrap();
        assert_eq!(back.status, Ts::Approved as i32);
        expected.add(q, p, pb::TransactionKind::Refund, amount);
    }
    // An account transfer: 41 owes 13 the mover's balance.
    employee_with_balance(&mut net.node("41"), "mover", &region("41"), "321.45").await;
    let moved = net
        .node("41")
        .transfer_insurance(pb::TransferInsuranceRequest {
            transfer_id: "move-1".into(),
            person_id: "mover".into(),
            to_region: region("13"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.status, Ts::Approved as i32);
    expected.add("41", "13", pb::TransactionKind::AccountTransfer, 32_145);
    expected
}

async fn open_period(net: &TestNetwork) -> String {
    net.hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period
}

async fn close(net: &TestNetwork, period: &str) -> pb::Month {
    net.hub()
        .close_month(pb::CloseMonthRequest { period: period.into() })
        .await
        .unwrap();
    eventually(&format!("month {period} closes"), || {
        let mut hub = net.hub();
        let period = period.to_owned();
        async move {
            let month = hub.get_month(pb::GetMonthRequest { period }).await.ok()?.into_inner();
            (month.state == pb::MonthState::Closed as i32).then_some(month)
        }
    })
    .await
}

/// The hub's clearing of a month, and its lines as (payer, payee, kind) → (count, gross fen).
async fn clearing_of(net: &TestNetwork, period: &str) -> (pb::Clearing, BTreeMap<(String, String, i32), (u64, i64)>) {
    let clearing = net
        .hub()
        .get_clearing(pb::GetClearingRequest { period: period.into() })
        .await
        .unwrap()
        .into_inner();
    let lines = clearing
        .lines
        .iter()
        .map(|l| ((l.payer.clone(), l.payee.clone(), l.kind), (l.count, fen(&l.gross))))
        .collect();
    (clearing, lines)
}

async fn reconcile(net: &TestNetwork, province: &str, period: &str) -> pb::Reconciliation {
    net.node(province)
        .reconcile_month(pb::ReconcileMonthRequest { period: period.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn settle(net: &TestNetwork, period: &str, reason: &str) -> Result<pb::Settlement, tonic::Status> {
    net.hub()
        .settle_month(pb::SettleMonthRequest {
            period: period.into(),
            override_reason: reason.into(),
            operator: "test operator".into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn prepaid(net: &TestNetwork) -> BTreeMap<String, pb::ProvincePrepaid> {
    let status = net.hub().get_prepaid(pb::GetPrepaidRequest {}).await.unwrap().into_inner();
    status.provinces.into_iter().map(|p| (p.province.clone(), p)).collect()
}

#[tokio::test]
async fn a_month_clears_to_the_independent_computation_reconciles_everywhere_and_settles_once() {
    let net = TestNetwork::start_with(&PROVINCES, |spec| spec.prepaid_floor = "100.00".into()).await;
    let expected = a_month_of_traffic(&net).await;
    let period = open_period(&net).await;
    let before = prepaid(&net).await;

    let month = close(&net, &period).await;
    assert_eq!(month.provinces, PROVINCES.map(String::from).to_vec());
    assert_eq!(month.transactions, expected.lines.values().map(|(count, _)| count).sum::<u64>());
    assert_ne!(open_period(&net).await, period, "new transactions go into the next month");

    // The clearing: gross and count per ordered pair and kind, and the nets.
    let (clearing, cleared) = clearing_of(&net, &period).await;
    assert_eq!(cleared, expected.lines);
    let nets: BTreeMap<String, i64> = clearing.nets.iter().map(|n| (n.province.clone(), fen(&n.net))).collect();
    assert_eq!(nets, expected.nets());
    assert_eq!(nets.values().sum::<i64>(), 0, "the nets sum to zero to the fen");

    // Every province reconciles and confirms; the month is reconciled.
    for p in PROVINCES {
        let report = reconcile(&net, p, &period).await;
        assert!(report.confirmed, "{p}: {report:?}");
        assert_eq!(
            (
                report.only_at_hub,
                report.only_at_node,
                report.amount_differs,
                report.counterpart_differs
            ),
            (0, 0, 0, 0)
        );
        assert_eq!(fen(&report.net), expected.nets()[p], "{p}");
        let by_region: i64 = report.regions.iter().map(|r| fen(&r.net)).sum();
        assert_eq!(by_region, expected.nets()[p], "{p}: the regional breakdown adds up");
    }
    let month = net
        .hub()
        .get_month(pb::GetMonthRequest { period: period.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(month.state, pb::MonthState::Reconciled as i32);

    // Settlement: payers' prepaid funds drawn by their net, receivers paid.
    let settled = settle(&net, &period, "").await.unwrap();
    for line in &settled.lines {
        let net_fen = fen(&line.net);
        assert_eq!(net_fen, expected.nets()[&line.province]);
        assert_eq!((fen(&line.drawn), fen(&line.paid)), (net_fen.min(0).abs(), net_fen.max(0)));
    }
    let after = prepaid(&net).await;
    for p in PROVINCES {
        let drawn = expected.nets()[p].min(0);
        assert_eq!(fen(&after[p].balance), fen(&before[p].balance) + drawn, "{p}");
        assert_eq!(after[p].unsettled_outflow, "0.00", "{p}: nothing unsettled once settled");
    }
    // Running it again changes nothing; a settled month refuses change.
    assert_eq!(settle(&net, &period, "").await.unwrap(), settled);
    assert_eq!(prepaid(&net).await[&"13".to_string()].balance, after["13"].balance);
    let refused = net
        .router("13")
        .confirm_month(pb::MonthConfirmation {
            period: period.clone(),
            province: "13".into(),
            digest: "anything".into(),
        })
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::FailedPrecondition);
    let reconciled_again = net
        .node("32")
        .reconcile_month(pb::ReconcileMonthRequest { period: period.clone() })
        .await;
    assert_eq!(
        reconciled_again.unwrap_err().code(),
        Code::FailedPrecondition,
        "settled months never change"
    );
    assert_eq!(
        net.hub()
            .get_month(pb::GetMonthRequest { period: period.clone() })
            .await
            .unwrap()
            .into_inner()
            .state,
        pb::MonthState::Settled as i32
    );

    // The required prepaid level: two months of the average payable (one settled month here).
    for p in PROVINCES {
        let payable: i64 = expected
            .lines
            .iter()
            .filter(|((payer, _, _), _)| payer == p)
            .map(|(_, (_, gross))| gross)
            .sum();
        assert_eq!(fen(&after[p].required), (2 * payable).max(10_000), "{p}");
    }
    // A refund of a settled month's payment goes into the open month.
    let late = refund(&mut net.node("32"), "ref-late", "pay-13-32", "1.00").await.unwrap();
    assert_eq!(late.status, Ts::Approved as i32);
    assert_ne!(late.period, period);
    net.shutdown().await;
}

#[tokio::test]
async fn the_statement_digest_catches_a_truncated_stream() {
    let net = TestNetwork::start(&["13", "41"]).await;
    gongji_tests::hebei_donor_henan_parent(&net).await;
    for i in 0..3 {
        pay(
            &mut net.node("41"),
            pay_request(&format!("p{i}"), "parent-41", "H41010000001", "10.00"),
        )
        .await
        .unwrap();
    }
    let period = open_period(&net).await;
    close(&net, &period).await;

    let mut stream = net
        .router("41")
        .stream_statement(pb::StatementRequest {
            period: period.clone(),
            province: "41".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let (mut lines, mut summary) = (Vec::new(), None);
    while let Some(item) = stream.message().await.unwrap() {
        match item.item {
            Some(pb::statement_item::Item::Line(line)) => lines.push(gongji_common::statement::Line::from_pb(line).unwrap()),
            Some(pb::statement_item::Item::Summary(s)) => summary = Some(s),
            None => {}
        }
    }
    let summary = summary.expect("a summary ends the statement");
    assert_eq!(
        (summary.lines, summary.receivable.as_str(), summary.net.as_str()),
        (3, "30.00", "30.00")
    );
    let totals = |lines: &[gongji_common::statement::Line]| {
        let mut summer = gongji_common::statement::Summer::default();
        lines.iter().for_each(|l| summer.add(l).unwrap());
        summer.finish()
    };
    let claimed = gongji_common::statement::Totals {
        lines: summary.lines,
        payable: gongji_common::Money::parse_unsigned("payable", &summary.payable).unwrap(),
        receivable: gongji_common::Money::parse_unsigned("receivable", &summary.receivable).unwrap(),
        digest: summary.digest.clone(),
    };
    assert_eq!(gongji_common::statement::verify(&totals(&lines), &claimed), Ok(()));
    assert!(
        gongji_common::statement::verify(&totals(&lines[..2]), &claimed).is_err(),
        "a truncated statement is caught"
    );
    // An open month has no statement yet.
    let open = net
        .router("41")
        .stream_statement(pb::StatementRequest {
            period: open_period(&net).await,
            province: "41".into(),
        })
        .await;
    assert_eq!(open.unwrap_err().code(), Code::FailedPrecondition);
    net.shutdown().await;
}

#[tokio::test]
async fn a_record_missing_at_a_node_shows_up_as_only_at_the_hub_and_blocks_settlement() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    gongji_tests::hebei_donor_henan_parent(&net).await;
    for i in 0..3 {
        pay(
            &mut net.node("41"),
            pay_request(&format!("p{i}"), "parent-41", "H41010000001", "10.00"),
        )
        .await
        .unwrap();
    }
    let period = open_period(&net).await;
    close(&net, &period).await;

    // Lose one record at Henan's node, as a damaged store might.
    net.stop_node("41").await;
    {
        let store = net.open_stopped_node_store("41");
        let key = province_node::store::cross_line_key(gongji_common::Period::parse("p", &period).unwrap(), "payment", "p1");
        store
            .transact(|tx| tx.remove(province_node::store::CROSS_LINES, &key))
            .unconfirmed()
            .unwrap(); // on disk when the store is dropped
        store.durable().await.unwrap();
    }
    net.start_node("41").await;

    let report = reconcile(&net, "41", &period).await;
    assert!(!report.confirmed);
    assert_eq!((report.matched, report.only_at_hub, report.only_at_node), (2, 1, 0));
    let missing = &report.mismatches[0];
    assert_eq!(missing.comparison, pb::Comparison::OnlyAtHub as i32);
    assert_eq!(missing.at_hub.as_ref().unwrap().transaction_id, "p1");
    assert!(reconcile(&net, "13", &period).await.confirmed);

    let month = net
        .hub()
        .get_month(pb::GetMonthRequest { period: period.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((month.state, month.disputes.len()), (pb::MonthState::Closed as i32, 1));
    assert_eq!((month.disputes[0].province.as_str(), month.disputes[0].only_at_hub), ("41", 1));
    // Without every confirmation, settlement needs an operator's reason.
    assert_eq!(settle(&net, &period, "").await.unwrap_err().code(), Code::FailedPrecondition);
    let settled = settle(&net, &period, "41's store lost a line; the hub's record stands")
        .await
        .unwrap();
    assert_eq!(settled.override_reason, "41's store lost a line; the hub's record stands");
    net.shutdown().await;
}

#[tokio::test]
async fn a_payment_is_declined_at_prepaid_exhaustion_and_passes_after_a_deposit() {
    // 1000.00 prepaid, and that is what is required.
    let net = TestNetwork::start_with(&["13", "41"], |spec| {
        spec.opening_prepaid = "1000.00".into();
        spec.prepaid_floor = "1000.00".into();
    })
    .await;
    gongji_tests::hebei_donor_henan_parent(&net).await;
    let mut henan = net.node("41");
    // Name the relationship: the donor's node decides, whatever the beneficiary's
    // node has heard of the new quota yet.
    let named = |id: &str, amount: &str| {
        let mut request = pay_request(id, "parent-41", "H41010000001", amount);
        request.relationship_id = "rel-13-41".into();
        request
    };
    let change = gongji_tests::change_quota(&mut net.node("13"), "c1", "rel-13-41", "1900.00")
        .await
        .unwrap();
    assert_eq!(change.status, Ts::Approved as i32);

    assert_eq!(pay(&mut henan, named("p1", "750.00")).await.unwrap().status, Ts::Approved as i32);
    let hebei = &prepaid(&net).await["13"];
    assert_eq!((hebei.unsettled_outflow.as_str(), hebei.usage_percent.as_str()), ("750.00", "75.0"));
    assert_eq!(hebei.level, pb::PrepaidLevel::Yellow as i32, "warned well before exhaustion");

    let refused = pay(&mut henan, named("p2", "300.00")).await.unwrap();
    assert_eq!(
        (refused.status, refused.decline_reason),
        (Ts::Declined as i32, pb::DeclineReason::PrepaidExhausted as i32)
    );
    assert!(refused.decline_message.contains("prepaid"), "{}", refused.decline_message);
    assert_eq!(
        balances(&mut net.node("13"), "donor-13").await.1,
        "1150.00",
        "the donor's quota was not touched"
    );

    // Withdrawing what the obligations need is refused; a deposit lets the payment through.
    let operation = |id: &str, amount: &str| pb::PrepaidOperationRequest {
        operation_id: id.into(),
        province: "13".into(),
        amount: amount.into(),
        operator: "hebei treasury".into(),
        reason: "test".into(),
        force: false,
    };
    assert_eq!(
        net.hub().withdraw_prepaid(operation("w1", "251.00")).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let deposit = net.hub().deposit_prepaid(operation("d1", "500.00")).await.unwrap().into_inner();
    assert_eq!(deposit.balance_after, "1500.00");
    assert_eq!(
        net.hub().deposit_prepaid(operation("d1", "500.00")).await.unwrap().into_inner(),
        deposit,
        "idempotent"
    );
    assert_eq!(pay(&mut henan, named("p3", "300.00")).await.unwrap().status, Ts::Approved as i32);
    assert_eq!(
        prepaid(&net).await["13"].level,
        pb::PrepaidLevel::Yellow as i32,
        "1050 of 1500 is 70%: yellow, not red"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_close_waits_for_the_months_pending_transactions() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    gongji_tests::hebei_donor_henan_parent(&net).await;
    let period = open_period(&net).await;
    net.stop_node("13").await;
    let pending = pay(&mut net.node("41"), pay_request("p-late", "parent-41", "H41010000001", "40.00")).await;
    assert_eq!(pending.unwrap_err().code(), Code::Unavailable);

    let closing = net
        .hub()
        .close_month(pb::CloseMonthRequest { period: period.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((closing.state, closing.pending), (pb::MonthState::Closing as i32, 1));
    assert_eq!(
        net.hub()
            .get_clearing(pb::GetClearingRequest { period: period.clone() })
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition,
        "no clearing until the close completes"
    );
    net.start_node("13").await;
    let closed = close(&net, &period).await;
    assert_eq!(closed.transactions, 1, "the late payment landed in the month it was stamped with");
    // The beneficiary's node learns the outcome on its next recovery pass.
    let paid = eventually("the beneficiary's node records the approval", || {
        let mut henan = net.node("41");
        async move {
            gongji_tests::payment(&mut henan, "p-late")
                .await
                .ok()
                .filter(|p| p.status == Ts::Approved as i32)
        }
    })
    .await;
    assert_eq!(paid.period, period);
    net.shutdown().await;
}

#[tokio::test]
async fn transactions_in_flight_during_a_close_land_in_exactly_one_month_on_every_node() {
    let net = TestNetwork::start(&["13", "32", "41"]).await;
    gongji_tests::hebei_donor_henan_parent(&net).await;
    employee_with_balance(&mut net.node("32"), "donor-32", "320500", "5000.00").await;
    establish(&mut net.node("32"), "rel-32-41", "donor-32", "parent-41", "41", "2000.00")
        .await
        .unwrap();
    let first = open_period(&net).await;

    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut henan = net.node("41");
        tasks.push(tokio::spawn(async move {
            let mut request = pay_request(&format!("flight-{i}"), "parent-41", "H41010000001", "5.00");
            request.relationship_id = if i % 2 == 0 { "rel-13-41" } else { "rel-32-41" }.into();
            pay(&mut henan, request).await.unwrap()
        }));
        if i == 12 {
            net.hub()
                .close_month(pb::CloseMonthRequest { period: first.clone() })
                .await
                .unwrap();
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().status, Ts::Approved as i32);
    }
    let second = open_period(&net).await;
    assert_ne!(first, second);
    close(&net, &first).await;

    // Each payment has one month, the same at the hub and at both nodes, and
    // the hub lists it in that month only.
    let mut listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for period in [&first, &second] {
        let mut stream = net
            .hub()
            .list_transactions(pb::ListTransactionsRequest {
                period: period.to_string(),
                province: String::new(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(t) = stream.message().await.unwrap() {
            listed.entry(t.transaction_id).or_default().push(period.to_string());
        }
    }
    let mut in_first = 0;
    for i in 0..24 {
        let id = format!("flight-{i}");
        let months = &listed[&id];
        assert_eq!(months.len(), 1, "{id} listed in {months:?}");
        let acquired = gongji_tests::payment(&mut net.node("41"), &id).await.unwrap();
        let donor = if i % 2 == 0 { "13" } else { "32" };
        let issued = gongji_tests::payment(&mut net.node(donor), &id).await.unwrap();
        assert_eq!((&acquired.period, &issued.period), (&months[0], &months[0]), "{id}");
        in_first += usize::from(months[0] == first);
    }
    let month = net
        .hub()
        .get_month(pb::GetMonthRequest { period: first.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(month.transactions as usize, in_first);
    // Every province's statement of the closed month matches its node.
    for p in ["13", "32", "41"] {
        assert!(reconcile(&net, p, &first).await.confirmed, "{p}");
    }
    net.shutdown().await;
}
