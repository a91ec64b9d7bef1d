//! The wallet's decisions (医保钱包), without servers or a store: each rule
//! of docs/WALLET.md as a table of cases, and the money of a transfer in
//! exactly one book at every step.

use std::collections::BTreeMap;

use gongji_common::{
    contract::{RelationKind, TxKind},
    period::cst_day_hour_millis,
    statement::Direction,
    Id, Money, Period, ProvinceCode, RegionCode,
};
use province_node::domain::*;

fn id(text: &str) -> Id {
    Id::parse("id", text).unwrap()
}

fn yuan(n: i64) -> Money {
    Money::from_fen(n * 100)
}

fn province(code: &str) -> ProvinceCode {
    ProvinceCode::parse("province", code).unwrap()
}

fn person(name: &str, insurance: InsuranceType) -> Person {
    Person {
        id: id(name),
        name: name.into(),
        insurance,
        region: RegionCode::parse("region", "410100").unwrap(),
        status: PersonStatus::Active,
        registered_at: 0,
        moved_to: None,
    }
}

/// 2026-12-01 at `hour`:`minute` China Standard Time.
fn at(hour: u8, minute: i64) -> i64 {
    // 2026-12-01 is day 20_788 since 1970-01-01.
    cst_day_hour_millis(20_788, hour) + minute * 60_000
}

fn send(n: u32, recipient: &str, amount: Money) -> SendCommand {
    SendCommand {
        transfer_id: id(&format!("w-{n}")),
        sender_id: id("zhang"),
        recipient_id: id(recipient),
        recipient_province: province("41"),
        kind: RelationKind::Parent,
        amount,
    }
}

fn state() -> SendState {
    SendState {
        recorded: None,
        sender: Some(person("zhang", InsuranceType::Employee)),
        available: yuan(5000),
        sent_today: 0,
        unaccepted: None,
        recipient: RecipientState::Open,
    }
}

/// Books as the journal holds them; a book holding money never below zero.
#[derive(Default)]
struct Books(BTreeMap<String, Money>);

impl Books {
    /// Zhang's 5,000.00 available, credited from contributions.
    fn with_zhangs_5000() -> Books {
        let mut books = Books::default();
        books.post(&Move::new(
            "c",
            "credit",
            Book::Contributions,
            Book::Available(id("zhang")),
            yuan(5000),
        ));
        books
    }

    fn post(&mut self, movement: &Move) {
        for (book, delta) in [(&movement.from, movement.amount.negated()), (&movement.to, movement.amount)] {
            let after = self.balance(book).checked_add(delta).unwrap();
            assert!(
                matches!(book, Book::Province(..) | Book::Contributions) || !after.is_negative(),
                "{book:?} would go to {after}"
            );
            self.0.insert(format!("{book:?}"), after);
        }
    }

    fn balance(&self, book: &Book) -> Money {
        self.0.get(&format!("{book:?}")).copied().unwrap_or(Money::ZERO)
    }

    fn apply<O>(&mut self, decision: Decision<O>) -> O {
        for change in decision.changes {
            match change {
                Change::Move(m) => self.post(&m),
                Change::Cross { line, other, memo } => self.post(&line.movement(other, memo)),
                _ => {}
            }
        }
        decision.outcome
    }
}

