//! The medical-insurance wallet (医保钱包): a second way of mutual aid. An
//! employee sends money from their available personal-account balance to a
//! close relative's wallet; the relative accepts (or declines), the sender
//! may cancel while it is unaccepted, and what is not accepted by the return
//! time (06:00 CST of the next day) returns by itself. The sender's node
//! holds the one record that decides, so a transfer is settled exactly once.
//! The rules Gongji chose where the pilot's leave them open are in
//! docs/WALLET.md.

use std::collections::BTreeMap;

use gongji_common::{
    contract::{CrossWallet, Decline, DeclineReason, NoticeBody, RelationKind, TxKind, TxStatus, WalletNote, WalletOutcome},
    pending::PendingKind,
    period::{cst_datetime, cst_day_and_second, cst_day_hour_millis},
    statement::Direction,
    Id, Money, Period, ProvinceCode, RegionCode,
};
use serde::{Deserialize, Serialize};

pub use gongji_common::contract::WalletStatus;

use super::{
    check_beneficiary_may_pay, check_institution, check_touch, region_of, Book, Change, CrossLine, Decision, HubAnswer, InsuranceType,
    Move, PayCommand, Person, Refusal,
};

/// The published limits of the pilot, as configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletLimits {
    /// Transfers a sender may make in one CST day (whatever their outcome).
    pub daily_count: u32,
    /// The largest amount of one transfer.
    pub max_amount: Money,
    /// No transfer is sent from this hour (CST) …
    pub quiet_from: u8,
    /// … until this hour (CST); equal hours: no quiet time.
    pub quiet_until: u8,
    /// An unaccepted transfer returns at this hour (CST) of the day after it was sent.
    pub return_at: u8,
}

impl WalletLimits {
    /// The pilot's: 3 a day, 2,000.00 each, none 22:00–06:00, returned at 06:00.
    pub const PUBLISHED: WalletLimits = WalletLimits {
        daily_count: 3,
        max_amount: Money::from_fen(200_000),
        quiet_from: 22,
        quiet_until: 6,
        return_at: 6,
    };

    /// Whether `now` is in the quiet hours, when nothing is sent.
    pub fn is_quiet(&self, now: i64) -> bool {
        let hour = cst_day_and_second(now).1 / 3600;
        let (from, until) = (i64::from(self.quiet_from), i64::from(self.quiet_until));
        match from.cmp(&until) {
            std::cmp::Ordering::Less => (from..until).contains(&hour),
            std::cmp::Ordering::Greater => hour >= from || hour < until,
            std::cmp::Ordering::Equal => false,
        }
    }

    /// When a transfer sent at `sent_at` returns if it is not accepted.
    pub fn return_time(&self, sent_at: i64) -> i64 {
        cst_day_hour_millis(cst_day(sent_at) + 1, self.return_at)
    }
}

impl Default for WalletLimits {
    fn default() -> WalletLimits {
        WalletLimits::PUBLISHED
    }
}

/// The CST day of a time (days since 1970-01-01 CST): the day a sender's
/// transfers are counted in.
pub fn cst_day(at: i64) -> i64 {
    cst_day_and_second(at).0
}

/// A time as the wallet's messages say it (CST, to the second).
fn when(at: i64) -> String {
    cst_datetime(at.div_euclid(1000))
}

/// A person's wallet at their province's node. Its balance is a book of the
/// journal ([`Book::Wallet`]), never below zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    pub person_id: Id,
    pub opened_at: i64,
    /// When the holder's insurance ended here: the wallet receives and pays
    /// nothing more; its balance stays the holder's.
    pub closed_at: Option<i64>,
}

