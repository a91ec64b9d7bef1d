//! The domain form of what crosses between nodes: grants, cross-province
//! payments and their outcomes, with the one conversion to and from the wire.
//! The hub and the nodes both speak these types, so a decline reason or a
//! purpose means the same thing everywhere.

use gongji_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::{period::timestamp, FieldError, Id, InstitutionCode, Money, Period, ProvinceCode};

/// The outcome of a transaction at the node that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    Pending,
    Approved,
    Declined,
    /// Reversed by the institution; the id can never be approved.
    Reversed,
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
    QuotaBelowUsed,
    Reversed,
    RefundExceedsPayment,
    NotResidentInsured,
    AlreadyInsured,
    PrepaidExhausted,
    WrongInstitutionKind,
}

/// The kind of a cross-province transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// The donor's province owes the beneficiary's.
    Payment,
    /// The beneficiary's province owes the donor's.
    Refund,
    /// The beneficiary's province owes the donor's (an approved payment undone).
    Reversal,
    /// The releasing province owes the receiving one.
    AccountTransfer,
    /// An accepted wallet transfer (医保钱包): the sender's province owes the
    /// recipient's, from the moment of acceptance.
    WalletTransfer,
}

impl TxKind {
    pub const ALL: [TxKind; 5] = [
        TxKind::Payment,
        TxKind::Refund,
        TxKind::Reversal,
        TxKind::AccountTransfer,
        TxKind::WalletTransfer,
    ];

    /// Its word in keys, statements and logs; kinds sort by it.
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Payment => "payment",
            TxKind::Refund => "refund",
            TxKind::Reversal => "reversal",
            TxKind::AccountTransfer => "transfer",
            TxKind::WalletTransfer => "wallet",
        }
    }

    /// The store key of a transaction of this kind: kinds have their own id spaces.
    pub fn key(self, id: &Id) -> String {
        format!("{}/{id}", self.as_str())
    }

    pub fn to_pb(self) -> pb::TransactionKind {
        match self {
            TxKind::Payment => pb::TransactionKind::Payment,
            TxKind::Refund => pb::TransactionKind::Refund,
            TxKind::Reversal => pb::TransactionKind::Reversal,
            TxKind::AccountTransfer => pb::TransactionKind::AccountTransfer,
            TxKind::WalletTransfer => pb::TransactionKind::WalletTransfer,
        }
    }

    /// Reads a kind; unspecified is `None`.
    pub fn from_pb(value: i32) -> Result<Option<TxKind>, FieldError> {
        match pb::TransactionKind::try_from(value) {
            Ok(pb::TransactionKind::Unspecified) => Ok(None),
            Ok(pb::TransactionKind::Payment) => Ok(Some(TxKind::Payment)),
            Ok(pb::TransactionKind::Refund) => Ok(Some(TxKind::Refund)),
            Ok(pb::TransactionKind::Reversal) => Ok(Some(TxKind::Reversal)),
            Ok(pb::TransactionKind::AccountTransfer) => Ok(Some(TxKind::AccountTransfer)),
            Ok(pb::TransactionKind::WalletTransfer) => Ok(Some(TxKind::WalletTransfer)),
            Err(_) => Err(FieldError::new("kind", format!("{value} is not a known value"))),
        }
    }
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
    /// The beneficiary's resident-insurance personal contribution.
    ResidentContribution,
    /// The beneficiary's long-term-care insurance personal contribution.
    LongTermCareContribution,
}

impl Purpose {
    /// Contributions are paid to the beneficiary's province fund; the other
    /// purposes to a designated institution.
    pub fn is_contribution(self) -> bool {
        matches!(self, Purpose::ResidentContribution | Purpose::LongTermCareContribution)
    }
}

/// Who is paid: a designated institution, or a fund of the beneficiary's
/// province (for contributions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payee {
    Institution(InstitutionCode),
    Fund(Fund),
}

/// A province's insurance fund that receives contributions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fund {
    ResidentInsurance,
    LongTermCare,
}

impl Fund {
    pub fn as_str(self) -> &'static str {
        match self {
            Fund::ResidentInsurance => "resident-insurance",
            Fund::LongTermCare => "long-term-care",
        }
    }
}

impl Payee {
    /// The payee of a purpose: the institution named, or the purpose's fund.
    /// The error names `field` (the institution id).
    pub fn for_purpose(field: &str, purpose: Purpose, institution: &str) -> Result<Payee, FieldError> {
        match (purpose, institution) {
            (Purpose::ResidentContribution, "") => Ok(Payee::Fund(Fund::ResidentInsurance)),
            (Purpose::LongTermCareContribution, "") => Ok(Payee::Fund(Fund::LongTermCare)),
            (p, _) if p.is_contribution() => Err(FieldError::new(
                field,
                "must be empty for a contribution, which is paid to the province fund",
            )),
            (_, code) => Ok(Payee::Institution(InstitutionCode::parse(field, code)?)),
        }
    }

    /// The institution code on the wire ("" for a fund).
    pub fn institution_id(&self) -> &str {
        match self {
            Payee::Institution(code) => code.as_str(),
            Payee::Fund(_) => "",
        }
    }
}

/// Who asks for something to be done to a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Donor,
    Beneficiary,
}

