//! The medical-insurance wallet (医保钱包) through real servers: a transfer
//! from an employee's personal account to a close relative's wallet, settled
//! exactly once; every published rule refused by name with nothing moved;
//! the 06:00 return made by the node itself once the network's clock passes
//! it (the clock is moved, never waited for). See docs/WALLET.md.

use gongji_common::period::{cst_day_and_second, cst_day_hour_millis};
use gongji_tests::{assert_status, balances, employee_with_balance, eventually, nets, register, v1 as pb, TestNetwork};
use tonic::{transport::Channel, Code};

type Node = pb::province_node_client::ProvinceNodeClient<Channel>;

/// Moves the network's clock to `hour`:`minute` CST of the next day (always
/// ahead of the real time), and answers that day.
fn set_clock(net: &TestNetwork, hour: u8, minute: i64) -> i64 {
    let clock = net.network().clock();
    let day = cst_day_and_second(clock.now_millis()).0 + 1;
    clock.set(cst_day_hour_millis(day, hour) + minute * 60_000);
    day
}

async fn open_wallet(node: &mut Node, person: &str) -> pb::Wallet {
    node.open_wallet(pb::OpenWalletRequest { person_id: person.into() })
        .await
        .expect("open wallet")
        .into_inner()
}

fn send_request(id: &str, sender: &str, recipient: &str, province: &str, amount: &str) -> pb::SendToWalletRequest {
    pb::SendToWalletRequest {
        transfer_id: id.into(),
        sender_id: sender.into(),
        recipient_id: recipient.into(),
        recipient_province: province.into(),
        relation_kind: pb::RelationKind::Parent as i32,
        amount: amount.into(),
    }
}

async fn send(node: &mut Node, id: &str, sender: &str, recipient: &str, amount: &str) -> Result<pb::WalletTransfer, tonic::Status> {
    node.send_to_wallet(send_request(id, sender, recipient, "41", amount))
        .await
        .map(|r| r.into_inner())
}

