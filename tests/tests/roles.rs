//! Client roles and the operator audit log, on a network whose servers have
//! a clients file: an operator, a viewer, the service app and two clinics
//! of Jiangsu (32). Institutions pay, refund and reverse only as
//! themselves; only operators close months or move prepaid funds; a call
//! without a known token is refused; every operator action is logged with
//! who, what, why and its outcome, and the log outlives a restart.

use gongji_tests::{assert_status, v1 as pb, AsClient, TestNetwork, INSTITUTION_A, INSTITUTION_B};
use tonic::Code;

type Node = pb::province_node_client::ProvinceNodeClient<AsClient>;
type Hub = pb::national_hub_client::NationalHubClient<AsClient>;

/// A Suzhou donor with 2000.00 and a relative with a quota of 500.00 from
/// them, set up by the operator and the service app.
async fn donor_and_relative(net: &TestNetwork) {
    let mut ops = net.node_as("32", Some("ops-wang"), Some("onboarding"));
    for (id, insurance) in [
        ("donor-32", pb::InsuranceType::Employee),
        ("relative-32", pb::InsuranceType::Resident),
    ] {
        ops.register_person(gongji_tests::register_request(id, insurance, "320500"))
            .await
            .expect("the operator registers");
    }
    ops.credit_contribution(pb::CreditContributionRequest {
        contribution_id: "c-donor-32".into(),
        person_id: "donor-32".into(),
        amount: "2000.00".into(),
    })
    .await
    .expect("the operator credits");
    let relationship = net
        .node_as("32", Some("service-app"), None)
        .establish_relationship(gongji_tests::establish_request("rel-32", "donor-32", "relative-32", "32", "500.00"))
        .await
        .expect("the service app establishes")
        .into_inner();
    assert_eq!(relationship.status, pb::RelationshipStatus::Active as i32);
}

async fn pay(node: &mut Node, id: &str, institution: &str, amount: &str) -> Result<pb::Payment, tonic::Status> {
    node.pay(gongji_tests::pay_request(id, "relative-32", institution, amount))
        .await
        .map(|r| r.into_inner())
}

async fn actions(hub_or_node: impl Into<Log>) -> Vec<pb::OperatorAction> {
    let request = pb::ListOperatorActionsRequest { after_seq: 0, limit: 0 };
    match hub_or_node.into() {
        Log::Hub(mut hub) => hub.list_operator_actions(request).await,
        Log::Node(mut node) => node.list_operator_actions(request).await,
    }
    .expect("list operator actions")
    .into_inner()
    .actions
}

enum Log {
    Hub(Hub),
    Node(Node),
}

impl From<Hub> for Log {
    fn from(hub: Hub) -> Log {
        Log::Hub(hub)
    }
}

impl From<Node> for Log {
    fn from(node: Node) -> Log {
        Log::Node(node)
    }
}

