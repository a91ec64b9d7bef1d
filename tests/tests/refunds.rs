//! Refunds and the contribution uses of mutual-aid funds. Rules: refunds
//! return money to the quota it came from, or to the donor's available
//! balance if the relationship has ended; never more than was paid; a
//! cross-province refund is a transaction of its own (the beneficiary's
//! province owes the donor's). Contributions (resident insurance, long-term
//! care) are paid to the beneficiary's province fund.

use gongji_tests::{
    assert_status, balances, dissolve, employee_with_balance, establish, hebei_donor_henan_parent, history, pay, pay_request, refund,
    register, relationship, relationship_becomes, trial_balance, v1 as pb, TestNetwork,
};
use pb::{RelationshipEventKind as Ev, TransactionStatus as Ts};
use tonic::Code;

async fn hub_transaction(net: &TestNetwork, id: &str, kind: pb::TransactionKind) -> pb::Transaction {
    net.hub()
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: id.into(),
            kind: kind as i32,
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_cross_province_refund_returns_to_the_quota_and_is_a_transaction_of_its_own() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    pay(&mut henan, pay_request("p1", "parent-41", "H41010000001", "100.00"))
        .await
        .unwrap();

    let first = refund(&mut henan, "r1", "p1", "30.00").await.unwrap();
    assert_eq!(first.status, Ts::Approved as i32);
    assert_eq!((first.donor_province.as_str(), first.relationship_id.as_str()), ("13", "rel-13-41"));
    assert!(!first.period.is_empty());
    assert_eq!(refund(&mut henan, "r1", "p1", "30.00").await.unwrap(), first, "idempotent");
    assert_status(refund(&mut henan, "r1", "p1", "31.00").await, Code::AlreadyExists, "r1");
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1500.00".into(), "430.00".into()));
    let r = relationship(&mut hebei, "rel-13-41").await;
    assert_eq!((r.used.as_str(), r.remaining.as_str()), ("70.00", "430.00"));

    // Never more than was paid: 70.00 is left.
    let too_much = refund(&mut henan, "r2", "p1", "70.01").await.unwrap();
    assert_eq!(too_much.status, Ts::Declined as i32);
    assert_eq!(too_much.decline_reason, pb::DeclineReason::RefundExceedsPayment as i32);
    assert_eq!(refund(&mut henan, "r3", "p1", "70.00").await.unwrap().status, Ts::Approved as i32);
    assert_eq!(refund(&mut henan, "r4", "p1", "0.01").await.unwrap().status, Ts::Declined as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await.1, "500.00");
    let paid = gongji_tests::payment(&mut henan, "p1").await.unwrap();
    assert_eq!(paid.refunded, "100.00");

    // The hub has the refund as its own transaction, 41 owing 13.
    let at_hub = hub_transaction(&net, "r1", pb::TransactionKind::Refund).await;
    assert_eq!((at_hub.payer_province.as_str(), at_hub.payee_province.as_str()), ("41", "13"));
    assert_eq!((at_hub.amount.as_str(), at_hub.payment_id.as_str()), ("30.00", "p1"));
    let positions = net
        .hub()
        .get_positions(pb::GetPositionsRequest {
            period: at_hub.period.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        positions.positions.iter().all(|p| p.net == "0.00"),
        "paid and refunded in full: {positions:?}"
    );

    assert_eq!(
        history(&mut hebei, "rel-13-41").await,
        vec![Ev::Established, Ev::GrantAccepted, Ev::Payment, Ev::Refund, Ev::Refund]
    );
    assert_eq!(
        history(&mut henan, "rel-13-41").await,
        vec![Ev::GrantAccepted, Ev::Payment, Ev::Refund, Ev::Refund]
    );
    for node in [&mut hebei, &mut henan] {
        assert_eq!(trial_balance(node).await, "0.00");
    }
    assert_status(refund(&mut henan, "r9", "nope", "1.00").await, Code::NotFound, "nope");
    net.shutdown().await;
}

#[tokio::test]
async fn a_refund_after_dissolution_returns_to_the_donors_available_balance() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    pay(&mut henan, pay_request("p1", "parent-41", "H41010000001", "100.00"))
        .await
        .unwrap();
    dissolve(&mut hebei, "rel-13-41", pb::Party::Donor).await.unwrap();
    relationship_becomes(&net, "41", "rel-13-41", pb::RelationshipStatus::Dissolved).await;
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1900.00".into(), "0.00".into()));

    let back = refund(&mut henan, "r1", "p1", "40.00").await.unwrap();
    assert_eq!(back.status, Ts::Approved as i32);
    assert_eq!(
        balances(&mut hebei, "donor-13").await,
        ("1940.00".into(), "0.00".into()),
        "to available: the quota is gone"
    );
    assert_eq!(
        relationship(&mut hebei, "rel-13-41").await.status,
        pb::RelationshipStatus::Dissolved as i32
    );
    assert_eq!(trial_balance(&mut hebei).await, "0.00");
    net.shutdown().await;
}