async fn accept(node: &mut Node, id: &str, by: &str) -> Result<pb::WalletTransfer, tonic::Status> {
    node.accept_wallet_transfer(pb::AcceptWalletTransferRequest {
        transfer_id: id.into(),
        recipient_id: by.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

/// Declines at the recipient's node by the transfer's id alone (her node
/// knows the sender's province and amount once told of its sending).
async fn decline_by_id(node: &mut Node, id: &str, by: &str) -> Result<pb::WalletTransfer, tonic::Status> {
    node.decline_wallet_transfer(pb::DeclineWalletTransferRequest {
        transfer_id: id.into(),
        recipient_id: by.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn cancel(node: &mut Node, id: &str, by: &str) -> Result<pb::WalletTransfer, tonic::Status> {
    node.cancel_wallet_transfer(pb::CancelWalletTransferRequest {
        transfer_id: id.into(),
        sender_id: by.into(),
    })
    .await
    .map(|r| r.into_inner())
}

async fn wallet(node: &mut Node, person: &str) -> pb::WalletStatement {
    node.get_wallet(pb::GetWalletRequest { person_id: person.into() })
        .await
        .expect("get wallet")
        .into_inner()
}

/// The node's self-check (what `gongji audit` asks) finds nothing wrong,
/// the wallet's invariants included.
async fn assert_audit_passes(node: &mut Node) {
    let report = node.self_check(pb::SelfCheckRequest {}).await.expect("self-check").into_inner();
    assert_eq!(report.violation_count, 0, "{:?}", report.violations);
    assert_eq!(report.trial_balance, "0.00");
}

/// Changes record `id` of `table` behind the back of a province's node
/// (stopped, then started again), and answers what its self-check says.
async fn tampered<V: serde::Serialize + serde::de::DeserializeOwned>(
    net: &mut TestNetwork,
    province: &str,
    table: gongji_common::store::Table<gongji_common::Id, V>,
    id: &str,
    change: impl FnOnce(&mut V),
) -> String {
    net.stop_node(province).await;
    {
        let store = net.open_stopped_node_store(province);
        let id = gongji_common::Id::parse("id", id).unwrap();
        let mut record = store.get(table, &id).unwrap().expect("stored");
        change(&mut record);
        store.transact(|tx| tx.put(table, &id, &record)).durable().await.unwrap();
    }
    net.start_node(province).await;
    let report = net
        .node(province)
        .self_check(pb::SelfCheckRequest {})
        .await
        .expect("self-check")
        .into_inner();
    report.violations.join("\n")
}

fn balance(statement: &pb::WalletStatement) -> String {
    statement.wallet.as_ref().map(|w| w.balance.clone()).unwrap_or_default()
}

/// Henan: an employee with 5,000.00, their mother (a resident) and father
/// with open wallets.
async fn henan_family(net: &TestNetwork) -> Node {
    let mut henan = net.node("41");
    employee_with_balance(&mut henan, "son-41", "410100", "5000.00").await;
    register(&mut henan, "mother-41", pb::InsuranceType::Resident, "410100").await;
    register(&mut henan, "father-41", pb::InsuranceType::Employee, "410200").await;
    open_wallet(&mut henan, "mother-41").await;
    open_wallet(&mut henan, "father-41").await;
    henan
}

#[tokio::test]
async fn a_wallet_transfer_is_accepted_once_and_moves_from_the_account_to_the_wallet() {
    let net = TestNetwork::start(&["41"]).await;
    let mut henan = henan_family(&net).await;
    set_clock(&net, 10, 0);

    let sent = send(&mut henan, "w-1", "son-41", "mother-41", "2000.00").await.expect("send");
    assert_eq!(sent.status, pb::WalletTransferStatus::Unaccepted as i32);
    assert_eq!(
        balances(&mut henan, "son-41").await.0,
        "3000.00",
        "taken from the available balance at once"
    );
    assert_eq!(
        balance(&wallet(&mut henan, "mother-41").await),
        "0.00",
        "not the mother's until she accepts"
    );
    // A retried send moves nothing more.
    send(&mut henan, "w-1", "son-41", "mother-41", "2000.00").await.expect("retry");
    assert_eq!(balances(&mut henan, "son-41").await.0, "3000.00");

    let accepted = accept(&mut henan, "w-1", "mother-41").await.expect("accept");
    assert_eq!(accepted.status, pb::WalletTransferStatus::Accepted as i32);
    accept(&mut henan, "w-1", "mother-41")
        .await
        .expect("accepting twice answers the same");
    let mothers = wallet(&mut henan, "mother-41").await;
    assert_eq!(balance(&mothers), "2000.00");
    assert_eq!(mothers.received.len(), 1);
    assert_eq!(wallet(&mut henan, "son-41").await.sent.len(), 1);
    assert_eq!(balances(&mut henan, "son-41").await.0, "3000.00");

    // Settled once: neither a decline nor a cancellation comes after.
    let declined = decline_by_id(&mut henan, "w-1", "mother-41").await;
    assert_status(declined, Code::FailedPrecondition, "already accepted");
    let cancelled = cancel(&mut henan, "w-1", "son-41").await;
    assert_status(cancelled, Code::FailedPrecondition, "already accepted");
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "2000.00");
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn bad_wallet_transfers_are_refused_naming_the_rule_and_nothing_moves() {
    let net = TestNetwork::start(&["41"]).await;
    let mut henan = henan_family(&net).await;
    register(&mut henan, "aunt-41", pb::InsuranceType::Resident, "410100").await;
    set_clock(&net, 10, 0);

    let refusals = [
        (
            send_request("w-r", "mother-41", "father-41", "41", "10.00"),
            "only an employee with a personal account",
        ),
        (send_request("w-n", "son-41", "aunt-41", "41", "10.00"), "has no open wallet"),
        (
            send_request("w-x", "son-41", "nobody-41", "41", "10.00"),
            "is not an insured person of province 41",
        ),
        (
            send_request("w-l", "son-41", "mother-41", "41", "2000.01"),
            "above the limit of 2000.00",
        ),
    ];
    for (request, says) in refusals {
        let code = if says.contains("not an insured person") {
            Code::NotFound
        } else {
            Code::FailedPrecondition
        };
        assert_status(henan.send_to_wallet(request).await, code, says);
    }
    assert_eq!(balances(&mut henan, "son-41").await.0, "5000.00", "nothing moved");

    // A second transfer to someone who has not accepted the first.
    send(&mut henan, "w-1", "son-41", "mother-41", "100.00").await.expect("first");
    assert_status(
        send(&mut henan, "w-2", "son-41", "mother-41", "100.00").await,
        Code::FailedPrecondition,
        "has not yet accepted wallet transfer w-1",
    );
    // Acceptance by someone else.
    assert_status(
        accept(&mut henan, "w-1", "father-41").await,
        Code::PermissionDenied,
        "only the recipient mother-41",
    );
    // Above the balance: the father's account holds nothing.
    assert_status(
        henan
            .send_to_wallet(send_request("w-3", "father-41", "mother-41", "41", "0.01"))
            .await,
        Code::FailedPrecondition,
        "more than the available balance 0.00",
    );
    // A fourth transfer in a day.
    send(&mut henan, "w-4", "son-41", "father-41", "100.00").await.expect("second");
    accept(&mut henan, "w-4", "father-41").await.expect("accepted");
    send(&mut henan, "w-5", "son-41", "father-41", "100.00").await.expect("third");
    assert_status(
        henan.send_to_wallet(send_request("w-6", "son-41", "father-41", "41", "1.00")).await,
        Code::FailedPrecondition,
        "already made 3 wallet transfers today",
    );
    // At 23:00.
    set_clock(&net, 23, 0);
    assert_status(
        henan.send_to_wallet(send_request("w-7", "son-41", "father-41", "41", "1.00")).await,
        Code::FailedPrecondition,
        "between 22:00 and 06:00",
    );
    assert_eq!(balances(&mut henan, "son-41").await.0, "4700.00", "only the three sent moved");
    net.shutdown().await;
}

#[tokio::test]
async fn an_unaccepted_transfer_returns_by_itself_at_six_and_cannot_be_accepted_after() {
    let net = TestNetwork::start(&["41"]).await;
    let mut henan = henan_family(&net).await;
    let day = set_clock(&net, 21, 59);
    send(&mut henan, "w-1", "son-41", "mother-41", "800.00").await.expect("send");
    assert_eq!(balances(&mut henan, "son-41").await.0, "4200.00");

    // 05:59 the next day: still unaccepted, the sender cannot send her another.
    net.network().clock().set(cst_day_hour_millis(day + 1, 5) + 59 * 60_000);
    let statement = wallet(&mut henan, "son-41").await;
    assert_eq!(statement.sent[0].status, pb::WalletTransferStatus::Unaccepted as i32);

    // 06:00: the node's own pass returns it.
    net.network().clock().set(cst_day_hour_millis(day + 1, 6));
    eventually("the transfer returns at 06:00", || {
        let mut henan = henan.clone();
        async move {
            let statement = wallet(&mut henan, "son-41").await;
            (statement.sent[0].status == pb::WalletTransferStatus::Returned as i32).then_some(())
        }
    })
    .await;
    assert_eq!(balances(&mut henan, "son-41").await.0, "5000.00");
    assert_status(
        accept(&mut henan, "w-1", "mother-41").await,
        Code::FailedPrecondition,
        "already returned",
    );
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "0.00");

    // Once returned, the sender may send to her again; a restart keeps it all.
    send(&mut henan, "w-2", "son-41", "mother-41", "10.00").await.expect("send again");
    let mut net = net;
    net.restart_all().await;
    let mut henan = net.node("41");
    assert_eq!(balances(&mut henan, "son-41").await.0, "4990.00");
    let statement = wallet(&mut henan, "son-41").await;
    assert_eq!(statement.sent.len(), 2);
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn when_insurance_ends_unaccepted_transfers_go_back_and_the_wallet_balance_stays_the_holders() {
    let net = TestNetwork::start(&["41"]).await;
    let mut henan = henan_family(&net).await;
    employee_with_balance(&mut henan, "daughter-41", "410100", "1000.00").await;
    set_clock(&net, 10, 0);
    // The mother holds 300.00 in her wallet and has 200.00 unaccepted from the daughter.
    send(&mut henan, "w-1", "son-41", "mother-41", "300.00").await.expect("send");
    accept(&mut henan, "w-1", "mother-41").await.expect("accept");
    send(&mut henan, "w-2", "daughter-41", "mother-41", "200.00").await.expect("send");
    // The son has 50.00 unaccepted to the father.
    send(&mut henan, "w-3", "son-41", "father-41", "50.00").await.expect("send");

    // The recipient's insurance ends: the transfer to her is declined at once,
    // her wallet closes, and what it holds stays hers.
    henan
        .terminate_insurance(pb::TerminateInsuranceRequest {
            person_id: "mother-41".into(),
        })
        .await
        .expect("terminate");
    let mothers = wallet(&mut henan, "mother-41").await;
    let shown = mothers.wallet.clone().expect("a wallet");
    assert!(!shown.open, "closed");
    assert_eq!(shown.balance, "300.00", "the money stays the holder's");
    assert_eq!(
        balances(&mut henan, "daughter-41").await.0,
        "1000.00",
        "the unaccepted transfer went back"
    );
    let daughters = wallet(&mut henan, "daughter-41").await;
    assert_eq!(daughters.sent[0].status, pb::WalletTransferStatus::Declined as i32);
    assert_status(
        henan
            .send_to_wallet(send_request("w-4", "daughter-41", "mother-41", "41", "1.00"))
            .await,
        Code::FailedPrecondition,
        "no longer insured",
    );

    // The sender's insurance ends: what they sent unaccepted is cancelled,
    // back in their available balance.
    henan
        .terminate_insurance(pb::TerminateInsuranceRequest {
            person_id: "son-41".into(),
        })
        .await
        .expect("terminate");
    let sons = wallet(&mut henan, "son-41").await;
    let w3 = sons.sent.iter().find(|t| t.transfer_id == "w-3").expect("w-3");
    assert_eq!(w3.status, pb::WalletTransferStatus::Cancelled as i32);
    assert_eq!(balances(&mut henan, "son-41").await.0, "4700.00");
    assert_status(
        accept(&mut henan, "w-3", "father-41").await,
        Code::FailedPrecondition,
        "already cancelled",
    );
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_wallet_transfer_settled_twice_or_with_its_money_astray_fails_the_audit() {
    use province_node::{domain::WalletStatus, store::WALLET_TRANSFERS};
    let mut net = TestNetwork::start(&["41"]).await;
    let mut henan = henan_family(&net).await;
    set_clock(&net, 10, 0);
    send(&mut henan, "w-1", "son-41", "mother-41", "100.00").await.expect("send");
    assert_audit_passes(&mut henan).await;

    // Behind the node's back, the unaccepted transfer is marked accepted:
    // its money is still in transit and it is still listed for return.
    let said = tampered(&mut net, "41", WALLET_TRANSFERS, "w-1", |transfer| {
        transfer.status = WalletStatus::Accepted;
        transfer.settled_at = Some(transfer.sent_at);
    })
    .await;
    assert!(
        said.contains("wallet transfer w-1 is accepted but 100.00 of it is in transit"),
        "{said}"
    );
    assert!(
        said.contains("wallet transfer w-1 is accepted but is listed for its return"),
        "{said}"
    );
    net.shutdown().await;
}

/// Hebei's employee sends to their mother's wallet in Henan.
async fn hebei_son_henan_mother(net: &TestNetwork) -> (Node, Node) {
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    employee_with_balance(&mut hebei, "son-13", "130100", "5000.00").await;
    register(&mut henan, "mother-41", pb::InsuranceType::Resident, "410100").await;
    register(&mut henan, "aunt-41", pb::InsuranceType::Resident, "410100").await;
    open_wallet(&mut henan, "mother-41").await;
    (hebei, henan)
}

/// Hebei's son sends `amount` to his mother's wallet in Henan at 10:00 (w-1).
async fn hebei_sent_w1(amount: &str) -> (TestNetwork, Node, Node) {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, henan) = hebei_son_henan_mother(&net).await;
    set_clock(&net, 10, 0);
    hebei
        .send_to_wallet(send_request("w-1", "son-13", "mother-41", "41", amount))
        .await
        .expect("send");
    (net, hebei, henan)
}

async fn accept_across(node: &mut Node, id: &str, by: &str, amount: &str) -> Result<pb::WalletTransfer, tonic::Status> {
    node.accept_wallet_transfer(pb::AcceptWalletTransferRequest {
        transfer_id: id.into(),
        recipient_id: by.into(),
        sender_province: "13".into(),
        amount: amount.into(),
    })
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_cross_province_wallet_transfer_is_owed_from_its_acceptance_and_agrees_everywhere() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, mut henan) = hebei_son_henan_mother(&net).await;
    let mut hub = net.hub();
    set_clock(&net, 10, 0);

    // The recipient is checked by her own node before anything is recorded.
    assert_status(
        hebei.send_to_wallet(send_request("w-0", "son-13", "aunt-41", "41", "10.00")).await,
        Code::FailedPrecondition,
        "has no open wallet",
    );
    let sent = hebei
        .send_to_wallet(send_request("w-1", "son-13", "mother-41", "41", "1200.00"))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.status, pb::WalletTransferStatus::Unaccepted as i32);
    assert_eq!(balances(&mut hebei, "son-13").await.0, "3800.00");
    // Sent, not accepted: nobody owes anybody yet.
    assert_status(
        hub.get_transaction(pb::GetTransactionRequest {
            transaction_id: "w-1".into(),
            kind: pb::TransactionKind::WalletTransfer as i32,
        })
        .await,
        Code::NotFound,
        "w-1",
    );

    // The wrong amount, or someone else, is refused and nothing moves.
    assert_status(
        accept_across(&mut henan, "w-1", "mother-41", "1.00").await,
        Code::FailedPrecondition,
        "not what was accepted",
    );
    assert_status(
        accept_across(&mut henan, "w-1", "aunt-41", "1200.00").await,
        Code::FailedPrecondition,
        "has no open wallet",
    );

    let accepted = accept_across(&mut henan, "w-1", "mother-41", "1200.00").await.expect("accept");
    assert_eq!(accepted.status, pb::WalletTransferStatus::Accepted as i32);
    accept_across(&mut henan, "w-1", "mother-41", "1200.00")
        .await
        .expect("accepting again answers the same");
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "1200.00");
    let sons = wallet(&mut hebei, "son-13").await;
    assert_eq!(sons.sent[0].status, pb::WalletTransferStatus::Accepted as i32);
    assert_eq!(balances(&mut hebei, "son-13").await.0, "3800.00");

    // The hub booked it in the open month: Hebei owes Henan.
    let open = hub.get_open_period(pb::GetOpenPeriodRequest {}).await.unwrap().into_inner().period;
    let record = hub
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "w-1".into(),
            kind: pb::TransactionKind::WalletTransfer as i32,
        })
        .await
        .expect("the hub recorded the acceptance")
        .into_inner();
    assert_eq!(record.status, pb::TransactionStatus::Approved as i32);
    assert_eq!((record.payer_province.as_str(), record.payee_province.as_str()), ("13", "41"));
    assert_eq!((record.amount.as_str(), record.period.as_str()), ("1200.00", open.as_str()));
    assert_eq!(
        nets(&mut hub, &open, &["13", "41"]).await,
        [Some("-1200.00".to_owned()), Some("1200.00".to_owned())]
    );
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut henan).await;

    // A second transfer returns at 06:00 in Hebei; Henan cannot accept it after.
    hebei
        .send_to_wallet(send_request("w-2", "son-13", "mother-41", "41", "100.00"))
        .await
        .expect("send");
    let day = cst_day_and_second(net.network().clock().now_millis()).0;
    net.network().clock().set(cst_day_hour_millis(day + 1, 6));
    eventually("w-2 returns", || {
        let mut hebei = hebei.clone();
        async move { (balances(&mut hebei, "son-13").await.0 == "3800.00").then_some(()) }
    })
    .await;
    assert_status(
        accept_across(&mut henan, "w-2", "mother-41", "100.00").await,
        Code::FailedPrecondition,
        "already returned",
    );
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "1200.00");
    let refused = hub
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "w-2".into(),
            kind: pb::TransactionKind::WalletTransfer as i32,
        })
        .await
        .expect("the declined acceptance is recorded")
        .into_inner();
    assert_eq!(refused.status, pb::TransactionStatus::Declined as i32);
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn an_acceptance_while_the_senders_node_is_down_waits_pending_then_completes() {
    let (mut net, _hebei, mut henan) = hebei_sent_w1("300.00").await;
    net.stop_node("13").await;
    assert_status(
        accept_across(&mut henan, "w-1", "mother-41", "300.00").await,
        Code::Unavailable,
        "pending",
    );
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "0.00");
    net.start_node("13").await;
    eventually("the pending acceptance completes", || {
        let mut henan = henan.clone();
        async move { (balance(&wallet(&mut henan, "mother-41").await) == "300.00").then_some(()) }
    })
    .await;
    let mut hebei = net.node("13");
    assert_eq!(
        wallet(&mut hebei, "son-13").await.sent[0].status,
        pb::WalletTransferStatus::Accepted as i32
    );
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn an_accepted_wallet_transfer_is_cleared_stated_and_reconciled_line_by_line_as_its_own_kind() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, mut henan) = hebei_son_henan_mother(&net).await;
    let mut hub = net.hub();
    set_clock(&net, 10, 0);
    for (id, amount) in [("w-1", "1200.00"), ("w-2", "300.00")] {
        hebei
            .send_to_wallet(send_request(id, "son-13", "mother-41", "41", amount))
            .await
            .expect("send");
        accept_across(&mut henan, id, "mother-41", amount).await.expect("accept");
    }
    let period = hub.get_open_period(pb::GetOpenPeriodRequest {}).await.unwrap().into_inner().period;
    hub.close_month(pb::CloseMonthRequest { period: period.clone() })
        .await
        .expect("close");
    let clearing = eventually("the month clears", || {
        let mut hub = net.hub();
        let period = period.clone();
        async move {
            let month = hub
                .get_month(pb::GetMonthRequest { period: period.clone() })
                .await
                .ok()?
                .into_inner();
            if month.state != pb::MonthState::Closed as i32 {
                return None;
            }
            Some(hub.get_clearing(pb::GetClearingRequest { period }).await.ok()?.into_inner())
        }
    })
    .await;
    let lines: Vec<_> = clearing
        .lines
        .iter()
        .map(|l| (l.payer.as_str(), l.payee.as_str(), l.kind, l.count, l.gross.as_str()))
        .collect();
    assert_eq!(lines, vec![("13", "41", pb::TransactionKind::WalletTransfer as i32, 2, "1500.00")]);
    for province in ["13", "41"] {
        let report = net
            .node(province)
            .reconcile_month(pb::ReconcileMonthRequest { period: period.clone() })
            .await
            .expect("reconcile")
            .into_inner();
        assert!(report.confirmed, "{province}: {report:?}");
        assert_eq!(
            (report.matched, report.only_at_hub, report.only_at_node, report.amount_differs),
            (2, 0, 0, 0)
        );
    }
    net.shutdown().await;
}

