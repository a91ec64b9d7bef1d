//! Reversals: an institution that never got the answer to a payment
//! reverses it. An approved payment is credited back, a pending or unknown
//! one is cancelled, and a reversed id is never approved afterwards, even by
//! a late message: every hop records the reversal before anything else can
//! approve the id ("reversal wins over a late approval").

use gongji_common::{
    contract::{CrossPayment, ReversalOutcome, TxKind, TxStatus},
    pending::PendingKind,
    statement::Direction,
    Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode,
};

use super::{
    acquired_approval, check_touch, give_back, mirror_return, region_of, AcquiredPayment, Book, Change, CrossLine, Decision, Event,
    EventKind, IssuedDebit, Recipient, Refusal, Relationship, Reversal, Source, Tombstone,
};

/// What the acquirer decides a reversal on.
#[derive(Debug, Clone)]
pub struct ReversalState {
    pub payment: Option<AcquiredPayment>,
    /// The debit, if the payment was decided here for another province.
    pub debit: Option<IssuedDebit>,
    pub tombstone: Option<Tombstone>,
    /// Where the money goes back (same-province payments).
    pub recipient: Recipient,
}

/// What a reversal did at the acquirer.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value answered once, never stored in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Reversed {
    /// The payment, reversed (or left as it was: declined or reversed before).
    Payment(AcquiredPayment),
    /// Never seen here: the id is cancelled for good.
    Cancelled(Tombstone),
}

/// The reference of the money a reversal of payment `id` gives back.
pub fn reversal_reference(id: &Id) -> String {
    format!("reversal/{id}")
}

/// The acquirer reverses payment `id` for `acting` (the institution asking,
/// which may reverse only its own payments, or `None`: an operator, or this
/// node giving up). A same-province approved payment is credited back at
/// once; a cross-province one stops here at once (a late answer finds it no
/// longer pending) and the donor's side is told; an unknown id is cancelled
/// for good, as the reversing institution's.
pub fn decide_reversal(state: ReversalState, id: &Id, acting: Option<&InstitutionCode>, now: i64) -> Result<Decision<Reversed>, Refusal> {
    let Some(mut payment) = state.payment else {
        if let Some(debit) = &state.debit {
            // Decided here for another province's payment (reversed through
            // the hub, by the node that served it): no institution but its
            // payee may even cancel the id here.
            check_touch(acting, "reverse", id, &debit.payment.payee)?;
        }
        // A repeated reversal (by anyone) changes nothing.
        return Ok(match state.tombstone {
            Some(tombstone) => Decision::unchanged(Reversed::Cancelled(tombstone)),
            None => {
                let tombstone = Tombstone::new(acting.cloned(), now);
                Decision::new(
                    Reversed::Cancelled(tombstone.clone()),
                    vec![Change::Tombstone(id.clone(), tombstone)],
                )
            }
        });
    };
    check_touch(acting, "reverse", id, &payment.command.payee)?;
    if payment.refunded > Money::ZERO {
        return Err(Refusal::FailedPrecondition(format!(
            "payment {id} has refunds, so its answer arrived; refund the rest instead of reversing"
        )));
    }
    let mut changes = Vec::new();
    match (payment.status, payment.route.clone()) {
        (TxStatus::Declined | TxStatus::Reversed, _) | (_, None) => return Ok(Decision::unchanged(Reversed::Payment(payment))),
        (TxStatus::Approved, Some(route)) if !route.is_cross_province() => {
            let (given, how) = give_back(
                &state.recipient,
                &route.donor_id,
                route.amount,
                Source::Local(Book::Payee(route.payee.clone())),
                &reversal_reference(id),
                "payment reversed",
                now,
            )?;
            changes.extend(given);
            changes.push(reversal_event(&route, how, now));
            payment.status = TxStatus::Reversed;
            payment.reversal = Some(Reversal::new(true, None, true, now));
        }
        (TxStatus::Approved | TxStatus::Pending, Some(_)) => {
            let was_approved = payment.status == TxStatus::Approved;
            changes.push(Change::Done(PendingKind::Payment, id.clone()));
            changes.push(Change::Pending(PendingKind::Reversal, id.clone()));
            payment.status = TxStatus::Reversed;
            payment.reversal = Some(Reversal::new(was_approved, None, false, now));
        }
    }
    changes.push(Change::Payment(payment.clone()));
    Ok(Decision::new(Reversed::Payment(payment), changes))
}

/// The history entry of a reversal.
fn reversal_event(route: &CrossPayment, how: &str, now: i64) -> Change {
    Change::Event(
        route.relationship_id.clone(),
        Event::new(EventKind::Reversal, format!("payment reversed; {how}"), now)
            .amount(route.amount)
            .reference(&route.payment_id),
    )
}

