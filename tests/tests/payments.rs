//! Payments across the network: decided at the donor's node, recorded at the
//! beneficiary's node and the hub, idempotent by id, pending (never guessed)
//! when a node does not answer.

use gongji_tests::{
    assert_status, balances, employee_with_balance, establish, eventually, hebei_donor_henan_parent, nets, pay, pay_request, payment,
    register, v1 as pb, TestNetwork,
};
use tonic::Code;

fn approved(payment: &pb::Payment) -> bool {
    payment.status == pb::TransactionStatus::Approved as i32
}

#[tokio::test]
async fn cross_province_payment_agrees_on_both_nodes_and_the_hub() {
    let net = TestNetwork::start(&["13", "32", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan, mut hub) = (net.node("13"), net.node("41"), net.hub());

    let paid = pay(&mut henan, pay_request("pay-1", "parent-41", "H41010000001", "128.50"))
        .await
        .expect("pay");
    assert!(approved(&paid), "{paid:?}");
    assert_eq!(paid.donor_province, "13");
    assert_eq!(paid.relationship_id, "rel-13-41");
    let open = hub.get_open_period(pb::GetOpenPeriodRequest {}).await.unwrap().into_inner().period;
    assert_eq!(paid.period, open);

    // The donor's quota paid it: frozen went down, available did not move.
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1500.00".into(), "371.50".into()));
    let issued = payment(&mut hebei, "pay-1").await.expect("issuer knows the payment");
    assert!(approved(&issued));
    assert_eq!((issued.amount.as_str(), issued.period.as_str()), ("128.50", open.as_str()));

    // Both sides of the relationship show the use.
    for node in [&mut hebei, &mut henan] {
        let r = node
            .get_relationship(pb::GetRelationshipRequest {
                relationship_id: "rel-13-41".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (r.quota.as_str(), r.used.as_str(), r.remaining.as_str()),
            ("500.00", "128.50", "371.50")
        );
    }

    // The hub recorded it with its month and both positions.
    let record = hub
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "pay-1".into(),
            kind: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.status, pb::TransactionStatus::Approved as i32);
    assert_eq!((record.payer_province.as_str(), record.payee_province.as_str()), ("13", "41"));
    assert_eq!((record.amount.as_str(), record.period.as_str()), ("128.50", open.as_str()));
    assert_eq!(
        (record.payer_position.as_str(), record.payee_position.as_str()),
        ("-128.50", "128.50")
    );
    assert_eq!(
        nets(&mut hub, &open, &["13", "41", "32"]).await,
        [Some("-128.50".to_owned()), Some("128.50".to_owned()), Some("0.00".to_owned())]
    );

    // Listing by month and province finds it for both provinces, not for others.
    for (province, expected) in [("13", 1), ("41", 1), ("32", 0), ("", 1)] {
        let mut stream = hub
            .list_transactions(pb::ListTransactionsRequest {
                period: open.clone(),
                province: province.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut found = 0;
        while let Some(t) = stream.message().await.unwrap() {
            assert_eq!(t.transaction_id, "pay-1");
            found += 1;
        }
        assert_eq!(found, expected, "province {province:?}");
    }

    // Every node's books balance.
    for code in ["13", "41"] {
        let info = net.node(code).get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner();
        assert_eq!(info.trial_balance, "0.00", "province {code}");
        assert_eq!(info.pending, 0);
    }
    net.shutdown().await;
}

#[tokio::test]
async fn same_province_payment_never_leaves_the_node() {
    let net = TestNetwork::start(&["32", "41"]).await;
    let (mut jiangsu, mut hub) = (net.node("32"), net.hub());
    employee_with_balance(&mut jiangsu, "donor-32", "320500", "1000.00").await;
    register(&mut jiangsu, "child-32", pb::InsuranceType::Resident, "320100").await;
    let r = establish(&mut jiangsu, "rel-32-32", "donor-32", "child-32", "32", "300.00")
        .await
        .unwrap();
    assert_eq!(r.status, pb::RelationshipStatus::Active as i32);

    let paid = pay(&mut jiangsu, pay_request("pay-local", "child-32", "P32050000007", "99.90"))
        .await
        .unwrap();
    assert!(approved(&paid));
    assert_eq!(paid.period, "", "no month stamp: the hub never saw it");
    assert_eq!(balances(&mut jiangsu, "donor-32").await, ("700.00".into(), "200.10".into()));
    assert_status(
        hub.get_transaction(pb::GetTransactionRequest {
            transaction_id: "pay-local".into(),
            kind: 0,
        })
        .await,
        Code::NotFound,
        "pay-local",
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_retried_payment_is_debited_once_and_a_reused_id_is_refused() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));

    let request = pay_request("pay-retry", "parent-41", "H41010000001", "100.00");
    let first = pay(&mut henan, request.clone()).await.unwrap();
    let second = pay(&mut henan, request.clone()).await.unwrap();
    assert!(approved(&first));
    assert_eq!(first, second, "the retry returns the recorded outcome");
    assert_eq!(balances(&mut hebei, "donor-13").await.1, "400.00", "debited once");

    let mut different = request.clone();
    different.amount = "100.01".into();
    assert_status(pay(&mut henan, different).await, Code::AlreadyExists, "pay-retry");
    assert_eq!(balances(&mut hebei, "donor-13").await.1, "400.00");
    net.shutdown().await;
}

#[tokio::test]
async fn a_payment_id_used_at_another_node_is_refused_naming_where_and_records_nothing() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    employee_with_balance(&mut henan, "donor-41", "410100", "1000.00").await;
    register(&mut hebei, "kid-13", pb::InsuranceType::Resident, "130100").await;
    establish(&mut henan, "rel-41-13", "donor-41", "kid-13", "13", "300.00")
        .await
        .unwrap();
    assert!(approved(
        &pay(&mut henan, pay_request("shared-id", "parent-41", "H41010000001", "10.00"))
            .await
            .unwrap()
    ));

    // The same id, another payment, at another node.
    for _ in 0..2 {
        assert_status(
            pay(&mut hebei, pay_request("shared-id", "kid-13", "H13010000001", "20.00")).await,
            Code::AlreadyExists,
            "already recorded at the hub for another payment, served at province 41's node",
        );
    }
    let seen = payment(&mut hebei, "shared-id").await.unwrap();
    assert_eq!(
        (seen.beneficiary_id.as_str(), seen.amount.as_str()),
        ("parent-41", "10.00"),
        "13 knows the id only as the donor's node of 41's payment"
    );
    assert_eq!(balances(&mut henan, "donor-41").await.1, "300.00", "the donor paid nothing");
    // The id stays free at 13: nothing waits there to be retried.
    let info = hebei.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner();
    assert_eq!(info.pending, 0);
    net.shutdown().await;
}

#[tokio::test]
async fn the_donors_node_never_approves_beyond_the_remaining_quota() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));

    // Named relationship: the request goes to the donor's node, which declines.
    let mut too_much = pay_request("pay-big", "parent-41", "H41010000001", "500.01");
    too_much.relationship_id = "rel-13-41".into();
    let declined = pay(&mut henan, too_much).await.unwrap();
    assert_eq!(declined.status, pb::TransactionStatus::Declined as i32);
    assert_eq!(declined.decline_reason, pb::DeclineReason::InsufficientQuota as i32);
    assert_eq!(
        payment(&mut hebei, "pay-big").await.unwrap().decline_reason,
        pb::DeclineReason::InsufficientQuota as i32
    );

    // Unnamed: the beneficiary's node finds no relationship with enough quota.
    let declined = pay(&mut henan, pay_request("pay-big-2", "parent-41", "H41010000001", "600.00"))
        .await
        .unwrap();
    assert_eq!(declined.decline_reason, pb::DeclineReason::InsufficientQuota as i32);

    // Exactly the quota passes; then nothing more does.
    assert!(approved(
        &pay(&mut henan, pay_request("pay-all", "parent-41", "H41010000001", "500.00"))
            .await
            .unwrap()
    ));
    let after = pay(&mut henan, pay_request("pay-more", "parent-41", "H41010000001", "0.01"))
        .await
        .unwrap();
    assert_eq!(after.status, pb::TransactionStatus::Declined as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1500.00".into(), "0.00".into()));
    net.shutdown().await;
}