fn wallet_pay(id: &str, institution: &str, amount: &str, purpose: pb::PaymentPurpose) -> pb::PayRequest {
    pb::PayRequest {
        payment_id: id.into(),
        beneficiary_id: "mother-41".into(),
        institution_id: institution.into(),
        amount: amount.into(),
        purpose: purpose as i32,
        relationship_id: String::new(),
    }
}

#[tokio::test]
async fn a_wallet_pays_care_medicines_and_contributions_and_refunds_and_reversals_return_to_it() {
    use pb::PaymentPurpose as P;
    let net = TestNetwork::start(&["41"]).await;
    let mut henan = henan_family(&net).await;
    set_clock(&net, 10, 0);
    send(&mut henan, "w-1", "son-41", "mother-41", "500.00").await.expect("send");
    accept(&mut henan, "w-1", "mother-41").await.expect("accept");

    let paid = henan
        .pay_from_wallet(wallet_pay("wp-1", "H41010000001", "120.00", P::Outpatient))
        .await
        .expect("pay")
        .into_inner();
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);
    henan
        .pay_from_wallet(wallet_pay("wp-1", "H41010000001", "120.00", P::Outpatient))
        .await
        .expect("a retried payment pays once");
    let medicines = henan
        .pay_from_wallet(wallet_pay("wp-2", "P41010000001", "30.00", P::Pharmacy))
        .await
        .expect("pay")
        .into_inner();
    assert_eq!(medicines.status, pb::TransactionStatus::Approved as i32);
    let contribution = henan
        .pay_from_wallet(wallet_pay("wp-3", "", "50.00", P::ResidentContribution))
        .await
        .expect("pay")
        .into_inner();
    assert_eq!(contribution.status, pb::TransactionStatus::Approved as i32);
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "300.00");

    // Declined and recorded so: more than the wallet holds, the wrong kind of institution.
    let short = henan
        .pay_from_wallet(wallet_pay("wp-4", "H41010000001", "300.01", P::Inpatient))
        .await
        .expect("answer")
        .into_inner();
    assert_eq!(short.decline_reason, pb::DeclineReason::InsufficientBalance as i32, "{short:?}");
    let wrong = henan
        .pay_from_wallet(wallet_pay("wp-5", "H41010000001", "1.00", P::Pharmacy))
        .await
        .expect("answer")
        .into_inner();
    assert_eq!(wrong.decline_reason, pb::DeclineReason::WrongInstitutionKind as i32, "{wrong:?}");
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "300.00");
    // No wallet: refused.
    let mut no_wallet = wallet_pay("wp-6", "H41010000001", "1.00", P::Outpatient);
    no_wallet.beneficiary_id = "son-41".into();
    assert_status(
        henan.pay_from_wallet(no_wallet).await,
        Code::FailedPrecondition,
        "has no open wallet",
    );

    // A refund returns to the wallet, once, never more than is left.
    let refund = |id: &str, amount: &str| pb::RefundPaymentRequest {
        refund_id: id.into(),
        payment_id: "wp-1".into(),
        amount: amount.into(),
    };
    henan.refund_wallet_payment(refund("wr-1", "20.00")).await.expect("refund");
    henan
        .refund_wallet_payment(refund("wr-1", "20.00"))
        .await
        .expect("a retried refund refunds once");
    assert_status(
        henan.refund_wallet_payment(refund("wr-2", "100.01")).await,
        Code::FailedPrecondition,
        "has left (100.00)",
    );
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "320.00");
    // A reversal credits back what is left; reversing again changes nothing.
    let reverse = |id: &str| pb::ReversePaymentRequest { payment_id: id.into() };
    let reversed = henan.reverse_wallet_payment(reverse("wp-1")).await.expect("reverse").into_inner();
    assert_eq!(reversed.status, pb::TransactionStatus::Reversed as i32);
    henan.reverse_wallet_payment(reverse("wp-1")).await.expect("again");
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "420.00");
    // An unknown id reversed first can never be paid.
    henan.reverse_wallet_payment(reverse("wp-9")).await.expect("reverse unknown");
    assert_status(
        henan
            .pay_from_wallet(wallet_pay("wp-9", "H41010000001", "1.00", P::Outpatient))
            .await,
        Code::AlreadyExists,
        "wp-9",
    );
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_recipient_declines_a_transfer_from_another_province_at_her_node_and_it_goes_back_once() {
    let (net, mut hebei, mut henan) = hebei_sent_w1("700.00").await;
    assert_eq!(balances(&mut hebei, "son-13").await.0, "4300.00");
    let decline = |by: &str| pb::DeclineWalletTransferRequest {
        transfer_id: "w-1".into(),
        recipient_id: by.into(),
        sender_province: "13".into(),
        amount: "700.00".into(),
    };
    assert_status(
        henan.decline_wallet_transfer(decline("aunt-41")).await,
        Code::FailedPrecondition,
        "only the recipient mother-41",
    );
    let declined = henan
        .decline_wallet_transfer(decline("mother-41"))
        .await
        .expect("decline")
        .into_inner();
    assert_eq!(declined.status, pb::WalletTransferStatus::Declined as i32);
    henan
        .decline_wallet_transfer(decline("mother-41"))
        .await
        .expect("declining twice answers the same");
    assert_eq!(balances(&mut hebei, "son-13").await.0, "5000.00", "back with the sender, once");
    assert_eq!(
        wallet(&mut hebei, "son-13").await.sent[0].status,
        pb::WalletTransferStatus::Declined as i32
    );
    assert_status(
        accept_across(&mut henan, "w-1", "mother-41", "700.00").await,
        Code::FailedPrecondition,
        "already declined",
    );
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "0.00");
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

