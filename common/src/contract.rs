//! The domain form of what crosses between nodes: grants, cross-province
//! payments and their outcomes, with the one conversion to and from the wire.
//! The hub and the nodes both speak these types, so a decline reason or a
//! purpose means the same thing everywhere.

use gongji_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::{FieldError, Id, InstitutionCode, Money, ProvinceCode};

/// The outcome of a transaction at the node that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    Pending,
    Approved,
    Declined,
}

/// Why a transaction or relationship was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    InsufficientQuota,
    RelationshipNotActive,
    RelationshipNotFound,
    NoRelationship,
    PersonNotActive,
    PersonNotFound,
    InsufficientBalance,
    NoPersonalAccount,
    RelationshipExists,
    ProvinceNotConnected,
    RefusedByPeer,
}

/// A business refusal: a definite outcome recorded under the transaction's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    pub reason: DeclineReason,
    pub message: String,
}

impl Decline {
    pub fn new(reason: DeclineReason, message: impl Into<String>) -> Decline {
        Decline {
            reason,
            message: message.into(),
        }
    }
}

/// What the beneficiary is to the donor: the close relatives of Civil Code
/// art. 1045.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    Spouse,
    Parent,
    Child,
    Sibling,
    PaternalGrandparent,
    MaternalGrandparent,
    PaternalGrandchild,
    MaternalGrandchild,
}

/// What a payment pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Outpatient,
    Inpatient,
    Pharmacy,
}

/// What a relationship was established with. It never changes, and a
/// repeated request or notice is compared with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub relationship_id: Id,
    pub donor_id: Id,
    pub donor_province: ProvinceCode,
    pub beneficiary_id: Id,
    pub beneficiary_province: ProvinceCode,
    pub kind: RelationKind,
    pub quota: Money,
}

/// A payment routed from the beneficiary's node to the donor's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossPayment {
    pub payment_id: Id,
    pub relationship_id: Id,
    pub donor_id: Id,
    pub donor_province: ProvinceCode,
    pub beneficiary_id: Id,
    pub beneficiary_province: ProvinceCode,
    pub institution: InstitutionCode,
    pub amount: Money,
    pub purpose: Purpose,
}

impl CrossPayment {
    pub fn is_cross_province(&self) -> bool {
        self.donor_province != self.beneficiary_province
    }
}

fn enum_error(field: &str, value: i32) -> FieldError {
    if value == 0 {
        FieldError::new(field, "is required")
    } else {
        FieldError::new(field, format!("{value} is not a known value"))
    }
}

impl TxStatus {
    pub fn from_pb(value: i32) -> Option<TxStatus> {
        match pb::TransactionStatus::try_from(value) {
            Ok(pb::TransactionStatus::Pending) => Some(TxStatus::Pending),
            Ok(pb::TransactionStatus::Approved) => Some(TxStatus::Approved),
            Ok(pb::TransactionStatus::Declined) => Some(TxStatus::Declined),
            _ => None,
        }
    }

    pub fn to_pb(self) -> pb::TransactionStatus {
        match self {
            TxStatus::Pending => pb::TransactionStatus::Pending,
            TxStatus::Approved => pb::TransactionStatus::Approved,
            TxStatus::Declined => pb::TransactionStatus::Declined,
        }
    }
}

impl DeclineReason {
    /// Reads a reason from the wire; an unknown or missing one is a refusal
    /// by the peer (a newer peer may know reasons this one does not).
    pub fn from_pb(value: i32) -> DeclineReason {
        use pb::DeclineReason as R;
        match R::try_from(value) {
            Ok(R::InsufficientQuota) => DeclineReason::InsufficientQuota,
            Ok(R::RelationshipNotActive) => DeclineReason::RelationshipNotActive,
            Ok(R::RelationshipNotFound) => DeclineReason::RelationshipNotFound,
            Ok(R::NoRelationship) => DeclineReason::NoRelationship,
            Ok(R::PersonNotActive) => DeclineReason::PersonNotActive,
            Ok(R::PersonNotFound) => DeclineReason::PersonNotFound,
            Ok(R::InsufficientBalance) => DeclineReason::InsufficientBalance,
            Ok(R::NoPersonalAccount) => DeclineReason::NoPersonalAccount,
            Ok(R::RelationshipExists) => DeclineReason::RelationshipExists,
            Ok(R::ProvinceNotConnected) => DeclineReason::ProvinceNotConnected,
            Ok(R::RefusedByPeer) | Ok(R::Unspecified) | Err(_) => DeclineReason::RefusedByPeer,
        }
    }

