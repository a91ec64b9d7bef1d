//! Establishing mutual-aid relationships: frozen at once at the donor's node,
//! checked by the beneficiary's node through the hub, visible on both.

use gongji_tests::{
    assert_status, balances, employee_with_balance, establish, establish_request, eventually, register, v1 as pb, TestNetwork,
};
use tonic::Code;

fn relationship_request(id: &str) -> pb::GetRelationshipRequest {
    pb::GetRelationshipRequest {
        relationship_id: id.into(),
    }
}

#[tokio::test]
async fn a_cross_province_relationship_is_active_and_visible_on_both_nodes() {
    let net = TestNetwork::start(&["32", "41"]).await;
    let (mut jiangsu, mut henan) = (net.node("32"), net.node("41"));
    employee_with_balance(&mut jiangsu, "donor", "320500", "1000.00").await;
    register(&mut henan, "mother", pb::InsuranceType::Resident, "410100").await;

    let r = establish(&mut jiangsu, "rel-1", "donor", "mother", "41", "400.00").await.unwrap();
    assert_eq!(r.status, pb::RelationshipStatus::Active as i32);
    assert!(r.owned_here);
    assert_eq!(
        balances(&mut jiangsu, "donor").await,
        ("600.00".into(), "400.00".into()),
        "frozen at once"
    );

    let donor_side = jiangsu
        .list_relationships(pb::ListRelationshipsRequest { person_id: "donor".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(donor_side.as_donor.len(), 1);
    assert!(donor_side.as_beneficiary.is_empty());
    let beneficiary_side = henan
        .list_relationships(pb::ListRelationshipsRequest {
            person_id: "mother".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(beneficiary_side.as_beneficiary.len(), 1);
    let grant = &beneficiary_side.as_beneficiary[0];
    assert_eq!(grant.status, pb::RelationshipStatus::Active as i32);
    assert!(!grant.owned_here);
    assert_eq!(
        (grant.donor_province.as_str(), grant.quota.as_str(), grant.remaining.as_str()),
        ("32", "400.00", "400.00")
    );
    assert_eq!(grant.relation_kind, pb::RelationKind::Parent as i32);
    net.shutdown().await;
}

#[tokio::test]
async fn a_grant_to_an_unknown_or_inactive_beneficiary_is_declined_and_the_quota_released() {
    let net = TestNetwork::start(&["32", "41"]).await;
    let (mut jiangsu, mut henan) = (net.node("32"), net.node("41"));
    employee_with_balance(&mut jiangsu, "donor", "320500", "1000.00").await;

    let r = establish(&mut jiangsu, "rel-unknown", "donor", "stranger", "41", "400.00")
        .await
        .unwrap();
    assert_eq!(r.status, pb::RelationshipStatus::Declined as i32);
    assert_eq!(r.decline_reason, pb::DeclineReason::PersonNotFound as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await, ("1000.00".into(), "0.00".into()));
    // Asking again returns the recorded outcome; nothing is frozen twice.
    let again = establish(&mut jiangsu, "rel-unknown", "donor", "stranger", "41", "400.00")
        .await
        .unwrap();
    assert_eq!(again.status, pb::RelationshipStatus::Declined as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await.0, "1000.00");

    let gone = pb::Person {
        person_id: "gone".into(),
        name: "Gone".into(),
        insurance_type: pb::InsuranceType::Resident as i32,
        region_code: "410100".into(),
        status: pb::PersonStatus::Terminated as i32,
        registered_at: None,
    };
    henan
        .register_person(pb::RegisterPersonRequest { person: Some(gone) })
        .await
        .unwrap();
    let r = establish(&mut jiangsu, "rel-gone", "donor", "gone", "41", "100.00").await.unwrap();
    assert_eq!(r.decline_reason, pb::DeclineReason::PersonNotActive as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await.0, "1000.00");
    net.shutdown().await;
}

#[tokio::test]
async fn the_donors_node_declines_what_the_donor_cannot_give() {
    let net = TestNetwork::start(&["32", "41"]).await;
    let (mut jiangsu, mut henan) = (net.node("32"), net.node("41"));
    employee_with_balance(&mut jiangsu, "donor", "320500", "300.00").await;
    register(&mut jiangsu, "resident-donor", pb::InsuranceType::Resident, "320500").await;
    register(&mut henan, "mother", pb::InsuranceType::Resident, "410100").await;

    let short = establish(&mut jiangsu, "rel-short", "donor", "mother", "41", "300.01")
        .await
        .unwrap();
    assert_eq!(short.decline_reason, pb::DeclineReason::InsufficientBalance as i32);
    let resident = establish(&mut jiangsu, "rel-res", "resident-donor", "mother", "41", "1.00")
        .await
        .unwrap();
    assert_eq!(resident.decline_reason, pb::DeclineReason::NoPersonalAccount as i32);

    establish(&mut jiangsu, "rel-ok", "donor", "mother", "41", "100.00").await.unwrap();
    let twice = establish(&mut jiangsu, "rel-twice", "donor", "mother", "41", "100.00")
        .await
        .unwrap();
    assert_eq!(twice.decline_reason, pb::DeclineReason::RelationshipExists as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await, ("200.00".into(), "100.00".into()));

    assert_status(
        establish(&mut jiangsu, "rel-ok", "donor", "mother", "41", "100.01").await,
        Code::AlreadyExists,
        "rel-ok",
    );
    assert_status(
        establish(&mut jiangsu, "rel-x", "nobody", "mother", "41", "1.00").await,
        Code::NotFound,
        "nobody",
    );
    assert_status(
        establish(&mut jiangsu, "rel-x", "donor", "donor", "32", "1.00").await,
        Code::InvalidArgument,
        "beneficiary_id",
    );
    assert_status(
        establish(&mut jiangsu, "rel-x", "donor", "mother", "4", "1.00").await,
        Code::InvalidArgument,
        "beneficiary_province",
    );
    assert_status(
        establish(&mut jiangsu, "rel-x", "donor", "mother", "41", "1.001").await,
        Code::InvalidArgument,
        "quota",
    );
    let mut no_kind = establish_request("rel-x", "donor", "mother", "41", "1.00");
    no_kind.relation_kind = 0;
    assert_status(
        jiangsu.establish_relationship(no_kind).await,
        Code::InvalidArgument,
        "relation_kind",
    );
    // A province the hub does not know is a definite decline, and releases the quota.
    let far = establish(&mut jiangsu, "rel-far", "donor", "cousin", "65", "10.00").await.unwrap();
    assert_eq!(far.decline_reason, pb::DeclineReason::ProvinceNotConnected as i32);
    assert_eq!(balances(&mut jiangsu, "donor").await, ("200.00".into(), "100.00".into()));
    net.shutdown().await;
}

#[tokio::test]
async fn a_grant_waits_pending_while_the_beneficiarys_node_is_down_then_completes() {
    let mut net = TestNetwork::start(&["32", "41"]).await;
    let (mut jiangsu, mut henan) = (net.node("32"), net.node("41"));
    employee_with_balance(&mut jiangsu, "donor", "320500", "1000.00").await;
    register(&mut henan, "mother", pb::InsuranceType::Resident, "410100").await;
    net.stop_node("41").await;

    assert_status(
        establish(&mut jiangsu, "rel-wait", "donor", "mother", "41", "250.00").await,
        Code::Unavailable,
        "pending",
    );
    let pending = jiangsu
        .get_relationship(relationship_request("rel-wait"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.status, pb::RelationshipStatus::Pending as i32);
    assert_eq!(
        balances(&mut jiangsu, "donor").await.1,
        "250.00",
        "the quota is frozen while pending"
    );

    net.start_node("41").await;
    eventually("the grant completes", || {
        let mut jiangsu = net.node("32");
        async move {
            let r = jiangsu.get_relationship(relationship_request("rel-wait")).await.ok()?.into_inner();
            (r.status == pb::RelationshipStatus::Active as i32).then_some(())
        }
    })
    .await;
    let grant = net
        .node("41")
        .get_relationship(relationship_request("rel-wait"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grant.status, pb::RelationshipStatus::Active as i32);
    net.shutdown().await;
}

#[tokio::test]
async fn one_donor_gives_to_three_provinces_and_one_beneficiary_has_three_donors() {
    let net = TestNetwork::start(&["13", "32", "34", "41"]).await;
    let mut hebei = net.node("13");
    employee_with_balance(&mut hebei, "donor-13", "130100", "3000.00").await;
    for (province, region) in [("32", "320500"), ("34", "340100"), ("41", "410100")] {
        register(
            &mut net.node(province),
            &format!("kin-{province}"),
            pb::InsuranceType::Resident,
            region,
        )
        .await;
        let r = establish(
            &mut hebei,
            &format!("rel-13-{province}"),
            "donor-13",
            &format!("kin-{province}"),
            province,
            "500.00",
        )
        .await
        .unwrap();
        assert_eq!(r.status, pb::RelationshipStatus::Active as i32, "to {province}");
    }
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1500.00".into(), "1500.00".into()));
    let listed = hebei
        .list_relationships(pb::ListRelationshipsRequest {
            person_id: "donor-13".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.as_donor.len(), 3);

    // Three donors, one in the beneficiary's own province, give to kin-41.
    let mut henan = net.node("41");
    employee_with_balance(&mut henan, "donor-41", "410100", "100.00").await;
    employee_with_balance(&mut net.node("32"), "donor-32", "320500", "100.00").await;
    establish(&mut henan, "rel-41-41", "donor-41", "kin-41", "41", "50.00")
        .await
        .unwrap();
    establish(&mut net.node("32"), "rel-32-41", "donor-32", "kin-41", "41", "70.00")
        .await
        .unwrap();
    let kin = henan
        .list_relationships(pb::ListRelationshipsRequest {
            person_id: "kin-41".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut donors: Vec<&str> = kin.as_beneficiary.iter().map(|r| r.donor_id.as_str()).collect();
    donors.sort();
    assert_eq!(donors, vec!["donor-13", "donor-32", "donor-41"]);

    // Without a named relationship the same-province one pays first.
    let paid = henan
        .pay(gongji_tests::pay_request("kin-pay", "kin-41", "H41010000001", "40.00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paid.relationship_id, "rel-41-41");
    assert_eq!(paid.period, "", "a same-province payment is not stamped by the hub");
    net.shutdown().await;
}
