//! Overload: a peer with more calls in progress than its limit gets
//! RESOURCE_EXHAUSTED at once for the extra ones; nothing of a refused call
//! is recorded, and the node stays healthy and serves the next call.

use gongji_tests::{employee_with_balance, establish, pay_request, payment, register, v1 as pb, TestNetwork};
use tonic::Code;

#[tokio::test]
async fn calls_beyond_a_peers_limit_are_refused_with_resource_exhausted_and_change_nothing() {
    let net = TestNetwork::start_with(&["13", "32"], |spec| spec.max_in_flight_per_peer = 2).await;
    let mut node = net.node("13");
    employee_with_balance(&mut node, "busy-donor", "130100", "10000.00").await;
    register(&mut node, "busy-kin", pb::InsuranceType::Employee, "130100").await;
    establish(&mut node, "busy-rel", "busy-donor", "busy-kin", "13", "5000.00")
        .await
        .unwrap();

    // Forty payments at once on one connection (the clones share it).
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let mut client = node.clone();
            tokio::spawn(async move {
                let id = format!("burst-{i}");
                let answer = client.pay(pay_request(&id, "busy-kin", "H13010000001", "1.00")).await;
                (id, answer.map(|r| r.into_inner()))
            })
        })
        .collect();
    let mut approved = Vec::new();
    let mut shed = Vec::new();
    for call in calls {
        let (id, answer) = call.await.unwrap();
        match answer {
            Ok(paid) => {
                assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{id}: {paid:?}");
                approved.push(id);
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{id}: {status:?}");
                shed.push(id);
            }
        }
    }
    assert!(!approved.is_empty() && !shed.is_empty(), "approved {approved:?}, shed {shed:?}");

    // A refused call left nothing behind; the approved ones are all there.
    for id in &shed {
        assert_eq!(payment(&mut node, id).await.unwrap_err().code(), Code::NotFound, "{id}");
    }
    for id in &approved {
        assert_eq!(payment(&mut node, id).await.unwrap().status, pb::TransactionStatus::Approved as i32);
    }
    let account = node
        .get_account(pb::GetAccountRequest {
            person_id: "busy-donor".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.frozen, format!("{}.00", 5000 - approved.len()), "{account:?}");

    // Still healthy, and the next call goes through.
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Channel::from_shared(net.network().node_url(gongji_tests::code("13")))
            .unwrap()
            .connect_lazy(),
    );
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let next = node
        .pay(pay_request("after-burst", "busy-kin", "H13010000001", "1.00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.status, pb::TransactionStatus::Approved as i32);
    net.shutdown().await;
}