type Hub = pb::national_hub_client::NationalHubClient<Channel>;

/// A transfer as the hub, the sender's node and the recipient's node each
/// know it: (status, month of its outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    hub: Option<(i32, String)>,
    sender: Option<(i32, String)>,
    recipient: Option<(i32, String)>,
}

async fn known(hub: &mut Hub, sender: (&mut Node, &str), recipient: (&mut Node, &str), id: &str) -> Known {
    let of = |t: &pb::WalletTransfer| (t.status, t.period.clone());
    let find = |list: &[pb::WalletTransfer]| list.iter().find(|t| t.transfer_id == id).map(of);
    Known {
        hub: hub
            .get_wallet_transfer(pb::GetWalletTransferRequest { transfer_id: id.into() })
            .await
            .ok()
            .map(|r| of(r.get_ref())),
        sender: find(&wallet(sender.0, sender.1).await.sent),
        recipient: find(&wallet(recipient.0, recipient.1).await.received),
    }
}

/// Waits until the hub, Hebei's son's node and Henan's mother's node all
/// know transfer `id` with `status`, in one month; answers that month.
async fn all_agree(net: &TestNetwork, id: &str, status: pb::WalletTransferStatus) -> String {
    let (hebei, henan, hub) = (net.node("13"), net.node("41"), net.hub());
    eventually(&format!("{id} is {status:?} at the hub and both nodes"), || {
        let (mut hebei, mut henan, mut hub) = (hebei.clone(), henan.clone(), hub.clone());
        async move {
            let seen = known(&mut hub, (&mut hebei, "son-13"), (&mut henan, "mother-41"), id).await;
            let one = seen.sender.clone().filter(|(s, _)| *s == status as i32)?;
            (seen.hub.as_ref() == Some(&one) && seen.recipient.as_ref() == Some(&one)).then_some(one.1)
        }
    })
    .await
}

