//! Mutual-aid relationships (共济关系) and their quotas.

use gongji_common::{
    contract::{Decline, DeclineReason, EndReason, Grant, NoticeBody},
    pending::PendingKind,
    Id, Money, ProvinceCode,
};
use serde::{Deserialize, Serialize};

use super::{Book, Change, Decision, Event, EventKind, Move, Person, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipStatus {
    Pending,
    Active,
    Declined,
    Dissolved,
}

impl RelationshipStatus {
    pub fn word(self) -> &'static str {
        match self {
            RelationshipStatus::Pending => "pending",
            RelationshipStatus::Active => "active",
            RelationshipStatus::Declined => "declined",
            RelationshipStatus::Dissolved => "dissolved",
        }
    }
}

/// A validated quota change at the donor's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaChangeCommand {
    pub change_id: Id,
    pub relationship_id: Id,
    pub quota: Money,
}

/// A recorded quota change; its id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaChangeRecord {
    pub command: QuotaChangeCommand,
    pub old_quota: Money,
    pub decline: Option<Decline>,
    pub at: i64,
}

/// A validated request to establish a relationship at the donor's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstablishCommand {
    pub grant: Grant,
}

/// A relationship as this node knows it: the owner's record at the donor's
/// node, a grant record at the beneficiary's (both, for one record, when the
/// two are insured in the same province).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub grant: Grant,
    /// The current quota.
    pub quota: Money,
    /// What approved payments have used of it.
    pub used: Money,
    pub status: RelationshipStatus,
    pub decline: Option<Decline>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The donor node's version: bumped on every change of quota or status
    /// there, so the beneficiary's node can ignore notices that arrive late.
    #[serde(default)]
    pub version: u64,
    /// Why and when it ended, once dissolved.
    #[serde(default)]
    pub end: Option<End>,
}

/// The end of a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub reason: EndReason,
    pub at: i64,
}

impl Relationship {
    pub fn new(grant: Grant, status: RelationshipStatus, decline: Option<Decline>, now: i64) -> Relationship {
        Relationship {
            quota: grant.quota,
            used: Money::ZERO,
            grant,
            status,
            decline,
            created_at: now,
            updated_at: now,
            version: 0,
            end: None,
        }
    }

    /// Pending or active: it holds a quota and can still end.
    pub fn is_live(&self) -> bool {
        matches!(self.status, RelationshipStatus::Pending | RelationshipStatus::Active)
    }

    /// Ends it for `reason`.
    pub fn dissolve(&mut self, reason: EndReason, now: i64) {
        self.status = RelationshipStatus::Dissolved;
        self.end = Some(End { reason, at: now });
        self.updated_at = now;
        self.version += 1;
    }

    /// Records a refund or reversal of `amount` that returns to the quota.
    pub fn return_quota(&mut self, amount: Money, now: i64) -> Result<(), gongji_common::money::Overflow> {
        let used = self.used.checked_sub(amount)?;
        if used.is_negative() {
            // More coming back than was ever used: a broken caller, never input.
            return Err(gongji_common::money::Overflow);
        }
        self.used = used;
        self.updated_at = now;
        Ok(())
    }

    /// The party who is `person` in this relationship, if any.
    pub fn party_of(&self, person: &Id) -> Option<gongji_common::contract::Party> {
        use gongji_common::contract::Party;
        if &self.grant.donor_id == person {
            Some(Party::Donor)
        } else if &self.grant.beneficiary_id == person {
            Some(Party::Beneficiary)
        } else {
            None
        }
    }

    pub fn id(&self) -> &Id {
        &self.grant.relationship_id
    }