    pub fn to_pb(self) -> pb::DeclineReason {
        use pb::DeclineReason as R;
        match self {
            DeclineReason::InsufficientQuota => R::InsufficientQuota,
            DeclineReason::RelationshipNotActive => R::RelationshipNotActive,
            DeclineReason::RelationshipNotFound => R::RelationshipNotFound,
            DeclineReason::NoRelationship => R::NoRelationship,
            DeclineReason::PersonNotActive => R::PersonNotActive,
            DeclineReason::PersonNotFound => R::PersonNotFound,
            DeclineReason::InsufficientBalance => R::InsufficientBalance,
            DeclineReason::NoPersonalAccount => R::NoPersonalAccount,
            DeclineReason::RelationshipExists => R::RelationshipExists,
            DeclineReason::ProvinceNotConnected => R::ProvinceNotConnected,
            DeclineReason::RefusedByPeer => R::RefusedByPeer,
        }
    }
}

impl Decline {
    /// The (reason, message) pair of an optional decline, as wire fields.
    pub fn to_pb_parts(decline: Option<&Decline>) -> (i32, String) {
        match decline {
            Some(d) => (d.reason.to_pb() as i32, d.message.clone()),
            None => (pb::DeclineReason::Unspecified as i32, String::new()),
        }
    }

    pub fn from_pb_parts(reason: i32, message: String) -> Decline {
        Decline::new(DeclineReason::from_pb(reason), message)
    }
}

impl RelationKind {
    pub fn from_pb(field: &str, value: i32) -> Result<RelationKind, FieldError> {
        use pb::RelationKind as K;
        match K::try_from(value) {
            Ok(K::Spouse) => Ok(RelationKind::Spouse),
            Ok(K::Parent) => Ok(RelationKind::Parent),
            Ok(K::Child) => Ok(RelationKind::Child),
            Ok(K::Sibling) => Ok(RelationKind::Sibling),
            Ok(K::PaternalGrandparent) => Ok(RelationKind::PaternalGrandparent),
            Ok(K::MaternalGrandparent) => Ok(RelationKind::MaternalGrandparent),
            Ok(K::PaternalGrandchild) => Ok(RelationKind::PaternalGrandchild),
            Ok(K::MaternalGrandchild) => Ok(RelationKind::MaternalGrandchild),
            _ => Err(enum_error(field, value)),
        }
    }

    pub fn to_pb(self) -> pb::RelationKind {
        use pb::RelationKind as K;
        match self {
            RelationKind::Spouse => K::Spouse,
            RelationKind::Parent => K::Parent,
            RelationKind::Child => K::Child,
            RelationKind::Sibling => K::Sibling,
            RelationKind::PaternalGrandparent => K::PaternalGrandparent,
            RelationKind::MaternalGrandparent => K::MaternalGrandparent,
            RelationKind::PaternalGrandchild => K::PaternalGrandchild,
            RelationKind::MaternalGrandchild => K::MaternalGrandchild,
        }
    }
}

impl Purpose {
    pub fn from_pb(field: &str, value: i32) -> Result<Purpose, FieldError> {
        match pb::PaymentPurpose::try_from(value) {
            Ok(pb::PaymentPurpose::Outpatient) => Ok(Purpose::Outpatient),
            Ok(pb::PaymentPurpose::Inpatient) => Ok(Purpose::Inpatient),
            Ok(pb::PaymentPurpose::Pharmacy) => Ok(Purpose::Pharmacy),
            _ => Err(enum_error(field, value)),
        }
    }

