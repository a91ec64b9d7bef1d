//! Insured persons and their personal-account contributions.

use gongji_common::{contract::EndReason, pending::PendingKind, FieldError, Id, Money, ProvinceCode, RegionCode};
use serde::{Deserialize, Serialize};

use super::{end, follow, Book, Change, Decision, Held, Move, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceType {
    /// Employee insurance: has a personal account and may be a donor.
    Employee,
    /// Resident insurance: no personal account; a beneficiary only.
    Resident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonStatus {
    Active,
    Transferred,
    Terminated,
}

/// An insured person of this province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: Id,
    pub name: String,
    pub insurance: InsuranceType,
    pub region: RegionCode,
    pub status: PersonStatus,
    pub registered_at: i64,
    /// Where the person's insurance moved, once a transfer out completed:
    /// money that reaches their account here afterwards is sent after them.
    #[serde(default)]
    pub moved_to: Option<RegionCode>,
}

impl Person {
    pub fn is_active(&self) -> bool {
        self.status == PersonStatus::Active
    }

    pub fn has_personal_account(&self) -> bool {
        self.insurance == InsuranceType::Employee
    }

    /// True when registering `command` again would change nothing.
    pub fn matches(&self, command: &RegisterCommand) -> bool {
        self.id == command.id
            && self.name == command.name
            && self.insurance == command.insurance
            && self.region == command.region
            && self.status == command.status
    }
}

/// A validated registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterCommand {
    pub id: Id,
    pub name: String,
    pub insurance: InsuranceType,
    pub region: RegionCode,
    pub status: PersonStatus,
}

impl RegisterCommand {
    /// Checks a person's name: present, printable, of reasonable length.
    pub fn check_name(field: &str, name: &str) -> Result<String, FieldError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(FieldError::new(field, "is required"));
        }
        if name.chars().count() > 100 {
            return Err(FieldError::new(field, "is longer than 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(field, "contains control characters"));
        }
        Ok(name.to_owned())
    }

    /// A person is registered in the province of their pooling region only.
    pub fn check_province(&self, field: &str, province: ProvinceCode) -> Result<(), FieldError> {
        if self.region.province() == province {
            Ok(())
        } else {
            Err(FieldError::new(
                field,
                format!(
                    "{} is a pooling region of province {}; this node serves province {province}",
                    self.region,
                    self.region.province()
                ),
            ))
        }
    }

    pub fn into_person(self, now: i64) -> Person {
        Person {
            id: self.id,
            name: self.name,
            insurance: self.insurance,
            region: self.region,
            status: self.status,
            registered_at: now,
            moved_to: None,
        }
    }
}

/// A validated contribution credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditCommand {
    pub contribution_id: Id,
    pub person_id: Id,
    pub amount: Money,
}

/// A recorded contribution; its id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    pub command: CreditCommand,
    pub credited_at: i64,
}

/// The pooling region a person's cross-province lines belong to (the
/// province level if the person is not insured here, which a booked line
/// never meets).
pub fn region_of(person: Option<&Person>, here: ProvinceCode) -> RegionCode {
    person.map_or_else(|| RegionCode::of_province(here), |p| p.region)
}

/// The region a payee's lines belong to: an institution's own, or the
/// beneficiary's for a fund.
pub fn payee_region(payee: &gongji_common::contract::Payee, beneficiary: Option<&Person>, here: ProvinceCode) -> RegionCode {
    match payee {
        gongji_common::contract::Payee::Institution(code) => code.region(),
        gongji_common::contract::Payee::Fund(_) => region_of(beneficiary, here),
    }
}

/// What registering one person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    Unchanged,
}

/// Registers a person; the same registration again changes nothing, other
/// details under the same id are refused.
pub fn decide_register(
    recorded: Option<Person>,
    command: &RegisterCommand,
    now: i64,
) -> Result<Decision<(Person, ImportOutcome)>, Refusal> {
    if let Some(recorded) = recorded {
        if !recorded.matches(command) {
            return Err(Refusal::AlreadyExists(format!(
                "person {} is already registered with different details",
                command.id
            )));
        }
        return Ok(Decision::unchanged((recorded, ImportOutcome::Unchanged)));
    }
    let person = command.clone().into_person(now);
    Ok(Decision::new(
        (person.clone(), ImportOutcome::Imported),
        vec![Change::Person(person)],
    ))
}