#[tokio::test]
async fn the_recipients_node_lists_a_transfer_from_another_province_unaccepted_from_its_sending_and_the_hub_records_it() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, mut henan) = hebei_son_henan_mother(&net).await;
    let mut hub = net.hub();
    set_clock(&net, 10, 0);
    let sent = hebei
        .send_to_wallet(send_request("w-1", "son-13", "mother-41", "41", "1200.00"))
        .await
        .expect("send")
        .into_inner();

    let listed = eventually("Henan's node lists the incoming transfer", || {
        let mut henan = henan.clone();
        async move {
            wallet(&mut henan, "mother-41")
                .await
                .received
                .into_iter()
                .find(|t| t.transfer_id == "w-1")
        }
    })
    .await;
    assert_eq!(listed.status, pb::WalletTransferStatus::Unaccepted as i32);
    assert_eq!(
        (listed.sender_id.as_str(), listed.sender_province.as_str(), listed.amount.as_str()),
        ("son-13", "13", "1200.00")
    );
    assert_eq!((listed.sent_at, listed.return_at), (sent.sent_at, sent.return_at));
    assert_eq!((listed.settled_at, listed.period.as_str()), (None, ""));
    let at_hub = hub
        .get_wallet_transfer(pb::GetWalletTransferRequest { transfer_id: "w-1".into() })
        .await
        .expect("the hub recorded the sending")
        .into_inner();
    assert_eq!(at_hub.status, pb::WalletTransferStatus::Unaccepted as i32);
    assert_eq!((at_hub.sender_province.as_str(), at_hub.recipient_province.as_str()), ("13", "41"));
    // Sent is not owed: no transaction at the hub until it is accepted.
    assert_status(
        hub.get_transaction(pb::GetTransactionRequest {
            transaction_id: "w-1".into(),
            kind: pb::TransactionKind::WalletTransfer as i32,
        })
        .await,
        Code::NotFound,
        "w-1",
    );

    // Accepted by its id alone: the hub stamps the month, and all three say it.
    let accepted = henan
        .accept_wallet_transfer(pb::AcceptWalletTransferRequest {
            transfer_id: "w-1".into(),
            recipient_id: "mother-41".into(),
            ..Default::default()
        })
        .await
        .expect("accept by id")
        .into_inner();
    assert_eq!(accepted.status, pb::WalletTransferStatus::Accepted as i32);
    let open = hub.get_open_period(pb::GetOpenPeriodRequest {}).await.unwrap().into_inner().period;
    assert_eq!(all_agree(&net, "w-1", pb::WalletTransferStatus::Accepted).await, open);
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "1200.00");
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut henan).await;
    let report = hub.self_check(pb::SelfCheckRequest {}).await.expect("hub self-check").into_inner();
    assert_eq!(report.violation_count, 0, "{:?}", report.violations);
    net.shutdown().await;
}