    pub fn to_pb(self) -> pb::PaymentPurpose {
        match self {
            Purpose::Outpatient => pb::PaymentPurpose::Outpatient,
            Purpose::Inpatient => pb::PaymentPurpose::Inpatient,
            Purpose::Pharmacy => pb::PaymentPurpose::Pharmacy,
        }
    }
}

impl Grant {
    pub fn from_pb(notice: pb::GrantNotice) -> Result<Grant, FieldError> {
        Ok(Grant {
            relationship_id: Id::parse("relationship_id", &notice.relationship_id)?,
            donor_id: Id::parse("donor_id", &notice.donor_id)?,
            donor_province: ProvinceCode::parse("donor_province", &notice.donor_province)?,
            beneficiary_id: Id::parse("beneficiary_id", &notice.beneficiary_id)?,
            beneficiary_province: ProvinceCode::parse("beneficiary_province", &notice.beneficiary_province)?,
            kind: RelationKind::from_pb("relation_kind", notice.relation_kind)?,
            quota: Money::parse_positive("quota", &notice.quota)?,
        })
    }

    pub fn to_pb(&self) -> pb::GrantNotice {
        pb::GrantNotice {
            relationship_id: self.relationship_id.to_string(),
            donor_id: self.donor_id.to_string(),
            donor_province: self.donor_province.to_string(),
            beneficiary_id: self.beneficiary_id.to_string(),
            beneficiary_province: self.beneficiary_province.to_string(),
            relation_kind: self.kind.to_pb() as i32,
            quota: self.quota.to_string(),
        }
    }
}

impl CrossPayment {
    /// Reads a routed payment; field names are given under `prefix`
    /// ("payment." inside a debit request, "" at the hub).
    pub fn from_pb(prefix: &str, p: pb::CrossPayment) -> Result<CrossPayment, FieldError> {
        let field = |name: &str| format!("{prefix}{name}");
        Ok(CrossPayment {
            payment_id: Id::parse(&field("payment_id"), &p.payment_id)?,
            relationship_id: Id::parse(&field("relationship_id"), &p.relationship_id)?,
            donor_id: Id::parse(&field("donor_id"), &p.donor_id)?,
            donor_province: ProvinceCode::parse(&field("donor_province"), &p.donor_province)?,
            beneficiary_id: Id::parse(&field("beneficiary_id"), &p.beneficiary_id)?,
            beneficiary_province: ProvinceCode::parse(&field("beneficiary_province"), &p.beneficiary_province)?,
            institution: InstitutionCode::parse(&field("institution_id"), &p.institution_id)?,
            amount: Money::parse_positive(&field("amount"), &p.amount)?,
            purpose: Purpose::from_pb(&field("purpose"), p.purpose)?,
        })
    }

    pub fn to_pb(&self) -> pb::CrossPayment {
        pb::CrossPayment {
            payment_id: self.payment_id.to_string(),
            relationship_id: self.relationship_id.to_string(),
            donor_id: self.donor_id.to_string(),
            donor_province: self.donor_province.to_string(),
            beneficiary_id: self.beneficiary_id.to_string(),
            beneficiary_province: self.beneficiary_province.to_string(),
            institution_id: self.institution.to_string(),
            amount: self.amount.to_string(),
            purpose: self.purpose.to_pb() as i32,
        }
    }
}

/// The wire answer to a grant: accepted, or declined with a reason.
pub fn grant_answer_to_pb(answer: &Result<(), Decline>) -> pb::GrantAnswer {
    let (decline_reason, message) = Decline::to_pb_parts(answer.as_ref().err());
    pb::GrantAnswer {
        accepted: answer.is_ok(),
        decline_reason,
        message,
    }
}

/// Reads a wire answer to a grant.
pub fn grant_answer_from_pb(answer: pb::GrantAnswer) -> Result<(), Decline> {
    if answer.accepted {
        Ok(())
    } else {
        Err(Decline::from_pb_parts(answer.decline_reason, answer.message))
    }
}
