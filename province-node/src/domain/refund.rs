//! Refunds: an institution (or fund) returns all or part of an approved
//! payment; the money goes back to the quota it came from, or to the donor's
//! available balance if the relationship has ended.

use gongji_common::{
    contract::{CrossPayment, CrossRefund, Decline, DeclineReason, TxKind, TxStatus},
    pending::PendingKind,
    statement::Direction,
    Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode,
};
use serde::{Deserialize, Serialize};

use super::{
    check_touch, give_back, mirror_return, region_of, AcquiredPayment, Answered, Book, Change, CrossLine, Decision, Event, EventKind,
    HubAnswer, IssuedDebit, Recipient, Refusal, Relationship, Source,
};

/// A validated refund request at the beneficiary's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundCommand {
    pub refund_id: Id,
    pub payment_id: Id,
    pub amount: Money,
}

/// A refund as one node recorded it; its id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub command: RefundCommand,
    /// The refunded payment's route (relationship, donor, payee).
    pub payment: CrossPayment,
    /// The hub's month stamp (cross-province, once known).
    pub period: Option<Period>,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl RefundRecord {
    pub fn new(
        command: RefundCommand,
        payment: CrossPayment,
        status: TxStatus,
        period: Option<Period>,
        decline: Option<Decline>,
        now: i64,
    ) -> RefundRecord {
        RefundRecord {
            command,
            payment,
            period,
            decided_at: (status != TxStatus::Pending).then_some(now),
            status,
            decline,
            created_at: now,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }
}

/// What the acquirer decides a refund on.
#[derive(Debug, Clone)]
pub struct RefundState {
    pub recorded: Option<RefundRecord>,
    pub payment: Option<AcquiredPayment>,
    /// Where the money goes back (same-province payments).
    pub recipient: Recipient,
}

/// The acquirer's decision on a refund, for `acting` (the institution
/// asking, or `None`: an operator): never more than the payment has left;
/// an institution refunds only its own payments. A same-province refund
/// gives the money back at once; a cross-province one reserves it on the
/// payment and waits for the donor's node.
pub fn decide_refund(
    state: RefundState,
    command: &RefundCommand,
    acting: Option<&InstitutionCode>,
    now: i64,
) -> Result<Decision<RefundRecord>, Refusal> {
    if let Some(recorded) = state.recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("refund", &command.refund_id));
        }
        check_touch(acting, "refund", &command.payment_id, &recorded.payment.payee)?;
        return Ok(Decision::unchanged(recorded));
    }
    let Some(mut payment) = state.payment else {
        return Err(Refusal::vanished("payment", &command.payment_id));
    };
    check_touch(acting, "refund", &command.payment_id, &payment.command.payee)?;
    let (TxStatus::Approved, Some(route)) = (payment.status, payment.route.clone()) else {
        return Err(Refusal::FailedPrecondition(format!(
            "payment {} is {}; only an approved payment can be refunded",
            command.payment_id,
            status_word(payment.status)
        )));
    };
    let refundable = payment.refundable();
    if command.amount > refundable {
        let decline = Decline::new(
            DeclineReason::RefundExceedsPayment,
            format!(
                "{} is more than the {refundable} left to refund of payment {}",
                command.amount, command.payment_id
            ),
        );
        let record = RefundRecord::new(command.clone(), route, TxStatus::Declined, None, Some(decline), now);
        return Ok(Decision::new(record.clone(), vec![Change::Refund(record)]));
    }
    payment.refunded = payment.refunded.checked_add(command.amount)?;
    let mut changes = vec![Change::Payment(payment)];
    let record = if route.is_cross_province() {
        changes.push(Change::Pending(PendingKind::Refund, command.refund_id.clone()));
        RefundRecord::new(command.clone(), route, TxStatus::Pending, None, None, now)
    } else {
        let (given, how) = give_back(
            &state.recipient,
            &route.donor_id,
            command.amount,
            Source::Local(Book::Payee(route.payee.clone())),
            command.refund_id.as_str(),
            "refund",
            now,
        )?;
        changes.extend(given);
        changes.push(refund_event(&route.relationship_id, &command.refund_id, command.amount, how, now));
        RefundRecord::new(command.clone(), route, TxStatus::Approved, None, None, now)
    };
    changes.push(Change::Refund(record.clone()));
    Ok(Decision::new(record, changes))
}

/// The history entry of a refund.
fn refund_event(relationship: &Id, refund: &Id, amount: Money, how: &str, now: i64) -> Change {
    Change::Event(
        relationship.clone(),
        Event::new(EventKind::Refund, format!("refund {how}"), now)
            .amount(amount)
            .reference(refund),
    )
}

/// What the acquirer records the answer to a routed refund on.
#[derive(Debug, Clone)]
pub struct RefundAnswerState {
    pub record: Option<RefundRecord>,
    /// The refunded payment, whose reservation a refused refund frees.
    pub payment: Option<AcquiredPayment>,
    /// The grant record of the payment's relationship.
    pub relationship: Option<Relationship>,
    /// The region the payee's lines belong to.
    pub region: RegionCode,
}

