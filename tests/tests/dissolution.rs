//! Ending a relationship: voluntarily from either side, racing a payment, and
//! changing its quota while it lives. Rules from DOMAIN.md: "established or
//! dissolved voluntarily by either party"; "when the relationship is
//! dissolved, the unused quota returns to the donor's account"; the donor may
//! raise (freezing more) or lower (releasing unused) the quota.

use gongji_tests::{
    assert_status, balances, change_quota, dissolve, employee_with_balance, establish, fen, hebei_donor_henan_parent, history, pay,
    pay_request, register, relationship, relationship_becomes, trial_balance, v1 as pb, TestNetwork,
};
use pb::{Party, RelationshipEventKind as Ev, RelationshipStatus as Rs};
use tonic::Code;

fn approved(p: &pb::Payment) -> bool {
    p.status == pb::TransactionStatus::Approved as i32
}

#[tokio::test]
async fn the_donor_dissolves_without_payments_and_the_whole_quota_returns() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let mut hebei = net.node("13");

    let ended = dissolve(&mut hebei, "rel-13-41", Party::Donor).await.unwrap();
    assert_eq!(ended.status, Rs::Dissolved as i32);
    assert_eq!(ended.end_reason, pb::EndReason::DonorRequest as i32);
    assert!(ended.ended_at.is_some());
    assert_eq!(balances(&mut hebei, "donor-13").await, ("2000.00".into(), "0.00".into()));

    let at_beneficiary = relationship_becomes(&net, "41", "rel-13-41", Rs::Dissolved).await;
    assert_eq!(at_beneficiary.end_reason, pb::EndReason::DonorRequest as i32);
    // The beneficiary can no longer pay from it.
    let refused = pay(&mut net.node("41"), pay_request("pay-after", "parent-41", "H41010000001", "1.00"))
        .await
        .unwrap();
    assert_eq!(refused.status, pb::TransactionStatus::Declined as i32);
    // Dissolving again changes nothing.
    assert_eq!(dissolve(&mut hebei, "rel-13-41", Party::Donor).await.unwrap(), ended);
    assert_eq!(balances(&mut hebei, "donor-13").await.0, "2000.00");
    assert_eq!(
        history(&mut hebei, "rel-13-41").await,
        vec![Ev::Established, Ev::GrantAccepted, Ev::Dissolved]
    );
    assert_eq!(
        history(&mut net.node("41"), "rel-13-41").await,
        vec![Ev::GrantAccepted, Ev::Dissolved]
    );
    net.shutdown().await;
}

#[tokio::test]
async fn the_donor_dissolves_after_payments_and_only_the_unused_quota_returns() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    assert!(approved(
        &pay(&mut henan, pay_request("p1", "parent-41", "H41010000001", "120.00"))
            .await
            .unwrap()
    ));
    assert!(approved(
        &pay(&mut henan, pay_request("p2", "parent-41", "P41010000002", "30.50"))
            .await
            .unwrap()
    ));

    dissolve(&mut hebei, "rel-13-41", Party::Donor).await.unwrap();
    // 2000 - 500 frozen + 349.50 unused back; the 150.50 paid is gone.
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1849.50".into(), "0.00".into()));
    let at_donor = relationship(&mut hebei, "rel-13-41").await;
    assert_eq!(
        (at_donor.used.as_str(), at_donor.remaining.as_str()),
        ("150.50", "0.00"),
        "nothing left to spend once ended"
    );
    relationship_becomes(&net, "41", "rel-13-41", Rs::Dissolved).await;
    assert_eq!(
        history(&mut hebei, "rel-13-41").await,
        vec![Ev::Established, Ev::GrantAccepted, Ev::Payment, Ev::Payment, Ev::Dissolved]
    );
    assert_eq!(trial_balance(&mut hebei).await, "0.00");
    net.shutdown().await;
}

