//! Mutual-aid payments: the acquirer's record (the beneficiary's node, where
//! the institution is paid) and the issuer's record (the donor's node, which
//! decides a cross-province payment).

use gongji_common::{
    contract::{CrossPayment, Decline, DeclineReason, Payee, Purpose, TxKind, TxStatus},
    pending::PendingKind,
    statement::Direction,
    Id, InstitutionCode, InstitutionKind, Money, Period, ProvinceCode, RegionCode,
};
use serde::{Deserialize, Serialize};

use super::{
    check_spend, count_use, region_of, Answered, Book, Change, CrossLine, Decision, HubAnswer, InsuranceType, Move, Person, Refusal,
    Relationship,
};

/// A validated payment request from an institution; compared whole with a
/// repeated request of the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayCommand {
    pub payment_id: Id,
    pub beneficiary_id: Id,
    /// The institution paid, or the province fund for a contribution.
    pub payee: Payee,
    pub amount: Money,
    pub purpose: Purpose,
    /// The relationship the institution asked for, if any.
    pub relationship_id: Option<Id>,
}

/// The route of `command` through `relationship`.
pub fn route(command: &PayCommand, relationship: &Relationship) -> CrossPayment {
    CrossPayment {
        payment_id: command.payment_id.clone(),
        relationship_id: relationship.grant.relationship_id.clone(),
        donor_id: relationship.grant.donor_id.clone(),
        donor_province: relationship.grant.donor_province,
        beneficiary_id: command.beneficiary_id.clone(),
        beneficiary_province: relationship.grant.beneficiary_province,
        payee: command.payee.clone(),
        amount: command.amount,
        purpose: command.purpose,
    }
}

/// A payment at the node where the beneficiary was served (the acquirer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquiredPayment {
    pub command: PayCommand,
    /// The relationship chosen and its donor; `None` when the payment was
    /// declined before one could be chosen.
    pub route: Option<CrossPayment>,
    /// The hub's month stamp (cross-province payments, once known).
    pub period: Option<Period>,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// What refunds returned or are returning (approved and pending ones).
    #[serde(default)]
    pub refunded: Money,
    /// Set once the payment was reversed.
    #[serde(default)]
    pub reversal: Option<Reversal>,
}

/// How a payment was reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    /// True when the payment had been approved, so money went back.
    pub was_approved: bool,
    /// Month the hub stamped on the credit back (cross-province, once known).
    pub period: Option<Period>,
    /// False while a cross-province reversal still waits for the hub.
    pub settled: bool,
    pub at: i64,
}

impl Reversal {
    pub fn new(was_approved: bool, period: Option<Period>, settled: bool, now: i64) -> Reversal {
        Reversal {
            was_approved,
            period,
            settled,
            at: now,
        }
    }
}

/// "An institution refunds and reverses only its own payments": may the
/// institution acting (`None`: an operator, or the node itself) touch a
/// payment made to `payee`?
pub fn may_touch(acting: Option<&InstitutionCode>, payee: &Payee) -> bool {
    acting.is_none_or(|mine| matches!(payee, Payee::Institution(theirs) if theirs == mine))
}

/// Refuses institution `acting` (`None`: an operator, or this node) doing
/// `what` ("refund", "reverse") to payment `id` made to `payee` at another
/// institution (see [`may_touch`]).
pub fn check_touch(acting: Option<&InstitutionCode>, what: &str, id: &Id, payee: &Payee) -> Result<(), Refusal> {
    match acting {
        Some(mine) if !may_touch(acting, payee) => Err(Refusal::not_yours(mine, what, id, payee)),
        _ => Ok(()),
    }
}

/// A payment id reversed before this node saw the payment (tree
/// `reversed_ids`). It can never be paid, and it is the reversing
/// institution's: another institution's payment with that id is refused
/// (the id is taken), never reported reversed, so one institution cannot
/// cancel another's payment in advance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub at: i64,
    /// The institution that reversed the id; none when an operator (or the
    /// node itself) did: then it cancels the id for any payee.
    pub institution: Option<InstitutionCode>,
}

impl Tombstone {
    /// A tombstone written at `now` for the institution reversing (`None`: an operator).
    pub fn new(institution: Option<InstitutionCode>, now: i64) -> Tombstone {
        Tombstone { at: now, institution }
    }

