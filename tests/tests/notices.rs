//! Reliable messages between nodes: every notice goes through a durable
//! outbox, is retried with backoff until acknowledged and is applied once. A
//! node (or the hub) that was down catches up when it returns, with nothing
//! lost or applied twice. Only a relationship's parties exchange them: the
//! hub relays a notice only from the party that sends its kind to the other,
//! and a node applies one only from the other party of a relationship it
//! holds.

use gongji_tests::{
    assert_status, balances, change_quota, dissolve, employee_with_balance, establish, eventually, hebei_donor_henan_parent, history, pay,
    pay_request, register, relationship, relationship_becomes, v1 as pb, TestNetwork,
};
use pb::{RelationshipEventKind as Ev, RelationshipStatus as Rs};
use tonic::Code;

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

// ---- Only a relationship's parties exchange notices ------------------------------------------
//
// A TLS network of Jiangsu (32), Anhui (34) and Shandong (37): Anhui's donor
// gives at home (`rel-34-34`) and to Shandong (`rel-34-37`); Jiangsu is no
// party to either, and calls with its own certificate.

/// Anhui's `donor-34` (5000.00) gives Anhui's `kin-34` 200.00 as `rel-34-34`
/// and Shandong's `parent-37` 1000.00 as `rel-34-37`; Jiangsu's `donor-32`
/// (5000.00) gives `parent-37` 300.00 as `rel-32-37`.
async fn anhui_gives_at_home_and_to_shandong(net: &TestNetwork) {
    let mut anhui = net.node("34");
    employee_with_balance(&mut anhui, "donor-34", "340100", "5000.00").await;
    register(&mut anhui, "kin-34", pb::InsuranceType::Resident, "340100").await;
    register(&mut net.node("37"), "parent-37", pb::InsuranceType::Resident, "370100").await;
    employee_with_balance(&mut net.node("32"), "donor-32", "320500", "5000.00").await;
    for (node, id, donor, beneficiary, province, quota) in [
        ("34", "rel-34-34", "donor-34", "kin-34", "34", "200.00"),
        ("34", "rel-34-37", "donor-34", "parent-37", "37", "1000.00"),
        ("32", "rel-32-37", "donor-32", "parent-37", "37", "300.00"),
    ] {
        let established = establish(&mut net.node(node), id, donor, beneficiary, province, quota)
            .await
            .unwrap_or_else(|e| panic!("establish {id}: {e:?}"));
        assert_eq!(established.status, Rs::Active as i32, "{id}");
    }
}

/// Anhui's (34) grant to Shandong (37), as the hub routed it.
fn grant_34_37() -> pb::GrantNotice {
    pb::GrantNotice {
        relationship_id: "rel-34-37".into(),
        donor_id: "donor-34".into(),
        donor_province: "34".into(),
        beneficiary_id: "parent-37".into(),
        beneficiary_province: "37".into(),
        relation_kind: pb::RelationKind::Parent as i32,
        quota: "1000.00".into(),
    }
}

/// A notice with the id the nodes give it (see `NoticeBody::notice_id`).
fn notice(from: &str, to: &str, body: pb::notice::Body) -> pb::Notice {
    let notice_id = match &body {
        pb::notice::Body::RelationshipEnded(ended) => format!("ended/{}", ended.grant.as_ref().map_or("", |g| &g.relationship_id)),
        pb::notice::Body::DissolutionRequested(asked) => format!("dissolve/{}", asked.relationship_id),
        pb::notice::Body::QuotaChanged(changed) => format!("quota/{}/{}", changed.relationship_id, changed.change_id),
        pb::notice::Body::WalletTransfer(note) if note.status == pb::WalletTransferStatus::Unaccepted as i32 => {
            format!("wallet_sent/{}", note.transfer_id)
        }
        pb::notice::Body::WalletTransfer(note) => format!("wallet_settled/{}", note.transfer_id),
        pb::notice::Body::WalletDeclineAsked(asked) => format!("wallet_decline/{}", asked.transfer_id),
    };
    pb::Notice {
        notice_id,
        from_province: from.into(),
        to_province: to.into(),
        body: Some(body),
    }
}