#[test]
fn a_send_that_breaks_a_rule_is_refused_naming_it_and_moves_nothing() {
    let resident = SendState {
        sender: Some(person("zhang", InsuranceType::Resident)),
        ..state()
    };
    let cases: Vec<(&str, SendState, SendCommand, i64, &str)> = vec![
        (
            "a resident sender",
            resident,
            send(1, "mother", yuan(100)),
            at(10, 0),
            "only an employee with a personal account",
        ),
        (
            "at 23:00",
            state(),
            send(1, "mother", yuan(100)),
            at(23, 0),
            "between 22:00 and 06:00",
        ),
        (
            "at 05:59",
            state(),
            send(1, "mother", yuan(100)),
            at(5, 59),
            "between 22:00 and 06:00",
        ),
        (
            "above the limit",
            state(),
            send(1, "mother", Money::from_fen(200_001)),
            at(10, 0),
            "above the limit of 2000.00",
        ),
        (
            "above the available balance",
            SendState {
                available: yuan(99),
                ..state()
            },
            send(1, "mother", yuan(100)),
            at(10, 0),
            "more than the available balance 99.00",
        ),
        (
            "a fourth transfer in a day",
            SendState { sent_today: 3, ..state() },
            send(4, "mother", yuan(100)),
            at(10, 0),
            "already made 3 wallet transfers today",
        ),
        (
            "a second transfer to someone who has not accepted the first",
            SendState {
                unaccepted: Some(id("w-0")),
                ..state()
            },
            send(1, "mother", yuan(100)),
            at(10, 0),
            "has not yet accepted wallet transfer w-0",
        ),
        (
            "a recipient without a wallet",
            SendState {
                recipient: RecipientState::NoWallet,
                ..state()
            },
            send(1, "mother", yuan(100)),
            at(10, 0),
            "has no open wallet",
        ),
        (
            "a recipient who is not insured",
            SendState {
                recipient: RecipientState::Unknown,
                ..state()
            },
            send(1, "mother", yuan(100)),
            at(10, 0),
            "is not an insured person of province 41",
        ),
        (
            "oneself",
            state(),
            send(1, "zhang", yuan(100)),
            at(10, 0),
            "cannot send to their own wallet",
        ),
    ];
    for (case, state, command, now, says) in cases {
        let refusal = decide_send(state, &command, &WalletLimits::PUBLISHED, province("41"), now).expect_err(case);
        assert!(refusal.to_string().contains(says), "{case}: {refusal}");
    }
}

#[test]
fn limits_are_configuration() {
    let limits = WalletLimits {
        daily_count: 5,
        max_amount: yuan(5000),
        quiet_from: 23,
        quiet_until: 5,
        return_at: 8,
    };
    let sent = decide_send(
        SendState { sent_today: 4, ..state() },
        &send(5, "mother", yuan(3000)),
        &limits,
        province("41"),
        at(22, 30),
    )
    .unwrap();
    assert_eq!(sent.outcome.return_at, cst_day_hour_millis(20_789, 8));
    assert!(decide_send(state(), &send(1, "mother", yuan(100)), &limits, province("41"), at(23, 0)).is_err());
}

#[test]
fn a_send_moves_the_amount_from_the_available_balance_into_transit_once() {
    let mut books = Books::with_zhangs_5000();
    let command = send(1, "mother", yuan(2000));
    let sent = books.apply(decide_send(state(), &command, &WalletLimits::PUBLISHED, province("41"), at(6, 0)).unwrap());
    assert_eq!(sent.status, WalletStatus::Unaccepted);
    assert_eq!(sent.return_at, cst_day_hour_millis(20_789, 6), "06:00 of the next day");
    assert_eq!(books.balance(&Book::Available(id("zhang"))), yuan(3000));
    assert_eq!(books.balance(&Book::WalletTransit(id("w-1"))), yuan(2000));

    let again = decide_send(
        SendState {
            recorded: Some(sent.clone()),
            ..state()
        },
        &command,
        &WalletLimits::PUBLISHED,
        province("41"),
        at(7, 0),
    )
    .unwrap();
    assert!(again.changes.is_empty(), "a retried send moves nothing");
    let reused = decide_send(
        SendState {
            recorded: Some(sent),
            ..state()
        },
        &send(1, "mother", yuan(1)),
        &WalletLimits::PUBLISHED,
        province("41"),
        at(7, 0),
    );
    assert!(matches!(reused, Err(Refusal::AlreadyExists(_))));
}

/// A transfer sent at 10:00 from Henan, on the state of [`state`].
fn sent_at_ten(command: &SendCommand) -> Decision<WalletTransfer> {
    decide_send(state(), command, &WalletLimits::PUBLISHED, province("41"), at(10, 0)).unwrap()
}

fn sent() -> WalletTransfer {
    sent_at_ten(&send(1, "mother", yuan(500))).outcome
}