#[tokio::test]
async fn concurrent_payments_never_overspend_a_quota() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    // Twenty payments of 40.00 race for a 500.00 quota: twelve fit.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut henan = net.node("41");
        tasks.push(tokio::spawn(async move {
            let mut request = pay_request(&format!("race-{i}"), "parent-41", "H41010000001", "40.00");
            request.relationship_id = "rel-13-41".into();
            pay(&mut henan, request).await.unwrap()
        }));
    }
    let mut approved_count = 0;
    for task in tasks {
        if approved(&task.await.unwrap()) {
            approved_count += 1;
        }
    }
    assert_eq!(approved_count, 12);
    assert_eq!(balances(&mut net.node("13"), "donor-13").await.1, "20.00");
    net.shutdown().await;
}

#[tokio::test]
async fn unknown_beneficiary_and_malformed_requests_are_refused_naming_the_field() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let mut henan = net.node("41");

    assert_status(
        pay(&mut henan, pay_request("pay-x", "nobody-41", "H41010000001", "10.00")).await,
        Code::NotFound,
        "nobody-41",
    );
    for bad in ["12.345", "-1", "abc", "0", ""] {
        assert_status(
            pay(&mut henan, pay_request("pay-bad", "parent-41", "H41010000001", bad)).await,
            Code::InvalidArgument,
            "amount",
        );
    }
    assert_status(
        pay(&mut henan, pay_request("pay-bad", "parent-41", "H13010000001", "10.00")).await,
        Code::InvalidArgument,
        "institution_id",
    );
    assert_status(
        pay(&mut henan, pay_request("pay/bad", "parent-41", "H41010000001", "10.00")).await,
        Code::InvalidArgument,
        "payment_id",
    );
    let mut no_purpose = pay_request("pay-bad", "parent-41", "H41010000001", "10.00");
    no_purpose.purpose = 0;
    assert_status(pay(&mut henan, no_purpose).await, Code::InvalidArgument, "purpose");
    let mut unknown_relationship = pay_request("pay-bad", "parent-41", "H41010000001", "10.00");
    unknown_relationship.relationship_id = "rel-none".into();
    assert_status(pay(&mut henan, unknown_relationship).await, Code::NotFound, "rel-none");
    // None of it was recorded: the id is still free.
    assert_status(payment(&mut henan, "pay-bad").await, Code::NotFound, "pay-bad");
    net.shutdown().await;
}

