//! Every node and the hub come back from a restart with all their state.

use gongji_tests::{balances, employee_with_balance, establish, pay, pay_request, payment, register, v1 as pb, TestNetwork};

#[tokio::test]
async fn a_restart_of_every_node_keeps_all_state() {
    let mut net = TestNetwork::start(&["13", "32", "41"]).await;
    let (mut hebei, mut jiangsu, mut henan) = (net.node("13"), net.node("32"), net.node("41"));
    employee_with_balance(&mut hebei, "donor-13", "130100", "1000.00").await;
    employee_with_balance(&mut jiangsu, "donor-32", "320500", "800.00").await;
    register(&mut henan, "kin-41", pb::InsuranceType::Resident, "410100").await;
    register(&mut jiangsu, "kin-32", pb::InsuranceType::Employee, "320100").await;
    establish(&mut hebei, "rel-13-41", "donor-13", "kin-41", "41", "300.00")
        .await
        .unwrap();
    establish(&mut jiangsu, "rel-32-32", "donor-32", "kin-32", "32", "200.00")
        .await
        .unwrap();
    pay(&mut henan, pay_request("pay-a", "kin-41", "H41010000001", "120.00"))
        .await
        .unwrap();
    pay(&mut jiangsu, pay_request("pay-b", "kin-32", "P32010000002", "20.00"))
        .await
        .unwrap();
    let period = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period;

    let snapshot = |net: &TestNetwork| {
        let (mut hebei, mut jiangsu, mut henan, mut hub) = (net.node("13"), net.node("32"), net.node("41"), net.hub());
        let period = period.clone();
        async move {
            (
                balances(&mut hebei, "donor-13").await,
                balances(&mut jiangsu, "donor-32").await,
                payment(&mut henan, "pay-a").await.unwrap(),
                payment(&mut hebei, "pay-a").await.unwrap(),
                payment(&mut jiangsu, "pay-b").await.unwrap(),
                henan
                    .get_person(pb::GetPersonRequest {
                        person_id: "kin-41".into(),
                    })
                    .await
                    .unwrap()
                    .into_inner(),
                henan
                    .list_relationships(pb::ListRelationshipsRequest {
                        person_id: "kin-41".into(),
                    })
                    .await
                    .unwrap()
                    .into_inner(),
                hub.get_transaction(pb::GetTransactionRequest {
                    transaction_id: "pay-a".into(),
                    kind: 0,
                })
                .await
                .unwrap()
                .into_inner(),
                hub.get_positions(pb::GetPositionsRequest { period: period.clone() })
                    .await
                    .unwrap()
                    .into_inner(),
                hebei.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner(),
            )
        }
    };
    let before = snapshot(&net).await;
    assert_eq!(before.0, ("700.00".into(), "180.00".into()));
    assert_eq!(before.2.status, pb::TransactionStatus::Approved as i32);

    net.restart_all().await;
    let after = snapshot(&net).await;
    assert_eq!(format!("{before:?}"), format!("{after:?}"));

    // And the network keeps working on the restored state.
    let mut henan = net.node("41");
    let more = pay(&mut henan, pay_request("pay-c", "kin-41", "H41010000001", "180.00"))
        .await
        .unwrap();
    assert_eq!(more.status, pb::TransactionStatus::Approved as i32);
    assert_eq!(balances(&mut net.node("13"), "donor-13").await, ("700.00".into(), "0.00".into()));
    net.shutdown().await;
}
