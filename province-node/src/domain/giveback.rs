//! Money coming back from a payment (a refund, a reversal) and money that
//! reaches a person who has moved away.
//!
//! "Where money given back goes": to the relationship's quota while it is
//! active (what it used goes down), else to the donor's available balance;
//! and money that reaches the account of a person whose insurance moved to
//! another province is held and sent after them (a follow-up transfer).

use gongji_common::{contract::TxStatus, pending::PendingKind, Id, Money};

use super::{
    Book, Change, CrossLine, Event, EventKind, InsuranceType, Move, Person, PersonStatus, Refusal, Relationship, TransferCommand,
    TransferOut,
};

/// Where the money given back comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A book of this node (what it owes the payee).
    Local(Book),
    /// Another province: a cross-province line of this node.
    Cross(CrossLine),
}

/// What giving money back to a relationship's donor needs to know.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    /// The relationship the money came from, as it stands (if held here).
    pub relationship: Option<Relationship>,
    /// The donor, if insured here.
    pub donor: Option<Person>,
    /// Whether money of this cause was already sent after the donor.
    pub forwarded: bool,
}

/// The id of the follow-up transfer that sends money of cause `reference`
/// after a person who has moved away: one per cause.
pub fn forward_id(reference: &str) -> Id {
    Id::derived("fwd", reference)
}

/// Gives `amount` back to where a relationship's money came from (see the
/// module). `reference` names the cause, once per cause. Returns the
/// changes and how the money went, for history.
pub fn give_back(
    recipient: &Recipient,
    donor_id: &Id,
    amount: Money,
    from: Source,
    reference: &str,
    memo: &'static str,
    now: i64,
) -> Result<(Vec<Change>, &'static str), Refusal> {
    let mut changes = Vec::new();
    let (to, mut how) = match &recipient.relationship {
        Some(relationship) if relationship.is_active() => {
            let mut relationship = relationship.clone();
            relationship.return_quota(amount, now)?;
            let to = Book::Quota(relationship.id().clone());
            changes.push(Change::Relationship(relationship));
            (to, "returned to the quota")
        }
        _ => (
            Book::Available(donor_id.clone()),
            "returned to the donor's available balance (the relationship has ended)",
        ),
    };
    let to_donor = to == Book::Available(donor_id.clone());
    changes.push(match from {
        Source::Local(from) => Change::Move(Move::new(reference, memo, from, to, amount)),
        Source::Cross(line) => Change::Cross { line, other: to, memo },
    });
    if to_donor && !amount.is_zero() {
        let followed = follow(recipient.donor.as_ref(), recipient.forwarded, amount, reference, now);
        if let Some(followed) = followed {
            changes.extend(followed);
            how = "returned to the donor, and sent on to the province they moved to";
        }
    }
    Ok((changes, how))
}

/// Money just credited to the account of `person`: if they have moved away,
/// it is held and sent after them as a follow-up transfer (finished by the
/// recovery pass), once per cause `reference` (`forwarded`: already sent).
/// `None` when they have not moved.
pub fn follow(person: Option<&Person>, forwarded: bool, amount: Money, reference: &str, now: i64) -> Option<Vec<Change>> {
    let person = person?;
    let (PersonStatus::Transferred, Some(region)) = (person.status, person.moved_to) else {
        return None;
    };
    if forwarded {
        return Some(Vec::new());
    }
    let id = forward_id(reference);
    let record = TransferOut {
        command: TransferCommand {
            transfer_id: id.clone(),
            person_id: person.id.clone(),
            to_region: region,
        },
        name: person.name.clone(),
        employee: person.insurance == InsuranceType::Employee,
        amount: Some(amount),
        period: None,
        status: TxStatus::Pending,
        decline: None,
        created_at: now,
        decided_at: None,
        follow_up: true,
    };
    Some(vec![
        Change::Move(Move::new(
            &id,
            "held to follow a transferred person",
            Book::Available(person.id.clone()),
            Book::Transit(id.clone()),
            amount,
        )),
        Change::TransferOut(record),
        Change::Pending(PendingKind::Transfer, id),
    ])
}

/// An approved payment of `amount` counted against `relationship` (which
/// the caller goes on with), with its history entry.
pub fn count_use(relationship: &mut Relationship, payment_id: &Id, amount: Money, now: i64) -> Result<Vec<Change>, Refusal> {
    relationship.use_quota(amount, now)?;
    let id = relationship.id().clone();
    Ok(vec![
        Change::Relationship(relationship.clone()),
        Change::Event(
            id,
            Event::new(EventKind::Payment, "payment approved", now)
                .amount(amount)
                .reference(payment_id),
        ),
    ])
}

/// Money that came back to a live relationship's quota through the donor's
/// province: the grant record here mirrors it (what it used goes down).
pub fn mirror_return(relationship: Option<&Relationship>, amount: Money, now: i64) -> Result<Option<Change>, Refusal> {
    match relationship {
        Some(relationship) if relationship.is_active() => {
            let mut relationship = relationship.clone();
            relationship.return_quota(amount, now)?;
            Ok(Some(Change::Relationship(relationship)))
        }
        _ => Ok(None),
    }
}