#[tokio::test]
async fn an_institution_pays_refunds_and_reverses_only_as_itself() {
    let net = TestNetwork::start_with_clients(&["32"]).await;
    donor_and_relative(&net).await;
    let mut clinic_a = net.node_as("32", Some("clinic-a"), None);
    let mut clinic_b = net.node_as("32", Some("clinic-b"), None);

    let paid = pay(&mut clinic_a, "pay-a", INSTITUTION_A, "100.00")
        .await
        .expect("clinic A pays as itself");
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);
    assert_status(
        pay(&mut clinic_a, "pay-as-b", INSTITUTION_B, "10.00").await,
        Code::PermissionDenied,
        &format!("is institution {INSTITUTION_A} and cannot pay for {INSTITUTION_B}"),
    );
    assert_status(
        net.node_as("32", Some("clinic-a"), None)
            .get_payment(pb::GetPaymentRequest {
                payment_id: "pay-as-b".into(),
            })
            .await,
        Code::NotFound,
        "pay-as-b",
    );
    let refund_b = clinic_b
        .refund_payment(pb::RefundPaymentRequest {
            refund_id: "refund-by-b".into(),
            payment_id: "pay-a".into(),
            amount: "10.00".into(),
        })
        .await;
    assert_status(
        refund_b,
        Code::PermissionDenied,
        &format!("institution {INSTITUTION_B} cannot refund payment pay-a: it was made at institution {INSTITUTION_A}"),
    );
    let reverse_b = clinic_b
        .reverse_payment(pb::ReversePaymentRequest {
            payment_id: "pay-a".into(),
        })
        .await;
    assert_status(
        reverse_b,
        Code::PermissionDenied,
        &format!("institution {INSTITUTION_B} cannot reverse payment pay-a: it was made at institution {INSTITUTION_A}"),
    );
    let still = net
        .node_as("32", Some("auditor"), None)
        .get_payment(pb::GetPaymentRequest {
            payment_id: "pay-a".into(),
        })
        .await
        .expect("a viewer reads")
        .into_inner();
    assert_eq!(
        (still.status, still.refunded.as_str()),
        (pb::TransactionStatus::Approved as i32, "0.00")
    );

    // Its own payments it refunds and reverses; an id the node never saw it
    // may reverse (the id becomes its own:
    // `a_reversal_of_an_unknown_id_takes_the_id_for_that_institution_only`).
    let refunded = clinic_a
        .refund_payment(pb::RefundPaymentRequest {
            refund_id: "refund-by-a".into(),
            payment_id: "pay-a".into(),
            amount: "10.00".into(),
        })
        .await
        .expect("clinic A refunds its own payment")
        .into_inner();
    assert_eq!(refunded.status, pb::TransactionStatus::Approved as i32);
    let replayed_by_b = clinic_b
        .refund_payment(pb::RefundPaymentRequest {
            refund_id: "refund-by-a".into(),
            payment_id: "pay-a".into(),
            amount: "10.00".into(),
        })
        .await;
    assert_status(replayed_by_b, Code::PermissionDenied, "cannot refund payment pay-a");
    pay(&mut clinic_a, "pay-a2", INSTITUTION_A, "20.00")
        .await
        .expect("clinic A pays again");
    let reversed = clinic_a
        .reverse_payment(pb::ReversePaymentRequest {
            payment_id: "pay-a2".into(),
        })
        .await
        .expect("clinic A reverses its own payment")
        .into_inner();
    assert_eq!(reversed.status, pb::TransactionStatus::Reversed as i32);
    let unknown = clinic_b
        .reverse_payment(pb::ReversePaymentRequest {
            payment_id: "never-seen".into(),
        })
        .await
        .expect("a payment unknown to the node may be reversed")
        .into_inner();
    assert_eq!(unknown.status, pb::TransactionStatus::Reversed as i32);

    // The service app does not pay; the operator may pay for any institution.
    let mut service = net.node_as("32", Some("service-app"), None);
    assert_status(
        pay(&mut service, "pay-by-app", INSTITUTION_A, "10.00").await,
        Code::PermissionDenied,
        "Pay needs the institution or operator role; client \"service-app\" has the service role",
    );
    let mut ops = net.node_as("32", Some("ops-wang"), Some("manual payment for a clinic whose terminal is down"));
    pay(&mut ops, "pay-by-ops", INSTITUTION_B, "10.00")
        .await
        .expect("the operator pays");
    net.shutdown().await;
}

async fn reverse(node: &mut Node, id: &str) -> Result<pb::Payment, tonic::Status> {
    node.reverse_payment(pb::ReversePaymentRequest { payment_id: id.into() })
        .await
        .map(|r| r.into_inner())
}

/// What a viewer sees of `relationship` at `province`: (used, remaining).
async fn quota_use(net: &TestNetwork, province: &str, relationship: &str) -> (String, String) {
    let relationship = net
        .node_as(province, Some("auditor"), None)
        .get_relationship(pb::GetRelationshipRequest {
            relationship_id: relationship.into(),
        })
        .await
        .expect("a viewer reads the relationship")
        .into_inner();
    (relationship.used, relationship.remaining)
}

/// What a viewer sees of `person`'s account at `province`: (available, frozen).
async fn account(net: &TestNetwork, province: &str, person: &str) -> (String, String) {
    let account = net
        .node_as(province, Some("auditor"), None)
        .get_account(pb::GetAccountRequest { person_id: person.into() })
        .await
        .expect("a viewer reads the account")
        .into_inner();
    (account.available, account.frozen)
}

async fn viewed(net: &TestNetwork, province: &str, id: &str) -> Result<pb::Payment, tonic::Status> {
    net.node_as(province, Some("auditor"), None)
        .get_payment(pb::GetPaymentRequest { payment_id: id.into() })
        .await
        .map(|r| r.into_inner())
}

async fn self_check(net: &TestNetwork, province: &str) -> pb::SelfCheckReport {
    net.node_as(province, Some("auditor"), None)
        .self_check(pb::SelfCheckRequest {})
        .await
        .expect("a viewer runs the self-check")
        .into_inner()
}

const TAKEN: &str = "is taken by another institution's reversal; use another id";