/// The acquirer records the donor's node's answer to a pending refund:
/// approved, the payee's money goes to the donor's province (and the grant
/// record mirrors the quota coming back); refused, the reservation on the
/// payment is freed.
pub fn decide_refund_answer(
    state: RefundAnswerState,
    id: &Id,
    answer: &HubAnswer,
    now: i64,
) -> Result<Decision<Answered<RefundRecord>>, Refusal> {
    let Some(mut record) = state.record else {
        return Err(Refusal::vanished("refund", id));
    };
    if !record.is_pending() {
        return Ok(Decision::unchanged(Answered::Recorded(record)));
    }
    let route = record.payment.clone();
    let amount = record.command.amount;
    let release = |payment: Option<AcquiredPayment>| {
        payment.map(|mut payment| {
            payment.refunded = payment.refunded.checked_sub(amount).unwrap_or(Money::ZERO);
            Change::Payment(payment)
        })
    };
    let mut changes = Vec::new();
    match answer {
        HubAnswer::Approved(period) => {
            let line = CrossLine::new(
                *period,
                TxKind::Refund,
                id,
                route.donor_province,
                Direction::Payable,
                amount,
                state.region,
            );
            changes.push(Change::Cross {
                line,
                other: Book::Payee(route.payee.clone()),
                memo: "cross-province refund",
            });
            changes.extend(mirror_return(state.relationship.as_ref(), amount, now)?);
            changes.push(refund_event(
                &route.relationship_id,
                id,
                amount,
                "returned to the donor's province",
                now,
            ));
            record.status = TxStatus::Approved;
            record.period = Some(*period);
        }
        HubAnswer::Taken(why) => {
            // Another node's refund holds the id: this one was never
            // routed, so it leaves no trace here either.
            changes.extend(release(state.payment));
            changes.push(Change::RefundForgotten(id.clone()));
            changes.push(Change::Done(PendingKind::Refund, id.clone()));
            return Ok(Decision::new(Answered::Taken(why.clone()), changes));
        }
        HubAnswer::Declined(period, decline) => {
            changes.extend(release(state.payment));
            record.status = TxStatus::Declined;
            record.period = *period;
            record.decline = Some(decline.clone());
        }
    }
    record.decided_at = Some(now);
    changes.push(Change::Refund(record.clone()));
    changes.push(Change::Done(PendingKind::Refund, id.clone()));
    Ok(Decision::new(Answered::Recorded(record), changes))
}

/// What the donor's node takes a refund back on.
#[derive(Debug, Clone)]
pub struct TakeBackState {
    pub here: ProvinceCode,
    pub recorded: Option<RefundRecord>,
    pub debit: Option<IssuedDebit>,
    /// Where the money goes back; its donor's region is the line's.
    pub recipient: Recipient,
}

/// The donor's node takes back a refund routed by the hub: never more than
/// the debit paid, less earlier refunds. Idempotent by refund id.
pub fn decide_take_back(state: TakeBackState, refund: &CrossRefund, period: Period, now: i64) -> Result<Decision<RefundRecord>, Refusal> {
    let command = RefundCommand {
        refund_id: refund.refund_id.clone(),
        payment_id: refund.payment.payment_id.clone(),
        amount: refund.amount,
    };
    if let Some(recorded) = state.recorded {
        if !(recorded.command == command && recorded.payment == refund.payment && recorded.period == Some(period)) {
            return Err(Refusal::reused("refund", &refund.refund_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let decision = match &state.debit {
        Some(d) if d.status == TxStatus::Approved && d.payment == refund.payment => {
            let left = d.payment.amount.checked_sub(d.refunded).unwrap_or(Money::ZERO);
            if refund.amount <= left {
                Ok(())
            } else {
                Err(Decline::new(
                    DeclineReason::RefundExceedsPayment,
                    format!("only {left} of payment {} is left to refund", d.payment.payment_id),
                ))
            }
        }
        _ => Err(Decline::new(
            DeclineReason::RefundExceedsPayment,
            format!("payment {} is not an approved debit of this node", refund.payment.payment_id),
        )),
    };
    let mut changes = Vec::new();
    if let (Ok(()), Some(mut debit)) = (&decision, state.debit) {
        debit.refunded = debit.refunded.checked_add(refund.amount)?;
        changes.push(Change::Debit(debit));
        let line = CrossLine::new(
            period,
            TxKind::Refund,
            &refund.refund_id,
            refund.payment.beneficiary_province,
            Direction::Receivable,
            refund.amount,
            region_of(state.recipient.donor.as_ref(), state.here),
        );
        let (given, how) = give_back(
            &state.recipient,
            &refund.payment.donor_id,
            refund.amount,
            Source::Cross(line),
            refund.refund_id.as_str(),
            "cross-province refund",
            now,
        )?;
        changes.extend(given);
        changes.push(refund_event(
            &refund.payment.relationship_id,
            &refund.refund_id,
            refund.amount,
            how,
            now,
        ));
    }
    let (status, decline) = match decision {
        Ok(()) => (TxStatus::Approved, None),
        Err(d) => (TxStatus::Declined, Some(d)),
    };
    let record = RefundRecord::new(command, refund.payment.clone(), status, Some(period), decline, now);
    changes.push(Change::Refund(record.clone()));
    Ok(Decision::new(record, changes))
}

/// A payment status in a sentence.
pub fn status_word(status: TxStatus) -> &'static str {
    match status {
        TxStatus::Pending => "pending",
        TxStatus::Approved => "approved",
        TxStatus::Declined => "declined",
        TxStatus::Reversed => "reversed",
    }
}