/// Why a relationship ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    DonorRequest,
    BeneficiaryRequest,
    DonorTransferred,
    DonorTerminated,
    BeneficiaryTransferred,
    BeneficiaryTerminated,
}

impl EndReason {
    pub fn describe(self) -> &'static str {
        match self {
            EndReason::DonorRequest => "dissolved by the donor",
            EndReason::BeneficiaryRequest => "dissolved by the beneficiary",
            EndReason::DonorTransferred => "the donor's insurance was transferred",
            EndReason::DonorTerminated => "the donor's insurance was terminated",
            EndReason::BeneficiaryTransferred => "the beneficiary's insurance was transferred",
            EndReason::BeneficiaryTerminated => "the beneficiary's insurance was terminated",
        }
    }
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
    pub payee: Payee,
    pub amount: Money,
    pub purpose: Purpose,
}

/// A refund routed from the beneficiary's node to the donor's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossRefund {
    pub refund_id: Id,
    pub payment: CrossPayment,
    pub amount: Money,
}

/// A person's insurance and balance moving to another province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossTransfer {
    pub transfer_id: Id,
    pub person_id: Id,
    pub name: String,
    /// True for employee insurance (with a personal account).
    pub employee: bool,
    pub from_province: ProvinceCode,
    pub to_province: ProvinceCode,
    pub to_region: crate::RegionCode,
    /// May be zero (a resident, or an empty account).
    pub amount: Money,
    /// Money that arrived after the person had moved, sent on after them.
    #[serde(default)]
    pub follow_up: bool,
}

/// A wallet transfer's acceptance by a recipient of another province: the
/// sender's node decides it; once accepted the sender's province owes the
/// recipient's (docs/WALLET.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossWallet {
    pub transfer_id: Id,
    pub sender_province: ProvinceCode,
    pub recipient_province: ProvinceCode,
    pub recipient_id: Id,
    pub amount: Money,
}

impl CrossWallet {
    pub fn from_pb(prefix: &str, w: pb::CrossWalletAcceptance) -> Result<CrossWallet, FieldError> {
        let field = |name: &str| format!("{prefix}{name}");
        Ok(CrossWallet {
            transfer_id: Id::parse(&field("transfer_id"), &w.transfer_id)?,
            sender_province: ProvinceCode::parse(&field("sender_province"), &w.sender_province)?,
            recipient_province: ProvinceCode::parse(&field("recipient_province"), &w.recipient_province)?,
            recipient_id: Id::parse(&field("recipient_id"), &w.recipient_id)?,
            amount: Money::parse_positive(&field("amount"), &w.amount)?,
        })
    }

    pub fn to_pb(&self) -> pb::CrossWalletAcceptance {
        pb::CrossWalletAcceptance {
            transfer_id: self.transfer_id.to_string(),
            sender_province: self.sender_province.to_string(),
            recipient_province: self.recipient_province.to_string(),
            recipient_id: self.recipient_id.to_string(),
            amount: self.amount.to_string(),
        }
    }
}

/// Where a wallet transfer stands. Unaccepted until exactly one of the
/// other four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletStatus {
    Unaccepted,
    Accepted,
    Declined,
    Cancelled,
    Returned,
}

impl WalletStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WalletStatus::Unaccepted => "unaccepted",
            WalletStatus::Accepted => "accepted",
            WalletStatus::Declined => "declined",
            WalletStatus::Cancelled => "cancelled",
            WalletStatus::Returned => "returned",
        }
    }

    pub fn to_pb(self) -> pb::WalletTransferStatus {
        use pb::WalletTransferStatus as P;
        match self {
            WalletStatus::Unaccepted => P::Unaccepted,
            WalletStatus::Accepted => P::Accepted,
            WalletStatus::Declined => P::Declined,
            WalletStatus::Cancelled => P::Cancelled,
            WalletStatus::Returned => P::Returned,
        }
    }

    pub fn from_pb(field: &str, value: i32) -> Result<WalletStatus, FieldError> {
        use pb::WalletTransferStatus as P;
        match P::try_from(value) {
            Ok(P::Unaccepted) => Ok(WalletStatus::Unaccepted),
            Ok(P::Accepted) => Ok(WalletStatus::Accepted),
            Ok(P::Declined) => Ok(WalletStatus::Declined),
            Ok(P::Cancelled) => Ok(WalletStatus::Cancelled),
            Ok(P::Returned) => Ok(WalletStatus::Returned),
            Ok(P::Unspecified) | Err(_) => Err(enum_error(field, value)),
        }
    }
}

/// A cross-province wallet transfer as its sender's node tells the hub and
/// the recipient's node (docs/WALLET.md): sent, then its one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletNote {
    pub transfer_id: Id,
    pub sender_id: Id,
    pub recipient_id: Id,
    pub amount: Money,
    pub sent_at: i64,
    pub return_at: i64,
    /// Its one outcome, once settled.
    pub outcome: Option<WalletOutcome>,
}

/// How and when a wallet transfer was settled, and the month of it (an
/// acceptance's: the month the hub stamped; otherwise the CST month it was
/// settled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletOutcome {
    pub status: WalletStatus,
    pub at: i64,
    pub period: Period,
}

impl WalletNote {
    /// What was sent, without the outcome: the part every notice of the
    /// transfer repeats and no notice may change.
    pub fn sent(&self) -> WalletNote {
        WalletNote {
            outcome: None,
            ..self.clone()
        }
    }