#[tokio::test]
async fn a_reversal_of_an_unknown_id_takes_the_id_for_that_institution_only() {
    let mut net = TestNetwork::start_with_clients(&["32"]).await;
    donor_and_relative(&net).await;
    let mut clinic_a = net.node_as("32", Some("clinic-a"), None);
    let mut clinic_b = net.node_as("32", Some("clinic-b"), None);
    let before = (account(&net, "32", "donor-32").await, quota_use(&net, "32", "rel-32").await);

    // Clinic A reverses an id the node has never seen: the id is now A's, cancelled.
    let squatted = reverse(&mut clinic_a, "pay-b-0001")
        .await
        .expect("an institution may reverse an id the node never saw");
    assert_eq!(
        (squatted.status, squatted.institution_id.as_str()),
        (pb::TransactionStatus::Reversed as i32, INSTITUTION_A)
    );
    // Clinic B's payment with that id is refused as a taken id, not reported
    // reversed, and nothing is recorded: its retry, or the operator paying
    // for it, gets the same answer.
    assert_status(
        pay(&mut clinic_b, "pay-b-0001", INSTITUTION_B, "100.00").await,
        Code::AlreadyExists,
        TAKEN,
    );
    assert_status(
        pay(&mut clinic_b, "pay-b-0001", INSTITUTION_B, "100.00").await,
        Code::AlreadyExists,
        TAKEN,
    );
    let mut ops = net.node_as("32", Some("ops-wang"), Some("clinic B's terminal is down"));
    assert_status(
        pay(&mut ops, "pay-b-0001", INSTITUTION_B, "100.00").await,
        Code::AlreadyExists,
        TAKEN,
    );
    let still = viewed(&net, "32", "pay-b-0001").await.expect("the tombstone is readable");
    assert_eq!(
        (still.status, still.institution_id.as_str(), still.amount.as_str()),
        (pb::TransactionStatus::Reversed as i32, INSTITUTION_A, "")
    );
    assert_eq!(
        (account(&net, "32", "donor-32").await, quota_use(&net, "32", "rel-32").await),
        before,
        "B's refused payment moved nothing"
    );
    // Clinic B reversing that id learns nothing of its own was paid, and
    // takes nothing from A; clinic A reversing it again changes nothing.
    let by_b = reverse(&mut clinic_b, "pay-b-0001")
        .await
        .expect("B's reversal of the id is answered");
    assert_eq!(
        (by_b.status, by_b.institution_id.as_str()),
        (pb::TransactionStatus::Reversed as i32, INSTITUTION_A)
    );
    assert_eq!(reverse(&mut clinic_a, "pay-b-0001").await.expect("A reverses again"), squatted);
    assert_status(
        pay(&mut clinic_b, "pay-b-0001", INSTITUTION_B, "100.00").await,
        Code::AlreadyExists,
        TAKEN,
    );
    // With another id, B pays as usual.
    let paid = pay(&mut clinic_b, "pay-b-0002", INSTITUTION_B, "100.00").await.expect("B pays");
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);

    // Clinic A's own payment of an id it reversed first is reversed, as before: never approved.
    reverse(&mut clinic_a, "pay-a-early").await.expect("A reverses before paying");
    let late = pay(&mut clinic_a, "pay-a-early", INSTITUTION_A, "50.00")
        .await
        .expect("A's late payment is answered");
    assert_eq!(
        (late.status, late.decline_reason),
        (pb::TransactionStatus::Reversed as i32, pb::DeclineReason::Reversed as i32)
    );
    // An operator's reversal of an unknown id names no institution: it cancels any payment of the id.
    let by_ops = reverse(&mut ops, "pay-ops-cancelled").await.expect("the operator reverses");
    assert_eq!(by_ops.institution_id, "");
    let cancelled = pay(&mut clinic_b, "pay-ops-cancelled", INSTITUTION_B, "30.00")
        .await
        .expect("answered");
    assert_eq!(cancelled.status, pb::TransactionStatus::Reversed as i32);
    assert_eq!(
        quota_use(&net, "32", "rel-32").await,
        ("100.00".into(), "400.00".into()),
        "only pay-b-0002 was paid"
    );

    net.stop_node("32").await;
    net.start_node("32").await;
    assert_eq!(
        viewed(&net, "32", "pay-b-0001")
            .await
            .expect("read after the restart")
            .institution_id,
        INSTITUTION_A
    );
    let check = self_check(&net, "32").await;
    assert_eq!((check.violations, check.trial_balance.as_str()), (Vec::<String>::new(), "0.00"));
    net.shutdown().await;
}