#[tokio::test]
async fn a_decline_a_cancel_and_a_return_at_six_are_recorded_with_their_month_at_the_hub_and_the_recipients_node() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, mut henan) = hebei_son_henan_mother(&net).await;
    let mut hub = net.hub();
    set_clock(&net, 10, 0);
    let month = |at: i64| gongji_common::Period::of_unix_millis(at).to_string();

    hebei
        .send_to_wallet(send_request("w-1", "son-13", "mother-41", "41", "100.00"))
        .await
        .expect("send");
    all_agree(&net, "w-1", pb::WalletTransferStatus::Unaccepted).await;
    decline_by_id(&mut henan, "w-1", "mother-41").await.expect("decline by id");
    let now = net.network().clock().now_millis();
    assert_eq!(all_agree(&net, "w-1", pb::WalletTransferStatus::Declined).await, month(now));

    hebei
        .send_to_wallet(send_request("w-2", "son-13", "mother-41", "41", "200.00"))
        .await
        .expect("send");
    cancel(&mut hebei, "w-2", "son-13").await.expect("cancel");
    assert_eq!(all_agree(&net, "w-2", pb::WalletTransferStatus::Cancelled).await, month(now));

    hebei
        .send_to_wallet(send_request("w-3", "son-13", "mother-41", "41", "300.00"))
        .await
        .expect("send");
    let day = cst_day_and_second(now).0;
    let six = cst_day_hour_millis(day + 1, 6);
    net.network().clock().set(six);
    assert_eq!(all_agree(&net, "w-3", pb::WalletTransferStatus::Returned).await, month(six));
    assert_eq!(balances(&mut hebei, "son-13").await.0, "5000.00");
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "0.00");
    // Nothing was owed for any of them.
    for id in ["w-1", "w-2", "w-3"] {
        let routed = hub
            .get_transaction(pb::GetTransactionRequest {
                transaction_id: id.into(),
                kind: pb::TransactionKind::WalletTransfer as i32,
            })
            .await;
        assert_status(routed, Code::NotFound, id);
    }
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut henan).await;
    net.shutdown().await;
}