    /// Is a payment to `payee` the one this tombstone cancelled? Yes when it
    /// names no institution or names the payee; otherwise the id was taken
    /// by another institution's reversal.
    pub fn cancels(&self, payee: &Payee) -> bool {
        may_touch(self.institution.as_ref(), payee)
    }
}

impl AcquiredPayment {
    pub fn pending(command: PayCommand, route: CrossPayment, now: i64) -> AcquiredPayment {
        AcquiredPayment {
            command,
            route: Some(route),
            period: None,
            status: TxStatus::Pending,
            decline: None,
            created_at: now,
            decided_at: None,
            refunded: Money::ZERO,
            reversal: None,
        }
    }

    pub fn approved(command: PayCommand, route: CrossPayment, now: i64) -> AcquiredPayment {
        let mut payment = AcquiredPayment::pending(command, route, now);
        payment.approve(None, now);
        payment
    }

    pub fn declined(command: PayCommand, route: Option<CrossPayment>, decline: Decline, now: i64) -> AcquiredPayment {
        AcquiredPayment {
            command,
            route,
            period: None,
            status: TxStatus::Declined,
            decline: Some(decline),
            created_at: now,
            decided_at: Some(now),
            refunded: Money::ZERO,
            reversal: None,
        }
    }

    /// What is left to refund.
    pub fn refundable(&self) -> Money {
        if self.status == TxStatus::Approved {
            self.command.amount.checked_sub(self.refunded).unwrap_or(Money::ZERO)
        } else {
            Money::ZERO
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == TxStatus::Pending
    }

    pub fn approve(&mut self, period: Option<Period>, now: i64) {
        self.status = TxStatus::Approved;
        self.period = period;
        self.decline = None;
        self.decided_at = Some(now);
    }

    pub fn decline(&mut self, period: Option<Period>, decline: Decline, now: i64) {
        self.status = TxStatus::Declined;
        self.period = period;
        self.decline = Some(decline);
        self.decided_at = Some(now);
    }
}

/// A cross-province payment at the donor's node (the issuer), which decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedDebit {
    pub payment: CrossPayment,
    pub period: Period,
    pub status: TxStatus,
    pub decline: Option<Decline>,
    pub decided_at: i64,
    /// What refunds returned of it.
    #[serde(default)]
    pub refunded: Money,
    /// Set once the payment was reversed (or cancelled before it arrived).
    #[serde(default)]
    pub reversal: Option<Reversal>,
}

impl IssuedDebit {
    pub fn decided(payment: CrossPayment, period: Period, outcome: Result<(), Decline>, now: i64) -> IssuedDebit {
        let (status, decline) = match outcome {
            Ok(()) => (TxStatus::Approved, None),
            Err(decline) => (TxStatus::Declined, Some(decline)),
        };
        IssuedDebit {
            payment,
            period,
            status,
            decline,
            decided_at: now,
            refunded: Money::ZERO,
            reversal: None,
        }
    }

    /// A reversal that arrived before the payment: the id is cancelled, and a
    /// late request to debit it is declined.
    pub fn cancelled(payment: CrossPayment, period: Period, now: i64) -> IssuedDebit {
        IssuedDebit {
            payment,
            period,
            status: TxStatus::Reversed,
            decline: Some(Decline::new(DeclineReason::Reversed, "reversed before it was decided")),
            decided_at: now,
            refunded: Money::ZERO,
            reversal: Some(Reversal::new(false, None, true, now)),
        }
    }
}

/// "The personal share of outpatient and inpatient costs is paid at a
/// designated medical institution, that of medicines at a designated
/// pharmacy": the institution's kind must serve the purpose. (Contributions
/// go to a fund, which the payee already says.)
pub fn check_institution(payee: &Payee, purpose: Purpose) -> Result<(), Decline> {
    let Payee::Institution(code) = payee else {
        return Ok(());
    };
    let needed = match purpose {
        Purpose::Outpatient | Purpose::Inpatient => InstitutionKind::Medical,
        Purpose::Pharmacy => InstitutionKind::Pharmacy,
        Purpose::ResidentContribution | Purpose::LongTermCareContribution => return Ok(()),
    };
    if code.kind() == needed {
        return Ok(());
    }
    Err(Decline::new(
        DeclineReason::WrongInstitutionKind,
        format!(
            "{code} is {}, and {} is paid at {}",
            code.kind().describe(),
            purpose_words(purpose),
            needed.describe()
        ),
    ))
}