    /// Merges what `other` (a notice of the same transfer) says into this
    /// record: the outcome once known. An error names what differs: what
    /// was sent, or an outcome already recorded otherwise.
    pub fn merge(&self, other: &WalletNote) -> Result<WalletNote, String> {
        if self.sent() != other.sent() {
            return Err("it says another sender, recipient, amount or time than was recorded for it".to_owned());
        }
        match (self.outcome, other.outcome) {
            (Some(recorded), Some(told)) if recorded != told => Err(format!(
                "it was recorded {} in {}, and an outcome never changes",
                recorded.status.as_str(),
                recorded.period
            )),
            (recorded, told) => Ok(WalletNote {
                outcome: recorded.or(told),
                ..self.clone()
            }),
        }
    }

    pub fn from_pb(n: pb::WalletTransferNote) -> Result<WalletNote, FieldError> {
        let field = |name: &str| format!("wallet_transfer.{name}");
        let status = WalletStatus::from_pb(&field("status"), n.status)?;
        let outcome = match status {
            WalletStatus::Unaccepted => None,
            status => Some(WalletOutcome {
                status,
                at: millis(&field("settled_at"), n.settled_at)?,
                period: Period::parse(&field("period"), &n.period)?,
            }),
        };
        Ok(WalletNote {
            transfer_id: Id::parse(&field("transfer_id"), &n.transfer_id)?,
            sender_id: Id::parse(&field("sender_id"), &n.sender_id)?,
            recipient_id: Id::parse(&field("recipient_id"), &n.recipient_id)?,
            amount: Money::parse_positive(&field("amount"), &n.amount)?,
            sent_at: millis(&field("sent_at"), n.sent_at)?,
            return_at: millis(&field("return_at"), n.return_at)?,
            outcome,
        })
    }

    pub fn to_pb(&self) -> pb::WalletTransferNote {
        pb::WalletTransferNote {
            transfer_id: self.transfer_id.to_string(),
            sender_id: self.sender_id.to_string(),
            recipient_id: self.recipient_id.to_string(),
            amount: self.amount.to_string(),
            sent_at: Some(timestamp(self.sent_at)),
            return_at: Some(timestamp(self.return_at)),
            status: self.outcome.map_or(WalletStatus::Unaccepted, |o| o.status).to_pb() as i32,
            settled_at: self.outcome.map(|o| timestamp(o.at)),
            period: self.outcome.map(|o| o.period.to_string()).unwrap_or_default(),
        }
    }
}

/// Unix milliseconds of a required timestamp.
fn millis(field: &str, at: Option<prost_types::Timestamp>) -> Result<i64, FieldError> {
    let at = at.ok_or_else(|| FieldError::new(field, "is required"))?;
    Ok(at.seconds.saturating_mul(1000) + i64::from(at.nanos) / 1_000_000)
}

/// A message from one province node to another, relayed by the hub through
/// durable outboxes and applied once per id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub from: ProvinceCode,
    pub to: ProvinceCode,
    pub body: NoticeBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeBody {
    /// The donor's node ended a relationship.
    RelationshipEnded {
        grant: Grant,
        reason: EndReason,
        quota: Money,
        used: Money,
        version: u64,
    },
    /// The beneficiary's side asks the donor's node to end a relationship.
    DissolutionRequested { relationship_id: Id, reason: EndReason },
    /// The donor's node changed a relationship's quota.
    QuotaChanged {
        relationship_id: Id,
        change_id: Id,
        quota: Money,
        version: u64,
    },
    /// The sender's node sent a wallet transfer to another province's
    /// person, or settled it (then the note carries the outcome).
    Wallet(WalletNote),
    /// The recipient's node asks the sender's node to decline an unaccepted
    /// wallet transfer: the recipient's insurance ended or moved.
    WalletDeclineAsked { transfer_id: Id, recipient_id: Id },
}

impl NoticeBody {
    /// The relationship the notice is about (for a wallet notice: the
    /// wallet transfer).
    pub fn relationship_id(&self) -> &Id {
        match self {
            NoticeBody::RelationshipEnded { grant, .. } => &grant.relationship_id,
            NoticeBody::DissolutionRequested { relationship_id, .. } | NoticeBody::QuotaChanged { relationship_id, .. } => relationship_id,
            NoticeBody::Wallet(note) => &note.transfer_id,
            NoticeBody::WalletDeclineAsked { transfer_id, .. } => transfer_id,
        }
    }

    /// The party whose node sends this kind of notice: only the donor's
    /// node ends a relationship or changes its quota; the beneficiary's asks
    /// it to end. The other party's node receives it.
    pub fn sender(&self) -> Party {
        match self {
            NoticeBody::RelationshipEnded { .. } | NoticeBody::QuotaChanged { .. } | NoticeBody::Wallet(_) => Party::Donor,
            NoticeBody::DissolutionRequested { .. } | NoticeBody::WalletDeclineAsked { .. } => Party::Beneficiary,
        }
    }

