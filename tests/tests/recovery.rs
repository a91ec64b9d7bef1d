//! Recovery: every pending intent is resolved — re-sent with its id until a
//! definite answer, or cancelled when its institution has given up.

use std::time::Duration;

use gongji_tests::{balances, eventually, hebei_donor_henan_parent, pay, pay_request, payment, v1 as pb, TestNetwork};
use pb::TransactionStatus as Ts;
use tonic::Code;

#[tokio::test]
async fn a_payment_pending_past_its_deadline_is_reversed_and_never_approved() {
    let mut net = TestNetwork::start_with(&["13", "41"], |spec| spec.give_up_after = Duration::from_millis(800)).await;
    hebei_donor_henan_parent(&net).await;
    net.stop_node("13").await;
    let pending = pay(&mut net.node("41"), pay_request("p-stuck", "parent-41", "H41010000001", "70.00")).await;
    assert_eq!(pending.unwrap_err().code(), Code::Unavailable);

    // Past the deadline the node reverses it by itself: cancelled for good.
    eventually("the stuck payment is reversed", || {
        let mut henan = net.node("41");
        async move {
            payment(&mut henan, "p-stuck")
                .await
                .ok()
                .filter(|p| p.status == Ts::Reversed as i32)
        }
    })
    .await;
    net.start_node("13").await;
    let settled = eventually("the reversal is confirmed by the donor's side", || {
        let mut henan = net.node("41");
        async move { payment(&mut henan, "p-stuck").await.ok().filter(|p| p.decided_at.is_some()) }
    })
    .await;
    assert_eq!(settled.status, Ts::Reversed as i32);
    assert_eq!(
        balances(&mut net.node("13"), "donor-13").await,
        ("1500.00".into(), "500.00".into()),
        "never debited"
    );
    let hub = net
        .hub()
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "p-stuck".into(),
            kind: pb::TransactionKind::Payment as i32,
        })
        .await
        .unwrap()
        .into_inner();
    if hub.status != Ts::Reversed as i32 {
        // The hub's recovery re-sent the payment to the restarted donor's
        // node just before the reversal got there: the late approval is
        // booked and undone by an approved reversal (the balances above
        // show nothing moved in the end).
        assert_eq!(hub.status, Ts::Approved as i32, "{hub:?}");
        let undone = net
            .hub()
            .get_transaction(pb::GetTransactionRequest {
                transaction_id: "p-stuck".into(),
                kind: pb::TransactionKind::Reversal as i32,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(undone.status, Ts::Approved as i32, "a late approval is undone: {undone:?}");
    }
    net.shutdown().await;
}
