//! Insurance transfers across provinces (医保关系转移接续): the releasing
//! node's record and the receiving node's record.

use gongji_common::{
    contract::{CrossTransfer, Decline, DeclineReason, TxKind, TxStatus},
    pending::PendingKind,
    statement::Direction,
    Id, Money, Period, ProvinceCode, RegionCode,
};
use serde::{Deserialize, Serialize};

use super::{
    follow, region_of, Answered, Book, Change, CrossLine, Decision, HubAnswer, InsuranceType, Move, Person, PersonStatus, Refusal,
};

/// A validated transfer request at the releasing node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCommand {
    pub transfer_id: Id,
    pub person_id: Id,
    pub to_region: RegionCode,
}

/// A transfer at the releasing node. Its steps: the person is marked
/// transferred and their relationships dissolve; then the balance is fixed and
/// held; then the hub routes it; then the held balance leaves (approved) or
/// returns (declined).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOut {
    pub command: TransferCommand,
    /// The person as they were when the transfer started.
    pub name: String,
    pub employee: bool,
    /// The balance that moves, fixed once every relationship has dissolved.
    pub amount: Option<Money>,
    pub period: Option<Period>,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Money that reached this node after the person had moved, sent after them.
    #[serde(default)]
    pub follow_up: bool,
}

impl TransferOut {
    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }

    pub fn decide(&mut self, period: Option<Period>, outcome: Result<(), Decline>, now: i64) {
        self.period = period.or(self.period);
        match outcome {
            Ok(()) => self.status = TxStatus::Approved,
            Err(decline) => {
                self.status = TxStatus::Declined;
                self.decline = Some(decline);
            }
        }
        self.decided_at = Some(now);
    }
}

/// A transfer at the receiving node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferIn {
    pub transfer: CrossTransfer,
    pub period: Period,
    pub decline: Option<Decline>,
    pub at: i64,
}

impl TransferIn {
    /// Received here: approved, or declined (the person stays where they were).
    pub fn status(&self) -> TxStatus {
        if self.decline.is_some() {
            TxStatus::Declined
        } else {
            TxStatus::Approved
        }
    }
}