    /// Its word in notice ids, logs and self-checks.
    pub fn kind(&self) -> &'static str {
        match self {
            NoticeBody::RelationshipEnded { .. } => "ended",
            NoticeBody::DissolutionRequested { .. } => "dissolve",
            NoticeBody::QuotaChanged { .. } => "quota",
            NoticeBody::Wallet(note) if note.outcome.is_none() => "wallet_sent",
            NoticeBody::Wallet(_) => "wallet_settled",
            NoticeBody::WalletDeclineAsked { .. } => "wallet_decline",
        }
    }

    /// The id of the notice that says this: one per end, request to end or
    /// quota change of a relationship. Made from what it says, so that a
    /// province can take only the ids of notices about its own
    /// relationships (receivers apply each id once).
    pub fn notice_id(&self) -> String {
        match self {
            NoticeBody::QuotaChanged {
                relationship_id,
                change_id,
                ..
            } => format!("quota/{relationship_id}/{change_id}"),
            _ => format!("{}/{}", self.kind(), self.relationship_id()),
        }
    }
}

/// Why a notice may not pass between two provinces: what the hub answers a
/// province that sends it, and why a node does not apply it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeRefusal {
    /// No cross-province relationship of this id is known where it was checked.
    #[error(
        "relationship {relationship} is not known here as a cross-province relationship (a same-province one never leaves its node): \
         province {from} may not send a notice about it"
    )]
    Unknown { relationship: Id, from: ProvinceCode },
    /// Donor and beneficiary are insured in one province: nothing of it crosses.
    #[error(
        "relationship {relationship} joins a donor and a beneficiary both of province {province}: its notices never cross provinces, \
         and province {from} may not send one"
    )]
    SameProvince {
        relationship: Id,
        province: ProvinceCode,
        from: ProvinceCode,
    },
    /// The sending province is neither the donor's nor the beneficiary's.
    #[error(
        "province {from} is no party to relationship {relationship} (the donor's province is {donor}, the beneficiary's {beneficiary}): \
         it may not send notices about it"
    )]
    NotAParty {
        relationship: Id,
        from: ProvinceCode,
        donor: ProvinceCode,
        beneficiary: ProvinceCode,
    },
    /// A party, but not the one that sends this kind of notice.
    #[error(
        "only the {sender}'s province {expected} sends a {kind:?} notice of relationship {relationship} (the donor's province is \
         {donor}, the beneficiary's {beneficiary}), not province {from}"
    )]
    WrongSender {
        relationship: Id,
        kind: &'static str,
        from: ProvinceCode,
        sender: &'static str,
        expected: ProvinceCode,
        donor: ProvinceCode,
        beneficiary: ProvinceCode,
    },
    /// Addressed to another province than the other party's.
    #[error(
        "a {kind:?} notice of relationship {relationship} from province {from} goes to the {receiver}'s province {expected}, not to \
         province {to} (the donor's province is {donor}, the beneficiary's {beneficiary})"
    )]
    WrongDestination {
        relationship: Id,
        kind: &'static str,
        from: ProvinceCode,
        to: ProvinceCode,
        receiver: &'static str,
        expected: ProvinceCode,
        donor: ProvinceCode,
        beneficiary: ProvinceCode,
    },
    /// The grant an end notice carries is not the one the relationship was established with.
    #[error(
        "province {from}'s notice of relationship {relationship} carries another grant than the one it was established with (the \
         donor's province is {donor}, the beneficiary's {beneficiary})"
    )]
    GrantDiffers {
        relationship: Id,
        from: ProvinceCode,
        donor: ProvinceCode,
        beneficiary: ProvinceCode,
    },
    /// The id does not fit what the notice says (see [`NoticeBody::notice_id`]).
    #[error(
        "province {from}'s notice {id:?} of relationship {relationship} (the donor's province is {donor}, the beneficiary's \
         {beneficiary}) must have the id {expected:?}, made from what it says"
    )]
    WrongId {
        relationship: Id,
        from: ProvinceCode,
        id: String,
        expected: String,
        donor: ProvinceCode,
        beneficiary: ProvinceCode,
    },
    /// A wallet transfer's notice that may not pass (see [`Notice::check_wallet`]).
    #[error("province {from}'s notice of wallet transfer {transfer} may not pass: {why}")]
    Wallet { transfer: Id, from: ProvinceCode, why: String },
}

impl NoticeRefusal {
    /// A wallet notice that may not pass or apply: `why`.
    pub fn wallet(notice: &Notice, why: impl Into<String>) -> NoticeRefusal {
        NoticeRefusal::Wallet {
            transfer: notice.body.relationship_id().clone(),
            from: notice.from,
            why: why.into(),
        }
    }

    /// The sender has no right to this notice (it is no party, or not the
    /// party that sends it); the other refusals are about where it goes
    /// or what it carries.
    pub fn is_not_a_party(&self) -> bool {
        matches!(self, NoticeRefusal::NotAParty { .. } | NoticeRefusal::WrongSender { .. })
    }
}