fn ended(grant: pb::GrantNotice) -> pb::notice::Body {
    pb::notice::Body::RelationshipEnded(pb::RelationshipEnded {
        quota: grant.quota.clone(),
        grant: Some(grant),
        reason: pb::EndReason::DonorRequest as i32,
        used: "0.00".into(),
        version: 1,
    })
}

fn dissolution_requested(relationship: &str) -> pb::notice::Body {
    pb::notice::Body::DissolutionRequested(pb::DissolutionRequested {
        relationship_id: relationship.into(),
        reason: pb::EndReason::BeneficiaryRequest as i32,
    })
}

fn quota_changed(relationship: &str, quota: &str) -> pb::notice::Body {
    pb::notice::Body::QuotaChanged(pb::QuotaChanged {
        relationship_id: relationship.into(),
        quota: quota.into(),
        version: 99,
        change_id: "forged-change".into(),
    })
}

/// Nothing waits at the hub to be relayed.
async fn hub_outbox(net: &TestNetwork) -> u64 {
    net.hub().get_hub_info(pb::GetHubInfoRequest {}).await.unwrap().into_inner().outbox
}

/// Anhui's relationships, its donor's money and Shandong's grant records
/// are as [`anhui_gives_at_home_and_to_shandong`] left them; a payment from
/// `rel-34-37` still goes through.
async fn nothing_changed(net: &TestNetwork) {
    let mut anhui = net.node("34");
    for id in ["rel-34-34", "rel-34-37"] {
        let held = relationship(&mut anhui, id).await;
        assert_eq!(held.status, Rs::Active as i32, "{id} at 34: {held:?}");
    }
    assert_eq!(
        history(&mut anhui, "rel-34-34").await,
        vec![Ev::Established],
        "nothing happened to the same-province relationship"
    );
    assert_eq!(balances(&mut anhui, "donor-34").await, ("3800.00".into(), "1200.00".into()));
    let mut shandong = net.node("37");
    let granted = relationship(&mut shandong, "rel-34-37").await;
    assert_eq!(
        (granted.status, granted.quota.as_str()),
        (Rs::Active as i32, "1000.00"),
        "{granted:?}"
    );
    let mut request = pay_request("pay-after-the-forgeries", "parent-37", "H37010000001", "10.00");
    request.relationship_id = "rel-34-37".into();
    let paid = pay(&mut shandong, request).await.unwrap();
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{paid:?}");
    assert_eq!(balances(&mut anhui, "donor-34").await, ("3800.00".into(), "1190.00".into()));
}