fn settle(recorded: &WalletTransfer, how: Settle, now: i64) -> Result<Decision<WalletTransfer>, Refusal> {
    let period = Period::of_unix_millis(now);
    decide_settle(
        Some(recorded.clone()),
        recorded.id(),
        &how,
        RecipientState::Open,
        period,
        province("41"),
        now,
    )
}

fn accept(by: &str) -> Settle {
    Settle::Accept { by: id(by) }
}

#[test]
fn each_transfer_is_settled_exactly_once_whatever_comes_second() {
    let first = [
        (accept("mother"), at(11, 0)),
        (Settle::Decline { by: id("mother") }, at(11, 0)),
        (Settle::Cancel { by: id("zhang") }, at(11, 0)),
        (Settle::Return, cst_day_hour_millis(20_789, 6)),
    ];
    for (how, now) in &first {
        let settled = settle(&sent(), how.clone(), *now).unwrap().outcome;
        assert_eq!(settled.status, how.status());
        assert!(
            settle(&settled, how.clone(), *now + 1).unwrap().changes.is_empty(),
            "{how:?} twice is one"
        );
        for (other, later) in &first {
            if other.status() != how.status() {
                let refusal = settle(&settled, other.clone(), *later.max(now)).expect_err("a second outcome");
                assert!(
                    refusal.to_string().contains(&format!("already {}", how.status().as_str())),
                    "{refusal}"
                );
            }
        }
    }
}

#[test]
fn only_the_recipient_accepts_or_declines_and_only_the_sender_cancels() {
    for (how, says) in [
        (accept("stranger"), "only the recipient mother may accept"),
        (Settle::Decline { by: id("zhang") }, "only the recipient mother may decline"),
        (Settle::Cancel { by: id("mother") }, "only the sender zhang may cancel"),
    ] {
        let refusal = settle(&sent(), how, at(11, 0)).unwrap_err();
        assert!(matches!(refusal, Refusal::PermissionDenied(_)), "{refusal}");
        assert!(refusal.to_string().contains(says), "{refusal}");
    }
}

#[test]
fn a_transfer_returns_at_six_the_next_morning_and_no_sooner_and_cannot_be_accepted_after() {
    let transfer = sent();
    let early = settle(&transfer, Settle::Return, cst_day_hour_millis(20_789, 6) - 1).unwrap_err();
    assert!(early.to_string().contains("returns at 2026-12-02 06:00:00"), "{early}");
    let late = settle(&transfer, accept("mother"), cst_day_hour_millis(20_789, 6)).unwrap_err();
    assert!(late.to_string().contains("was not accepted by 2026-12-02 06:00:00"), "{late}");

    let mut books = Books::with_zhangs_5000();
    let transfer = books.apply(sent_at_ten(&send(1, "mother", yuan(500))));
    let returned = books.apply(settle(&transfer, Settle::Return, cst_day_hour_millis(20_789, 6)).unwrap());
    assert_eq!(books.balance(&Book::Available(id("zhang"))), yuan(5000));
    assert_eq!(books.balance(&Book::WalletTransit(id("w-1"))), Money::ZERO);
    let after = settle(&returned, accept("mother"), cst_day_hour_millis(20_789, 7)).unwrap_err();
    assert!(after.to_string().contains("already returned at 2026-12-02 06:00:00"), "{after}");
}

#[test]
fn a_recipient_whose_wallet_closed_cannot_accept() {
    let transfer = sent();
    let refusal = decide_send(
        SendState {
            recipient: RecipientState::Inactive,
            ..state()
        },
        &send(2, "mother", yuan(1)),
        &WalletLimits::PUBLISHED,
        province("41"),
        at(10, 0),
    )
    .unwrap_err();
    assert!(refusal.to_string().contains("no longer insured"), "{refusal}");
    let refusal = decide_settle(
        Some(transfer.clone()),
        transfer.id(),
        &accept("mother"),
        RecipientState::Inactive,
        Period::of_unix_millis(at(11, 0)),
        province("41"),
        at(11, 0),
    )
    .unwrap_err();
    assert!(refusal.to_string().contains("cannot be accepted"), "{refusal}");
}