#[tokio::test]
async fn an_institution_reverses_only_its_own_cross_province_payment_and_a_taken_id_never_reaches_the_hub() {
    let net = TestNetwork::start_with_clients(&["13", "32"]).await;
    let mut ops_13 = net.node_as("13", Some("ops-wang"), Some("onboarding"));
    ops_13
        .register_person(gongji_tests::register_request("donor-13", pb::InsuranceType::Employee, "130100"))
        .await
        .expect("the operator registers the donor");
    ops_13
        .credit_contribution(pb::CreditContributionRequest {
            contribution_id: "c-donor-13".into(),
            person_id: "donor-13".into(),
            amount: "2000.00".into(),
        })
        .await
        .expect("the operator credits");
    net.node_as("32", Some("ops-wang"), Some("onboarding"))
        .register_person(gongji_tests::register_request("parent-32", pb::InsuranceType::Resident, "320500"))
        .await
        .expect("the operator registers the beneficiary");
    let relationship = net
        .node_as("13", Some("service-app"), None)
        .establish_relationship(gongji_tests::establish_request(
            "rel-13-32",
            "donor-13",
            "parent-32",
            "32",
            "500.00",
        ))
        .await
        .expect("the service app establishes")
        .into_inner();
    assert_eq!(relationship.status, pb::RelationshipStatus::Active as i32);
    let mut clinic_a = net.node_as("32", Some("clinic-a"), None);
    let mut clinic_b = net.node_as("32", Some("clinic-b"), None);
    let cross_pay = |id: &str, institution: &str| gongji_tests::pay_request(id, "parent-32", institution, "80.00");

    // Clinic A cannot reverse clinic B's cross-province payment: nothing moves at either node.
    let paid = clinic_b
        .pay(cross_pay("pay-b-x1", INSTITUTION_B))
        .await
        .expect("B pays across provinces")
        .into_inner();
    assert_eq!(
        (paid.status, paid.donor_province.as_str()),
        (pb::TransactionStatus::Approved as i32, "13")
    );
    assert_status(
        reverse(&mut clinic_a, "pay-b-x1").await,
        Code::PermissionDenied,
        &format!("institution {INSTITUTION_A} cannot reverse payment pay-b-x1: it was made at institution {INSTITUTION_B}"),
    );
    assert_eq!(
        viewed(&net, "32", "pay-b-x1").await.unwrap().status,
        pb::TransactionStatus::Approved as i32
    );
    assert_eq!(
        viewed(&net, "13", "pay-b-x1").await.unwrap().status,
        pb::TransactionStatus::Approved as i32
    );
    assert_eq!(account(&net, "13", "donor-13").await, ("1500.00".into(), "420.00".into()));

    // Clinic A's reversal of an unknown id stays at this node; B's payment
    // with it is refused here and never reaches the hub or the donor's node.
    reverse(&mut clinic_a, "pay-b-x2").await.expect("A reverses an unknown id");
    assert_status(clinic_b.pay(cross_pay("pay-b-x2", INSTITUTION_B)).await, Code::AlreadyExists, TAKEN);
    let at_hub = net
        .hub_as(Some("auditor"), None)
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "pay-b-x2".into(),
            kind: 0,
        })
        .await;
    assert_status(at_hub, Code::NotFound, "pay-b-x2");
    assert_status(viewed(&net, "13", "pay-b-x2").await, Code::NotFound, "pay-b-x2");
    assert_eq!(account(&net, "13", "donor-13").await, ("1500.00".into(), "420.00".into()));

    // Its own cross-province payment B reverses through the hub, as before.
    let reversed = reverse(&mut clinic_b, "pay-b-x1").await.expect("B reverses its own payment");
    assert_eq!(reversed.status, pb::TransactionStatus::Reversed as i32);
    assert_eq!(
        viewed(&net, "13", "pay-b-x1").await.unwrap().status,
        pb::TransactionStatus::Reversed as i32
    );
    assert_eq!(account(&net, "13", "donor-13").await, ("1500.00".into(), "500.00".into()));
    net.shutdown().await;
}