impl Wallet {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// Opens a wallet for an active insured person (employee or resident);
/// opening again answers the same wallet.
pub fn decide_open_wallet(
    recorded: Option<Wallet>,
    person: Option<&Person>,
    person_id: &Id,
    now: i64,
) -> Result<Decision<Wallet>, Refusal> {
    let Some(person) = person else {
        return Err(Refusal::not_found("person", person_id));
    };
    if let Some(wallet) = recorded {
        if !wallet.is_open() {
            return Err(Refusal::FailedPrecondition(format!(
                "the wallet of person {person_id} was closed when their insurance ended here; it cannot be opened again"
            )));
        }
        return Ok(Decision::unchanged(wallet));
    }
    if !person.is_active() {
        return Err(Refusal::FailedPrecondition(format!(
            "person {person_id} is not an active insured person here; only an active insured person opens a wallet"
        )));
    }
    let wallet = Wallet {
        person_id: person_id.clone(),
        opened_at: now,
        closed_at: None,
    };
    Ok(Decision::new(wallet.clone(), vec![Change::Wallet(wallet)]))
}

/// A validated wallet transfer at the sender's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCommand {
    pub transfer_id: Id,
    pub sender_id: Id,
    pub recipient_id: Id,
    pub recipient_province: ProvinceCode,
    /// What the recipient is to the sender (declared, as for relationships).
    pub kind: RelationKind,
    pub amount: Money,
}

/// What the recipient's node says of the recipient (asked through the hub
/// when the recipient is insured elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// No insured person of that id there.
    Unknown,
    /// Insured there, but their insurance ended or moved.
    Inactive,
    /// Active, without an open wallet.
    NoWallet,
    /// Active with an open wallet.
    Open,
}

/// A wallet transfer at the sender's node: the one record that decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletTransfer {
    pub command: SendCommand,
    pub sender_region: RegionCode,
    pub status: WalletStatus,
    pub sent_at: i64,
    /// When it returns if it is still unaccepted.
    pub return_at: i64,
    /// When it was settled (accepted, declined, cancelled or returned).
    pub settled_at: Option<i64>,
    /// The month of an accepted cross-province transfer's line.
    pub period: Option<Period>,
}

impl WalletTransfer {
    pub fn id(&self) -> &Id {
        &self.command.transfer_id
    }

    pub fn is_unaccepted(&self) -> bool {
        self.status == WalletStatus::Unaccepted
    }

    /// The transfer as its sender's node tells the hub and the recipient's
    /// node of another province: sent, then its one outcome, with the month
    /// of it (an acceptance's is the month the hub stamped; otherwise the
    /// month it was settled in).
    pub fn note(&self) -> WalletNote {
        WalletNote {
            transfer_id: self.command.transfer_id.clone(),
            sender_id: self.command.sender_id.clone(),
            recipient_id: self.command.recipient_id.clone(),
            amount: self.command.amount,
            sent_at: self.sent_at,
            return_at: self.return_at,
            outcome: self.settled_at.map(|at| WalletOutcome {
                status: self.status,
                at,
                period: self.period.unwrap_or_else(|| Period::of_unix_millis(at)),
            }),
        }
    }

    /// The notice of this record for the recipient's province (through
    /// the hub), written with it: none within a province.
    fn notice(&self, here: ProvinceCode) -> Option<Change> {
        let to = self.command.recipient_province;
        (to != here).then(|| Change::Notice(to, NoticeBody::Wallet(self.note())))
    }

    /// The account the money waits in while the transfer is unaccepted.
    fn transit(&self) -> Book {
        Book::WalletTransit(self.command.transfer_id.clone())
    }
}

/// What a send is decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendState {
    /// A transfer already recorded under the id.
    pub recorded: Option<WalletTransfer>,
    pub sender: Option<Person>,
    /// The sender's available personal-account balance.
    pub available: Money,
    /// Transfers the sender made in the CST day of `now`.
    pub sent_today: u32,
    /// A transfer from the sender to the recipient that is still unaccepted.
    pub unaccepted: Option<Id>,
    pub recipient: RecipientState,
}

