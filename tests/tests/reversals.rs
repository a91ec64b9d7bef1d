//! Reversals: an institution that never got the answer to a payment reverses
//! it. Rule (DESIGN.md): reverse is always safe; an approved payment is
//! credited back, an unknown one is cancelled, and a cancelled id can never
//! be approved later, even by a late message.

use gongji_tests::{
    balances, employee_with_balance, establish, eventually, hebei_donor_henan_parent, pay, pay_request, payment, proxy::Fault, register,
    relationship, reverse, trial_balance, v1 as pb, TestNetwork,
};
use pb::TransactionStatus as Ts;
use tonic::Code;

/// The request a hub sends a donor's node, replayed as a late duplicate.
fn late_debit(payment: &pb::Payment, period: &str) -> pb::DebitRequest {
    pb::DebitRequest {
        payment: Some(pb::CrossPayment {
            payment_id: payment.payment_id.clone(),
            relationship_id: payment.relationship_id.clone(),
            donor_id: payment.donor_id.clone(),
            donor_province: payment.donor_province.clone(),
            beneficiary_id: payment.beneficiary_id.clone(),
            beneficiary_province: payment.beneficiary_province.clone(),
            institution_id: payment.institution_id.clone(),
            amount: payment.amount.clone(),
            purpose: payment.purpose,
        }),
        period: period.into(),
    }
}

async fn open_period(net: &TestNetwork) -> String {
    net.hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period
}

#[tokio::test]
async fn a_payment_whose_reply_was_lost_is_reversed_and_the_late_reply_changes_nothing() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let to_hebei = net.proxy_hub_to("13").await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));

    // The donor's node approves, but its reply never reaches the hub.
    to_hebei.set(Fault::DropReplies);
    let lost = pay(&mut henan, pay_request("p-lost", "parent-41", "H41010000001", "120.00")).await;
    assert_eq!(lost.unwrap_err().code(), Code::Unavailable);
    assert_eq!(
        payment(&mut hebei, "p-lost").await.unwrap().status,
        Ts::Approved as i32,
        "decided at the donor's node"
    );
    assert_eq!(
        payment(&mut henan, "p-lost").await.unwrap().status,
        Ts::Pending as i32,
        "never reported as approved"
    );

    // The institution gives up and reverses it.
    to_hebei.heal();
    let reversed = reverse(&mut henan, "p-lost").await.unwrap();
    assert_eq!(reversed.status, Ts::Reversed as i32);
    let period = open_period(&net).await;
    assert_eq!(
        (reversed.period.as_str(), reversed.reversal_period.as_str()),
        (period.as_str(), period.as_str())
    );
    assert_eq!(
        balances(&mut hebei, "donor-13").await,
        ("1500.00".into(), "500.00".into()),
        "credited back to the quota"
    );
    assert_eq!(relationship(&mut hebei, "rel-13-41").await.used, "0.00");
    assert_eq!(payment(&mut hebei, "p-lost").await.unwrap().status, Ts::Reversed as i32);

    // The late reply, or any late retry of the debit, never approves it again.
    let replay = net
        .link("13")
        .authorize_debit(late_debit(&reversed, &period))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (replay.status, replay.decline_reason),
        (Ts::Declined as i32, pb::DeclineReason::Reversed as i32)
    );
    let again = pay(&mut henan, pay_request("p-lost", "parent-41", "H41010000001", "120.00"))
        .await
        .unwrap();
    assert_eq!(again.status, Ts::Reversed as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await.1, "500.00");

    // The hub has the payment (approved in its month) and its reversal.
    let at_hub = net
        .hub()
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "p-lost".into(),
            kind: pb::TransactionKind::Reversal as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((at_hub.status, at_hub.payer_province.as_str()), (Ts::Approved as i32, "41"));
    let positions = net
        .hub()
        .get_positions(pb::GetPositionsRequest { period })
        .await
        .unwrap()
        .into_inner();
    assert!(positions.positions.iter().all(|p| p.net == "0.00"), "{positions:?}");
    for node in [&mut hebei, &mut henan] {
        assert_eq!(trial_balance(node).await, "0.00");
    }
    net.shutdown().await;
}

#[tokio::test]
async fn a_reversal_that_overtakes_its_payment_cancels_the_id_for_good() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let mut henan = net.node("41");
    net.stop_node("13").await;

    assert_eq!(
        pay(&mut henan, pay_request("p-held", "parent-41", "H41010000001", "60.00"))
            .await
            .unwrap_err()
            .code(),
        Code::Unavailable
    );
    // Reversed while the donor's node is down: stopped here at once.
    let reversal = reverse(&mut henan, "p-held").await;
    assert_eq!(
        reversal.unwrap_err().code(),
        Code::Unavailable,
        "the donor's confirmation is still to come"
    );
    assert_eq!(payment(&mut henan, "p-held").await.unwrap().status, Ts::Reversed as i32);

    net.start_node("13").await;
    let settled = eventually("the reversal settles", || {
        let mut henan = net.node("41");
        async move {
            let p = payment(&mut henan, "p-held").await.ok()?;
            (p.status == Ts::Reversed as i32 && p.decided_at.is_some() && p.reversal_period.is_empty()).then_some(p)
        }
    })
    .await;
    assert_eq!(settled.period, "", "it was never approved anywhere");
    let mut hebei = net.node("13");
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1500.00".into(), "500.00".into()));
    // The debit request arriving now (late) is declined.
    let period = open_period(&net).await;
    let mut cancelled = settled.clone();
    cancelled.donor_province = "13".into();
    let replay = net
        .link("13")
        .authorize_debit(late_debit(&cancelled, &period))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay.decline_reason, pb::DeclineReason::Reversed as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await.1, "500.00");
    net.shutdown().await;
}

#[tokio::test]
async fn an_unknown_payment_reversed_first_can_never_be_paid_and_a_local_one_is_credited_back() {
    let net = TestNetwork::start(&["32"]).await;
    let mut jiangsu = net.node("32");
    employee_with_balance(&mut jiangsu, "donor", "320500", "1000.00").await;
    register(&mut jiangsu, "child", pb::InsuranceType::Resident, "320100").await;
    establish(&mut jiangsu, "rel", "donor", "child", "32", "300.00").await.unwrap();

    let cancelled = reverse(&mut jiangsu, "p-never").await.unwrap();
    assert_eq!(cancelled.status, Ts::Reversed as i32);
    let refused = pay(&mut jiangsu, pay_request("p-never", "child", "H32010000001", "10.00"))
        .await
        .unwrap();
    assert_eq!(refused.status, Ts::Reversed as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await.1, "300.00");

    pay(&mut jiangsu, pay_request("p-local", "child", "H32010000001", "45.00"))
        .await
        .unwrap();
    let back = reverse(&mut jiangsu, "p-local").await.unwrap();
    assert_eq!(back.status, Ts::Reversed as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await, ("700.00".into(), "300.00".into()));
    assert_eq!(
        reverse(&mut jiangsu, "p-local").await.unwrap(),
        back,
        "reversing twice changes nothing"
    );
    assert_eq!(trial_balance(&mut jiangsu).await, "0.00");
    net.shutdown().await;
}