fn purpose_words(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Outpatient => "outpatient care",
        Purpose::Inpatient => "an inpatient stay",
        Purpose::Pharmacy => "medicine bought at a pharmacy",
        Purpose::ResidentContribution => "a resident-insurance contribution",
        Purpose::LongTermCareContribution => "a long-term-care contribution",
    }
}

/// Picks the relationship to pay from among the beneficiary's: active ones,
/// same-province first, oldest first, with enough remaining quota as this
/// node knows it. The donor's node still decides a cross-province payment.
pub fn choose_relationship(candidates: &[Relationship], here: ProvinceCode, amount: Money) -> Result<&Relationship, Decline> {
    let mut active: Vec<&Relationship> = candidates.iter().filter(|r| r.is_active()).collect();
    if active.is_empty() {
        return Err(Decline::new(
            DeclineReason::NoRelationship,
            "the beneficiary has no active mutual-aid relationship",
        ));
    }
    active.sort_by_key(|r| (r.grant.donor_province != here, r.created_at));
    active.into_iter().find(|r| r.remaining() >= amount).ok_or_else(|| {
        Decline::new(
            DeclineReason::InsufficientQuota,
            format!("no active relationship of the beneficiary has {amount} of quota remaining"),
        )
    })
}

/// Why a relationship that is not active pays nothing.
pub fn not_active(relationship: &Relationship) -> Decline {
    Decline::new(
        DeclineReason::RelationshipNotActive,
        format!("relationship {} is {}", relationship.id(), relationship.status.word()),
    )
}

/// A beneficiary may pay for care while active; a resident-insurance
/// contribution only for a resident-insured person.
pub fn check_beneficiary_may_pay(beneficiary: &Person, purpose: Purpose) -> Result<(), Decline> {
    if !beneficiary.is_active() {
        return Err(Decline::new(
            DeclineReason::PersonNotActive,
            format!("beneficiary {} is not an active insured person", beneficiary.id),
        ));
    }
    if purpose == Purpose::ResidentContribution && beneficiary.insurance != InsuranceType::Resident {
        return Err(Decline::new(
            DeclineReason::NotResidentInsured,
            format!(
                "beneficiary {} holds employee insurance; resident-insurance contributions are for residents",
                beneficiary.id
            ),
        ));
    }
    Ok(())
}

/// What the acquirer decides a payment on.
#[derive(Debug, Clone)]
pub struct PaymentState {
    /// This node's province.
    pub here: ProvinceCode,
    /// The id was reversed before this node saw the payment.
    pub tombstone: Option<Tombstone>,
    /// The payment already recorded under this id.
    pub recorded: Option<AcquiredPayment>,
    pub beneficiary: Option<Person>,
    /// The beneficiary's relationships, as they stand.
    pub candidates: Vec<Relationship>,
    /// The donors of those relationships who are insured here.
    pub donors: Vec<Person>,
}

/// What became of a payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value answered once, never stored in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Paid {
    /// Recorded (now or before): approved, declined or pending.
    Recorded(AcquiredPayment),
    /// The id was reversed before the payment arrived: it is never paid.
    Cancelled(Tombstone),
}