#[tokio::test]
async fn a_same_province_refund_returns_to_the_quota_without_the_hub() {
    let net = TestNetwork::start(&["32"]).await;
    let mut jiangsu = net.node("32");
    employee_with_balance(&mut jiangsu, "donor", "320500", "1000.00").await;
    register(&mut jiangsu, "child", pb::InsuranceType::Resident, "320100").await;
    establish(&mut jiangsu, "rel", "donor", "child", "32", "300.00").await.unwrap();
    pay(&mut jiangsu, pay_request("p1", "child", "P32010000001", "80.00"))
        .await
        .unwrap();
    let back = refund(&mut jiangsu, "r1", "p1", "80.00").await.unwrap();
    assert_eq!((back.status, back.period.as_str()), (Ts::Approved as i32, ""));
    assert_eq!(balances(&mut jiangsu, "donor").await, ("700.00".into(), "300.00".into()));
    net.shutdown().await;
}

#[tokio::test]
async fn contributions_are_paid_to_the_beneficiarys_province_fund() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    employee_with_balance(&mut net.node("41"), "worker-41", "410100", "10.00").await;
    establish(&mut net.node("13"), "rel-13-41-w", "donor-13", "worker-41", "41", "500.00")
        .await
        .unwrap();
    let mut henan = net.node("41");
    let contribution = |id: &str, person: &str, purpose: pb::PaymentPurpose, amount: &str| pb::PayRequest {
        payment_id: id.into(),
        beneficiary_id: person.into(),
        institution_id: String::new(),
        amount: amount.into(),
        purpose: purpose as i32,
        relationship_id: String::new(),
    };

    // The parent's resident-insurance contribution for the year.
    let resident = pay(
        &mut henan,
        contribution("c1", "parent-41", pb::PaymentPurpose::ResidentContribution, "380.00"),
    )
    .await
    .unwrap();
    assert_eq!(resident.status, Ts::Approved as i32, "{resident:?}");
    assert_eq!((resident.institution_id.as_str(), resident.donor_province.as_str()), ("", "13"));
    // Long-term-care contribution for an employee beneficiary.
    let care = pay(
        &mut henan,
        contribution("c2", "worker-41", pb::PaymentPurpose::LongTermCareContribution, "90.00"),
    )
    .await
    .unwrap();
    assert_eq!(care.status, Ts::Approved as i32);
    // A resident-insurance contribution only for a resident.
    let wrong = pay(
        &mut henan,
        contribution("c3", "worker-41", pb::PaymentPurpose::ResidentContribution, "10.00"),
    )
    .await
    .unwrap();
    assert_eq!(wrong.decline_reason, pb::DeclineReason::NotResidentInsured as i32);
    // A contribution names no institution; care needs one.
    let mut with_institution = contribution("c4", "parent-41", pb::PaymentPurpose::ResidentContribution, "1.00");
    with_institution.institution_id = "H41010000001".into();
    assert_status(pay(&mut henan, with_institution).await, Code::InvalidArgument, "institution_id");
    assert_status(
        pay(&mut henan, contribution("c5", "parent-41", pb::PaymentPurpose::Inpatient, "1.00")).await,
        Code::InvalidArgument,
        "institution_id",
    );
    assert_eq!(balances(&mut net.node("13"), "donor-13").await, ("1000.00".into(), "530.00".into()));
    assert_eq!(trial_balance(&mut henan).await, "0.00");
    // Refunded by the fund, the money goes back to the donor's quota.
    assert_eq!(refund(&mut henan, "rc1", "c1", "380.00").await.unwrap().status, Ts::Approved as i32);
    assert_eq!(balances(&mut net.node("13"), "donor-13").await.1, "910.00");
    net.shutdown().await;
}