/// The releasing node starts a transfer: the person is marked transferred
/// (no new relationships, payments or contributions meanwhile; their
/// relationships stay as they are until the receiving node has said yes).
/// Idempotent by transfer id.
pub fn decide_transfer(
    recorded: Option<TransferOut>,
    person: Option<Person>,
    command: &TransferCommand,
    now: i64,
) -> Result<Decision<TransferOut>, Refusal> {
    if let Some(recorded) = recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("transfer", &command.transfer_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let Some(mut person) = person else {
        return Err(Refusal::not_found("person", &command.person_id));
    };
    if !person.is_active() {
        return Err(Refusal::FailedPrecondition(format!(
            "person {} is not an active insured person here; only active insurance can be transferred",
            person.id
        )));
    }
    person.status = PersonStatus::Transferred;
    let record = TransferOut {
        command: command.clone(),
        name: person.name.clone(),
        employee: person.insurance == InsuranceType::Employee,
        amount: None,
        period: None,
        status: TxStatus::Pending,
        decline: None,
        created_at: now,
        decided_at: None,
        follow_up: false,
    };
    Ok(Decision::new(
        record.clone(),
        vec![
            Change::Person(person),
            Change::Pending(PendingKind::Transfer, command.transfer_id.clone()),
            Change::TransferOut(record),
        ],
    ))
}

/// The releasing node fixes the balance that moves and holds it (the
/// person's whole available balance, `available`), once.
pub fn decide_hold(recorded: Option<TransferOut>, id: &Id, available: Money) -> Result<Decision<TransferOut>, Refusal> {
    let Some(mut record) = recorded else {
        return Err(Refusal::vanished("transfer", id));
    };
    if record.amount.is_some() || !record.is_pending() {
        return Ok(Decision::unchanged(record));
    }
    record.amount = Some(available);
    let held = Move::new(
        id,
        "balance held for transfer",
        Book::Available(record.command.person_id.clone()),
        Book::Transit(id.clone()),
        available,
    );
    Ok(Decision::new(record.clone(), vec![Change::Move(held), Change::TransferOut(record)]))
}

/// What the releasing node records the receiving side's answer on.
#[derive(Debug, Clone)]
pub struct TransferAnswerState {
    pub here: ProvinceCode,
    pub record: Option<TransferOut>,
    pub person: Option<Person>,
    /// The person's available balance now: money that came back while the
    /// transfer was in flight (a late refund).
    pub arrived: Money,
    /// Whether that money was already sent after them.
    pub forwarded: bool,
}

/// The reference of money that reached a person while their transfer `id`
/// was in flight.
pub fn rest_reference(id: &Id) -> String {
    format!("transfer-rest/{id}")
}

/// The releasing node records the answer to a routed transfer. Approved:
/// the held balance leaves, the person has moved (money that arrived
/// meanwhile goes after them) and their relationships end next (a cascade).
/// Refused: the held balance goes back and the person is active again,
/// relationships untouched ("a transfer is all or nothing").
pub fn decide_transfer_answer(
    state: TransferAnswerState,
    id: &Id,
    answer: &HubAnswer,
    now: i64,
) -> Result<Decision<Answered<TransferOut>>, Refusal> {
    let Some(mut record) = state.record else {
        // Another node's id, already forgotten here by a pass that asked
        // the hub at the same time (the recovery pass races the request):
        // the same answer, nothing left to undo.
        if let HubAnswer::Taken(why) = answer {
            return Ok(Decision::unchanged(Answered::Taken(why.clone())));
        }
        return Err(Refusal::vanished("transfer", id));
    };
    let Some(amount) = record.amount.filter(|_| record.is_pending()) else {
        return Ok(Decision::unchanged(Answered::Recorded(record)));
    };
    let person_id = record.command.person_id.clone();
    let mut changes = Vec::new();
    match answer {
        HubAnswer::Approved(period) => {
            let line = CrossLine::new(
                *period,
                TxKind::AccountTransfer,
                id,
                record.command.to_region.province(),
                Direction::Payable,
                amount,
                region_of(state.person.as_ref(), state.here),
            );
            changes.push(Change::Cross {
                line,
                other: Book::Transit(id.clone()),
                memo: "balance transferred",
            });
            if !record.follow_up {
                if let Some(mut person) = state.person {
                    person.moved_to = Some(record.command.to_region);
                    changes.push(Change::Person(person.clone()));
                    if !state.arrived.is_zero() {
                        let reference = rest_reference(id);
                        changes.extend(follow(Some(&person), state.forwarded, state.arrived, &reference, now).unwrap_or_default());
                    }
                }
                // Taken in there: now their relationships end.
                changes.push(Change::Pending(PendingKind::Cascade, person_id));
            }
            record.decide(Some(*period), Ok(()), now);
        }
        HubAnswer::Taken(why) => {
            // Another node's transfer holds the id: this one was never
            // routed, so it leaves no trace here either.
            changes.extend(give_back_held(&record, id, amount, state.person));
            changes.push(Change::TransferOutForgotten(id.clone()));
            changes.push(Change::Done(PendingKind::Transfer, id.clone()));
            return Ok(Decision::new(Answered::Taken(why.clone()), changes));
        }
        HubAnswer::Declined(period, decline) => {
            changes.extend(give_back_held(&record, id, amount, state.person));
            record.decide(*period, Err(decline.clone()), now);
        }
    }
    changes.push(Change::TransferOut(record.clone()));
    changes.push(Change::Done(PendingKind::Transfer, id.clone()));
    Ok(Decision::new(Answered::Recorded(record), changes))
}

/// A refused transfer: the held balance back to the person, who stays
/// insured here (a refused follow-up only leaves the money in their
/// account here).
fn give_back_held(record: &TransferOut, id: &Id, amount: Money, person: Option<Person>) -> Vec<Change> {
    let mut changes = vec![Change::Move(Move::new(
        id,
        "transfer declined: balance back",
        Book::Transit(id.clone()),
        Book::Available(record.command.person_id.clone()),
        amount,
    ))];
    if let (false, Some(mut person)) = (record.follow_up, person) {
        person.status = PersonStatus::Active;
        changes.push(Change::Person(person));
    }
    changes
}

/// What the receiving node takes a transfer in on.
#[derive(Debug, Clone)]
pub struct TransferInState {
    pub here: ProvinceCode,
    pub recorded: Option<TransferIn>,
    /// The person as insured here, if at all.
    pub person: Option<Person>,
    /// Whether money of this transfer was already sent on after them.
    pub forwarded: bool,
}

/// The reference of money received for a person, sent on again if they
/// have moved on since.
pub fn onward_reference(id: &Id) -> String {
    format!("transfer-in/{id}")
}

/// The receiving node takes a person in with their balance (declined if
/// they are already actively insured here), or credits money sent after a
/// person who moved here (sent on again if they have moved on). Idempotent
/// by transfer id.
pub fn decide_transfer_in(
    state: TransferInState,
    transfer: &CrossTransfer,
    period: Period,
    now: i64,
) -> Result<Decision<Result<(), Decline>>, Refusal> {
    let id = &transfer.transfer_id;
    if let Some(recorded) = state.recorded {
        if !(recorded.transfer == *transfer && recorded.period == period) {
            return Err(Refusal::reused("transfer", id));
        }
        return Ok(Decision::unchanged(recorded.decline.map_or(Ok(()), Err)));
    }
    let mut changes = Vec::new();
    let line = |region| {
        CrossLine::new(
            period,
            TxKind::AccountTransfer,
            id,
            transfer.from_province,
            Direction::Receivable,
            transfer.amount,
            region,
        )
    };
    let decline = if transfer.follow_up {
        match state.person {
            None => Some(Decline::new(
                DeclineReason::PersonNotFound,
                format!("person {} is not insured in province {}", transfer.person_id, state.here),
            )),
            Some(person) => {
                changes.push(Change::Cross {
                    line: line(person.region),
                    other: Book::Available(person.id.clone()),
                    memo: "balance sent after a transferred person",
                });
                if !transfer.amount.is_zero() {
                    let reference = onward_reference(id);
                    changes.extend(follow(Some(&person), state.forwarded, transfer.amount, &reference, now).unwrap_or_default());
                }
                None
            }
        }
    } else {
        match state.person {
            Some(person) if person.is_active() => Some(Decline::new(
                DeclineReason::AlreadyInsured,
                format!("person {} is already actively insured in province {}", person.id, state.here),
            )),
            _ => {
                let person = Person {
                    id: transfer.person_id.clone(),
                    name: transfer.name.clone(),
                    insurance: if transfer.employee {
                        InsuranceType::Employee
                    } else {
                        InsuranceType::Resident
                    },
                    region: transfer.to_region,
                    status: PersonStatus::Active,
                    registered_at: now,
                    moved_to: None,
                };
                changes.push(Change::Cross {
                    line: line(person.region),
                    other: Book::Available(person.id.clone()),
                    memo: "balance received by transfer",
                });
                changes.push(Change::Person(person));
                None
            }
        }
    };
    changes.push(Change::TransferIn(TransferIn {
        transfer: transfer.clone(),
        period,
        decline: decline.clone(),
        at: now,
    }));
    Ok(Decision::new(decline.map_or(Ok(()), Err), changes))
}
