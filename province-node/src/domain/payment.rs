//! Mutual-aid payments: the acquirer's record (the beneficiary's node, where
//! the institution is paid) and the issuer's record (the donor's node, which
//! decides a cross-province payment).

use gongji_common::{
    contract::{CrossPayment, Decline, DeclineReason, Payee, Purpose, TxStatus},
    Id, InstitutionCode, InstitutionKind, Money, Period, ProvinceCode,
};
use serde::{Deserialize, Serialize};

use super::Relationship;

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