#[tokio::test]
async fn a_province_cannot_have_the_hub_dissolve_another_provinces_same_province_relationship() {
    let net = TestNetwork::start_tls(&["32", "34", "37"]).await;
    anhui_gives_at_home_and_to_shandong(&net).await;
    let mut jiangsu = net.router("32");

    // Jiangsu asks Anhui, in its own name, to end Anhui's own relationship:
    // no grant of it ever crossed the hub, so the hub knows none.
    let refused = jiangsu.relay_notice(notice("32", "34", dissolution_requested("rel-34-34"))).await;
    assert_status(refused, Code::NotFound, "relationship rel-34-34");
    let refused = jiangsu
        .relay_notice(notice("32", "34", dissolution_requested("rel-34-34")))
        .await
        .unwrap_err();
    assert!(refused.message().contains("province 32"), "{refused:?}");
    // In Anhui's name it is refused as before: the certificate is Jiangsu's.
    assert_status(
        jiangsu.relay_notice(notice("34", "34", dissolution_requested("rel-34-34"))).await,
        Code::PermissionDenied,
        "province 32",
    );
    // A notice from a province to itself never needs the hub.
    assert_status(
        net.router("34")
            .relay_notice(notice("34", "34", dissolution_requested("rel-34-34")))
            .await,
        Code::FailedPrecondition,
        "rel-34-34",
    );

    assert_eq!(hub_outbox(&net).await, 0, "nothing was taken in to relay");
    nothing_changed(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_province_cannot_end_a_relationship_between_two_others() {
    let net = TestNetwork::start_tls(&["32", "34", "37"]).await;
    anhui_gives_at_home_and_to_shandong(&net).await;

    // Jiangsu tells Shandong that Anhui's grant has ended.
    let refused = net.router("32").relay_notice(notice("32", "37", ended(grant_34_37()))).await;
    assert_status(refused, Code::PermissionDenied, "province 32 is no party to relationship rel-34-37");
    let refused = net
        .router("32")
        .relay_notice(notice("32", "37", ended(grant_34_37())))
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("donor's province is 34") && refused.message().contains("beneficiary's 37"),
        "the parties are named: {refused:?}"
    );
    // Nor may Shandong (a party, but not the donor's) end it, or Jiangsu ask Anhui to.
    assert_status(
        net.router("37").relay_notice(notice("37", "34", ended(grant_34_37()))).await,
        Code::PermissionDenied,
        "only the donor's province 34",
    );
    assert_status(
        net.router("32")
            .relay_notice(notice("32", "34", dissolution_requested("rel-34-37")))
            .await,
        Code::PermissionDenied,
        "province 32 is no party",
    );
    // Anhui, a party, may not send its end to a province that is none.
    assert_status(
        net.router("34").relay_notice(notice("34", "32", ended(grant_34_37()))).await,
        Code::FailedPrecondition,
        "goes to the beneficiary's province 37",
    );

    assert_eq!(hub_outbox(&net).await, 0, "nothing was taken in to relay");
    nothing_changed(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_quota_change_from_a_province_that_is_no_party_is_refused() {
    let net = TestNetwork::start_tls(&["32", "34", "37"]).await;
    anhui_gives_at_home_and_to_shandong(&net).await;

    assert_status(
        net.router("32")
            .relay_notice(notice("32", "37", quota_changed("rel-34-37", "5000.00")))
            .await,
        Code::PermissionDenied,
        "province 32 is no party to relationship rel-34-37",
    );
    // Only the donor's node changes a quota: not the beneficiary's.
    assert_status(
        net.router("37")
            .relay_notice(notice("37", "34", quota_changed("rel-34-37", "5000.00")))
            .await,
        Code::PermissionDenied,
        "only the donor's province 34",
    );
    assert_eq!(hub_outbox(&net).await, 0, "nothing was taken in to relay");
    nothing_changed(&net).await;

    // Anhui's own change still reaches Shandong.
    change_quota(&mut net.node("34"), "c-34", "rel-34-37", "900.00").await.unwrap();
    eventually("Shandong sees Anhui's new quota", || {
        let mut shandong = net.node("37");
        async move { (relationship(&mut shandong, "rel-34-37").await.quota == "900.00").then_some(()) }
    })
    .await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_province_cannot_take_the_id_of_a_notice_about_another_provinces_relationship() {
    let net = TestNetwork::start_tls(&["32", "34", "37"]).await;
    anhui_gives_at_home_and_to_shandong(&net).await;

    // Jiangsu ends its own grant to Shandong, under the id Anhui's end of
    // `rel-34-37` will have: were it taken, that end would be dropped as a
    // repeat at the hub and at Shandong's node.
    let mut grant_32_37 = grant_34_37();
    grant_32_37.relationship_id = "rel-32-37".into();
    grant_32_37.donor_id = "donor-32".into();
    grant_32_37.donor_province = "32".into();
    grant_32_37.quota = "300.00".into();
    let mut squatter = notice("32", "37", ended(grant_32_37));
    squatter.notice_id = "ended/rel-34-37".into();
    assert_status(
        net.router("32").relay_notice(squatter).await,
        Code::InvalidArgument,
        "must have the id \"ended/rel-32-37\"",
    );

    dissolve(&mut net.node("34"), "rel-34-37", pb::Party::Donor).await.unwrap();
    relationship_becomes(&net, "37", "rel-34-37", Rs::Dissolved).await;
    assert_eq!(
        relationship(&mut net.node("37"), "rel-32-37").await.status,
        Rs::Active as i32,
        "Jiangsu's grant was not ended by the refused notice"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_node_applies_no_notice_from_a_province_that_is_no_party() {
    let net = TestNetwork::start_tls(&["32", "34", "37"]).await;
    anhui_gives_at_home_and_to_shandong(&net).await;

    // Past the hub (as if it let them through): with the hub's certificate,
    // straight to each node's hub-facing service. Each is acknowledged, so
    // that the hub would not send it forever, and not applied.
    let mut ghost = grant_34_37();
    ghost.relationship_id = "rel-ghost".into();
    for (to, forged) in [
        ("37", notice("32", "37", ended(grant_34_37()))),
        ("37", notice("32", "37", quota_changed("rel-34-37", "5000.00"))),
        ("37", notice("34", "37", quota_changed("rel-34-34", "5000.00"))),
        ("34", notice("32", "34", dissolution_requested("rel-34-34"))),
        ("34", notice("32", "34", dissolution_requested("rel-34-37"))),
        ("34", notice("37", "34", quota_changed("rel-34-37", "5000.00"))),
        ("37", notice("32", "37", ended(ghost))),
    ] {
        let id = forged.notice_id.clone();
        net.link(to)
            .deliver_notice(forged)
            .await
            .unwrap_or_else(|e| panic!("{id} to {to} is acknowledged: {e:?}"));
    }
    assert_eq!(
        net.node("37")
            .get_relationship(pb::GetRelationshipRequest {
                relationship_id: "rel-ghost".into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "an end from a province that is no party records nothing"
    );
    nothing_changed(&net).await;

    // The forged notices took no id: Anhui's own end of `rel-34-37` applies.
    dissolve(&mut net.node("34"), "rel-34-37", pb::Party::Donor).await.unwrap();
    relationship_becomes(&net, "37", "rel-34-37", Rs::Dissolved).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_relationship_ended_before_its_grant_reached_the_hub_leaves_nothing_waiting() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    gongji_tests::employee_with_balance(&mut net.node("13"), "donor-13", "130100", "800.00").await;
    gongji_tests::register(&mut net.node("41"), "parent-41", pb::InsuranceType::Resident, "410100").await;
    net.stop_hub().await;
    let pending = gongji_tests::establish(&mut net.node("13"), "rel-early", "donor-13", "parent-41", "41", "300.00").await;
    assert!(pending.is_err(), "the hub is down: the grant waits");
    gongji_tests::dissolve(&mut net.node("13"), "rel-early", pb::Party::Donor)
        .await
        .expect("the donor ends it at once");
    net.start_hub().await;
    gongji_tests::eventually("the end reaches the hub and the outbox empties", || {
        let mut hebei = net.node("13");
        async move {
            let info = hebei.get_node_info(pb::GetNodeInfoRequest {}).await.ok()?.into_inner();
            (info.outbox == 0 && info.pending == 0).then_some(())
        }
    })
    .await;
    let at_41 = net
        .node("41")
        .get_relationship(pb::GetRelationshipRequest {
            relationship_id: "rel-early".into(),
        })
        .await;
    if let Ok(relationship) = at_41 {
        assert_ne!(
            relationship.into_inner().status,
            pb::RelationshipStatus::Active as i32,
            "never active there"
        );
    }
    assert_eq!(
        gongji_tests::balances(&mut net.node("13"), "donor-13").await,
        ("800.00".into(), "0.00".into()),
        "the quota came back"
    );
    let target = gongji_operator::audit::Target::from_manifest(&net.network().manifest()).unwrap();
    let report = gongji_operator::audit::audit(&net.session(), &target, &mut std::io::sink())
        .await
        .unwrap();
    assert!(report.passed() && report.in_flight.is_empty(), "{report:?}");
    net.shutdown().await;
}