#[tokio::test]
async fn an_outcome_decided_while_the_hub_is_down_and_the_sender_restarts_still_reaches_the_hub_and_the_recipients_node_once() {
    let (mut net, mut hebei, _henan) = hebei_sent_w1("400.00").await;
    all_agree(&net, "w-1", pb::WalletTransferStatus::Unaccepted).await;

    // The sender cancels while the hub is down: decided and on disk at the
    // sender's node with its notice; then the sender's node crashes too.
    net.stop_hub().await;
    cancel(&mut hebei, "w-1", "son-13").await.expect("cancel without the hub");
    net.stop_node("13").await;
    net.start_hub().await;
    net.start_node("13").await;

    let month = all_agree(&net, "w-1", pb::WalletTransferStatus::Cancelled).await;
    assert_eq!(
        month,
        gongji_common::Period::of_unix_millis(net.network().clock().now_millis()).to_string()
    );
    let mut hebei = net.node("13");
    assert_eq!(balances(&mut hebei, "son-13").await.0, "5000.00", "back once");
    assert_audit_passes(&mut hebei).await;
    assert_audit_passes(&mut net.node("41")).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_transfer_told_otherwise_at_the_recipients_node_than_credited_there_fails_the_audit() {
    use province_node::store::WALLET_INCOMING;
    let (mut net, _hebei, mut henan) = hebei_sent_w1("100.00").await;
    accept_across(&mut henan, "w-1", "mother-41", "100.00").await.expect("accept");
    all_agree(&net, "w-1", pb::WalletTransferStatus::Accepted).await;
    assert_audit_passes(&mut henan).await;

    // Behind the node's back, what Hebei told of it becomes a decline.
    let said = tampered(&mut net, "41", WALLET_INCOMING, "w-1", |incoming| {
        let outcome = incoming.note.outcome.as_mut().expect("told accepted");
        outcome.status = gongji_common::contract::WalletStatus::Declined;
    })
    .await;
    assert!(
        said.contains("wallet transfer w-1 from province 13 was declined") && said.contains("yet credited here"),
        "{said}"
    );
    net.shutdown().await;
}

/// Waits until Hebei's son's node has settled transfer `id` with `status`
/// (whatever the hub and Henan's node know yet).
async fn sender_settled(hebei: &Node, id: &str, status: pb::WalletTransferStatus) {
    eventually(&format!("Hebei's node settles {id} as {status:?}"), || {
        let mut hebei = hebei.clone();
        async move {
            let sent = wallet(&mut hebei, "son-13").await.sent;
            sent.iter().any(|t| t.transfer_id == id && t.status == status as i32).then_some(())
        }
    })
    .await;
}

async fn terminate(node: &mut Node, person: &str) {
    node.terminate_insurance(pb::TerminateInsuranceRequest { person_id: person.into() })
        .await
        .expect("terminate");
}

async fn assert_all_audits_pass(net: &TestNetwork) {
    assert_audit_passes(&mut net.node("13")).await;
    assert_audit_passes(&mut net.node("41")).await;
    let report = net
        .hub()
        .self_check(pb::SelfCheckRequest {})
        .await
        .expect("hub self-check")
        .into_inner();
    assert_eq!(report.violation_count, 0, "{:?}", report.violations);
}

#[tokio::test]
async fn a_recipient_whose_insurance_ends_gets_transfers_from_another_province_declined_at_once_at_all_three_servers() {
    let (net, mut hebei, mut henan) = hebei_sent_w1("400.00").await;
    all_agree(&net, "w-1", pb::WalletTransferStatus::Unaccepted).await;
    assert_eq!(balances(&mut hebei, "son-13").await.0, "4600.00");

    // Her node asks Hebei's (through the hub) to decline it; Hebei's decides
    // and tells the outcome, with the month it was declined in.
    terminate(&mut henan, "mother-41").await;
    let now = net.network().clock().now_millis();
    let month = all_agree(&net, "w-1", pb::WalletTransferStatus::Declined).await;
    assert_eq!(month, gongji_common::Period::of_unix_millis(now).to_string());
    assert_eq!(balances(&mut hebei, "son-13").await.0, "5000.00", "back with the sender");

    // The 06:00 return finds it declined: nothing moves twice.
    let day = cst_day_and_second(now).0;
    net.network().clock().set(cst_day_hour_millis(day + 1, 6) + 60_000);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await; // three return passes (every 200 ms)
    all_agree(&net, "w-1", pb::WalletTransferStatus::Declined).await;
    assert_eq!(balances(&mut hebei, "son-13").await.0, "5000.00", "back once");
    assert_all_audits_pass(&net).await;
    net.shutdown().await;
}

#[tokio::test]
async fn a_decline_asked_for_an_ended_recipient_racing_the_six_oclock_return_and_a_restart_settles_once() {
    let (mut net, _hebei, mut henan) = hebei_sent_w1("400.00").await;
    all_agree(&net, "w-1", pb::WalletTransferStatus::Unaccepted).await;

    // The hub is down when her insurance ends: the request to decline waits
    // in her node's outbox while Hebei's returns it at 06:00 and restarts.
    net.stop_hub().await;
    terminate(&mut henan, "mother-41").await;
    let day = cst_day_and_second(net.network().clock().now_millis()).0;
    let six = cst_day_hour_millis(day + 1, 6) + 60_000;
    net.network().clock().set(six);
    let mut hebei = net.node("13");
    sender_settled(&hebei, "w-1", pb::WalletTransferStatus::Returned).await;
    net.stop_node("13").await;
    net.start_node("13").await;
    net.start_hub().await;

    let month = all_agree(&net, "w-1", pb::WalletTransferStatus::Returned).await;
    assert_eq!(month, gongji_common::Period::of_unix_millis(six).to_string());
    hebei = net.node("13");
    assert_eq!(balances(&mut hebei, "son-13").await.0, "5000.00", "back once");
    assert_all_audits_pass(&net).await;
    net.shutdown().await;
}

/// `gongji audit` of the whole network, waiting at most a second for
/// differences to settle.
async fn network_audit(net: &TestNetwork) -> gongji_operator::audit::AuditReport {
    let target = gongji_operator::audit::Target::from_manifest(&net.network().manifest()).unwrap();
    gongji_operator::audit::audit_settling(&net.session(), &target, &mut std::io::sink(), std::time::Duration::from_secs(1))
        .await
        .expect("audit")
}

#[tokio::test]
async fn the_audit_compares_each_cross_province_transfer_at_the_hub_and_both_nodes_and_names_one_that_differs() {
    use province_node::store::WALLET_INCOMING;
    let mut net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, mut henan) = hebei_son_henan_mother(&net).await;
    set_clock(&net, 10, 0);
    let send = |id: &'static str| send_request(id, "son-13", "mother-41", "41", "10.00");
    hebei.send_to_wallet(send("w-1")).await.expect("send");
    accept_across(&mut henan, "w-1", "mother-41", "10.00").await.expect("accept");
    all_agree(&net, "w-1", pb::WalletTransferStatus::Accepted).await;
    hebei.send_to_wallet(send("w-2")).await.expect("send");
    all_agree(&net, "w-2", pb::WalletTransferStatus::Unaccepted).await;
    decline_by_id(&mut henan, "w-2", "mother-41").await.expect("decline");
    let declined_in = all_agree(&net, "w-2", pb::WalletTransferStatus::Declined).await;
    hebei.send_to_wallet(send("w-3")).await.expect("send");
    cancel(&mut hebei, "w-3", "son-13").await.expect("cancel");
    all_agree(&net, "w-3", pb::WalletTransferStatus::Cancelled).await;
    set_clock(&net, 10, 0);
    hebei.send_to_wallet(send("w-4")).await.expect("send");
    set_clock(&net, 6, 1);
    all_agree(&net, "w-4", pb::WalletTransferStatus::Returned).await;

    let clean = network_audit(&net).await;
    assert!(clean.passed(), "{:?}", clean.violations);
    assert_eq!(clean.wallet_transfers, 4, "{clean:?}");

    // Behind Henan's back, its record of the decline moves to another month.
    tampered(&mut net, "41", WALLET_INCOMING, "w-2", |incoming| {
        let outcome = incoming.note.outcome.as_mut().expect("told declined");
        outcome.period = gongji_common::Period::parse("period", "2020-01").unwrap();
    })
    .await;
    let report = network_audit(&net).await;
    let said = report.violations.join("\n");
    assert!(
        said.contains(&format!(
            "wallet transfer w-2 from province 13 to province 41: the sender's node says declined in {declined_in}, the hub says declined in {declined_in}, the recipient's node says declined in 2020-01"
        )),
        "{said}"
    );
    assert_eq!(report.violation_count, 1, "{said}");
    net.shutdown().await;
}