impl Notice {
    /// Checks this notice against `grant`, the relationship it is about as
    /// the checking server recorded it: a cross-province relationship,
    /// the notice sent by the province of the party that sends its kind
    /// and addressed to the other party's, with the id made from what it
    /// says and, for an end, the grant the relationship was established with.
    pub fn check_against(&self, grant: &Grant) -> Result<(), NoticeRefusal> {
        let relationship = grant.relationship_id.clone();
        let (donor, beneficiary, from) = (grant.donor_province, grant.beneficiary_province, self.from);
        if donor == beneficiary {
            return Err(NoticeRefusal::SameProvince {
                relationship,
                province: donor,
                from,
            });
        }
        if from != donor && from != beneficiary {
            return Err(NoticeRefusal::NotAParty {
                relationship,
                from,
                donor,
                beneficiary,
            });
        }
        let ((sender, expected), (receiver, destination)) = match self.body.sender() {
            Party::Donor => (("donor", donor), ("beneficiary", beneficiary)),
            Party::Beneficiary => (("beneficiary", beneficiary), ("donor", donor)),
        };
        let kind = self.body.kind();
        if from != expected {
            return Err(NoticeRefusal::WrongSender {
                relationship,
                kind,
                from,
                sender,
                expected,
                donor,
                beneficiary,
            });
        }
        if self.to != destination {
            return Err(NoticeRefusal::WrongDestination {
                relationship,
                kind,
                from,
                to: self.to,
                receiver,
                expected: destination,
                donor,
                beneficiary,
            });
        }
        if let NoticeBody::RelationshipEnded { grant: carried, .. } = &self.body {
            if carried != grant {
                return Err(NoticeRefusal::GrantDiffers {
                    relationship,
                    from,
                    donor,
                    beneficiary,
                });
            }
        }
        let expected_id = self.body.notice_id();
        if self.id != expected_id {
            return Err(NoticeRefusal::WrongId {
                relationship,
                from,
                id: self.id.clone(),
                expected: expected_id,
                donor,
                beneficiary,
            });
        }
        Ok(())
    }
}

