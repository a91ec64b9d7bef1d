//! Automatic dissolution and insurance transfer across provinces. Rules:
//! "when either party's insurance relationship is transferred or terminated,
//! the relationship dissolves by itself, and the unused quota returns"; on a
//! transfer across provinces the personal-account balance follows the person,
//! cleared monthly like any other cross-province transaction. A transfer is
//! one decision: the person leaves (relationships end, every fen follows
//! them) or nothing changes at all.

use gongji_tests::{
    assert_status, balances, employee_with_balance, establish, eventually, history, pay, pay_request, register, relationship,
    relationship_becomes, trial_balance, v1 as pb, TestNetwork,
};
use pb::{EndReason as End, RelationshipEventKind as Ev, RelationshipStatus as Rs, TransactionStatus as Ts};
use tonic::Code;

/// 13 donor gives to a parent in 41 and a child in 13; a donor in 41 gives to the 13 donor too.
async fn family(net: &TestNetwork) {
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    employee_with_balance(&mut hebei, "donor-13", "130100", "2000.00").await;
    register(&mut henan, "parent-41", pb::InsuranceType::Resident, "410100").await;
    register(&mut hebei, "child-13", pb::InsuranceType::Resident, "130200").await;
    employee_with_balance(&mut henan, "sister-41", "410100", "800.00").await;
    establish(&mut hebei, "rel-parent", "donor-13", "parent-41", "41", "500.00")
        .await
        .unwrap();
    establish(&mut hebei, "rel-child", "donor-13", "child-13", "13", "300.00")
        .await
        .unwrap();
    establish(&mut henan, "rel-sister", "sister-41", "donor-13", "13", "200.00")
        .await
        .unwrap();
    pay(&mut henan, pay_request("p-parent", "parent-41", "H41010000001", "100.00"))
        .await
        .unwrap();
}

fn transfer(id: &str, person: &str, to_region: &str) -> pb::TransferInsuranceRequest {
    pb::TransferInsuranceRequest {
        transfer_id: id.into(),
        person_id: person.into(),
        to_region: to_region.into(),
    }
}

