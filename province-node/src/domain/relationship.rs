//! Mutual-aid relationships (共济关系) and their quotas.

use gongji_common::{
    contract::{Decline, DeclineReason, EndReason, Grant},
    Id, Money, ProvinceCode,
};
use serde::{Deserialize, Serialize};

use super::Person;

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
