//! The node's trees and key layouts, in one place. Keys are built from
//! parts with `gongji_common::store::key`; index trees map a key to `null`.
//!
//! | tree                  | key                               | value            |
//! |-----------------------|-----------------------------------|------------------|
//! | `persons`             | person id                         | `Person`         |
//! | `contributions`       | contribution id                   | `Contribution`   |
//! | `relationships`       | relationship id                   | `Relationship`   |
//! | `rels_by_donor`       | donor id ␟ relationship id        | null (local donors) |
//! | `rels_by_beneficiary` | beneficiary id ␟ relationship id  | null (local beneficiaries) |
//! | `live_pairs`          | donor id ␟ beneficiary id         | relationship id (pending or active, local donors) |
//! | `payments`            | payment id                        | `AcquiredPayment` (served here) |
//! | `debits`              | payment id                        | `IssuedDebit` (decided here) |
//! | `pending`             | kind ␟ id                         | null: transactions awaiting another node |
//!
//! Plus the shared `journal` and `balances` trees; accounts used here:
//! `available/PERSON`, `quota/RELATIONSHIP`, `contributions/`,
//! `institution/CODE`, `province/CODE/YYYY-MM`.

use gongji_common::{
    store::{key, key_prefix, Account, AccountKind, TreeId},
    Id, Period, ProvinceCode,
};

pub const TREES: &[&str] = &[
    "persons",
    "contributions",
    "relationships",
    "rels_by_donor",
    "rels_by_beneficiary",
    "live_pairs",
    "payments",
    "debits",
    "pending",
];
pub const PERSONS: TreeId = TreeId::app(0);
pub const CONTRIBUTIONS: TreeId = TreeId::app(1);
pub const RELATIONSHIPS: TreeId = TreeId::app(2);
pub const RELS_BY_DONOR: TreeId = TreeId::app(3);
pub const RELS_BY_BENEFICIARY: TreeId = TreeId::app(4);
pub const LIVE_PAIRS: TreeId = TreeId::app(5);
pub const PAYMENTS: TreeId = TreeId::app(6);
pub const DEBITS: TreeId = TreeId::app(7);
pub const PENDING: TreeId = TreeId::app(8);

pub fn pair_key(a: &Id, b: &Id) -> Vec<u8> {
    key(&[a.as_bytes(), b.as_bytes()])
}

pub fn person_prefix(person: &Id) -> Vec<u8> {
    key_prefix(&[person.as_bytes()])
}

pub fn available(person: &Id) -> Account {
    Account::new(AccountKind::Available, person.as_str())
}

pub fn quota(relationship: &Id) -> Account {
    Account::new(AccountKind::Quota, relationship.as_str())
}

pub fn contributions() -> Account {
    Account::new(AccountKind::Contributions, "")
}

pub fn institution(code: &gongji_common::InstitutionCode) -> Account {
    Account::new(AccountKind::Institution, code.as_str())
}

/// What this node owes `province` for `period` (negative: what it is owed).
pub fn province(province: ProvinceCode, period: Period) -> Account {
    Account::new(AccountKind::Province, format!("{province}/{period}"))
}