impl Notice {
    /// Checks a wallet notice against `recorded`, the transfer as the
    /// checking server recorded it from earlier notices: sent to another
    /// province, under the id made from what it says, saying what was
    /// recorded (its outcome may be added, never changed). Answers the
    /// record to keep.
    pub fn check_wallet(&self, note: &WalletNote, recorded: Option<&WalletNote>) -> Result<WalletNote, NoticeRefusal> {
        if self.from == self.to {
            return Err(NoticeRefusal::wallet(
                self,
                format!("a transfer within province {} never leaves its node", self.from),
            ));
        }
        let expected = self.body.notice_id();
        if self.id != expected {
            return Err(NoticeRefusal::wallet(
                self,
                format!("its id must be {expected:?}, made from what it says"),
            ));
        }
        match recorded {
            Some(recorded) => recorded.merge(note).map_err(|why| NoticeRefusal::wallet(self, why)),
            None => Ok(note.clone()),
        }
    }
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
            Ok(pb::TransactionStatus::Reversed) => Some(TxStatus::Reversed),
            _ => None,
        }
    }

    pub fn to_pb(self) -> pb::TransactionStatus {
        match self {
            TxStatus::Pending => pb::TransactionStatus::Pending,
            TxStatus::Approved => pb::TransactionStatus::Approved,
            TxStatus::Declined => pb::TransactionStatus::Declined,
            TxStatus::Reversed => pb::TransactionStatus::Reversed,
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
            Ok(R::QuotaBelowUsed) => DeclineReason::QuotaBelowUsed,
            Ok(R::Reversed) => DeclineReason::Reversed,
            Ok(R::RefundExceedsPayment) => DeclineReason::RefundExceedsPayment,
            Ok(R::NotResidentInsured) => DeclineReason::NotResidentInsured,
            Ok(R::AlreadyInsured) => DeclineReason::AlreadyInsured,
            Ok(R::PrepaidExhausted) => DeclineReason::PrepaidExhausted,
            Ok(R::WrongInstitutionKind) => DeclineReason::WrongInstitutionKind,
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
            DeclineReason::QuotaBelowUsed => R::QuotaBelowUsed,
            DeclineReason::Reversed => R::Reversed,
            DeclineReason::RefundExceedsPayment => R::RefundExceedsPayment,
            DeclineReason::NotResidentInsured => R::NotResidentInsured,
            DeclineReason::AlreadyInsured => R::AlreadyInsured,
            DeclineReason::PrepaidExhausted => R::PrepaidExhausted,
            DeclineReason::WrongInstitutionKind => R::WrongInstitutionKind,
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
            Ok(pb::PaymentPurpose::ResidentContribution) => Ok(Purpose::ResidentContribution),
            Ok(pb::PaymentPurpose::LongTermCareContribution) => Ok(Purpose::LongTermCareContribution),
            _ => Err(enum_error(field, value)),
        }
    }

    pub fn to_pb(self) -> pb::PaymentPurpose {
        match self {
            Purpose::Outpatient => pb::PaymentPurpose::Outpatient,
            Purpose::Inpatient => pb::PaymentPurpose::Inpatient,
            Purpose::Pharmacy => pb::PaymentPurpose::Pharmacy,
            Purpose::ResidentContribution => pb::PaymentPurpose::ResidentContribution,
            Purpose::LongTermCareContribution => pb::PaymentPurpose::LongTermCareContribution,
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
        let purpose = Purpose::from_pb(&field("purpose"), p.purpose)?;
        Ok(CrossPayment {
            payment_id: Id::parse(&field("payment_id"), &p.payment_id)?,
            relationship_id: Id::parse(&field("relationship_id"), &p.relationship_id)?,
            donor_id: Id::parse(&field("donor_id"), &p.donor_id)?,
            donor_province: ProvinceCode::parse(&field("donor_province"), &p.donor_province)?,
            beneficiary_id: Id::parse(&field("beneficiary_id"), &p.beneficiary_id)?,
            beneficiary_province: ProvinceCode::parse(&field("beneficiary_province"), &p.beneficiary_province)?,
            payee: Payee::for_purpose(&field("institution_id"), purpose, &p.institution_id)?,
            amount: Money::parse_positive(&field("amount"), &p.amount)?,
            purpose,
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
            institution_id: self.payee.institution_id().to_owned(),
            amount: self.amount.to_string(),
            purpose: self.purpose.to_pb() as i32,
        }
    }
}

/// The wire answer to a grant or a transfer: accepted, or declined with a reason.
pub fn acceptance_to_pb(answer: &Result<(), Decline>) -> pb::Acceptance {
    let (decline_reason, message) = Decline::to_pb_parts(answer.as_ref().err());
    pb::Acceptance {
        accepted: answer.is_ok(),
        decline_reason,
        message,
    }
}

/// Reads a wire answer to a grant or a transfer.
pub fn acceptance_from_pb(answer: pb::Acceptance) -> Result<(), Decline> {
    if answer.accepted {
        Ok(())
    } else {
        Err(Decline::from_pb_parts(answer.decline_reason, answer.message))
    }
}

impl Party {
    pub fn from_pb(field: &str, value: i32) -> Result<Party, FieldError> {
        match pb::Party::try_from(value) {
            Ok(pb::Party::Donor) => Ok(Party::Donor),
            Ok(pb::Party::Beneficiary) => Ok(Party::Beneficiary),
            _ => Err(enum_error(field, value)),
        }
    }
}

impl EndReason {
    pub fn from_pb(field: &str, value: i32) -> Result<EndReason, FieldError> {
        use pb::EndReason as E;
        match E::try_from(value) {
            Ok(E::DonorRequest) => Ok(EndReason::DonorRequest),
            Ok(E::BeneficiaryRequest) => Ok(EndReason::BeneficiaryRequest),
            Ok(E::DonorTransferred) => Ok(EndReason::DonorTransferred),
            Ok(E::DonorTerminated) => Ok(EndReason::DonorTerminated),
            Ok(E::BeneficiaryTransferred) => Ok(EndReason::BeneficiaryTransferred),
            Ok(E::BeneficiaryTerminated) => Ok(EndReason::BeneficiaryTerminated),
            _ => Err(enum_error(field, value)),
        }
    }

    pub fn to_pb(self) -> pb::EndReason {
        use pb::EndReason as E;
        match self {
            EndReason::DonorRequest => E::DonorRequest,
            EndReason::BeneficiaryRequest => E::BeneficiaryRequest,
            EndReason::DonorTransferred => E::DonorTransferred,
            EndReason::DonorTerminated => E::DonorTerminated,
            EndReason::BeneficiaryTransferred => E::BeneficiaryTransferred,
            EndReason::BeneficiaryTerminated => E::BeneficiaryTerminated,
        }
    }
}

impl Notice {
    pub fn from_pb(notice: pb::Notice) -> Result<Notice, FieldError> {
        if notice.notice_id.is_empty() || notice.notice_id.len() > 200 {
            return Err(FieldError::new("notice_id", "is required (at most 200 characters)"));
        }
        use pb::notice::Body;
        let body = match notice.body {
            Some(Body::RelationshipEnded(ended)) => NoticeBody::RelationshipEnded {
                grant: Grant::from_pb(
                    ended
                        .grant
                        .ok_or_else(|| FieldError::new("relationship_ended.grant", "is required"))?,
                )
                .map_err(|e| e.within("relationship_ended.grant"))?,
                reason: EndReason::from_pb("relationship_ended.reason", ended.reason)?,
                quota: Money::parse_unsigned("relationship_ended.quota", &ended.quota)?,
                used: Money::parse_unsigned("relationship_ended.used", &ended.used)?,
                version: ended.version,
            },
            Some(Body::DissolutionRequested(request)) => NoticeBody::DissolutionRequested {
                relationship_id: Id::parse("dissolution_requested.relationship_id", &request.relationship_id)?,
                reason: EndReason::from_pb("dissolution_requested.reason", request.reason)?,
            },
            Some(Body::QuotaChanged(change)) => NoticeBody::QuotaChanged {
                relationship_id: Id::parse("quota_changed.relationship_id", &change.relationship_id)?,
                change_id: Id::parse("quota_changed.change_id", &change.change_id)?,
                quota: Money::parse_positive("quota_changed.quota", &change.quota)?,
                version: change.version,
            },
            Some(Body::WalletTransfer(note)) => NoticeBody::Wallet(WalletNote::from_pb(note)?),
            Some(Body::WalletDeclineAsked(asked)) => NoticeBody::WalletDeclineAsked {
                transfer_id: Id::parse("wallet_decline_asked.transfer_id", &asked.transfer_id)?,
                recipient_id: Id::parse("wallet_decline_asked.recipient_id", &asked.recipient_id)?,
            },
            None => return Err(FieldError::new("body", "is required")),
        };
        Ok(Notice {
            id: notice.notice_id,
            from: ProvinceCode::parse("from_province", &notice.from_province)?,
            to: ProvinceCode::parse("to_province", &notice.to_province)?,
            body,
        })
    }

    pub fn to_pb(&self) -> pb::Notice {
        use pb::notice::Body;
        let body = match &self.body {
            NoticeBody::RelationshipEnded {
                grant,
                reason,
                quota,
                used,
                version,
            } => Body::RelationshipEnded(pb::RelationshipEnded {
                grant: Some(grant.to_pb()),
                reason: reason.to_pb() as i32,
                quota: quota.to_string(),
                used: used.to_string(),
                version: *version,
            }),
            NoticeBody::DissolutionRequested { relationship_id, reason } => Body::DissolutionRequested(pb::DissolutionRequested {
                relationship_id: relationship_id.to_string(),
                reason: reason.to_pb() as i32,
            }),
            NoticeBody::QuotaChanged {
                relationship_id,
                change_id,
                quota,
                version,
            } => Body::QuotaChanged(pb::QuotaChanged {
                relationship_id: relationship_id.to_string(),
                quota: quota.to_string(),
                version: *version,
                change_id: change_id.to_string(),
            }),
            NoticeBody::Wallet(note) => Body::WalletTransfer(note.to_pb()),
            NoticeBody::WalletDeclineAsked { transfer_id, recipient_id } => Body::WalletDeclineAsked(pb::WalletDeclineAsked {
                transfer_id: transfer_id.to_string(),
                recipient_id: recipient_id.to_string(),
            }),
        };
        pb::Notice {
            notice_id: self.id.clone(),
            from_province: self.from.to_string(),
            to_province: self.to.to_string(),
            body: Some(body),
        }
    }
}

impl CrossRefund {
    pub fn from_pb(prefix: &str, refund: pb::CrossRefund) -> Result<CrossRefund, FieldError> {
        let payment = refund
            .payment
            .ok_or_else(|| FieldError::new(format!("{prefix}payment"), "is required"))?;
        Ok(CrossRefund {
            refund_id: Id::parse(&format!("{prefix}refund_id"), &refund.refund_id)?,
            payment: CrossPayment::from_pb(&format!("{prefix}payment."), payment)?,
            amount: Money::parse_positive(&format!("{prefix}amount"), &refund.amount)?,
        })
    }

    pub fn to_pb(&self) -> pb::CrossRefund {
        pb::CrossRefund {
            refund_id: self.refund_id.to_string(),
            payment: Some(self.payment.to_pb()),
            amount: self.amount.to_string(),
        }
    }
}

impl CrossTransfer {
    pub fn from_pb(prefix: &str, t: pb::CrossTransfer) -> Result<CrossTransfer, FieldError> {
        let field = |name: &str| format!("{prefix}{name}");
        let employee = match pb::InsuranceType::try_from(t.insurance_type) {
            Ok(pb::InsuranceType::Employee) => true,
            Ok(pb::InsuranceType::Resident) => false,
            _ => return Err(enum_error(&field("insurance_type"), t.insurance_type)),
        };
        let name = t.name.trim();
        if name.is_empty() {
            return Err(FieldError::new(field("name"), "is required"));
        }
        Ok(CrossTransfer {
            transfer_id: Id::parse(&field("transfer_id"), &t.transfer_id)?,
            person_id: Id::parse(&field("person_id"), &t.person_id)?,
            name: name.to_owned(),
            employee,
            from_province: ProvinceCode::parse(&field("from_province"), &t.from_province)?,
            to_province: ProvinceCode::parse(&field("to_province"), &t.to_province)?,
            to_region: crate::RegionCode::parse(&field("to_region"), &t.to_region)?,
            amount: Money::parse_unsigned(&field("amount"), &t.amount)?,
            follow_up: t.follow_up,
        })
    }

    pub fn to_pb(&self) -> pb::CrossTransfer {
        pb::CrossTransfer {
            transfer_id: self.transfer_id.to_string(),
            person_id: self.person_id.to_string(),
            name: self.name.clone(),
            insurance_type: if self.employee {
                pb::InsuranceType::Employee
            } else {
                pb::InsuranceType::Resident
            } as i32,
            from_province: self.from_province.to_string(),
            to_province: self.to_province.to_string(),
            to_region: self.to_region.to_string(),
            amount: self.amount.to_string(),
            follow_up: self.follow_up,
        }
    }
}

/// What a reversal found and did, as the donor's node and the hub report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalOutcome {
    /// True when the payment had been approved, so money went back.
    pub was_approved: bool,
    /// Month of the original payment, when it had been approved.
    pub original_period: Option<crate::Period>,
    /// Month of the credit back, when an approved payment was reversed.
    pub reversal_period: Option<crate::Period>,
}