/// What the acquirer records the donor's side's reversal on.
#[derive(Debug, Clone)]
pub struct ReversalAnswerState {
    pub payment: Option<AcquiredPayment>,
    /// The grant record of the payment's relationship.
    pub relationship: Option<Relationship>,
    /// The region the payee's lines belong to.
    pub region: RegionCode,
}

/// The acquirer records what the donor's side found: if the payment had
/// been approved, this node's books get the payment in its month (if its
/// approval never arrived) and the credit back in the reversal's month,
/// matching the hub's and the donor's.
pub fn decide_reversal_answer(
    state: ReversalAnswerState,
    id: &Id,
    outcome: &ReversalOutcome,
    now: i64,
) -> Result<Decision<AcquiredPayment>, Refusal> {
    let Some(mut payment) = state.payment else {
        return Err(Refusal::vanished("payment", id));
    };
    let (Some(route), Some(mut reversal)) = (payment.route.clone(), payment.reversal.filter(|r| !r.settled)) else {
        return Ok(Decision::unchanged(payment));
    };
    let mut changes = Vec::new();
    if let ReversalOutcome {
        was_approved: true,
        original_period: Some(original),
        reversal_period: Some(back),
    } = *outcome
    {
        let mut relationship = state.relationship;
        if !reversal.was_approved {
            // The approval never reached this node: book it now, in its month.
            changes.extend(acquired_approval(&route, original, &mut relationship, state.region, now)?);
        }
        let line = CrossLine::new(
            back,
            TxKind::Reversal,
            id,
            route.donor_province,
            Direction::Payable,
            route.amount,
            state.region,
        );
        changes.push(Change::Cross {
            line,
            other: Book::Payee(route.payee.clone()),
            memo: "cross-province payment reversed",
        });
        changes.extend(mirror_return(relationship.as_ref(), route.amount, now)?);
        changes.push(reversal_event(&route, "the donor's province credited it back", now));
        payment.period = Some(original);
        reversal.was_approved = true;
        reversal.period = Some(back);
    } else {
        reversal.was_approved = false;
    }
    reversal.settled = true;
    payment.reversal = Some(reversal);
    payment.decided_at = Some(now);
    changes.push(Change::Payment(payment.clone()));
    changes.push(Change::Done(PendingKind::Reversal, id.clone()));
    Ok(Decision::new(payment, changes))
}

/// What the donor's node reverses a debit on.
#[derive(Debug, Clone)]
pub struct DebitReversalState {
    pub here: ProvinceCode,
    pub debit: Option<IssuedDebit>,
    /// Where the money goes back; its donor's region is the line's.
    pub recipient: Recipient,
}

/// The donor's node reverses a debit: credits an approved one back in
/// `period` (less what refunds returned already), or cancels the id so that
/// a late request to debit it is declined.
pub fn decide_debit_reversal(
    state: DebitReversalState,
    payment: &CrossPayment,
    period: Period,
    now: i64,
) -> Result<Decision<ReversalOutcome>, Refusal> {
    let id = &payment.payment_id;
    let Some(mut debit) = state.debit else {
        return Ok(Decision::new(
            ReversalOutcome::NOTHING_APPROVED,
            vec![Change::Debit(IssuedDebit::cancelled(payment.clone(), period, now))],
        ));
    };
    if debit.payment != *payment {
        return Err(Refusal::reused("payment", id));
    }
    let mut changes = Vec::new();
    let outcome = match (debit.status, debit.reversal) {
        (TxStatus::Reversed, Some(r)) => {
            return Ok(Decision::unchanged(ReversalOutcome {
                was_approved: r.was_approved,
                original_period: r.was_approved.then_some(debit.period),
                reversal_period: r.period,
            }))
        }
        (TxStatus::Approved, _) => {
            let amount = debit.payment.amount.checked_sub(debit.refunded).unwrap_or(Money::ZERO);
            let line = CrossLine::new(
                period,
                TxKind::Reversal,
                id,
                payment.beneficiary_province,
                Direction::Receivable,
                amount,
                region_of(state.recipient.donor.as_ref(), state.here),
            );
            let (given, how) = give_back(
                &state.recipient,
                &payment.donor_id,
                amount,
                Source::Cross(line),
                &reversal_reference(id),
                "cross-province payment reversed",
                now,
            )?;
            changes.extend(given);
            changes.push(reversal_event(payment, how, now));
            debit.reversal = Some(Reversal::new(true, Some(period), true, now));
            ReversalOutcome {
                was_approved: true,
                original_period: Some(debit.period),
                reversal_period: Some(period),
            }
        }
        _ => {
            debit.reversal = Some(Reversal::new(false, None, true, now));
            ReversalOutcome::NOTHING_APPROVED
        }
    };
    debit.status = TxStatus::Reversed;
    changes.push(Change::Debit(debit));
    Ok(Decision::new(outcome, changes))
}
