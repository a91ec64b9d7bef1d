//! The rules of a province node, without I/O: what an insured person, a
//! relationship, a payment, a refund and a transfer are, which commands exist
//! (validated once at the edge, so they cannot be invalid), and how a node
//! decides. Storage and transport call into this module; it calls neither.

mod event;
mod payment;
mod person;
mod refund;
mod relationship;
mod transfer;

pub use event::{Event, EventKind};
pub use gongji_common::contract::{
    CrossPayment, CrossRefund, CrossTransfer, Decline, DeclineReason, EndReason, Fund, Grant, Party, Payee, Purpose, RelationKind, TxStatus,
};
pub use payment::{
    check_institution, choose_relationship, may_touch, route, AcquiredPayment, IssuedDebit, PayCommand, Reversal, Tombstone,
};
pub use person::{Contribution, CreditCommand, InsuranceType, Person, PersonStatus, RegisterCommand};
pub use refund::{RefundCommand, RefundRecord};
pub use relationship::{
    check_beneficiary, check_donor, check_quota_change, check_spend, End, EstablishCommand, QuotaChangeCommand, QuotaChangeRecord,
    Relationship, RelationshipStatus,
};
pub use transfer::{TransferCommand, TransferIn, TransferOut};