async fn transfer_record(
    node: &mut gongji_proto::v1::province_node_client::ProvinceNodeClient<tonic::transport::Channel>,
    id: &str,
) -> pb::InsuranceTransfer {
    node.get_transfer(pb::GetTransferRequest { transfer_id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn terminating_the_donor_dissolves_all_their_relationships_on_both_sides() {
    let net = TestNetwork::start(&["13", "41"]).await;
    family(&net).await;
    let mut hebei = net.node("13");
    let person = hebei
        .terminate_insurance(pb::TerminateInsuranceRequest {
            person_id: "donor-13".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person.status, pb::PersonStatus::Terminated as i32);

    for id in ["rel-parent", "rel-child"] {
        let r = relationship(&mut hebei, id).await;
        assert_eq!(
            (r.status, r.end_reason),
            (Rs::Dissolved as i32, End::DonorTerminated as i32),
            "{id}"
        );
    }
    // Unused quota back: 2000 - 800 frozen + 400 + 300.
    assert_eq!(balances(&mut hebei, "donor-13").await, ("1900.00".into(), "0.00".into()));
    let parent_side = relationship_becomes(&net, "41", "rel-parent", Rs::Dissolved).await;
    assert_eq!(parent_side.end_reason, End::DonorTerminated as i32);
    // As beneficiary too: the sister's relationship in 41 ends and her quota returns there.
    let sister_side = relationship_becomes(&net, "41", "rel-sister", Rs::Dissolved).await;
    assert_eq!(sister_side.end_reason, End::BeneficiaryTerminated as i32);
    assert_eq!(balances(&mut net.node("41"), "sister-41").await, ("800.00".into(), "0.00".into()));
    eventually("the end is confirmed back to the beneficiary's node", || {
        let mut hebei = net.node("13");
        async move {
            (history(&mut hebei, "rel-sister").await == vec![Ev::GrantAccepted, Ev::DissolutionRequested, Ev::Dissolved]).then_some(())
        }
    })
    .await;
    // Terminating again changes nothing; a terminated person can no longer give.
    assert_eq!(
        hebei
            .terminate_insurance(pb::TerminateInsuranceRequest {
                person_id: "donor-13".into()
            })
            .await
            .unwrap()
            .into_inner()
            .status,
        pb::PersonStatus::Terminated as i32
    );
    let refused = establish(&mut hebei, "rel-new", "donor-13", "child-13", "13", "1.00")
        .await
        .unwrap();
    assert_eq!(refused.decline_reason, pb::DeclineReason::PersonNotActive as i32);
    net.shutdown().await;
}

#[tokio::test]
async fn terminating_the_beneficiary_dissolves_their_relationships_and_the_donors_get_their_quota_back() {
    let net = TestNetwork::start(&["13", "41"]).await;
    family(&net).await;
    let mut henan = net.node("41");
    henan
        .terminate_insurance(pb::TerminateInsuranceRequest {
            person_id: "parent-41".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        relationship(&mut henan, "rel-parent").await.status,
        Rs::Dissolved as i32,
        "stopped at once"
    );
    let at_donor = relationship_becomes(&net, "13", "rel-parent", Rs::Dissolved).await;
    assert_eq!(at_donor.end_reason, End::BeneficiaryTerminated as i32);
    // 2000 - 500 - 300 + the 400 unused of rel-parent.
    assert_eq!(balances(&mut net.node("13"), "donor-13").await, ("1600.00".into(), "300.00".into()));
    assert_eq!(
        relationship(&mut net.node("13"), "rel-child").await.status,
        Rs::Active as i32,
        "others untouched"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_donor_transfers_to_another_province_with_their_balance_while_a_beneficiarys_node_is_down() {
    let mut net = TestNetwork::start(&["13", "34", "41"]).await;
    family(&net).await;
    net.stop_node("41").await;
    let mut hebei = net.node("13");

    let moved = hebei
        .transfer_insurance(transfer("t-1", "donor-13", "340100"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.status, Ts::Approved as i32, "{moved:?}");
    // The available balance moves first (2000 less the quotas 500 and 300);
    // the unused quotas follow once the relationships end.
    assert_eq!((moved.amount.as_str(), moved.to_province.as_str()), ("1200.00", "34"));
    let person = hebei
        .get_person(pb::GetPersonRequest {
            person_id: "donor-13".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person.status, pb::PersonStatus::Transferred as i32, "kept as transferred");
    assert_eq!(
        relationship_becomes(&net, "13", "rel-child", Rs::Dissolved).await.end_reason,
        End::DonorTransferred as i32
    );
    eventually("nothing stays in Hebei", || {
        let mut hebei = net.node("13");
        async move { (balances(&mut hebei, "donor-13").await == ("0.00".into(), "0.00".into())).then_some(()) }
    })
    .await;

    // Anhui registers the same national id with the moved balance.
    let mut anhui = net.node("34");
    let there = anhui
        .get_person(pb::GetPersonRequest {
            person_id: "donor-13".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (there.status, there.region_code.as_str()),
        (pb::PersonStatus::Active as i32, "340100")
    );
    assert_eq!(there.insurance_type, pb::InsuranceType::Employee as i32);
    // Everything unused arrives: 2000 - 100 paid.
    eventually("the quotas follow to Anhui", || {
        let mut anhui = net.node("34");
        async move { (balances(&mut anhui, "donor-13").await == ("1900.00".into(), "0.00".into())).then_some(()) }
    })
    .await;
    assert_eq!(transfer_record(&mut anhui, "t-1").await.status, Ts::Approved as i32);

    // The hub cleared it as a transaction: 13 owes 34.
    let at_hub = net
        .hub()
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "t-1".into(),
            kind: pb::TransactionKind::AccountTransfer as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            at_hub.payer_province.as_str(),
            at_hub.payee_province.as_str(),
            at_hub.amount.as_str()
        ),
        ("13", "34", "1200.00")
    );
    assert_eq!(at_hub.person_id, "donor-13");

    // Henan was down throughout; when it returns it learns both ends.
    net.start_node("41").await;
    assert_eq!(
        relationship_becomes(&net, "41", "rel-parent", Rs::Dissolved).await.end_reason,
        End::DonorTransferred as i32
    );
    assert_eq!(
        relationship_becomes(&net, "41", "rel-sister", Rs::Dissolved).await.end_reason,
        End::BeneficiaryTransferred as i32
    );
    eventually("the sister's quota returns", || {
        let mut henan = net.node("41");
        async move { (balances(&mut henan, "sister-41").await == ("800.00".into(), "0.00".into())).then_some(()) }
    })
    .await;
    // Idempotent by id; a different transfer of the same person is refused.
    assert_eq!(
        hebei
            .transfer_insurance(transfer("t-1", "donor-13", "340100"))
            .await
            .unwrap()
            .into_inner(),
        moved
    );
    assert_status(
        hebei.transfer_insurance(transfer("t-2", "donor-13", "340100")).await,
        Code::FailedPrecondition,
        "not an active",
    );
    for node in ["13", "34", "41"] {
        assert_eq!(trial_balance(&mut net.node(node)).await, "0.00", "province {node}");
    }
    net.shutdown().await;
}

#[tokio::test]
async fn a_transfer_waits_while_the_receiving_node_is_down_and_a_refused_transfer_changes_nothing() {
    let mut net = TestNetwork::start(&["13", "34", "41"]).await;
    family(&net).await;
    let mut hebei = net.node("13");
    // The child is a resident: nothing to move but the insurance.
    net.stop_node("34").await;
    assert_eq!(
        hebei
            .transfer_insurance(transfer("t-child", "child-13", "340200"))
            .await
            .unwrap_err()
            .code(),
        Code::Unavailable
    );
    assert_eq!(transfer_record(&mut hebei, "t-child").await.status, Ts::Pending as i32);
    net.start_node("34").await;
    let done = eventually("the transfer completes", || {
        let mut hebei = net.node("13");
        async move {
            let t = transfer_record(&mut hebei, "t-child").await;
            (t.status == Ts::Approved as i32).then_some(t)
        }
    })
    .await;
    assert_eq!(done.amount, "0.00");
    assert_eq!(
        relationship_becomes(&net, "13", "rel-child", Rs::Dissolved).await.end_reason,
        End::BeneficiaryTransferred as i32,
        "it ends once the child is taken in there"
    );

    // Anhui already insures this person: the transfer is declined and nothing changes.
    employee_with_balance(&mut net.node("34"), "sister-41", "340100", "5.00").await;
    let refused = net
        .node("41")
        .transfer_insurance(transfer("t-sister", "sister-41", "340100"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (refused.status, refused.decline_reason),
        (Ts::Declined as i32, pb::DeclineReason::AlreadyInsured as i32)
    );
    let mut henan = net.node("41");
    let sister = henan
        .get_person(pb::GetPersonRequest {
            person_id: "sister-41".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sister.status, pb::PersonStatus::Active as i32, "still insured here");
    assert_eq!(
        balances(&mut henan, "sister-41").await,
        ("600.00".into(), "200.00".into()),
        "her balance came back, her quota stayed frozen"
    );
    assert_eq!(relationship(&mut henan, "rel-sister").await.status, Rs::Active as i32, "untouched");
    assert_eq!(
        relationship(&mut hebei, "rel-sister").await.status,
        Rs::Active as i32,
        "on both sides"
    );
    let paid = pay(&mut hebei, pay_request("p-after-refusal", "donor-13", "H13010000001", "10.00"))
        .await
        .unwrap();
    assert_eq!(paid.status, Ts::Approved as i32, "the relationship still pays");
    assert_status(
        hebei.transfer_insurance(transfer("t-x", "donor-13", "130300")).await,
        Code::InvalidArgument,
        "to_region",
    );
    net.shutdown().await;
}

#[tokio::test]
async fn money_returned_after_a_donor_moved_follows_them_to_their_new_province() {
    let net = TestNetwork::start(&["13", "34", "41"]).await;
    family(&net).await;
    let moved = net
        .node("13")
        .transfer_insurance(transfer("t-1", "donor-13", "340100"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((moved.status, moved.amount.as_str()), (Ts::Approved as i32, "1200.00"));

    // The Henan hospital refunds part of the parent's payment afterwards.
    let back = gongji_tests::refund(&mut net.node("41"), "r-late", "p-parent", "30.00")
        .await
        .unwrap();
    assert_eq!(back.status, Ts::Approved as i32);
    eventually("the refund reaches the donor in Anhui", || {
        let mut anhui = net.node("34");
        async move { (balances(&mut anhui, "donor-13").await.0 == "1930.00").then_some(()) }
    })
    .await;
    assert_eq!(
        balances(&mut net.node("13"), "donor-13").await,
        ("0.00".into(), "0.00".into()),
        "nothing stranded in Hebei"
    );

    // The hub cleared the follow-up like any account transfer: 13 owes 34.
    let period = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .unwrap()
        .into_inner()
        .period;
    // The hub records an approval once the receiving node's answer is back,
    // which may come a moment after the money arrived there.
    let transfers = eventually("the hub recorded every account transfer's approval", || {
        let (mut hub, period) = (net.hub(), period.clone());
        async move {
            let mut listed = hub
                .list_transactions(pb::ListTransactionsRequest {
                    period,
                    province: "34".into(),
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            let mut transfers = Vec::new();
            while let Some(t) = listed.message().await.ok()? {
                if t.kind == pb::TransactionKind::AccountTransfer as i32 {
                    transfers.push(t);
                }
            }
            (transfers.len() >= 3 && transfers.iter().all(|t| t.status != Ts::Pending as i32)).then_some(transfers)
        }
    })
    .await;
    let mut moved_amounts = Vec::new();
    for t in transfers {
        assert_eq!((t.payer_province.as_str(), t.status), ("13", Ts::Approved as i32));
        moved_amounts.push(t.amount);
    }
    // The balance, then the quotas returned when the relationships ended, then the refund.
    moved_amounts.sort_by_key(|amount| gongji_tests::fen(amount));
    assert_eq!(moved_amounts, ["30.00", "700.00", "1200.00"]);
    for node in ["13", "34", "41"] {
        eventually(&format!("nothing pending at {node}"), || {
            let mut client = net.node(node);
            async move { (client.get_node_info(pb::GetNodeInfoRequest {}).await.ok()?.into_inner().pending == 0).then_some(()) }
        })
        .await;
        assert_eq!(trial_balance(&mut net.node(node)).await, "0.00", "province {node}");
    }
    net.shutdown().await;
}

#[tokio::test]
async fn money_returned_while_a_transfer_is_pending_follows_the_person() {
    // Found by review: a refund landing between the start and the end of a
    // transfer used to stay in the old province. It returns to the quota,
    // which follows the person when the relationship ends.
    let mut net = TestNetwork::start(&["13", "34", "41"]).await;
    family(&net).await;
    net.stop_node("34").await;
    assert!(
        net.node("13")
            .transfer_insurance(transfer("t-1", "donor-13", "340100"))
            .await
            .is_err(),
        "Anhui is down"
    );
    let held = transfer_record(&mut net.node("13"), "t-1").await;
    assert_eq!((held.status, held.amount.as_str()), (Ts::Pending as i32, "1200.00"));

    // Meanwhile the Henan hospital refunds 30.00: the relationship has not
    // ended, so it goes back to the parent's quota.
    let back = gongji_tests::refund(&mut net.node("41"), "r-1", "p-parent", "30.00").await.unwrap();
    assert_eq!(back.status, Ts::Approved as i32);

    net.start_node("34").await;
    eventually("the transfer completes", || {
        let mut hebei = net.node("13");
        async move { (transfer_record(&mut hebei, "t-1").await.status == Ts::Approved as i32).then_some(()) }
    })
    .await;
    eventually("the late refund follows to Anhui", || {
        let mut anhui = net.node("34");
        async move { (balances(&mut anhui, "donor-13").await.0 == "1930.00").then_some(()) }
    })
    .await;
    assert_eq!(
        balances(&mut net.node("13"), "donor-13").await.0,
        "0.00",
        "nothing stranded in Hebei"
    );
    for node in ["13", "34", "41"] {
        assert_eq!(trial_balance(&mut net.node(node)).await, "0.00", "province {node}");
    }
    net.shutdown().await;
}

#[tokio::test]
async fn a_transfer_to_a_province_that_is_not_there_changes_nothing() {
    let net = TestNetwork::start(&["13", "34", "41"]).await;
    family(&net).await;
    let mut hebei = net.node("13");
    let before = balances(&mut hebei, "donor-13").await;
    // 99 is no province of the national platform; 37 is one the hub does not serve.
    assert_status(
        hebei.transfer_insurance(transfer("t-99", "donor-13", "990100")).await,
        Code::InvalidArgument,
        "99 is not a province code",
    );
    assert_status(
        hebei.transfer_insurance(transfer("t-37", "donor-13", "370100")).await,
        Code::FailedPrecondition,
        "province 37 is not connected to the national hub; nothing was changed",
    );
    for id in ["t-99", "t-37"] {
        assert_status(
            hebei.get_transfer(pb::GetTransferRequest { transfer_id: id.into() }).await,
            Code::NotFound,
            id,
        );
    }
    let person = hebei
        .get_person(pb::GetPersonRequest {
            person_id: "donor-13".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person.status, pb::PersonStatus::Active as i32);
    assert_eq!(balances(&mut hebei, "donor-13").await, before);
    for id in ["rel-parent", "rel-child"] {
        assert_eq!(relationship(&mut hebei, id).await.status, Rs::Active as i32, "{id}");
    }
    assert_eq!(relationship(&mut net.node("41"), "rel-parent").await.status, Rs::Active as i32);
    net.shutdown().await;
}

#[tokio::test]
async fn a_transfer_id_used_at_another_node_is_refused_naming_it_and_changes_nothing() {
    let net = TestNetwork::start(&["13", "34", "41"]).await;
    family(&net).await;
    let mut hebei = net.node("13");
    hebei.transfer_insurance(transfer("t-shared", "child-13", "340100")).await.unwrap();
    let mut henan = net.node("41");
    assert_status(
        henan.transfer_insurance(transfer("t-shared", "sister-41", "340100")).await,
        Code::AlreadyExists,
        "served at province 13's node",
    );
    assert_status(
        henan
            .get_transfer(pb::GetTransferRequest {
                transfer_id: "t-shared".into(),
            })
            .await,
        Code::NotFound,
        "t-shared",
    );
    let sister = henan
        .get_person(pb::GetPersonRequest {
            person_id: "sister-41".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sister.status, pb::PersonStatus::Active as i32);
    assert_eq!(balances(&mut henan, "sister-41").await, ("600.00".into(), "200.00".into()));
    assert_eq!(relationship(&mut henan, "rel-sister").await.status, Rs::Active as i32);
    net.shutdown().await;
}