#[tokio::test]
async fn a_wallet_outcome_whose_notice_is_still_in_an_outbox_is_in_flight_not_a_violation() {
    let mut net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, _henan) = hebei_son_henan_mother(&net).await;
    set_clock(&net, 10, 0);
    hebei
        .send_to_wallet(send_request("w-1", "son-13", "mother-41", "41", "10.00"))
        .await
        .expect("send");
    all_agree(&net, "w-1", pb::WalletTransferStatus::Unaccepted).await;
    // The hub cannot reach Henan: the cancellation waits in the hub's outbox.
    let to_henan = net.proxy_hub_to("41").await;
    to_henan.set(gongji_tests::proxy::Fault::Refuse);
    cancel(&mut hebei, "w-1", "son-13").await.expect("cancel");

    let report = network_audit(&net).await;
    assert!(report.passed(), "{:?}", report.violations);
    assert!(
        report
            .in_flight
            .iter()
            .any(|item| item.starts_with("wallet transfer w-1 from province 13 to province 41")
                && item.contains("the recipient's node says unaccepted")
                && item.ends_with("(pending)")),
        "{:?}",
        report.in_flight
    );
    to_henan.heal();
    all_agree(&net, "w-1", pb::WalletTransferStatus::Cancelled).await;
    let report = network_audit(&net).await;
    assert!(report.passed() && report.in_flight.is_empty(), "{report:?}");
    net.shutdown().await;
}

/// The race WALLET.md describes: Hebei's node has accepted w-1 when her
/// insurance ends, but the answer never reached her node (the hub lost it),
/// so her node asks for a decline. Hebei's one record decides: the decline
/// finds it accepted and changes nothing, her node's acceptance is asked
/// again and credits the closed wallet, and the money is hers there, owed by
/// Hebei to Henan once, in every book.
#[tokio::test]
async fn an_acceptance_answered_after_the_recipients_insurance_ended_is_credited_to_her_closed_wallet_once() {
    let (mut net, _, mut henan) = hebei_sent_w1("400.00").await;
    all_agree(&net, "w-1", pb::WalletTransferStatus::Unaccepted).await;
    let link = net.proxy_hub_to("13").await;
    link.set(gongji_tests::proxy::Fault::DropReplies);
    let mut hebei = net.node("13");
    assert_status(
        accept_across(&mut henan, "w-1", "mother-41", "400.00").await,
        Code::Unavailable,
        "pending",
    );
    sender_settled(&hebei, "w-1", pb::WalletTransferStatus::Accepted).await;
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "0.00", "not credited yet");

    terminate(&mut henan, "mother-41").await;
    link.set(gongji_tests::proxy::Fault::None);
    let month = all_agree(&net, "w-1", pb::WalletTransferStatus::Accepted).await;
    eventually("her node credits the closed wallet", || {
        let mut henan = henan.clone();
        async move { (balance(&wallet(&mut henan, "mother-41").await) == "400.00").then_some(()) }
    })
    .await;
    assert_eq!(balances(&mut hebei, "son-13").await.0, "4600.00", "left the sender once");
    assert_eq!(
        accept_across(&mut henan, "w-1", "mother-41", "400.00")
            .await
            .expect("the credit, answered again")
            .status,
        pb::WalletTransferStatus::Accepted as i32
    );
    assert_eq!(balance(&wallet(&mut henan, "mother-41").await), "400.00", "credited once");
    let now = net.network().clock().now_millis();
    assert_eq!(month, gongji_common::Period::of_unix_millis(now).to_string());
    assert_all_audits_pass(&net).await;
    let audit = network_audit(&net).await;
    assert!(audit.passed(), "{:?}", audit.violations);
    net.shutdown().await;
}