impl ReversalOutcome {
    pub const NOTHING_APPROVED: ReversalOutcome = ReversalOutcome {
        was_approved: false,
        original_period: None,
        reversal_period: None,
    };

    pub fn to_pb(&self) -> pb::ReversalAnswer {
        pb::ReversalAnswer {
            was_approved: self.was_approved,
            original_period: self.original_period.map(|p| p.to_string()).unwrap_or_default(),
            reversal_period: self.reversal_period.map(|p| p.to_string()).unwrap_or_default(),
        }
    }

    /// Reads an answer; an approved reversal must name both months.
    pub fn from_pb(answer: pb::ReversalAnswer) -> Result<ReversalOutcome, FieldError> {
        let month = |field: &str, text: &str| match text {
            "" => Ok(None),
            text => crate::Period::parse(field, text).map(Some),
        };
        let outcome = ReversalOutcome {
            was_approved: answer.was_approved,
            original_period: month("original_period", &answer.original_period)?,
            reversal_period: month("reversal_period", &answer.reversal_period)?,
        };
        if outcome.was_approved && (outcome.original_period.is_none() || outcome.reversal_period.is_none()) {
            return Err(FieldError::new(
                "reversal_period",
                "an approved payment's reversal names both months",
            ));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            relationship_id: Id::parse("r", "rel-1").unwrap(),
            donor_id: Id::parse("d", "donor").unwrap(),
            donor_province: ProvinceCode::parse("p", "13").unwrap(),
            beneficiary_id: Id::parse("b", "kin").unwrap(),
            beneficiary_province: ProvinceCode::parse("p", "41").unwrap(),
            kind: RelationKind::Parent,
            quota: Money::from_fen(50_000),
        }
    }