/// Sends a wallet transfer: the amount leaves the sender's available balance
/// into the transfer's transit book, unaccepted until the return time.
/// Idempotent by transfer id. Each refusal names the rule; nothing moves.
pub fn decide_send(
    state: SendState,
    command: &SendCommand,
    limits: &WalletLimits,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<WalletTransfer>, Refusal> {
    if let Some(recorded) = state.recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("wallet transfer", &command.transfer_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let rule = |text: String| Err(Refusal::FailedPrecondition(text));
    let Some(sender) = state.sender else {
        return Err(Refusal::not_found("person", &command.sender_id));
    };
    if command.sender_id == command.recipient_id {
        return rule(format!(
            "person {} cannot send to their own wallet; the recipient must be a close relative",
            sender.id
        ));
    }
    if sender.insurance != InsuranceType::Employee {
        return rule(format!(
            "person {} holds resident insurance: only an employee with a personal account may send to a wallet",
            sender.id
        ));
    }
    if !sender.is_active() {
        return rule(format!(
            "person {} is not an active insured person here; only an active employee may send",
            sender.id
        ));
    }
    if limits.is_quiet(now) {
        return rule(format!(
            "no wallet transfer is sent between {:02}:00 and {:02}:00 China Standard Time (it is {}); send after {:02}:00",
            limits.quiet_from,
            limits.quiet_until,
            when(now),
            limits.quiet_until
        ));
    }
    if command.amount > limits.max_amount {
        return rule(format!(
            "amount {} is above the limit of {} a wallet transfer; send at most {}",
            command.amount, limits.max_amount, limits.max_amount
        ));
    }
    if state.sent_today >= limits.daily_count {
        return rule(format!(
            "person {} has already made {} wallet transfers today (China Standard Time), the most a sender may make in a day",
            sender.id, state.sent_today
        ));
    }
    if let Some(first) = state.unaccepted {
        return rule(format!(
            "person {} has not yet accepted wallet transfer {first} from {}; no second transfer to them until it is accepted, declined, cancelled or returned",
            command.recipient_id, sender.id
        ));
    }
    match state.recipient {
        RecipientState::Unknown => {
            return Err(Refusal::Missing(format!(
                "person {} is not an insured person of province {}; the recipient must be an insured close relative with an open wallet",
                command.recipient_id, command.recipient_province
            )))
        }
        RecipientState::Inactive => {
            return rule(format!(
                "person {} is no longer insured in province {}; the recipient must be an active insured close relative",
                command.recipient_id, command.recipient_province
            ))
        }
        RecipientState::NoWallet => {
            return rule(format!(
                "person {} has no open wallet; the recipient must open a wallet before anyone sends to it",
                command.recipient_id
            ))
        }
        RecipientState::Open => {}
    }
    if command.amount > state.available {
        return rule(format!(
            "amount {} is more than the available balance {} of person {}'s personal account (frozen quotas cannot be sent)",
            command.amount, state.available, sender.id
        ));
    }
    let record = WalletTransfer {
        command: command.clone(),
        sender_region: sender.region,
        status: WalletStatus::Unaccepted,
        sent_at: now,
        return_at: limits.return_time(now),
        settled_at: None,
        period: None,
    };
    Ok(Decision::new(
        record.clone(),
        vec![
            Change::WalletTransfer(record.clone()),
            Change::Move(Move::new(
                wallet_reference("send", record.id()),
                "wallet transfer sent",
                Book::Available(sender.id.clone()),
                record.transit(),
                command.amount,
            )),
            Change::WalletSent {
                sender: sender.id.clone(),
                day: cst_day(now),
                count: state.sent_today + 1,
            },
            Change::WalletUnaccepted {
                sender: sender.id,
                recipient: command.recipient_id.clone(),
                transfer: Some(record.id().clone()),
            },
            Change::WalletDue {
                at: record.return_at,
                transfer: record.id().clone(),
                due: true,
            },
        ]
        .into_iter()
        .chain(record.notice(here))
        .collect(),
    ))
}

/// How an unaccepted transfer is settled, and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settle {
    /// The recipient takes the money into their wallet.
    Accept { by: Id },
    /// The recipient refuses it: it goes back to the sender.
    Decline { by: Id },
    /// The sender takes it back while it is unaccepted.
    Cancel { by: Id },
    /// The node returns it at the return time.
    Return,
}

impl Settle {
    /// The status the transfer takes.
    pub fn status(&self) -> WalletStatus {
        match self {
            Settle::Accept { .. } => WalletStatus::Accepted,
            Settle::Decline { .. } => WalletStatus::Declined,
            Settle::Cancel { .. } => WalletStatus::Cancelled,
            Settle::Return => WalletStatus::Returned,
        }
    }
}

/// Settles a transfer at the sender's node, exactly once: the same
/// settlement again answers the record; another is refused naming the
/// first. An acceptance, decline or cancellation after the return time is
/// refused (the transfer returns), and so is an acceptance by a recipient
/// whose wallet is no longer open (`recipient`, as the recipient's node
/// says). `period` is the open month, stamped on an accepted cross-province
/// transfer's line; `here` is this node's province.
pub fn decide_settle(
    recorded: Option<WalletTransfer>,
    transfer_id: &Id,
    settle: &Settle,
    recipient: RecipientState,
    period: Period,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<WalletTransfer>, Refusal> {
    let Some(mut record) = recorded else {
        return Err(Refusal::not_found("wallet transfer", transfer_id));
    };
    let command = record.command.clone();
    match settle {
        Settle::Accept { by } | Settle::Decline { by } if *by != command.recipient_id => {
            return Err(Refusal::PermissionDenied(format!(
                "only the recipient {} may {} wallet transfer {transfer_id}, not {by}",
                command.recipient_id,
                if matches!(settle, Settle::Accept { .. }) {
                    "accept"
                } else {
                    "decline"
                }
            )))
        }
        Settle::Cancel { by } if *by != command.sender_id => {
            return Err(Refusal::PermissionDenied(format!(
                "only the sender {} may cancel wallet transfer {transfer_id}, not {by}",
                command.sender_id
            )))
        }
        _ => {}
    }
    if !record.is_unaccepted() {
        if record.status == settle.status() {
            return Ok(Decision::unchanged(record));
        }
        return Err(Refusal::FailedPrecondition(format!(
            "wallet transfer {transfer_id} was already {} at {}; it cannot be {} now",
            record.status.as_str(),
            record.settled_at.map(when).unwrap_or_default(),
            settle.status().as_str()
        )));
    }
    let due = now >= record.return_at;
    match (settle, due) {
        (Settle::Return, false) => {
            return Err(Refusal::FailedPrecondition(format!(
                "wallet transfer {transfer_id} returns at {}, not before",
                when(record.return_at)
            )))
        }
        (Settle::Return, true) => {}
        (_, true) => {
            return Err(Refusal::FailedPrecondition(format!(
                "wallet transfer {transfer_id} was not accepted by {} and returns to the sender; it cannot be {} now",
                when(record.return_at),
                settle.status().as_str()
            )))
        }
        (_, false) => {}
    }
    if matches!(settle, Settle::Accept { .. }) && recipient != RecipientState::Open {
        return Err(Refusal::FailedPrecondition(format!(
            "person {} has no open wallet (their insurance ended or moved); wallet transfer {transfer_id} cannot be accepted and goes back to the sender",
            command.recipient_id
        )));
    }
    record.status = settle.status();
    record.settled_at = Some(now);
    let mut changes = Vec::new();
    let amount = command.amount;
    match settle {
        Settle::Accept { .. } if command.recipient_province == here => changes.push(Change::Move(Move::new(
            wallet_reference("accept", &command.transfer_id),
            "wallet transfer accepted",
            record.transit(),
            Book::Wallet(command.recipient_id.clone()),
            amount,
        ))),
        Settle::Accept { .. } => {
            record.period = Some(period);
            changes.push(Change::Cross {
                line: CrossLine::new(
                    period,
                    TxKind::WalletTransfer,
                    &command.transfer_id,
                    command.recipient_province,
                    Direction::Payable,
                    amount,
                    record.sender_region,
                ),
                other: record.transit(),
                memo: "wallet transfer accepted",
            });
        }
        _ => changes.push(Change::Move(Move::new(
            wallet_reference("back", &command.transfer_id),
            "wallet transfer back to the sender",
            record.transit(),
            Book::Available(command.sender_id.clone()),
            amount,
        ))),
    }
    changes.push(Change::WalletUnaccepted {
        sender: command.sender_id.clone(),
        recipient: command.recipient_id.clone(),
        transfer: None,
    });
    changes.push(Change::WalletDue {
        at: record.return_at,
        transfer: command.transfer_id.clone(),
        due: false,
    });
    changes.insert(0, Change::WalletTransfer(record.clone()));
    changes.extend(record.notice(here));
    Ok(Decision::new(record, changes))
}

/// The journal reference of a wallet transfer's step.
pub fn wallet_reference(step: &str, transfer: &Id) -> String {
    format!("wallet-{step}:{transfer}")
}

/// A transfer to a person of this province from another province, as the
/// sender's node told this node through the hub: listed from the moment it
/// was sent, with its one outcome once that arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingWallet {
    pub sender_province: ProvinceCode,
    pub note: WalletNote,
    /// When this node last learned something of it.
    pub updated_at: i64,
}

/// An accepted cross-province transfer credited at the recipient's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletCredit {
    pub transfer_id: Id,
    pub sender_province: ProvinceCode,
    pub recipient_id: Id,
    pub amount: Money,
    pub period: Period,
    pub at: i64,
}