#[test]
fn the_money_is_in_exactly_one_book_at_every_step() {
    // Same province: available → transit → the recipient's wallet.
    let mut books = Books::with_zhangs_5000();
    let transfer = books.apply(sent_at_ten(&send(1, "mother", yuan(500))));
    books.apply(settle(&transfer, accept("mother"), at(12, 0)).unwrap());
    assert_eq!(books.balance(&Book::Wallet(id("mother"))), yuan(500));
    assert_eq!(books.balance(&Book::WalletTransit(id("w-1"))), Money::ZERO);
    assert_eq!(books.balance(&Book::Available(id("zhang"))), yuan(4500));

    // Across provinces: accepted at the sender's node, the line payable in
    // the month of acceptance; credited once at the recipient's node.
    let cross = SendCommand {
        recipient_province: province("13"),
        ..send(2, "father", yuan(300))
    };
    let transfer = books.apply(sent_at_ten(&cross));
    let period = Period::of_unix_millis(at(12, 0));
    let decided = decide_settle(
        Some(transfer.clone()),
        transfer.id(),
        &accept("father"),
        RecipientState::Open,
        period,
        province("41"),
        at(12, 0),
    )
    .unwrap();
    let line = decided
        .changes
        .iter()
        .find_map(|c| match c {
            Change::Cross { line, .. } => Some(line.clone()),
            _ => None,
        })
        .expect("a cross-province line");
    assert_eq!(
        (
            line.line.kind,
            line.line.direction,
            line.line.counterpart,
            line.line.amount,
            line.period
        ),
        (TxKind::WalletTransfer, Direction::Payable, province("13"), yuan(300), period)
    );
    let accepted = books.apply(decided);
    assert_eq!(accepted.period, Some(period));
    assert_eq!(books.balance(&Book::WalletTransit(id("w-2"))), Money::ZERO);
    assert_eq!(books.balance(&Book::Province(province("13"), period)), yuan(300));

    let mut theirs = Books::default();
    let credit = WalletCredit {
        transfer_id: id("w-2"),
        sender_province: province("41"),
        recipient_id: id("father"),
        amount: yuan(300),
        period,
        at: at(12, 0),
    };
    theirs.apply(decide_wallet_credit(None, None, credit.clone(), province("13")).unwrap());
    assert_eq!(theirs.balance(&Book::Wallet(id("father"))), yuan(300));
    assert_eq!(theirs.balance(&Book::Province(province("41"), period)), yuan(-300));
    let again = decide_wallet_credit(Some(credit.clone()), None, credit, province("13")).unwrap();
    assert!(again.changes.is_empty(), "credited once");
}

#[test]
fn opening_a_wallet_needs_an_active_insured_person_and_is_idempotent() {
    let resident = person("mother", InsuranceType::Resident);
    let opened = decide_open_wallet(None, Some(&resident), &resident.id, 1).unwrap();
    assert_eq!(opened.changes.len(), 1, "a resident opens a wallet too");
    assert!(decide_open_wallet(Some(opened.outcome), Some(&resident), &resident.id, 2)
        .unwrap()
        .changes
        .is_empty());
    let gone = Person {
        status: PersonStatus::Terminated,
        ..resident.clone()
    };
    assert!(decide_open_wallet(None, Some(&gone), &gone.id, 1).is_err());
    assert!(matches!(
        decide_open_wallet(None, None, &id("nobody"), 1),
        Err(Refusal::NotFound { .. })
    ));
}

/// The notice for the recipient's province a decision carries, if any.
fn wallet_notice(changes: &[Change]) -> Option<(ProvinceCode, gongji_common::contract::WalletNote)> {
    changes.iter().find_map(|c| match c {
        Change::Notice(to, gongji_common::contract::NoticeBody::Wallet(note)) => Some((*to, note.clone())),
        _ => None,
    })
}

