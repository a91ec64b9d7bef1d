//! A person's statement (对账单) through real servers: every movement of
//! their personal account, of the quota they give and of their wallet, and
//! of the quota a relative gives them, over two months with the network's
//! clock moved between them; opening plus movements is closing, and both
//! are the balances the node showed at those instants.

use gongji_common::period::{cst_day_and_second, cst_day_hour_millis, Period};
use gongji_tests::{
    assert_status, balances, code, command_line::ok, dissolve, employee_with_balance, establish, hebei_donor_henan_parent, pay,
    pay_request, refund, register, relationship, reverse, v1 as pb, TestNetwork,
};
use tonic::{transport::Channel, Code};

type Node = pb::province_node_client::ProvinceNodeClient<Channel>;

async fn statement(node: &mut Node, person: &str, month: &str, from: &str, to: &str) -> Result<pb::PersonStatement, tonic::Status> {
    node.get_person_statement(pb::GetPersonStatementRequest {
        person_id: person.into(),
        month: month.into(),
        from: from.into(),
        to: to.into(),
        relationship_id: String::new(),
    })
    .await
    .map(|r| r.into_inner())
}

/// The statement of one quota, at the node that holds it.
async fn quota_statement(
    node: &mut Node,
    person: &str,
    relationship: &str,
    from: &str,
    to: &str,
) -> Result<pb::PersonStatement, tonic::Status> {
    node.get_person_statement(pb::GetPersonStatementRequest {
        person_id: person.into(),
        from: from.into(),
        to: to.into(),
        relationship_id: relationship.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

fn account<'a>(s: &'a pb::PersonStatement, role: &str) -> &'a pb::StatementAccount {
    s.accounts
        .iter()
        .find(|a| a.role == role)
        .unwrap_or_else(|| panic!("no {role} account in {s:?}"))
}

fn cents(amount: &str) -> i64 {
    let (units, hundredths) = amount.trim_start_matches('-').split_once('.').expect("two places");
    let value = units.parse::<i64>().expect("units") * 100 + hundredths.parse::<i64>().expect("hundredths");
    if amount.starts_with('-') {
        -value
    } else {
        value
    }
}

/// Opening plus each account's movements is its closing, and each
/// movement's balance is the running sum.
fn assert_adds_up(s: &pb::PersonStatement) {
    for a in &s.accounts {
        let mut running = cents(&a.opening);
        for m in s.movements.iter().filter(|m| m.account == a.account) {
            running += cents(&m.amount);
            assert_eq!(running, cents(&m.balance), "running balance of {} at {}", a.account, m.seq);
        }
        assert_eq!(running, cents(&a.closing), "{}: opening + movements = closing", a.account);
    }
}

async fn wallet_balance(node: &mut Node, person: &str) -> String {
    let w = node
        .get_wallet(pb::GetWalletRequest { person_id: person.into() })
        .await
        .expect("wallet")
        .into_inner();
    w.wallet.map(|w| w.balance).unwrap_or_default()
}

async fn send_and_accept(node: &mut Node, id: &str, amount: &str) {
    node.send_to_wallet(pb::SendToWalletRequest {
        transfer_id: id.into(),
        sender_id: "son-41".into(),
        recipient_id: "mother-41".into(),
        recipient_province: "41".into(),
        relation_kind: pb::RelationKind::Parent as i32,
        amount: amount.into(),
    })
    .await
    .expect("send");
    node.accept_wallet_transfer(pb::AcceptWalletTransferRequest {
        transfer_id: id.into(),
        recipient_id: "mother-41".into(),
        ..Default::default()
    })
    .await
    .expect("accept");
}

fn day(millis: i64) -> String {
    gongji_common::period::cst_datetime(millis / 1000)[..10].to_owned()
}

#[tokio::test]
async fn a_statement_adds_up_to_the_journals_balances_over_one_month_and_across_two() {
    let net = TestNetwork::start(&["41"]).await;
    let clock = net.network().clock();
    // 10:00 CST of a day ahead, so wallet transfers are outside quiet hours.
    let first_day = cst_day_and_second(clock.now_millis()).0 + 1;
    clock.set(cst_day_hour_millis(first_day, 10));
    let month_a = Period::of_unix_millis(clock.now_millis());
    let mut henan = net.node("41");

    // Month A: a contribution, a quota given, payments with it, a refund, a
    // reversal, a wallet transfer and a payment from the wallet.
    employee_with_balance(&mut henan, "son-41", "410100", "5000.00").await;
    register(&mut henan, "mother-41", pb::InsuranceType::Resident, "410100").await;
    henan
        .open_wallet(pb::OpenWalletRequest {
            person_id: "mother-41".into(),
        })
        .await
        .expect("open wallet");
    establish(&mut henan, "rel-41", "son-41", "mother-41", "41", "1000.00")
        .await
        .expect("establish");
    pay(&mut henan, pay_request("p-1", "mother-41", "H41010000001", "120.00"))
        .await
        .expect("pay");
    pay(&mut henan, pay_request("p-2", "mother-41", "P41010000001", "30.00"))
        .await
        .expect("pay");
    refund(&mut henan, "r-1", "p-1", "20.00").await.expect("refund");
    reverse(&mut henan, "p-2").await.expect("reverse");
    send_and_accept(&mut henan, "w-1", "200.00").await;
    henan
        .pay_from_wallet(pb::PayRequest {
            payment_id: "wp-1".into(),
            beneficiary_id: "mother-41".into(),
            institution_id: "H41010000001".into(),
            amount: "50.00".into(),
            purpose: pb::PaymentPurpose::Outpatient as i32,
            relationship_id: String::new(),
        })
        .await
        .expect("pay from wallet");
    let end_of_a = (balances(&mut henan, "son-41").await, wallet_balance(&mut henan, "mother-41").await);
    assert_eq!(end_of_a.0, ("3800.00".to_owned(), "900.00".to_owned()));

    // Month B: 10:00 of its first day; another payment and transfer.
    let month_b = month_a.next();
    let b_day = cst_day_and_second(month_b.first_millis()).0;
    clock.set(cst_day_hour_millis(b_day, 10));
    pay(&mut henan, pay_request("p-3", "mother-41", "H41010000001", "40.00"))
        .await
        .expect("pay");
    send_and_accept(&mut henan, "w-2", "100.00").await;
    dissolve(&mut henan, "rel-41", pb::Party::Donor)
        .await
        .expect("dissolve: the quota is released");
    let now = (balances(&mut henan, "son-41").await, wallet_balance(&mut henan, "mother-41").await);

    let a = statement(&mut henan, "son-41", &month_a.to_string(), "", "")
        .await
        .expect("statement of month A");
    assert_adds_up(&a);
    let personal = account(&a, "personal");
    assert_eq!(
        (personal.opening.as_str(), personal.closing.as_str()),
        ("0.00", end_of_a.0 .0.as_str())
    );
    let given = account(&a, "quota_given");
    assert_eq!((given.relationship_id.as_str(), given.opening.as_str()), ("rel-41", "0.00"));
    assert_eq!(given.closing, end_of_a.0 .1);
    let references: Vec<&str> = a.movements.iter().map(|m| m.reference.as_str()).collect();
    for reference in ["c-son-41", "p-1", "p-2", "r-1", "w-1"] {
        assert!(references.iter().any(|r| r.contains(reference)), "{reference} in {references:?}");
    }

    let b = statement(&mut henan, "son-41", &month_b.to_string(), "", "")
        .await
        .expect("statement of month B");
    assert_adds_up(&b);
    assert_eq!(account(&b, "personal").opening, end_of_a.0 .0, "B opens where A closed");
    assert_eq!(account(&b, "personal").closing, now.0 .0);
    assert_eq!(account(&b, "quota_given").closing, now.0 .1);
    assert_eq!(now.0 .1, "0.00", "released by the dissolution");
    assert!(b
        .movements
        .iter()
        .filter(|m| m.role == "personal")
        .any(|m| m.counterpart == "quota/rel-41" && !m.amount.starts_with('-')));

    // One range across both months: opens at zero, closes at today's balances.
    let (first, last) = (day(cst_day_hour_millis(first_day, 0)), day(cst_day_hour_millis(b_day, 0)));
    let both = statement(&mut henan, "son-41", "", &first, &last)
        .await
        .expect("statement across two months");
    assert_adds_up(&both);
    assert_eq!(both.movements.len(), a.movements.len() + b.movements.len());
    assert_eq!(account(&both, "personal").closing, now.0 .0);

    // The beneficiary: the quota received and the wallet.
    let mother = statement(&mut henan, "mother-41", "", &first, &last)
        .await
        .expect("the beneficiary's statement");
    assert_adds_up(&mother);
    assert_eq!(account(&mother, "wallet").closing, now.1);
    assert_eq!(account(&mother, "quota_received").closing, now.0 .1);
    let wallet_refs: Vec<&str> = mother
        .movements
        .iter()
        .filter(|m| m.role == "wallet")
        .map(|m| m.reference.as_str())
        .collect();
    assert!(wallet_refs.iter().any(|r| r.contains("wp-1")), "{wallet_refs:?}");
    assert!(mother
        .movements
        .iter()
        .any(|m| m.role == "quota_received" && m.reference.contains("p-3")));

    // Bad input names the field; an unknown person is not found.
    assert_status(
        statement(&mut henan, "son-41", "2026-13", "", "").await,
        Code::InvalidArgument,
        "month",
    );
    assert_status(
        statement(&mut henan, "son-41", "", "2026-11-02", "2026-11-01").await,
        Code::InvalidArgument,
        "to",
    );
    assert_status(statement(&mut henan, "son-41", "", "", "").await, Code::InvalidArgument, "from");
    assert_status(
        statement(&mut henan, "nobody-41", &month_a.to_string(), "", "").await,
        Code::NotFound,
        "nobody-41",
    );

    // The command line: JSON lines and CSV that parse, the same figures.
    let node = net.network().node_url(code("41"));
    let json = ok(&["statement", "son-41", "--month", &month_a.to_string(), "--node", &node, "--json"]).await;
    let records: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let movements = records.iter().filter(|r| r["record"] == "movement").count();
    assert_eq!(movements, a.movements.len());
    let personal_line = records
        .iter()
        .find(|r| r["record"] == "account" && r["role"] == "personal")
        .expect("the personal account");
    assert_eq!(personal_line["closing"], end_of_a.0 .0.as_str());
    let csv_text = ok(&["statement", "son-41", "--from", &first, "--to", &last, "--node", &node, "--csv"]).await;
    let tables: Vec<&str> = csv_text.split("\r\n\r\n").collect();
    assert_eq!(tables.len(), 3, "statement, accounts, movements:\n{csv_text}");
    let mut reader = csv::Reader::from_reader(tables[2].as_bytes());
    let headers = reader.headers().expect("header").clone();
    assert_eq!(headers.get(0), Some("seq"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(rows.len(), both.movements.len());
    net.shutdown().await;
}

#[tokio::test]
async fn a_beneficiary_of_a_donor_of_another_province_sees_the_quota_granted_spent_and_returned() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    pay(&mut henan, pay_request("p-x", "parent-41", "H41010000001", "100.00"))
        .await
        .expect("pay");
    refund(&mut henan, "r-x", "p-x", "30.00").await.expect("refund");
    assert_eq!(relationship(&mut hebei, "rel-13-41").await.remaining, "430.00");
    dissolve(&mut hebei, "rel-13-41", pb::Party::Donor).await.expect("dissolve");
    let (from, to) = ("2020-01-01".to_owned(), day(net.network().clock().now_millis()));

    // The beneficiary's node holds no quota of a donor of another province.
    let at_home = statement(&mut henan, "parent-41", "", &from, &to)
        .await
        .expect("the statement at home");
    assert!(!at_home.accounts.iter().any(|a| a.role == "quota_received"), "{at_home:?}");
    assert_status(
        quota_statement(&mut henan, "parent-41", "rel-13-41", &from, &to).await,
        Code::NotFound,
        "rel-13-41",
    );

    // The donor's node, whose journal holds it, gives the quota's statement
    // to its beneficiary: granted, spent, returned by the refund, released.
    let received = quota_statement(&mut hebei, "parent-41", "rel-13-41", &from, &to)
        .await
        .expect("the quota received");
    assert_adds_up(&received);
    let quota = account(&received, "quota_received");
    assert_eq!(
        (quota.relationship_id.as_str(), quota.opening.as_str(), quota.closing.as_str()),
        ("rel-13-41", "0.00", "0.00")
    );
    let amounts: Vec<&str> = received.movements.iter().map(|m| m.amount.as_str()).collect();
    assert_eq!(amounts, ["500.00", "-100.00", "30.00", "-430.00"]);
    assert!(received.movements[1].reference.contains("p-x") && received.movements[2].reference.contains("r-x"));
    let given = quota_statement(&mut hebei, "donor-13", "rel-13-41", &from, &to)
        .await
        .expect("the quota given");
    assert_eq!(account(&given, "quota_given").closing, "0.00");
    assert_eq!(
        given.movements,
        received
            .movements
            .iter()
            .map(|m| pb::StatementMovement {
                role: "quota_given".into(),
                ..m.clone()
            })
            .collect::<Vec<_>>()
    );
    register(&mut hebei, "stranger-13", pb::InsuranceType::Resident, "130100").await;
    assert_status(
        quota_statement(&mut hebei, "stranger-13", "rel-13-41", &from, &to).await,
        Code::InvalidArgument,
        "relationship_id",
    );

    // `gongji statement` at the beneficiary's node adds it, asked at the donor's.
    let file = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(file.path(), serde_json::to_string(&net.network().manifest()).expect("json")).expect("the address file");
    let network = file.path().display().to_string();
    let json = ok(&[
        "statement",
        "parent-41",
        "--from",
        &from,
        "--to",
        &to,
        "--network",
        &network,
        "--province",
        "41",
        "--json",
    ])
    .await;
    let records: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let line = records
        .iter()
        .find(|r| r["record"] == "account" && r["role"] == "quota_received")
        .unwrap_or_else(|| panic!("the quota received in {json}"));
    assert_eq!(
        (line["relationship"].as_str(), line["closing"].as_str()),
        (Some("rel-13-41"), Some("0.00"))
    );
    let quota_movements: Vec<&str> = records
        .iter()
        .filter(|r| r["record"] == "movement" && r["role"] == "quota_received")
        .filter_map(|r| r["amount"].as_str())
        .collect();
    assert_eq!(quota_movements, amounts);
    net.shutdown().await;
}