/// Only an active employee has a personal account to credit or give from.
pub fn check_account_holder(person: &Person) -> Result<(), Refusal> {
    if !person.has_personal_account() {
        return Err(Refusal::FailedPrecondition(format!(
            "person {} holds resident insurance and has no personal account",
            person.id
        )));
    }
    if !person.is_active() {
        return Err(Refusal::FailedPrecondition(format!(
            "person {} is not an active insured person",
            person.id
        )));
    }
    Ok(())
}

/// Credits a contribution into an employee's personal account, once per
/// contribution id.
pub fn decide_credit(
    recorded: Option<Contribution>,
    person: Option<Person>,
    command: &CreditCommand,
    now: i64,
) -> Result<Decision<Contribution>, Refusal> {
    if let Some(recorded) = recorded {
        if recorded.command != *command {
            return Err(Refusal::reused("contribution", &command.contribution_id));
        }
        return Ok(Decision::unchanged(recorded));
    }
    let Some(person) = person else {
        return Err(Refusal::not_found("person", &command.person_id));
    };
    check_account_holder(&person)?;
    let contribution = Contribution {
        command: command.clone(),
        credited_at: now,
    };
    Ok(Decision::new(
        contribution.clone(),
        vec![
            Change::Move(Move::new(
                &command.contribution_id,
                "contribution",
                Book::Contributions,
                Book::Available(person.id),
                command.amount,
            )),
            Change::Contribution(contribution),
        ],
    ))
}

/// Terminates a person's insurance; their relationships then end in a
/// cascade. Terminating a terminated person changes nothing.
pub fn decide_terminate(person: Option<Person>, id: &Id) -> Result<Decision<Person>, Refusal> {
    let Some(mut person) = person else {
        return Err(Refusal::not_found("person", id));
    };
    match person.status {
        PersonStatus::Terminated => return Ok(Decision::unchanged(person)),
        PersonStatus::Transferred => {
            return Err(Refusal::FailedPrecondition(format!(
                "person {id} was transferred to another province; their insurance there is not this node's"
            )))
        }
        PersonStatus::Active => {}
    }
    person.status = PersonStatus::Terminated;
    Ok(Decision::new(
        person.clone(),
        vec![Change::Person(person), Change::Pending(PendingKind::Cascade, id.clone())],
    ))
}

/// What ending a person's relationships is decided on.
#[derive(Debug, Clone)]
pub struct CascadeState {
    pub here: ProvinceCode,
    pub person: Option<Person>,
    /// Their relationships, as donor and as beneficiary.
    pub relationships: Vec<Held>,
    /// Their available balance.
    pub available: Money,
    /// Whether returned quotas were already sent after them.
    pub forwarded: bool,
}

/// The reference of the quotas returned to a person who moved away.
pub fn quotas_reference(person: &Id) -> String {
    format!("quotas/{person}")
}

/// Ends every live relationship of a person whose insurance ended or moved,
/// on both sides (see [`super::end`]); the quotas returned to a person who
/// moved away follow them. Returns how many ended.
pub fn decide_cascade(state: CascadeState, person_id: &Id, now: i64) -> Result<Decision<usize>, Refusal> {
    let Some(person) = state.person else {
        return Err(Refusal::not_found("person", person_id));
    };
    let reasons = match person.status {
        PersonStatus::Terminated => Some((EndReason::DonorTerminated, EndReason::BeneficiaryTerminated)),
        PersonStatus::Transferred => Some((EndReason::DonorTransferred, EndReason::BeneficiaryTransferred)),
        PersonStatus::Active => None,
    };
    let mut changes = Vec::new();
    let mut ended = 0;
    let mut returned = state.available;
    if let Some((as_donor, as_beneficiary)) = reasons {
        for held in state.relationships.into_iter().filter(|h| h.relationship.is_live()) {
            let donor = held.relationship.grant.donor_id == *person_id;
            if donor && held.relationship.owned_by(state.here) {
                returned = returned.checked_add(held.quota_left)?;
            }
            let reason = if donor { as_donor } else { as_beneficiary };
            changes.extend(end(held, reason, state.here, now).1);
            ended += 1;
        }
    }
    if let (PersonStatus::Transferred, Some(_)) = (person.status, person.moved_to) {
        if !returned.is_zero() {
            let reference = quotas_reference(person_id);
            changes.extend(follow(Some(&person), state.forwarded, returned, &reference, now).unwrap_or_default());
        }
    }
    changes.push(Change::Done(PendingKind::Cascade, person_id.clone()));
    Ok(Decision::new(ended, changes))
}