/// The acquirer's decision on a payment: a repeat gets its recorded
/// outcome; a new one is declined (recorded with its reason), decided here
/// when the relationship's quota is held here (the quota moves to the payee
/// and counts as used), or recorded pending for the donor's node to decide.
pub fn decide_payment(state: PaymentState, command: &PayCommand, now: i64) -> Result<Decision<Paid>, Refusal> {
    if let Some(tombstone) = state.tombstone {
        if !tombstone.cancels(&command.payee) {
            // Another institution reversed this id first: not this
            // payment's reversal, so not reported as one.
            return Err(Refusal::taken(&command.payment_id));
        }
        return Ok(Decision::unchanged(Paid::Cancelled(tombstone)));
    }
    if let Some(recorded) = state.recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("payment", &command.payment_id));
        }
        return Ok(Decision::unchanged(Paid::Recorded(recorded)));
    }
    let Some(beneficiary) = &state.beneficiary else {
        return Err(Refusal::not_found("person", &command.beneficiary_id));
    };
    let chosen = match &command.relationship_id {
        Some(id) => match state.candidates.iter().find(|r| r.id() == id) {
            Some(relationship) => Ok(relationship),
            None => {
                return Err(Refusal::not_found(
                    "relationship",
                    format!("{id} for beneficiary {}", command.beneficiary_id),
                ))
            }
        },
        None => choose_relationship(&state.candidates, state.here, command.amount),
    };
    let chosen = check_beneficiary_may_pay(beneficiary, command.purpose)
        .and_then(|()| check_institution(&command.payee, command.purpose))
        .and(chosen);
    let mut changes = Vec::new();
    let payment = match chosen {
        Err(decline) => AcquiredPayment::declined(command.clone(), None, decline, now),
        Ok(relationship) => {
            let route = route(command, relationship);
            if route.is_cross_province() {
                if relationship.is_active() {
                    changes.push(Change::Pending(PendingKind::Payment, command.payment_id.clone()));
                    AcquiredPayment::pending(command.clone(), route, now)
                } else {
                    AcquiredPayment::declined(command.clone(), Some(route), not_active(relationship), now)
                }
            } else {
                let donor = state.donors.iter().find(|p| p.id == relationship.grant.donor_id);
                match check_spend(relationship, donor, command.amount) {
                    Err(decline) => AcquiredPayment::declined(command.clone(), Some(route), decline, now),
                    Ok(()) => {
                        changes.push(Change::Move(Move::new(
                            &command.payment_id,
                            "payment",
                            Book::Quota(relationship.id().clone()),
                            Book::Payee(command.payee.clone()),
                            command.amount,
                        )));
                        changes.extend(count_use(&mut relationship.clone(), &command.payment_id, command.amount, now)?);
                        AcquiredPayment::approved(command.clone(), route, now)
                    }
                }
            }
        }
    };
    changes.push(Change::Payment(payment.clone()));
    Ok(Decision::new(Paid::Recorded(payment), changes))
}

/// What the acquirer records an answer to a routed payment on.
#[derive(Debug, Clone)]
pub struct AnswerState {
    pub payment: Option<AcquiredPayment>,
    /// The grant record of the payment's relationship.
    pub relationship: Option<Relationship>,
    /// The region the payee's lines belong to.
    pub region: RegionCode,
}

/// The acquirer records the donor's node's answer to a pending payment. A
/// payment decided meanwhile (or reversed) keeps its outcome: a late answer
/// changes nothing.
pub fn decide_payment_answer(
    state: AnswerState,
    id: &Id,
    answer: &HubAnswer,
    now: i64,
) -> Result<Decision<Answered<AcquiredPayment>>, Refusal> {
    let Some(mut payment) = state.payment else {
        return Err(Refusal::vanished("payment", id));
    };
    let Some(route) = payment.route.clone().filter(|_| payment.is_pending()) else {
        return Ok(Decision::unchanged(Answered::Recorded(payment)));
    };
    let mut changes = Vec::new();
    match answer {
        HubAnswer::Approved(period) => {
            let mut relationship = state.relationship;
            changes.extend(acquired_approval(&route, *period, &mut relationship, state.region, now)?);
            payment.approve(Some(*period), now);
        }
        HubAnswer::Declined(period, decline) => payment.decline(*period, decline.clone(), now),
        HubAnswer::Taken(why) => {
            // Another node's payment holds the id: this one was never
            // routed, so it leaves no trace here either.
            return Ok(Decision::new(
                Answered::Taken(why.clone()),
                vec![Change::PaymentForgotten(id.clone()), Change::Done(PendingKind::Payment, id.clone())],
            ));
        }
    }
    changes.push(Change::Payment(payment.clone()));
    changes.push(Change::Done(PendingKind::Payment, id.clone()));
    Ok(Decision::new(Answered::Recorded(payment), changes))
}