#[tokio::test]
async fn the_beneficiary_dissolves_stopping_payments_at_once_and_the_donors_node_returns_the_quota() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    assert!(approved(
        &pay(&mut henan, pay_request("p1", "parent-41", "H41010000001", "100.00"))
            .await
            .unwrap()
    ));

    let stopped = dissolve(&mut henan, "rel-13-41", Party::Beneficiary).await.unwrap();
    assert_eq!(stopped.status, Rs::Dissolved as i32);
    assert_eq!(stopped.end_reason, pb::EndReason::BeneficiaryRequest as i32);
    // At once, before the donor's node has heard anything: no more payments here.
    let mut named = pay_request("p2", "parent-41", "H41010000001", "10.00");
    named.relationship_id = "rel-13-41".into();
    let refused = pay(&mut henan, named).await.unwrap();
    assert_eq!(refused.decline_reason, pb::DeclineReason::RelationshipNotActive as i32);

    let at_donor = relationship_becomes(&net, "13", "rel-13-41", Rs::Dissolved).await;
    assert_eq!(at_donor.end_reason, pb::EndReason::BeneficiaryRequest as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1900.00".into(), "0.00".into()));
    // The donor's node confirms the end back to the beneficiary's node.
    let expected = vec![Ev::GrantAccepted, Ev::Payment, Ev::DissolutionRequested, Ev::Dissolved];
    gongji_tests::eventually("the beneficiary's node records the confirmed end", || {
        let mut henan = net.node("41");
        let expected = expected.clone();
        async move { (history(&mut henan, "rel-13-41").await == expected).then_some(()) }
    })
    .await;
    // The donor cannot be asked to dissolve at the beneficiary's node, nor the other way round.
    assert_status(
        dissolve(&mut henan, "rel-13-41", Party::Donor).await,
        Code::FailedPrecondition,
        "province 13",
    );
    assert_status(
        dissolve(&mut hebei, "rel-13-41", Party::Beneficiary).await,
        Code::FailedPrecondition,
        "province 41",
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_same_province_relationship_dissolves_from_either_side_at_once() {
    let net = TestNetwork::start(&["32"]).await;
    let mut jiangsu = net.node("32");
    employee_with_balance(&mut jiangsu, "donor", "320500", "1000.00").await;
    register(&mut jiangsu, "child", pb::InsuranceType::Resident, "320100").await;
    register(&mut jiangsu, "spouse", pb::InsuranceType::Resident, "320200").await;
    establish(&mut jiangsu, "rel-child", "donor", "child", "32", "300.00")
        .await
        .unwrap();
    establish(&mut jiangsu, "rel-spouse", "donor", "spouse", "32", "200.00")
        .await
        .unwrap();
    pay(&mut jiangsu, pay_request("p-child", "child", "H32010000001", "50.00"))
        .await
        .unwrap();

    let by_child = dissolve(&mut jiangsu, "rel-child", Party::Beneficiary).await.unwrap();
    assert_eq!(by_child.end_reason, pb::EndReason::BeneficiaryRequest as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await, ("750.00".into(), "200.00".into()));
    let by_donor = dissolve(&mut jiangsu, "rel-spouse", Party::Donor).await.unwrap();
    assert_eq!(by_donor.end_reason, pb::EndReason::DonorRequest as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await, ("950.00".into(), "0.00".into()));
    assert_status(dissolve(&mut jiangsu, "rel-none", Party::Donor).await, Code::NotFound, "rel-none");
    net.shutdown().await;
}

#[tokio::test]
async fn a_payment_racing_a_dissolution_is_never_approved_after_the_donors_node_dissolved_it() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    // Hold back the hub's messages to the beneficiary's node: it keeps
    // believing the relationship is live while the donor has ended it.
    let to_henan = net.proxy_hub_to("41").await;
    to_henan.set(gongji_tests::proxy::Fault::Refuse);
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));

    dissolve(&mut hebei, "rel-13-41", Party::Donor).await.unwrap();
    assert_eq!(
        relationship(&mut henan, "rel-13-41").await.status,
        Rs::Active as i32,
        "the notice has not arrived"
    );
    let late = pay(&mut henan, pay_request("p-late", "parent-41", "H41010000001", "10.00"))
        .await
        .unwrap();
    assert_eq!(late.status, pb::TransactionStatus::Declined as i32);
    assert_eq!(late.decline_reason, pb::DeclineReason::RelationshipNotActive as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await, ("2000.00".into(), "0.00".into()));

    // Many payments against a dissolution in flight: whatever the order, the
    // donor's money adds up and nothing is approved after the end.
    to_henan.heal();
    relationship_becomes(&net, "41", "rel-13-41", Rs::Dissolved).await;
    establish(&mut hebei, "rel-2", "donor-13", "parent-41", "41", "400.00")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let mut henan = net.node("41");
        tasks.push(tokio::spawn(async move {
            let mut request = pay_request(&format!("race-{i}"), "parent-41", "H41010000001", "25.00");
            request.relationship_id = "rel-2".into();
            pay(&mut henan, request).await
        }));
    }
    let ended = dissolve(&mut hebei, "rel-2", Party::Donor).await.unwrap();
    let mut approved_here = 0;
    for task in tasks {
        if let Ok(payment) = task.await.unwrap() {
            if approved(&payment) {
                approved_here += 1;
            }
        }
    }
    let at_donor = relationship(&mut hebei, "rel-2").await;
    let used_cents = fen(&at_donor.used);
    assert_eq!(
        used_cents,
        approved_here * 2500,
        "every approval the beneficiary saw was decided before the end"
    );
    assert_eq!(ended.status, Rs::Dissolved as i32);
    let available_cents = fen(&balances(&mut hebei, "donor-13").await.0);
    assert_eq!(available_cents, 200_000 - used_cents, "quota minus what was paid came back");
    assert_eq!(trial_balance(&mut hebei).await, "0.00");
    net.shutdown().await;
}

