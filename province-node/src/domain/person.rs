//! Insured persons and their personal-account contributions.

use gongji_common::{FieldError, Id, Money, ProvinceCode, RegionCode};
use serde::{Deserialize, Serialize};

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