#[tokio::test]
async fn a_payment_waits_pending_while_the_donors_node_is_down_then_completes() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    net.stop_node("13").await;

    let mut henan = net.node("41");
    let request = pay_request("pay-down", "parent-41", "H41010000001", "50.00");
    assert_status(pay(&mut henan, request.clone()).await, Code::Unavailable, "pending");
    let pending = payment(&mut henan, "pay-down").await.unwrap();
    assert_eq!(pending.status, pb::TransactionStatus::Pending as i32, "never reported as approved");
    let at_hub = net
        .hub()
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "pay-down".into(),
            kind: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at_hub.status, pb::TransactionStatus::Pending as i32);

    net.start_node("13").await;
    // The recovery tasks finish it without any client action.
    let done = eventually("pending payment completes", || {
        let mut henan = net.node("41");
        async move { payment(&mut henan, "pay-down").await.ok().filter(approved) }
    })
    .await;
    assert_eq!(done.amount, "50.00");
    assert_eq!(balances(&mut net.node("13"), "donor-13").await.1, "450.00");
    // A retry by the client now returns the outcome.
    assert!(approved(&pay(&mut henan, request).await.unwrap()));
    assert_eq!(balances(&mut net.node("13"), "donor-13").await.1, "450.00");
    net.shutdown().await;
}

#[tokio::test]
async fn a_payment_waits_pending_while_the_hub_is_down_then_completes() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    net.stop_hub().await;

    let mut henan = net.node("41");
    assert_status(
        pay(&mut henan, pay_request("pay-nohub", "parent-41", "H41010000001", "20.00")).await,
        Code::Unavailable,
        "pending",
    );
    assert_eq!(
        payment(&mut henan, "pay-nohub").await.unwrap().status,
        pb::TransactionStatus::Pending as i32
    );

    net.start_hub().await;
    eventually("payment completes after the hub returns", || {
        let mut henan = net.node("41");
        async move { payment(&mut henan, "pay-nohub").await.ok().filter(approved) }
    })
    .await;
    assert_eq!(balances(&mut net.node("13"), "donor-13").await.1, "480.00");
    net.shutdown().await;
}

#[tokio::test]
async fn a_purpose_the_institution_does_not_serve_is_declined_with_its_own_reason() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    let mut medicine_at_a_hospital = pay_request("wrong-1", "parent-41", "H41010000001", "10.00");
    medicine_at_a_hospital.purpose = pb::PaymentPurpose::Pharmacy as i32;
    let mut stay_at_a_pharmacy = pay_request("wrong-2", "parent-41", "P41010000002", "10.00");
    stay_at_a_pharmacy.purpose = pb::PaymentPurpose::Inpatient as i32;
    for (request, says) in [
        (medicine_at_a_hospital, "H41010000001 is a designated medical institution"),
        (stay_at_a_pharmacy, "P41010000002 is a designated pharmacy"),
    ] {
        let declined = pay(&mut henan, request.clone()).await.unwrap();
        assert_eq!(
            (declined.status, declined.decline_reason),
            (
                pb::TransactionStatus::Declined as i32,
                pb::DeclineReason::WrongInstitutionKind as i32
            )
        );
        assert!(declined.decline_message.contains(says), "{}", declined.decline_message);
        // Decided where the institution is: the hub never saw it.
        assert_status(
            net.hub()
                .get_transaction(pb::GetTransactionRequest {
                    transaction_id: request.payment_id.clone(),
                    kind: pb::TransactionKind::Payment as i32,
                })
                .await,
            Code::NotFound,
            &request.payment_id,
        );
    }
    assert_eq!(balances(&mut hebei, "donor-13").await.1, "500.00", "nothing debited");
    let medicine = pay(&mut henan, pay_request("right-1", "parent-41", "P41010000002", "10.00"))
        .await
        .unwrap();
    assert!(approved(&medicine), "medicine at a pharmacy is paid");
    net.shutdown().await;
}