    #[test]
    fn notices_survive_the_wire() {
        let bodies = [
            NoticeBody::RelationshipEnded {
                grant: grant(),
                reason: EndReason::DonorTerminated,
                quota: Money::from_fen(50_000),
                used: Money::from_fen(1_250),
                version: 3,
            },
            NoticeBody::DissolutionRequested {
                relationship_id: grant().relationship_id,
                reason: EndReason::BeneficiaryRequest,
            },
            NoticeBody::QuotaChanged {
                relationship_id: grant().relationship_id,
                change_id: Id::parse("c", "change-1").unwrap(),
                quota: Money::from_fen(80_000),
                version: 2,
            },
        ];
        for body in bodies {
            let notice = Notice {
                id: "n/1".into(),
                from: grant().donor_province,
                to: grant().beneficiary_province,
                body,
            };
            assert_eq!(Notice::from_pb(notice.to_pb()).unwrap(), notice);
        }
    }

    #[test]
    fn only_the_right_party_sends_a_notice_and_only_to_the_other() {
        let province = |code: &str| ProvinceCode::parse("p", code).unwrap();
        let notice = |from: &str, to: &str, body: NoticeBody| Notice {
            id: body.notice_id(),
            from: province(from),
            to: province(to),
            body,
        };
        let ended = NoticeBody::RelationshipEnded {
            grant: grant(),
            reason: EndReason::DonorRequest,
            quota: Money::from_fen(50_000),
            used: Money::ZERO,
            version: 1,
        };
        let asked = NoticeBody::DissolutionRequested {
            relationship_id: grant().relationship_id,
            reason: EndReason::BeneficiaryRequest,
        };
        let changed = NoticeBody::QuotaChanged {
            relationship_id: grant().relationship_id,
            change_id: Id::parse("c", "c-1").unwrap(),
            quota: Money::from_fen(1),
            version: 2,
        };
        // The donor (13) ends and changes; the beneficiary (41) asks to end.
        assert_eq!(notice("13", "41", ended.clone()).check_against(&grant()), Ok(()));
        assert_eq!(notice("13", "41", changed.clone()).check_against(&grant()), Ok(()));
        assert_eq!(notice("41", "13", asked.clone()).check_against(&grant()), Ok(()));
        assert_eq!(notice("13", "41", changed.clone()).id, "quota/rel-1/c-1");

        let refused = notice("32", "41", ended.clone()).check_against(&grant()).unwrap_err();
        assert!(refused.is_not_a_party(), "{refused}");
        assert!(
            refused.to_string().contains("province 32 is no party to relationship rel-1"),
            "{refused}"
        );
        assert!(matches!(
            notice("41", "13", changed.clone()).check_against(&grant()),
            Err(NoticeRefusal::WrongSender { .. })
        ));
        assert!(matches!(
            notice("13", "41", asked.clone()).check_against(&grant()),
            Err(NoticeRefusal::WrongSender { .. })
        ));
        assert!(matches!(
            notice("41", "32", asked).check_against(&grant()),
            Err(NoticeRefusal::WrongDestination { .. })
        ));
        let mut renamed = notice("13", "41", changed);
        renamed.id = "ended/rel-2".into();
        assert!(matches!(renamed.check_against(&grant()), Err(NoticeRefusal::WrongId { .. })));
        let mut other = grant();
        other.beneficiary_id = Id::parse("b", "stranger").unwrap();
        assert!(matches!(
            notice("13", "41", ended.clone()).check_against(&other),
            Err(NoticeRefusal::GrantDiffers { .. })
        ));
        // A same-province relationship never sends a notice across.
        let mut local = grant();
        local.beneficiary_province = local.donor_province;
        let refused = notice("32", "13", ended).check_against(&local).unwrap_err();
        assert!(matches!(refused, NoticeRefusal::SameProvince { .. }), "{refused}");
    }

    #[test]
    fn contributions_go_to_a_fund_and_care_to_an_institution() {
        assert_eq!(
            Payee::for_purpose("institution_id", Purpose::ResidentContribution, "").unwrap(),
            Payee::Fund(Fund::ResidentInsurance)
        );
        assert!(Payee::for_purpose("institution_id", Purpose::LongTermCareContribution, "H32050000001").is_err());
        assert!(Payee::for_purpose("institution_id", Purpose::Inpatient, "").is_err());
        let payee = Payee::for_purpose("institution_id", Purpose::Inpatient, "H32050000001").unwrap();
        assert_eq!(payee.institution_id(), "H32050000001");
    }
}