#[test]
fn a_cross_province_transfer_tells_the_recipients_province_when_sent_and_its_one_outcome_with_its_month() {
    let cross = SendCommand {
        recipient_province: province("13"),
        ..send(1, "father", yuan(300))
    };
    let sent = sent_at_ten(&cross);
    let (to, note) = wallet_notice(&sent.changes).expect("the sending is told");
    assert_eq!((to, note.amount, note.outcome), (province("13"), yuan(300), None));
    assert_eq!((note.sent_at, note.return_at), (sent.outcome.sent_at, sent.outcome.return_at));
    let within = sent_at_ten(&send(1, "mother", yuan(300)));
    assert_eq!(wallet_notice(&within.changes), None, "a transfer within the province tells nobody");

    let six = cst_day_hour_millis(20_789, 6);
    for (how, now, status) in [
        (Settle::Decline { by: id("father") }, at(12, 0), WalletStatus::Declined),
        (Settle::Cancel { by: id("zhang") }, at(12, 0), WalletStatus::Cancelled),
        (Settle::Return, six, WalletStatus::Returned),
    ] {
        let settled = settle(&sent.outcome, how, now).unwrap();
        let (_, note) = wallet_notice(&settled.changes).expect("the outcome is told");
        let outcome = note.outcome.expect("with its outcome");
        assert_eq!(
            (outcome.status, outcome.at, outcome.period),
            (status, now, Period::of_unix_millis(now))
        );
    }
}

#[test]
fn the_recipients_node_records_a_transfer_told_in_either_order_and_refuses_one_told_otherwise() {
    use gongji_common::contract::{Notice, NoticeBody, WalletOutcome};
    let note = gongji_common::contract::WalletNote {
        transfer_id: id("w-1"),
        sender_id: id("zhang"),
        recipient_id: id("father"),
        amount: yuan(300),
        sent_at: at(10, 0),
        return_at: cst_day_hour_millis(20_789, 6),
        outcome: None,
    };
    let settled = gongji_common::contract::WalletNote {
        outcome: Some(WalletOutcome {
            status: WalletStatus::Returned,
            at: cst_day_hour_millis(20_789, 6),
            period: Period::of_unix_millis(cst_day_hour_millis(20_789, 6)),
        }),
        ..note.clone()
    };
    let told = |note: &gongji_common::contract::WalletNote, from: &str| {
        let body = NoticeBody::Wallet(note.clone());
        Notice {
            id: body.notice_id(),
            from: province(from),
            to: province("13"),
            body,
        }
    };
    let state = |incoming: Option<IncomingWallet>| NoticeState {
        sent: None,
        wallet_closed: false,
        here: province("13"),
        applied: false,
        held: None,
        incoming,
    };
    let recorded = |decision: Decision<Delivery>| {
        assert_eq!(decision.outcome, Delivery::Applied);
        decision.changes.into_iter().find_map(|c| match c {
            Change::WalletIncoming(incoming) => Some(incoming),
            _ => None,
        })
    };
    // The outcome first, then the sending: the record keeps the outcome.
    let first = recorded(decide_notice(state(None), &told(&settled, "41"), 1)).expect("recorded");
    let second = recorded(decide_notice(state(Some(first)), &told(&note, "41"), 2)).expect("recorded");
    assert_eq!(second.note, settled);
    // Another amount, or another sending province, is refused.
    let other = gongji_common::contract::WalletNote {
        amount: yuan(1),
        ..note.clone()
    };
    for (note, from) in [(&other, "41"), (&note, "32")] {
        let decided = decide_notice(state(Some(second.clone())), &told(note, from), 3);
        assert!(matches!(decided.outcome, Delivery::Refused(_)), "{decided:?}");
        assert!(decided.changes.is_empty());
    }
    // Sent to a wallet that closed while the notice was on its way: the
    // sender's node is asked at once to decline it; its outcome asks nothing.
    let closed = NoticeState {
        wallet_closed: true,
        ..state(None)
    };
    let asks = |decision: &Decision<Delivery>| {
        decision
            .changes
            .iter()
            .filter(|c| matches!(c, Change::Notice(to, NoticeBody::WalletDeclineAsked { transfer_id, .. }) if *to == province("41") && *transfer_id == id("w-1")))
            .count()
    };
    assert_eq!(asks(&decide_notice(closed.clone(), &told(&note, "41"), 4)), 1);
    assert_eq!(asks(&decide_notice(closed, &told(&settled, "41"), 4)), 0);
    assert_eq!(asks(&decide_notice(state(None), &told(&note, "41"), 4)), 0);
}