/// The recipient's node credits an accepted cross-province transfer to the
/// wallet, once: the province the money came from is owed nothing more
/// (a receivable line of the month the sender's node stamped).
pub fn decide_wallet_credit(
    recorded: Option<WalletCredit>,
    recipient: Option<&Person>,
    credit: WalletCredit,
    here: ProvinceCode,
) -> Result<Decision<WalletCredit>, Refusal> {
    if let Some(recorded) = recorded {
        if (WalletCredit {
            at: recorded.at,
            ..credit.clone()
        }) != recorded
        {
            return Err(Refusal::reused("wallet transfer", &credit.transfer_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let region = region_of(recipient, here);
    let line = CrossLine::new(
        credit.period,
        TxKind::WalletTransfer,
        &credit.transfer_id,
        credit.sender_province,
        Direction::Receivable,
        credit.amount,
        region,
    );
    Ok(Decision::new(
        credit.clone(),
        vec![
            Change::WalletCredit(credit.clone()),
            Change::Cross {
                line,
                other: Book::Wallet(credit.recipient_id.clone()),
                memo: "wallet transfer received",
            },
        ],
    ))
}

/// What happens to a person's wallet when their insurance here ends or
/// moves: their unaccepted transfers are settled at once (the ones they sent
/// cancelled, the ones to them declined; those past their return time
/// returned), so every amount is back in its sender's available balance
/// before anything else of the person moves; and the wallet closes, its
/// balance staying the holder's. A transfer to them from another province
/// is decided by its sender's node: as the wallet closes, that node is asked
/// (a durable notice `wallet_decline/<id>` through the hub) to decline each
/// one not yet settled, and tells the outcome as for any decline. Returns
/// how many transfers it settled or asked to decline. Nothing for an active
/// person; repeating it changes nothing.
pub fn decide_wallet_end(
    person: &Person,
    wallet: Option<Wallet>,
    unaccepted: Vec<WalletTransfer>,
    incoming: Vec<IncomingWallet>,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<usize>, Refusal> {
    if person.is_active() {
        return Ok(Decision::unchanged(0));
    }
    let mut changes = Vec::new();
    let mut settled = 0;
    for transfer in unaccepted.into_iter().filter(WalletTransfer::is_unaccepted) {
        let settle = if now >= transfer.return_at {
            Settle::Return
        } else if transfer.command.sender_id == person.id {
            Settle::Cancel {
                by: transfer.command.sender_id.clone(),
            }
        } else {
            Settle::Decline {
                by: transfer.command.recipient_id.clone(),
            }
        };
        let id = transfer.id().clone();
        let period = Period::of_unix_millis(now);
        changes.extend(decide_settle(Some(transfer), &id, &settle, RecipientState::Inactive, period, here, now)?.changes);
        settled += 1;
    }
    if let Some(mut wallet) = wallet.filter(Wallet::is_open) {
        for asked in incoming
            .into_iter()
            .filter(|i| i.note.outcome.is_none() && i.note.recipient_id == person.id && i.sender_province != here)
        {
            let body = NoticeBody::WalletDeclineAsked {
                transfer_id: asked.note.transfer_id,
                recipient_id: person.id.clone(),
            };
            changes.push(Change::Notice(asked.sender_province, body));
            settled += 1;
        }
        wallet.closed_at = Some(now);
        changes.push(Change::Wallet(wallet));
    }
    Ok(Decision::new(settled, changes))
}

/// The recipient's node starts accepting a transfer from another province:
/// checks the recipient's wallet is open, and records the acceptance as
/// pending (asked of the sender's node through the hub, again after a crash)
/// before anyone is asked. Answers the credit when it is already done.
pub fn decide_accept_across(
    credited: Option<WalletCredit>,
    accepting: Option<CrossWallet>,
    recipient: RecipientState,
    cross: &CrossWallet,
) -> Result<Decision<Option<WalletCredit>>, Refusal> {
    if let Some(credit) = credited {
        if credit.amount != cross.amount || credit.sender_province != cross.sender_province || credit.recipient_id != cross.recipient_id {
            return Err(Refusal::reused("wallet transfer", &cross.transfer_id));
        }
        return Ok(Decision::unchanged(Some(credit)));
    }
    if let Some(accepting) = accepting {
        if accepting != *cross {
            return Err(Refusal::reused("wallet transfer", &cross.transfer_id));
        }
        return Ok(Decision::unchanged(None));
    }
    if recipient != RecipientState::Open {
        return Err(Refusal::FailedPrecondition(format!(
            "person {} has no open wallet here; only the holder of an open wallet accepts a wallet transfer",
            cross.recipient_id
        )));
    }
    Ok(Decision::new(
        None,
        vec![
            Change::WalletAccepting(cross.clone(), true),
            Change::Pending(PendingKind::Wallet, cross.transfer_id.clone()),
        ],
    ))
}

/// The hub's answer to an acceptance from here: accepted → the wallet is
/// credited once in the month the hub stamped; declined (or the id was
/// another's) → nothing is credited and the refusal says why. Either way the
/// acceptance is no longer pending. A late answer after it finished changes
/// nothing.
pub fn decide_accept_answer(
    accepting: Option<CrossWallet>,
    credited: Option<WalletCredit>,
    recipient: Option<&Person>,
    answer: HubAnswer,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<Result<WalletCredit, Refusal>>, Refusal> {
    let Some(cross) = accepting else {
        return match credited {
            Some(credit) => Ok(Decision::unchanged(Ok(credit))),
            None => Err(Refusal::Missing("no acceptance of this wallet transfer is pending here".into())),
        };
    };
    let mut changes = vec![
        Change::WalletAccepting(cross.clone(), false),
        Change::Done(PendingKind::Wallet, cross.transfer_id.clone()),
    ];
    let outcome = match answer {
        HubAnswer::Approved(period) => {
            let credit = WalletCredit {
                transfer_id: cross.transfer_id.clone(),
                sender_province: cross.sender_province,
                recipient_id: cross.recipient_id.clone(),
                amount: cross.amount,
                period,
                at: now,
            };
            let decided = decide_wallet_credit(credited, recipient, credit, here)?;
            changes.extend(decided.changes);
            Ok(decided.outcome)
        }
        HubAnswer::Declined(_, decline) => Err(Refusal::FailedPrecondition(format!(
            "wallet transfer {} was not accepted: {}",
            cross.transfer_id, decline.message
        ))),
        HubAnswer::Taken(message) => Err(Refusal::AlreadyExists(message)),
    };
    Ok(Decision::new(outcome, changes))
}

/// The sender's node decides an acceptance asked across provinces: the
/// transfer must be the one accepted (recipient, province and amount), and
/// then it is settled as accepted in `period` (see [`decide_settle`]).
pub fn decide_acceptance_at_sender(
    recorded: Option<WalletTransfer>,
    cross: &CrossWallet,
    period: Period,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<WalletTransfer>, Refusal> {
    if let Some(transfer) = &recorded {
        let command = &transfer.command;
        if command.recipient_id != cross.recipient_id
            || command.recipient_province != cross.recipient_province
            || command.amount != cross.amount
        {
            return Err(Refusal::FailedPrecondition(format!(
                "wallet transfer {} is {} to person {} of province {}, not what was accepted",
                cross.transfer_id, command.amount, command.recipient_id, command.recipient_province
            )));
        }
    }
    let settle = Settle::Accept {
        by: cross.recipient_id.clone(),
    };
    decide_settle(recorded, &cross.transfer_id, &settle, RecipientState::Open, period, here, now)
}

/// A payment from a wallet: the holder's personal share at a designated
/// institution of this province, or their contribution to its fund, as a
/// quota pays (docs/WALLET.md). Refunds (by id) and a reversal return to
/// the wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPayment {
    pub command: PayCommand,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    /// Refunds made, by refund id.
    pub refunds: BTreeMap<Id, Money>,
    pub created_at: i64,
    pub reversed_at: Option<i64>,
}

impl WalletPayment {
    /// What is left of it to refund or reverse.
    pub fn left(&self) -> Result<Money, Refusal> {
        let mut left = self.command.amount;
        for amount in self.refunds.values() {
            left = left.checked_sub(*amount)?;
        }
        Ok(left)
    }
}

/// Pays from the beneficiary's wallet, once per payment id: declined (and
/// recorded so) for an inactive holder, a purpose the institution does not
/// serve, or a balance short of the amount; refused without a wallet.
/// `reversed`: the id was reversed before it arrived.
pub fn decide_wallet_pay(
    recorded: Option<WalletPayment>,
    reversed: bool,
    beneficiary: Option<&Person>,
    wallet: Option<&Wallet>,
    balance: Money,
    command: &PayCommand,
    now: i64,
) -> Result<Decision<WalletPayment>, Refusal> {
    if let Some(recorded) = recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("payment", &command.payment_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    if reversed {
        return Err(Refusal::taken(&command.payment_id));
    }
    let Some(beneficiary) = beneficiary else {
        return Err(Refusal::not_found("person", &command.beneficiary_id));
    };
    if !wallet.is_some_and(Wallet::is_open) {
        return Err(Refusal::FailedPrecondition(format!(
            "person {} has no open wallet to pay from",
            beneficiary.id
        )));
    }
    let outcome = check_beneficiary_may_pay(beneficiary, command.purpose)
        .and_then(|()| check_institution(&command.payee, command.purpose))
        .and_then(|()| match command.amount > balance {
            true => Err(Decline::new(
                DeclineReason::InsufficientBalance,
                format!(
                    "the wallet of person {} holds {balance}, less than {}",
                    beneficiary.id, command.amount
                ),
            )),
            false => Ok(()),
        });
    let mut payment = WalletPayment {
        command: command.clone(),
        status: TxStatus::Approved,
        decline: None,
        refunds: BTreeMap::new(),
        created_at: now,
        reversed_at: None,
    };
    let mut changes = Vec::new();
    match outcome {
        Ok(()) => changes.push(Change::Move(Move::new(
            &command.payment_id,
            "payment from a wallet",
            Book::Wallet(beneficiary.id.clone()),
            Book::Payee(command.payee.clone()),
            command.amount,
        ))),
        Err(decline) => {
            payment.status = TxStatus::Declined;
            payment.decline = Some(decline);
        }
    }
    changes.push(Change::WalletPayment(payment.clone()));
    Ok(Decision::new(payment, changes))
}

/// Refunds part or all of an approved wallet payment into the wallet, once
/// per refund id, never more than it has left; only its institution (or an
/// operator, `acting` none) refunds.
pub fn decide_wallet_refund(
    recorded: Option<WalletPayment>,
    payment_id: &Id,
    refund_id: &Id,
    amount: Money,
    acting: Option<&gongji_common::InstitutionCode>,
) -> Result<Decision<WalletPayment>, Refusal> {
    let Some(mut payment) = recorded else {
        return Err(Refusal::not_found("payment", payment_id));
    };
    check_touch(acting, "refund", payment_id, &payment.command.payee)?;
    if let Some(done) = payment.refunds.get(refund_id) {
        if *done != amount {
            return Err(Refusal::reused("refund", refund_id));
        }
        return Ok(Decision::unchanged(payment));
    }
    if payment.status != TxStatus::Approved {
        return Err(Refusal::FailedPrecondition(format!(
            "payment {payment_id} is {}: only an approved payment is refunded",
            super::status_word(payment.status)
        )));
    }
    let left = payment.left()?;
    if amount > left {
        return Err(Refusal::FailedPrecondition(format!(
            "refund {refund_id} of {amount} is more than payment {payment_id} has left ({left})"
        )));
    }
    payment.refunds.insert(refund_id.clone(), amount);
    Ok(Decision::new(
        payment.clone(),
        vec![
            Change::Move(Move::new(
                refund_id,
                "refund to a wallet",
                Book::Payee(payment.command.payee.clone()),
                Book::Wallet(payment.command.beneficiary_id.clone()),
                amount,
            )),
            Change::WalletPayment(payment),
        ],
    ))
}

/// Reverses a wallet payment whose answer the institution never got: an
/// approved one is credited back to the wallet (what refunds left), a
/// declined or reversed one has nothing to undo, and an unknown id is
/// cancelled for good (`None`: recorded as reversed before it arrived).
pub fn decide_wallet_reverse(
    recorded: Option<WalletPayment>,
    payment_id: &Id,
    acting: Option<&gongji_common::InstitutionCode>,
    now: i64,
) -> Result<Decision<Option<WalletPayment>>, Refusal> {
    let Some(mut payment) = recorded else {
        return Ok(Decision::new(None, vec![Change::WalletReversedFirst(payment_id.clone(), now)]));
    };
    check_touch(acting, "reverse", payment_id, &payment.command.payee)?;
    if payment.status != TxStatus::Approved {
        return Ok(Decision::unchanged(Some(payment)));
    }
    let left = payment.left()?;
    payment.status = TxStatus::Reversed;
    payment.reversed_at = Some(now);
    Ok(Decision::new(
        Some(payment.clone()),
        vec![
            Change::Move(Move::new(
                wallet_reference("reversal", payment_id),
                "reversal to a wallet",
                Book::Payee(payment.command.payee.clone()),
                Book::Wallet(payment.command.beneficiary_id.clone()),
                left,
            )),
            Change::WalletPayment(payment),
        ],
    ))
}
