//! Insured persons and personal accounts at one province node.

use gongji_tests::{assert_status, balances, employee_with_balance, register, v1 as pb, TestNetwork};
use tonic::Code;

fn person(id: &str, insurance: pb::InsuranceType, region: &str) -> pb::Person {
    pb::Person {
        person_id: id.into(),
        name: format!("Person {id}"),
        insurance_type: insurance as i32,
        region_code: region.into(),
        status: pb::PersonStatus::Active as i32,
        registered_at: None,
    }
}

#[tokio::test]
async fn registration_is_idempotent_and_refuses_other_provinces_regions() {
    let net = TestNetwork::start(&["32"]).await;
    let mut node = net.node("32");
    let first = register(&mut node, "p-1", pb::InsuranceType::Employee, "320500").await;
    let again = register(&mut node, "p-1", pb::InsuranceType::Employee, "320500").await;
    assert_eq!(first, again, "same content returns the record");

    let mut changed = person("p-1", pb::InsuranceType::Resident, "320500");
    changed.name = "Someone else".into();
    assert_status(
        node.register_person(pb::RegisterPersonRequest { person: Some(changed) }).await,
        Code::AlreadyExists,
        "p-1",
    );
    assert_status(
        node.register_person(pb::RegisterPersonRequest {
            person: Some(person("p-2", pb::InsuranceType::Employee, "410100")),
        })
        .await,
        Code::InvalidArgument,
        "region_code",
    );
    assert_status(
        node.register_person(pb::RegisterPersonRequest {
            person: Some(person("p-3", pb::InsuranceType::Unspecified, "320500")),
        })
        .await,
        Code::InvalidArgument,
        "insurance_type",
    );
    assert_status(
        node.get_person(pb::GetPersonRequest { person_id: "p-2".into() }).await,
        Code::NotFound,
        "p-2",
    );
    let got = node
        .get_person(pb::GetPersonRequest { person_id: "p-1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.region_code.as_str(), got.insurance_type),
        ("320500", pb::InsuranceType::Employee as i32)
    );
    net.shutdown().await;
}

#[tokio::test]
async fn an_import_registers_good_rows_and_reports_bad_ones_by_line() {
    let net = TestNetwork::start(&["41"]).await;
    let mut node = net.node("41");
    register(&mut node, "known", pb::InsuranceType::Resident, "410100").await;
    let rows = vec![
        (2, person("imp-1", pb::InsuranceType::Employee, "410100")),
        (3, person("imp-2", pb::InsuranceType::Resident, "410300")),
        (4, person("imp-3", pb::InsuranceType::Employee, "320500")),
        (5, person("known", pb::InsuranceType::Resident, "410100")),
        (6, person("", pb::InsuranceType::Resident, "410100")),
    ];
    let stream = tokio_stream::iter(rows.into_iter().map(|(line, p)| pb::ImportPersonRow { line, person: Some(p) }));
    let summary = node.import_persons(stream).await.unwrap().into_inner();
    assert_eq!((summary.imported, summary.unchanged, summary.rejected), (2, 1, 2));
    let lines: Vec<(u64, &str)> = summary.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(lines, vec![(4, "region_code"), (6, "person_id")]);
    assert!(node.get_person(pb::GetPersonRequest { person_id: "imp-2".into() }).await.is_ok());
    net.shutdown().await;
}

#[tokio::test]
async fn contributions_credit_once_per_id_and_only_employees() {
    let net = TestNetwork::start(&["37"]).await;
    let mut node = net.node("37");
    employee_with_balance(&mut node, "emp", "370200", "300.00").await;
    let credit = |id: &str, person: &str, amount: &str| pb::CreditContributionRequest {
        contribution_id: id.into(),
        person_id: person.into(),
        amount: amount.into(),
    };
    // employee_with_balance used contribution "c-emp"; repeating it changes nothing.
    node.credit_contribution(credit("c-emp", "emp", "300.00")).await.unwrap();
    assert_eq!(balances(&mut node, "emp").await, ("300.00".into(), "0.00".into()));
    assert_status(
        node.credit_contribution(credit("c-emp", "emp", "301.00")).await,
        Code::AlreadyExists,
        "c-emp",
    );
    node.credit_contribution(credit("c-emp-2", "emp", "0.50")).await.unwrap();
    assert_eq!(balances(&mut node, "emp").await.0, "300.50");

    register(&mut node, "res", pb::InsuranceType::Resident, "370200").await;
    assert_status(
        node.credit_contribution(credit("c-res", "res", "10.00")).await,
        Code::FailedPrecondition,
        "resident",
    );
    assert_status(
        node.get_account(pb::GetAccountRequest { person_id: "res".into() }).await,
        Code::FailedPrecondition,
        "resident",
    );
    assert_status(
        node.credit_contribution(credit("c-x", "ghost", "10.00")).await,
        Code::NotFound,
        "ghost",
    );
    assert_status(
        node.credit_contribution(credit("c-y", "emp", "1.001")).await,
        Code::InvalidArgument,
        "amount",
    );
    net.shutdown().await;
}