/// The acquirer's books for an approved cross-province payment: the donor's
/// province owes what this node owes the payee, and the grant record counts
/// the use (`relationship` is left as it then stands).
pub fn acquired_approval(
    route: &CrossPayment,
    period: Period,
    relationship: &mut Option<Relationship>,
    region: RegionCode,
    now: i64,
) -> Result<Vec<Change>, Refusal> {
    let mut changes = match relationship {
        Some(relationship) => count_use(relationship, &route.payment_id, route.amount, now)?,
        None => Vec::new(),
    };
    let line = CrossLine::new(
        period,
        TxKind::Payment,
        &route.payment_id,
        route.donor_province,
        Direction::Receivable,
        route.amount,
        region,
    );
    changes.push(Change::Cross {
        line,
        other: Book::Payee(route.payee.clone()),
        memo: "cross-province payment",
    });
    Ok(changes)
}

/// What the donor's node decides a routed payment on.
#[derive(Debug, Clone)]
pub struct DebitState {
    pub here: ProvinceCode,
    pub recorded: Option<IssuedDebit>,
    pub relationship: Option<Relationship>,
    pub donor: Option<Person>,
}

/// The issuer's decision on a cross-province payment routed by the hub:
/// approve by debiting the quota (never beyond what remains), or decline.
/// Idempotent by payment id; a reversed id is always declined.
pub fn decide_debit(state: DebitState, payment: &CrossPayment, period: Period, now: i64) -> Result<Decision<IssuedDebit>, Refusal> {
    if let Some(recorded) = state.recorded {
        let same = recorded.payment == *payment && (recorded.period == period || recorded.status == TxStatus::Reversed);
        if !same {
            return Err(Refusal::reused("payment", &payment.payment_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let relationship = state.relationship.filter(|r| {
        r.owned_by(state.here)
            && r.grant.donor_id == payment.donor_id
            && r.grant.beneficiary_id == payment.beneficiary_id
            && r.grant.beneficiary_province == payment.beneficiary_province
    });
    let decision = match &relationship {
        None => Err(Decline::new(
            DeclineReason::RelationshipNotFound,
            format!(
                "relationship {} from donor {} to beneficiary {} is not known here",
                payment.relationship_id, payment.donor_id, payment.beneficiary_id
            ),
        )),
        Some(relationship) => check_spend(relationship, state.donor.as_ref(), payment.amount),
    };
    let mut changes = Vec::new();
    if let (Ok(()), Some(mut relationship)) = (&decision, relationship) {
        let line = CrossLine::new(
            period,
            TxKind::Payment,
            &payment.payment_id,
            payment.beneficiary_province,
            Direction::Payable,
            payment.amount,
            region_of(state.donor.as_ref(), state.here),
        );
        changes.push(Change::Cross {
            line,
            other: Book::Quota(relationship.id().clone()),
            memo: "cross-province payment",
        });
        changes.extend(count_use(&mut relationship, &payment.payment_id, payment.amount, now)?);
    }
    let debit = IssuedDebit::decided(payment.clone(), period, decision, now);
    changes.push(Change::Debit(debit.clone()));
    Ok(Decision::new(debit, changes))
}

#[cfg(test)]
mod institution_tests {
    use super::*;

    #[test]
    fn care_is_paid_at_medical_institutions_and_medicine_at_pharmacies() {
        let hospital = Payee::Institution(InstitutionCode::parse("i", "H32010000001").unwrap());
        let pharmacy = Payee::Institution(InstitutionCode::parse("i", "P32010000002").unwrap());
        for (payee, purpose, served) in [
            (&hospital, Purpose::Outpatient, true),
            (&hospital, Purpose::Inpatient, true),
            (&hospital, Purpose::Pharmacy, false),
            (&pharmacy, Purpose::Pharmacy, true),
            (&pharmacy, Purpose::Outpatient, false),
            (&pharmacy, Purpose::Inpatient, false),
        ] {
            let checked = check_institution(payee, purpose);
            assert_eq!(checked.is_ok(), served, "{payee:?} {purpose:?}");
            if let Err(decline) = checked {
                assert_eq!(decline.reason, DeclineReason::WrongInstitutionKind);
            }
        }
    }
}