#[tokio::test]
async fn the_quota_rises_within_the_available_balance_and_falls_no_lower_than_what_is_used() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    pay(&mut henan, pay_request("p1", "parent-41", "H41010000001", "200.00"))
        .await
        .unwrap();

    let raised = change_quota(&mut hebei, "c1", "rel-13-41", "800.00").await.unwrap();
    assert_eq!(raised.status, pb::TransactionStatus::Approved as i32);
    assert_eq!((raised.old_quota.as_str(), raised.new_quota.as_str()), ("500.00", "800.00"));
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1200.00".into(), "600.00".into()));
    assert_eq!(
        change_quota(&mut hebei, "c1", "rel-13-41", "800.00").await.unwrap(),
        raised,
        "idempotent"
    );
    assert_status(
        change_quota(&mut hebei, "c1", "rel-13-41", "900.00").await,
        Code::AlreadyExists,
        "c1",
    );

    let too_high = change_quota(&mut hebei, "c2", "rel-13-41", "2000.01").await.unwrap();
    assert_eq!(too_high.decline_reason, pb::DeclineReason::InsufficientBalance as i32);
    let too_low = change_quota(&mut hebei, "c3", "rel-13-41", "199.99").await.unwrap();
    assert_eq!(too_low.decline_reason, pb::DeclineReason::QuotaBelowUsed as i32);
    let down_to_used = change_quota(&mut hebei, "c4", "rel-13-41", "200.00").await.unwrap();
    assert_eq!(down_to_used.status, pb::TransactionStatus::Approved as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1800.00".into(), "0.00".into()));

    // The beneficiary's node learns the new quota; nothing is left to spend.
    gongji_tests::eventually("the beneficiary's node sees quota 200.00", || {
        let mut henan = net.node("41");
        async move { (relationship(&mut henan, "rel-13-41").await.quota == "200.00").then_some(()) }
    })
    .await;
    let mut named = pay_request("p2", "parent-41", "H41010000001", "0.01");
    named.relationship_id = "rel-13-41".into();
    assert_eq!(
        pay(&mut henan, named).await.unwrap().decline_reason,
        pb::DeclineReason::InsufficientQuota as i32
    );
    assert_status(
        change_quota(&mut henan, "c5", "rel-13-41", "300.00").await,
        Code::FailedPrecondition,
        "donor's node",
    );
    assert_status(
        change_quota(&mut hebei, "c6", "rel-13-41", "0").await,
        Code::InvalidArgument,
        "quota",
    );
    assert_eq!(
        history(&mut hebei, "rel-13-41").await,
        vec![Ev::Established, Ev::GrantAccepted, Ev::Payment, Ev::QuotaChanged, Ev::QuotaChanged]
    );
    net.shutdown().await;
}