    /// What the beneficiary can still spend: nothing once it has ended.
    pub fn remaining(&self) -> Money {
        match self.status {
            RelationshipStatus::Pending | RelationshipStatus::Active => self.quota.checked_sub(self.used).unwrap_or(Money::ZERO),
            RelationshipStatus::Declined | RelationshipStatus::Dissolved => Money::ZERO,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == RelationshipStatus::Active
    }

    /// The donor's node owns the relationship and its frozen quota.
    pub fn owned_by(&self, province: ProvinceCode) -> bool {
        self.grant.donor_province == province
    }

    pub fn is_cross_province(&self) -> bool {
        self.grant.donor_province != self.grant.beneficiary_province
    }

    /// Moves to a new status, stamping the time.
    pub fn set_status(&mut self, status: RelationshipStatus, decline: Option<Decline>, now: i64) {
        self.status = status;
        self.decline = decline;
        self.updated_at = now;
    }

    /// Records an approved payment of `amount` against the quota.
    pub fn use_quota(&mut self, amount: Money, now: i64) -> Result<(), gongji_common::money::Overflow> {
        self.used = self.used.checked_add(amount)?;
        self.updated_at = now;
        Ok(())
    }
}

/// Checks a new quota for a live relationship: raising needs `available`,
/// lowering must not go below what is used. Returns the amount to freeze
/// (positive) or release (negative).
pub fn check_quota_change(relationship: &Relationship, new_quota: Money, available: Money) -> Result<Money, Decline> {
    if !relationship.is_active() {
        return Err(Decline::new(
            DeclineReason::RelationshipNotActive,
            format!("relationship {} is {}", relationship.id(), relationship.status.word()),
        ));
    }
    let delta = new_quota
        .checked_sub(relationship.quota)
        .map_err(|e| Decline::new(DeclineReason::RefusedByPeer, e.to_string()))?;
    if !delta.is_negative() && delta > available {
        return Err(Decline::new(
            DeclineReason::InsufficientBalance,
            format!("raising the quota by {delta} needs more than the available balance {available}"),
        ));
    }
    if new_quota < relationship.used {
        return Err(Decline::new(
            DeclineReason::QuotaBelowUsed,
            format!("payments already used {} of the quota; it cannot go below that", relationship.used),
        ));
    }
    Ok(delta)
}

/// The donor-side checks of a new relationship: may this donor freeze this
/// quota? `available` is the donor's available balance; `existing` says
/// whether a live relationship already joins the two.
pub fn check_donor(donor: &Person, available: Money, quota: Money, existing: Option<&Id>) -> Result<(), Decline> {
    if !donor.has_personal_account() {
        return Err(Decline::new(
            DeclineReason::NoPersonalAccount,
            format!("donor {} holds resident insurance and has no personal account", donor.id),
        ));
    }
    if !donor.is_active() {
        return Err(Decline::new(
            DeclineReason::PersonNotActive,
            format!("donor {} is not an active insured person", donor.id),
        ));
    }
    if let Some(existing) = existing {
        return Err(Decline::new(
            DeclineReason::RelationshipExists,
            format!("relationship {existing} already joins these two; change its quota instead"),
        ));
    }
    if available < quota {
        return Err(Decline::new(
            DeclineReason::InsufficientBalance,
            format!("available balance {available} is less than the quota {quota}"),
        ));
    }
    Ok(())
}

/// The beneficiary-side check: is the beneficiary an active insured person
/// of `province` (this node's)?
pub fn check_beneficiary(beneficiary: Option<&Person>, id: &Id, province: gongji_common::ProvinceCode) -> Result<(), Decline> {
    match beneficiary {
        None => Err(Decline::new(
            DeclineReason::PersonNotFound,
            format!("beneficiary {id} is not insured in province {province}"),
        )),
        Some(person) if !person.is_active() => Err(Decline::new(
            DeclineReason::PersonNotActive,
            format!("beneficiary {id} is not an active insured person of province {province}"),
        )),
        Some(_) => Ok(()),
    }
}

/// The issuer's decision on spending `amount` from a relationship: the
/// donor's node never approves more than the remaining quota.
pub fn check_spend(relationship: &Relationship, donor: Option<&Person>, amount: gongji_common::Money) -> Result<(), Decline> {
    if !relationship.is_active() {
        return Err(Decline::new(
            DeclineReason::RelationshipNotActive,
            format!("relationship {} is {}", relationship.id(), relationship.status.word()),
        ));
    }
    if !donor.is_some_and(Person::is_active) {
        return Err(Decline::new(
            DeclineReason::PersonNotActive,
            format!("donor {} is not an active insured person", relationship.grant.donor_id),
        ));
    }
    let remaining = relationship.remaining();
    if remaining < amount {
        return Err(Decline::new(
            DeclineReason::InsufficientQuota,
            format!(
                "remaining quota {remaining} of relationship {} is less than {amount}",
                relationship.id()
            ),
        ));
    }
    Ok(())
}

/// What the donor's node decides a new relationship on.
#[derive(Debug, Clone)]
pub struct EstablishState {
    pub recorded: Option<Relationship>,
    pub donor: Option<Person>,
    /// The donor's available balance.
    pub available: Money,
    /// The live relationship that already joins the two, if any.
    pub live_pair: Option<Id>,
    /// The beneficiary, when insured here too.
    pub beneficiary: Option<Person>,
}

/// The donor's node decides a relationship: declined (recorded with its
/// reason), or established with the quota frozen out of the donor's
/// available balance at once; active at once within the province, pending
/// the beneficiary's node's answer across provinces. Idempotent by id.
pub fn decide_establish(state: EstablishState, grant: &Grant, now: i64) -> Result<Decision<Relationship>, Refusal> {
    let id = &grant.relationship_id;
    if let Some(recorded) = state.recorded {
        if recorded.grant != *grant {
            return Err(Refusal::reused("relationship", id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let Some(donor) = &state.donor else {
        return Err(Refusal::not_found("person", &grant.donor_id));
    };
    let crosses = grant.donor_province != grant.beneficiary_province;
    let mut decision = check_donor(donor, state.available, grant.quota, state.live_pair.as_ref());
    if decision.is_ok() && !crosses {
        decision = check_beneficiary(state.beneficiary.as_ref(), &grant.beneficiary_id, grant.donor_province);
    }
    let mut changes = Vec::new();
    let relationship = match decision {
        Err(decline) => {
            changes.push(Change::Event(id.clone(), Event::new(EventKind::Declined, &decline.message, now)));
            Relationship::new(grant.clone(), RelationshipStatus::Declined, Some(decline), now)
        }
        Ok(()) => {
            changes.push(Change::Move(Move::new(
                id,
                "quota frozen",
                Book::Available(donor.id.clone()),
                Book::Quota(id.clone()),
                grant.quota,
            )));
            changes.push(Change::LivePair {
                donor: grant.donor_id.clone(),
                beneficiary: grant.beneficiary_id.clone(),
                relationship: Some(id.clone()),
            });
            changes.push(Change::Event(
                id.clone(),
                Event::new(
                    EventKind::Established,
                    format!("{:?} of the donor; quota frozen", grant.kind).to_lowercase(),
                    now,
                )
                .amount(grant.quota),
            ));
            if crosses {
                changes.push(Change::Pending(PendingKind::Grant, id.clone()));
                Relationship::new(grant.clone(), RelationshipStatus::Pending, None, now)
            } else {
                changes.push(Change::BeneficiaryIndex {
                    beneficiary: grant.beneficiary_id.clone(),
                    relationship: id.clone(),
                });
                Relationship::new(grant.clone(), RelationshipStatus::Active, None, now)
            }
        }
    };
    changes.push(Change::DonorIndex {
        donor: grant.donor_id.clone(),
        relationship: id.clone(),
    });
    changes.push(Change::Relationship(relationship.clone()));
    Ok(Decision::new(relationship, changes))
}

/// A relationship owned here with the balance of its quota book.
#[derive(Debug, Clone)]
pub struct Held {
    pub relationship: Relationship,
    /// What is left of the frozen quota (owned relationships only).
    pub quota_left: Money,
}

/// The donor's node records the beneficiary's node's answer to a pending
/// grant: accepted, it becomes active; declined, the quota goes back to the
/// donor. A grant answered before (or ended) keeps its state.
pub fn decide_grant_answer(held: Option<Held>, id: &Id, answer: &Result<(), Decline>, now: i64) -> Result<Decision<Relationship>, Refusal> {
    let Some(Held {
        mut relationship,
        quota_left,
    }) = held
    else {
        return Err(Refusal::vanished("relationship", id));
    };
    if relationship.status != RelationshipStatus::Pending {
        return Ok(Decision::unchanged(relationship));
    }
    let mut changes = Vec::new();
    match answer {
        Ok(()) => {
            relationship.set_status(RelationshipStatus::Active, None, now);
            changes.push(Change::Event(
                id.clone(),
                Event::new(EventKind::GrantAccepted, "the beneficiary's province accepted the grant", now),
            ));
        }
        Err(decline) => {
            changes.push(Change::Move(Move::new(
                id,
                "quota released: grant declined",
                Book::Quota(id.clone()),
                Book::Available(relationship.grant.donor_id.clone()),
                quota_left,
            )));
            changes.push(Change::LivePair {
                donor: relationship.grant.donor_id.clone(),
                beneficiary: relationship.grant.beneficiary_id.clone(),
                relationship: None,
            });
            relationship.set_status(RelationshipStatus::Declined, Some(decline.clone()), now);
            changes.push(Change::Event(
                id.clone(),
                Event::new(EventKind::Declined, &decline.message, now).amount(quota_left),
            ));
        }
    }
    changes.push(Change::Relationship(relationship.clone()));
    changes.push(Change::Done(PendingKind::Grant, id.clone()));
    Ok(Decision::new(relationship, changes))
}

/// The beneficiary's node answers a cross-province grant: accepted if the
/// beneficiary is an active insured person of this province (`here`).
/// Idempotent by id: a repeat gets the recorded answer.
pub fn decide_grant_received(
    recorded: Option<Relationship>,
    beneficiary: Option<&Person>,
    grant: &Grant,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<Result<(), Decline>>, Refusal> {
    let id = &grant.relationship_id;
    if let Some(recorded) = recorded {
        if recorded.grant != *grant {
            return Err(Refusal::reused("relationship", id));
        }
        return Ok(Decision::unchanged(match recorded.decline {
            Some(decline) if recorded.status == RelationshipStatus::Declined => Err(decline),
            _ => Ok(()),
        }));
    }
    let answer = check_beneficiary(beneficiary, &grant.beneficiary_id, here);
    let mut changes = Vec::new();
    let relationship = match &answer {
        Ok(()) => {
            changes.push(Change::BeneficiaryIndex {
                beneficiary: grant.beneficiary_id.clone(),
                relationship: id.clone(),
            });
            changes.push(Change::Event(
                id.clone(),
                Event::new(
                    EventKind::GrantAccepted,
                    format!("granted by {} of province {}", grant.donor_id, grant.donor_province),
                    now,
                )
                .amount(grant.quota),
            ));
            Relationship::new(grant.clone(), RelationshipStatus::Active, None, now)
        }
        Err(decline) => {
            changes.push(Change::Event(id.clone(), Event::new(EventKind::Declined, &decline.message, now)));
            Relationship::new(grant.clone(), RelationshipStatus::Declined, Some(decline.clone()), now)
        }
    };
    changes.push(Change::Relationship(relationship));
    Ok(Decision::new(answer, changes))
}

/// Ends a live relationship at this node (`here`): the owner returns the
/// unused quota to the donor ("dissolution returns exactly the unused
/// quota") and tells the beneficiary's node; a grant record stops payments
/// at once and asks the donor's node to end it.
pub fn end(held: Held, reason: EndReason, here: ProvinceCode, now: i64) -> (Relationship, Vec<Change>) {
    let Held {
        mut relationship,
        quota_left,
    } = held;
    let id = relationship.id().clone();
    let grant = relationship.grant.clone();
    let mut changes = Vec::new();
    if relationship.owned_by(here) {
        changes.push(Change::Move(Move::new(
            &id,
            "quota returned: relationship ended",
            Book::Quota(id.clone()),
            Book::Available(grant.donor_id.clone()),
            quota_left,
        )));
        changes.push(Change::LivePair {
            donor: grant.donor_id.clone(),
            beneficiary: grant.beneficiary_id.clone(),
            relationship: None,
        });
        changes.push(Change::Done(PendingKind::Grant, id.clone()));
        relationship.dissolve(reason, now);
        changes.push(Change::Relationship(relationship.clone()));
        changes.push(Change::Event(
            id,
            Event::new(
                EventKind::Dissolved,
                format!("{}; unused quota returned to the donor", reason.describe()),
                now,
            )
            .amount(quota_left)
            .ended(reason),
        ));
        if relationship.is_cross_province() {
            changes.push(Change::Notice(
                grant.beneficiary_province,
                NoticeBody::RelationshipEnded {
                    grant,
                    reason,
                    quota: relationship.quota,
                    used: relationship.used,
                    version: relationship.version,
                },
            ));
        }
    } else {
        let version = relationship.version;
        relationship.dissolve(reason, now);
        // The version is the donor node's; only its notices move it.
        relationship.version = version;
        changes.push(Change::Relationship(relationship.clone()));
        changes.push(Change::Event(
            id.clone(),
            Event::new(
                EventKind::DissolutionRequested,
                format!("{}; payments stopped here", reason.describe()),
                now,
            )
            .ended(reason),
        ));
        changes.push(Change::Notice(
            grant.donor_province,
            NoticeBody::DissolutionRequested {
                relationship_id: id,
                reason,
            },
        ));
    }
    (relationship, changes)
}

/// A party asks to end a relationship at its own node: an ended one is
/// returned as it is.
pub fn decide_dissolve(
    held: Option<Held>,
    id: &Id,
    reason: EndReason,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<Relationship>, Refusal> {
    let Some(held) = held else {
        return Err(Refusal::vanished("relationship", id));
    };
    if !held.relationship.is_live() {
        return Ok(Decision::unchanged(held.relationship));
    }
    let (relationship, changes) = end(held, reason, here, now);
    Ok(Decision::new(relationship, changes))
}

/// What the donor's node changes a quota on.
#[derive(Debug, Clone)]
pub struct QuotaChangeState {
    pub recorded: Option<QuotaChangeRecord>,
    pub relationship: Option<Relationship>,
    /// The donor's available balance.
    pub available: Money,
}

/// The donor's node changes the quota of a relationship it owns: raising
/// freezes more of the available balance, lowering releases it, never
/// below what payments used; the beneficiary's node is told. A refused
/// change is recorded with its reason. Idempotent by change id.
pub fn decide_quota_change(
    state: QuotaChangeState,
    command: &QuotaChangeCommand,
    here: ProvinceCode,
    now: i64,
) -> Result<Decision<(QuotaChangeRecord, Relationship)>, Refusal> {
    let id = &command.relationship_id;
    if let Some(recorded) = state.recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("quota change", &command.change_id));
        }
        let relationship = state.relationship.ok_or_else(|| Refusal::vanished("relationship", id))?;
        return Ok(Decision::unchanged((recorded, relationship)));
    }
    let Some(mut relationship) = state.relationship else {
        return Err(Refusal::not_found("relationship", id));
    };
    if !relationship.owned_by(here) {
        return Err(Refusal::FailedPrecondition(format!(
            "relationship {id} is owned by the donor's node (province {}); change its quota there",
            relationship.grant.donor_province
        )));
    }
    let donor = relationship.grant.donor_id.clone();
    let old_quota = relationship.quota;
    let decision = check_quota_change(&relationship, command.quota, state.available);
    let mut changes = Vec::new();
    if let Ok(delta) = decision {
        let (from, to, amount) = if delta.is_negative() {
            (Book::Quota(id.clone()), Book::Available(donor), delta.negated())
        } else {
            (Book::Available(donor), Book::Quota(id.clone()), delta)
        };
        changes.push(Change::Move(Move::new(&command.change_id, "quota changed", from, to, amount)));
        relationship.quota = command.quota;
        relationship.version += 1;
        relationship.updated_at = now;
        changes.push(Change::Relationship(relationship.clone()));
        changes.push(quota_event(&relationship, old_quota, &command.change_id, now));
        if relationship.is_cross_province() {
            changes.push(Change::Notice(
                relationship.grant.beneficiary_province,
                NoticeBody::QuotaChanged {
                    relationship_id: id.clone(),
                    change_id: command.change_id.clone(),
                    quota: command.quota,
                    version: relationship.version,
                },
            ));
        }
    }
    let record = QuotaChangeRecord {
        command: command.clone(),
        old_quota,
        decline: decision.err(),
        at: now,
    };
    changes.push(Change::QuotaChange(record.clone()));
    Ok(Decision::new((record, relationship), changes))
}

/// The history entry of a quota change.
pub fn quota_event(relationship: &Relationship, old_quota: Money, change_id: &Id, now: i64) -> Change {
    Change::Event(
        relationship.id().clone(),
        Event::new(
            EventKind::QuotaChanged,
            format!("quota changed from {old_quota} to {}", relationship.quota),
            now,
        )
        .amount(relationship.quota)
        .reference(change_id),
    )
}