#[tokio::test]
async fn only_an_operator_closes_a_month_or_moves_prepaid_funds() {
    let net = TestNetwork::start_with_clients(&["13", "32"]).await;
    let open = net
        .hub_as(Some("auditor"), None)
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .expect("open month");
    let open = open.into_inner().period;
    let prepaid_before = net
        .hub_as(Some("auditor"), None)
        .get_prepaid(pb::GetPrepaidRequest {})
        .await
        .expect("prepaid")
        .into_inner();

    for client in ["auditor", "clinic-a", "service-app"] {
        let mut hub = net.hub_as(Some(client), Some("let me try"));
        assert_status(
            hub.close_month(pb::CloseMonthRequest { period: String::new() }).await,
            Code::PermissionDenied,
            "CloseMonth needs the operator role",
        );
        assert_status(
            hub.deposit_prepaid(pb::PrepaidOperationRequest {
                operation_id: format!("dep-{client}"),
                province: "13".into(),
                amount: "1000.00".into(),
                operator: client.into(),
                reason: "top-up".into(),
                force: false,
            })
            .await,
            Code::PermissionDenied,
            "DepositPrepaid needs the operator role",
        );
        assert_status(
            net.node_as("32", Some(client), None)
                .reconcile_month(pb::ReconcileMonthRequest { period: open.clone() })
                .await,
            Code::PermissionDenied,
            "ReconcileMonth needs the operator role",
        );
    }
    let mut viewer = net.hub_as(Some("auditor"), None);
    let month = viewer
        .get_month(pb::GetMonthRequest { period: String::new() })
        .await
        .expect("month")
        .into_inner();
    assert_eq!((month.period.as_str(), month.state), (open.as_str(), pb::MonthState::Open as i32));
    assert_eq!(
        viewer.get_prepaid(pb::GetPrepaidRequest {}).await.expect("prepaid").into_inner(),
        prepaid_before
    );
    assert!(actions(viewer.clone()).await.is_empty(), "refused calls are no operator actions");
    assert_status(
        net.hub_as(Some("clinic-a"), None)
            .list_operator_actions(pb::ListOperatorActionsRequest::default())
            .await,
        Code::PermissionDenied,
        "ListOperatorActions needs the viewer or operator role",
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_settlement_override_needs_the_operator_and_records_the_clients_name() {
    let net = TestNetwork::start_with_clients(&["13", "32"]).await;
    let mut ops = net.hub_as(Some("ops-wang"), Some("month end"));
    let month = ops
        .close_month(pb::CloseMonthRequest { period: String::new() })
        .await
        .expect("the operator closes the open month")
        .into_inner();
    let settle = |operator: &str| pb::SettleMonthRequest {
        period: month.period.clone(),
        override_reason: "13 cannot reconcile before the deadline".into(),
        operator: operator.into(),
    };
    assert_status(
        net.hub_as(Some("auditor"), None).settle_month(settle("auditor")).await,
        Code::PermissionDenied,
        "SettleMonth needs the operator role",
    );
    let settled = net
        .hub_as(Some("ops-wang"), Some("deadline passed"))
        .settle_month(settle(""))
        .await
        .expect("the operator settles with an override")
        .into_inner();
    assert_eq!(settled.operator, "ops-wang", "the client's name when none is given");
    assert_eq!(settled.override_reason, "13 cannot reconcile before the deadline");
    let logged = actions(ops.clone()).await;
    let last = logged.last().expect("logged");
    assert_eq!(
        (
            last.who.as_str(),
            last.action.as_str(),
            last.why.as_str(),
            last.outcome_code.as_str()
        ),
        ("ops-wang", "SettleMonth", "deadline passed", "OK"),
        "{last:?}"
    );
    assert!(last.what.contains("13 cannot reconcile"), "{last:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_call_without_a_known_token_is_unauthenticated() {
    let net = TestNetwork::start_with_clients(&["32"]).await;
    assert_status(
        net.hub_as(None, None).get_open_period(pb::GetOpenPeriodRequest {}).await,
        Code::Unauthenticated,
        "present a client token",
    );
    assert_status(
        net.node_as("32", None, None).get_node_info(pb::GetNodeInfoRequest {}).await,
        Code::Unauthenticated,
        "present a client token",
    );
    let stranger = gongji_operator::credentials::Credentials::new(Some("not-a-token-of-this-network"), None).unwrap();
    let mut hub = pb::national_hub_client::NationalHubClient::with_interceptor(
        tonic::transport::Channel::from_shared(net.network().hub_url())
            .unwrap()
            .connect_lazy(),
        stranger,
    );
    assert_status(
        hub.close_month(pb::CloseMonthRequest { period: String::new() }).await,
        Code::Unauthenticated,
        "not in the server's clients file",
    );
    // The links between servers do not take client tokens; they still work.
    let mut ops = net.node_as("32", Some("ops-wang"), None);
    ops.get_node_info(pb::GetNodeInfoRequest {}).await.expect("the operator reads");
    net.shutdown().await;
}

#[tokio::test]
async fn every_operator_action_is_logged_with_who_what_why_and_outcome_and_survives_a_restart() {
    let mut net = TestNetwork::start_tls_with_clients(&["13", "32"]).await;
    let certs = net.network().certs().expect("a TLS network").display().to_string();
    let mut node = net.node_as("32", Some("ops-wang"), Some("payroll import 2026-01"));
    node.register_person(gongji_tests::register_request("emp-32", pb::InsuranceType::Employee, "320500"))
        .await
        .expect("register");
    node.credit_contribution(pb::CreditContributionRequest {
        contribution_id: "c-emp-32".into(),
        person_id: "emp-32".into(),
        amount: "321.50".into(),
    })
    .await
    .expect("credit");

    let mut hub = net.hub_as(Some("ops-wang"), Some("Hebei asked for a top-up"));
    hub.deposit_prepaid(pb::PrepaidOperationRequest {
        operation_id: "dep-13-1".into(),
        province: "13".into(),
        amount: "250000.00".into(),
        operator: "wang".into(),
        reason: "top-up".into(),
        force: false,
    })
    .await
    .expect("deposit");
    let mut closing = net.hub_as(Some("ops-wang"), Some("month end"));
    let refused = closing.close_month(pb::CloseMonthRequest { period: "2099-01".into() }).await;
    let refused = refused.expect_err("a month that has not started cannot be closed");
    let open = closing
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .expect("open")
        .into_inner()
        .period;
    closing
        .close_month(pb::CloseMonthRequest { period: open.clone() })
        .await
        .expect("close the open month");

    let check_hub = |logged: &[pb::OperatorAction]| {
        let names: Vec<&str> = logged.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(names, ["DepositPrepaid", "CloseMonth", "CloseMonth"], "reads are not logged");
        assert_eq!(logged.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2, 3]);
        for action in logged {
            assert_eq!((action.who.as_str(), action.role.as_str()), ("ops-wang", "operator"));
            assert!(action.at.is_some() && action.outcome_at.is_some());
        }
        let deposit = &logged[0];
        assert!(deposit.what.contains(r#""amount":"250000.00""#), "{}", deposit.what);
        assert!(deposit.what.contains(r#""operation_id":"dep-13-1""#), "{}", deposit.what);
        assert_eq!(
            (deposit.why.as_str(), deposit.outcome_code.as_str()),
            ("Hebei asked for a top-up", "OK")
        );
        let failed = &logged[1];
        assert!(failed.what.contains(r#""period":"2099-01""#), "{}", failed.what);
        assert_eq!(failed.outcome_code, gongji_common::metrics::code_name(refused.code()));
        assert_eq!(failed.outcome_message, refused.message());
        let closed = &logged[2];
        assert!(closed.what.contains(&format!(r#""period":"{open}""#)), "{}", closed.what);
        assert_eq!((closed.why.as_str(), closed.outcome_code.as_str()), ("month end", "OK"));
    };
    let logged = actions(net.hub_as(Some("auditor"), None)).await;
    check_hub(&logged);
    assert_ne!(logged[1].outcome_code, "OK");

    let at_node = actions(net.node_as("32", Some("auditor"), None)).await;
    let names: Vec<&str> = at_node.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(names, ["RegisterPerson", "CreditContribution"]);
    let credit = &at_node[1];
    assert!(credit.what.contains(r#""amount":"321.50""#), "{}", credit.what);
    assert_eq!(
        (credit.why.as_str(), credit.outcome_code.as_str()),
        ("payroll import 2026-01", "OK")
    );

    // Connections still open keep a stopped hub's store busy a moment.
    drop((hub, closing, node));
    net.stop_hub().await;
    net.start_hub().await;
    check_hub(&actions(net.hub_as(Some("auditor"), None)).await);

    // Paged: after the first action, one at a time.
    let page = net
        .hub_as(Some("ops-wang"), None)
        .list_operator_actions(pb::ListOperatorActionsRequest { after_seq: 1, limit: 1 })
        .await
        .expect("a page")
        .into_inner()
        .actions;
    assert_eq!(page.iter().map(|a| a.seq).collect::<Vec<_>>(), [2]);

    // The CLI prints the log, as a table and as JSON lines.
    let token = net.clients().token("auditor").to_owned();
    let hub_url = net.network().hub_url();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(
        ["gongji", "--certs", &certs, "oplog", "--hub", &hub_url, "--token", &token],
        &mut out,
        &mut err,
    )
    .await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{text}{}", String::from_utf8_lossy(&err));
    for needle in [
        "DepositPrepaid",
        "CloseMonth",
        "ops-wang",
        "Hebei asked for a top-up",
        "month end",
        "INVALID_ARGUMENT",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(
        [
            "gongji", "--certs", &certs, "oplog", "--hub", &hub_url, "--token", &token, "--json", "--after", "2",
        ],
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0]["seq"].as_u64(), lines[0]["action"].as_str()),
        (Some(3), Some("CloseMonth"))
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // Never a token in plaintext unless told: refused before any call.
    let plain = hub_url.replace("https://", "http://");
    let code = gongji::run(["gongji", "oplog", "--hub", &plain, "--token", &token], &mut out, &mut err).await;
    assert_eq!(code, 2, "{}", String::from_utf8_lossy(&err));
    assert!(
        String::from_utf8_lossy(&err).contains("refusing to send the client token in plaintext"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(["gongji", "--certs", &certs, "oplog", "--hub", &hub_url], &mut out, &mut err).await;
    assert_ne!(code, 0, "no token, no log");
    assert!(
        String::from_utf8_lossy(&err).contains("present a client token"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    net.shutdown().await;
}

#[tokio::test]
async fn the_cli_presents_its_token_and_reason_and_demo_seeding_works_as_the_operator() {
    let net = TestNetwork::start_tls_with_clients(&["13", "32"]).await;
    let certs = net.network().certs().expect("a TLS network").display().to_string();
    let token = net.clients().token("ops-wang").to_owned();
    let hub_url = net.network().hub_url();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("ops.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let token_file = token_file.display().to_string();
    let args = [
        "gongji",
        "--certs",
        &certs,
        "prepaid",
        "deposit",
        "--id",
        "dep-cli",
        "--province",
        "32",
        "--amount",
        "1000.00",
        "--operator",
        "wang",
        "--hub",
        &hub_url,
        "--token-file",
        &token_file,
        "--reason",
        "quarterly top-up",
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(args, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
    let logged = actions(net.hub_as(Some("auditor"), None)).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(
        (logged[0].why.as_str(), logged[0].outcome_code.as_str()),
        ("quarterly top-up", "OK")
    );
    assert!(
        logged[0].what.contains(r#""reason":"quarterly top-up""#),
        "the deposit's own reason: {}",
        logged[0].what
    );

    let (mut out, mut err) = (Vec::new(), Vec::new());
    // A reason in Chinese travels as binary metadata and is logged as written.
    let code = gongji::run(
        [
            "gongji",
            "--certs",
            &certs,
            "month",
            "close",
            "open",
            "--yes",
            "--hub",
            &hub_url,
            "--token-file",
            &token_file,
            "--reason",
            "月结：按月全额清算",
        ],
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let logged = actions(net.hub_as(Some("auditor"), None)).await;
    assert_eq!(
        (logged[1].action.as_str(), logged[1].why.as_str()),
        ("CloseMonth", "月结：按月全额清算")
    );
    let viewer = net.clients().token("auditor").to_owned();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(
        [
            "gongji", "--certs", &certs, "month", "close", "open", "--yes", "--hub", &hub_url, "--token", &viewer,
        ],
        &mut out,
        &mut err,
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        String::from_utf8_lossy(&err).contains("CloseMonth needs the operator role"),
        "{}",
        String::from_utf8_lossy(&err)
    );

    // The demo data goes in with the operator's token, and status and
    // audit read with it too.
    let manifest = net.network().manifest();
    let provinces = [gongji_tests::code("13"), gongji_tests::code("32")];
    let operator = gongji_operator::credentials::Credentials::new(Some(&token), Some("demo")).unwrap();
    let session = gongji_operator::session::Session::for_network(manifest.clone(), operator).unwrap();
    let report = gongji::demo::seed(&session, &provinces).await;
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let mut manifest = manifest;
    manifest.operator_token_file = token_file.clone();
    let manifest_file = dir.path().join("devnet.json");
    std::fs::write(&manifest_file, serde_json::to_string(&manifest).unwrap()).unwrap();
    let manifest_file = manifest_file.display().to_string();
    for command in ["status", "audit"] {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = gongji::run(
            ["gongji", "--certs", &certs, command, "--devnet", &manifest_file],
            &mut out,
            &mut err,
        )
        .await;
        assert_eq!(
            code,
            0,
            "gongji {command} --devnet presents the devnet's operator token:\n{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    }
    net.shutdown().await;
}

/// Work a command spawns onto another task (`status` asks each node on a
/// task of its own; the benchmark's clients and the devnet's seeding run
/// on others) connects as the command does: it is handed the command's
/// session, so it connects over the network's certificates and presents the
/// token and the reason. Before, the connection and credentials were
/// task-locals, and a spawned task that missed them connected in plaintext
/// without a token.
#[tokio::test]
async fn a_spawned_task_connects_with_the_sessions_certificates_token_and_reason() {
    use gongji_operator::{
        args::{HubArg, NodeArg},
        error::CliError,
    };

    let net = TestNetwork::start_tls_with_clients(&["13", "32"]).await;
    let session = net.session_as(Some("ops-wang"), Some("a top-up from a spawned task"));
    assert!(!session.connection.is_plaintext(), "the session of a TLS network connects over TLS");
    let spawned = tokio::spawn({
        let session = session.clone();
        async move {
            let mut hub = session.hub(&HubArg { hub: None }).await?;
            hub.deposit_prepaid(pb::PrepaidOperationRequest {
                operation_id: "dep-spawned".into(),
                province: "13".into(),
                amount: "100.00".into(),
                operator: "wang".into(),
                reason: "top-up".into(),
                force: false,
            })
            .await
            .map_err(CliError::call)?;
            let province = Some(gongji_tests::code("32"));
            let mut node = session.node(&NodeArg { node: None, province }).await?;
            let info = node.get_node_info(pb::GetNodeInfoRequest {}).await.map_err(CliError::call)?;
            Ok::<_, CliError>(info.into_inner().province_code)
        }
    });
    let province = spawned
        .await
        .expect("the task ran")
        .unwrap_or_else(|e| panic!("the spawned task's calls were refused: {e}"));
    assert_eq!(province, "32");
    let logged = actions(net.hub_as(Some("auditor"), None)).await;
    let seen: Vec<(&str, &str, &str)> = logged.iter().map(|a| (a.action.as_str(), a.who.as_str(), a.why.as_str())).collect();
    assert_eq!(seen, [("DepositPrepaid", "ops-wang", "a top-up from a spawned task")]);

    // `status` asks every node on a task of its own, each with the session:
    // GetNodeInfo needs the token, so a node asked without it would be
    // "serving, but GetNodeInfo failed".
    let target = gongji_operator::audit::Target::from_manifest(&net.network().manifest()).unwrap();
    let status = gongji_operator::status::probe(&session, &target).await;
    for node in &status.nodes {
        assert_eq!((node.health.as_str(), node.healthy), ("serving", true), "{node:?}");
    }
    assert!(status.healthy(), "{status:?}");
    net.shutdown().await;
}

#[tokio::test]
async fn an_operators_request_over_the_size_limit_is_refused_and_not_logged() {
    let net = TestNetwork::start_with_clients(&["13"]).await;
    let mut hub = net.hub_as(Some("ops-wang"), Some("a very long reason"));
    let huge = hub
        .deposit_prepaid(pb::PrepaidOperationRequest {
            operation_id: "dep-huge".into(),
            province: "13".into(),
            amount: "1.00".into(),
            operator: "wang".into(),
            reason: "x".repeat(5 * 1024 * 1024),
            force: false,
        })
        .await;
    assert_status(huge, Code::ResourceExhausted, "larger than");
    assert!(actions(net.hub_as(Some("auditor"), None)).await.is_empty());
    // A request that is no message of its type is logged as such, and refused by the handler.
    let refused = hub
        .close_month(pb::CloseMonthRequest {
            period: "not-a-month".into(),
        })
        .await;
    assert_status(refused, Code::InvalidArgument, "period");
    let logged = actions(net.hub_as(Some("auditor"), None)).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].outcome_code, "INVALID_ARGUMENT");
    net.shutdown().await;
}

#[tokio::test]
async fn the_audit_log_says_what_an_operators_call_came_to() {
    let net = TestNetwork::start_with_clients(&["13", "32"]).await;
    donor_and_relative(&net).await;
    let mut ops = net.node_as("32", Some("ops-wang"), Some("desk correction"));
    let pay = |id: &str, amount: &str| pb::PayRequest {
        payment_id: id.into(),
        beneficiary_id: "relative-32".into(),
        institution_id: INSTITUTION_A.into(),
        amount: amount.into(),
        purpose: pb::PaymentPurpose::Outpatient as i32,
        relationship_id: "rel-32".into(),
    };
    let paid = ops.pay(pay("ops-pay-1", "50.00")).await.expect("answered").into_inner();
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);
    let declined = ops.pay(pay("ops-pay-2", "999.00")).await.expect("answered").into_inner();
    assert_eq!(declined.status, pb::TransactionStatus::Declined as i32);
    let refund = ops
        .refund_payment(pb::RefundPaymentRequest {
            refund_id: "ops-refund-1".into(),
            payment_id: "ops-pay-1".into(),
            amount: "60.00".into(),
        })
        .await;
    let transfer = ops
        .transfer_insurance(pb::TransferInsuranceRequest {
            transfer_id: "ops-transfer-1".into(),
            person_id: "donor-32".into(),
            to_region: "130100".into(),
        })
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(transfer.status, pb::TransactionStatus::Approved as i32);

    let logged = ops
        .list_operator_actions(pb::ListOperatorActionsRequest { after_seq: 0, limit: 0 })
        .await
        .expect("the log")
        .into_inner()
        .actions;
    let outcome = |action: &str, id: &str| -> (String, String) {
        let entry = logged
            .iter()
            .find(|a| a.action == action && a.what.contains(id))
            .unwrap_or_else(|| panic!("{action} {id} logged: {logged:?}"));
        (entry.outcome_code.clone(), entry.outcome_message.clone())
    };
    assert_eq!(outcome("Pay", "ops-pay-1").0, "APPROVED");
    let (code, message) = outcome("Pay", "ops-pay-2");
    assert_eq!(code, "DECLINED", "a decline is no plain OK");
    assert!(message.starts_with("insufficient_quota: "), "{message}");
    let (code, message) = outcome("RefundPayment", "ops-refund-1");
    match refund {
        Ok(answer) => {
            assert_eq!(answer.into_inner().status, pb::TransactionStatus::Declined as i32);
            assert!(
                code == "DECLINED" && message.starts_with("refund_exceeds_payment"),
                "{code} {message}"
            );
        }
        Err(status) => assert_eq!((code.as_str(), message.as_str()), (status_name(status.code()), status.message())),
    }
    assert_eq!(outcome("TransferInsurance", "ops-transfer-1").0, "APPROVED");
    net.shutdown().await;
}

fn status_name(code: Code) -> &'static str {
    gongji_common::metrics::code_name(code)
}

#[tokio::test]
async fn a_reason_that_is_not_ascii_in_the_plain_header_is_refused_and_nothing_is_done() {
    let net = TestNetwork::start_with_clients(&["13", "32"]).await;
    let mut ops = net.node_as("32", Some("ops-wang"), None);
    let mut request = tonic::Request::new(gongji_tests::register_request("emp-utf8", pb::InsuranceType::Employee, "320500"));
    let unreadable = tonic::metadata::AsciiMetadataValue::try_from("月结".as_bytes()).expect("a header value of raw bytes");
    request.metadata_mut().insert("x-gongji-reason", unreadable);
    let refused = ops.register_person(request).await.expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("x-gongji-reason-bin"), "{}", refused.message());
    let person = ops
        .get_person(pb::GetPersonRequest {
            person_id: "emp-utf8".into(),
        })
        .await;
    assert_status(person, Code::NotFound, "emp-utf8");
    let logged = ops
        .list_operator_actions(pb::ListOperatorActionsRequest { after_seq: 0, limit: 0 })
        .await
        .expect("the log")
        .into_inner()
        .actions;
    assert!(logged.is_empty(), "nothing logged: {logged:?}");
    net.shutdown().await;
}
