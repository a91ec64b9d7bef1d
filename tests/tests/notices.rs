//! Reliable messages between nodes: every notice goes through a durable
//! outbox, is retried with backoff until acknowledged and is applied once. A
//! node (or the hub) that was down catches up when it returns, with nothing
//! lost or applied twice.

use gongji_tests::{
    balances, change_quota, dissolve, eventually, hebei_donor_henan_parent, history, relationship, relationship_becomes, v1 as pb,
    TestNetwork,
};
use pb::{RelationshipEventKind as Ev, RelationshipStatus as Rs};

#[tokio::test]
async fn a_node_that_was_down_receives_every_notice_once_in_effect() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    net.stop_node("41").await;
    let mut hebei = net.node("13");
    change_quota(&mut hebei, "c1", "rel-13-41", "700.00").await.unwrap();
    change_quota(&mut hebei, "c2", "rel-13-41", "900.00").await.unwrap();
    // The hub holds them; it restarts meanwhile and still has them.
    net.stop_hub().await;
    net.start_hub().await;

    net.start_node("41").await;
    eventually("the beneficiary's node sees the latest quota", || {
        let mut henan = net.node("41");
        async move { (relationship(&mut henan, "rel-13-41").await.quota == "900.00").then_some(()) }
    })
    .await;
    dissolve(&mut hebei, "rel-13-41", pb::Party::Donor).await.unwrap();
    relationship_becomes(&net, "41", "rel-13-41", Rs::Dissolved).await;

    let mut henan = net.node("41");
    let seen = history(&mut henan, "rel-13-41").await;
    let dissolved = seen.iter().filter(|k| **k == Ev::Dissolved).count();
    let changed = seen.iter().filter(|k| **k == Ev::QuotaChanged).count();
    assert_eq!(dissolved, 1, "{seen:?}");
    assert!((1..=2).contains(&changed), "each change at most once: {seen:?}");

    // A duplicate delivery (a lost acknowledgement, say) changes nothing.
    let duplicate = pb::Notice {
        notice_id: "ended/rel-13-41".into(),
        from_province: "13".into(),
        to_province: "41".into(),
        body: Some(pb::notice::Body::RelationshipEnded(pb::RelationshipEnded {
            grant: Some(pb::GrantNotice {
                relationship_id: "rel-13-41".into(),
                donor_id: "donor-13".into(),
                donor_province: "13".into(),
                beneficiary_id: "parent-41".into(),
                beneficiary_province: "41".into(),
                relation_kind: pb::RelationKind::Parent as i32,
                quota: "500.00".into(),
            }),
            reason: pb::EndReason::DonorRequest as i32,
            quota: "900.00".into(),
            used: "0.00".into(),
            version: 3,
        })),
    };
    net.link("41").deliver_notice(duplicate).await.unwrap();
    assert_eq!(history(&mut henan, "rel-13-41").await, seen);
    assert_eq!(
        net.node("13")
            .get_node_info(pb::GetNodeInfoRequest {})
            .await
            .unwrap()
            .into_inner()
            .pending,
        0
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_dissolution_asked_while_the_hub_is_down_waits_in_the_beneficiarys_outbox() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    net.stop_hub().await;
    let mut henan = net.node("41");
    let stopped = gongji_tests::dissolve(&mut henan, "rel-13-41", pb::Party::Beneficiary)
        .await
        .unwrap();
    assert_eq!(stopped.status, Rs::Dissolved as i32);
    // Nothing has reached the donor's node; the quota is still frozen.
    assert_eq!(balances(&mut net.node("13"), "donor-13").await, ("1500.00".into(), "500.00".into()));
    // The beneficiary's node restarts too: the notice is on disk.
    net.stop_node("41").await;
    net.start_node("41").await;
    net.start_hub().await;
    relationship_becomes(&net, "13", "rel-13-41", Rs::Dissolved).await;
    assert_eq!(balances(&mut net.node("13"), "donor-13").await, ("2000.00".into(), "0.00".into()));
    net.shutdown().await;
}
