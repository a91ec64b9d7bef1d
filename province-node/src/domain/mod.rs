//! The rules of a province node, without I/O: what an insured person, a
//! relationship and a payment are, which commands exist (validated once at the
//! edge, so they cannot be invalid), and how a node decides. Storage and
//! transport call into this module; it calls neither.

mod payment;
mod person;
mod relationship;

pub use gongji_common::contract::{CrossPayment, Decline, DeclineReason, Grant, Purpose, RelationKind, TxStatus};
pub use payment::{choose_relationship, route, AcquiredPayment, IssuedDebit, PayCommand};
pub use person::{Contribution, CreditCommand, InsuranceType, Person, PersonStatus, RegisterCommand};
pub use relationship::{check_beneficiary, check_donor, check_spend, EstablishCommand, Relationship, RelationshipStatus};
