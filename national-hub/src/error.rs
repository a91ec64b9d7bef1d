//! The hub's one error type and which kind of failure each of its variants
//! is (`gongji_common::status::Failure` gives each kind its gRPC code).
//! Business refusals are not errors: they are recorded declines.

use gongji_common::{contract::NoticeRefusal, money::Overflow, status::Failure, store::StoreError, FieldError};
use tonic::Status;

use crate::domain::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0}")]
    InvalidArgument(#[from] FieldError),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// Not found, said in a whole sentence (what is there instead).
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Unavailable(String),
    /// The request is well-formed but the state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("money arithmetic overflowed")]
    Overflow(#[from] Overflow),
    /// A province's notice that may not be relayed: see [`NoticeRefusal`].
    #[error(transparent)]
    NoticeRefused(#[from] NoticeRefusal),
    /// A broken internal expectation (a bug), never bad input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl HubError {
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> HubError {
        HubError::NotFound { what, id: id.to_string() }
    }

    /// The kind of failure this is.
    pub fn failure(&self) -> Failure {
        match self {
            HubError::InvalidArgument(_) => Failure::InvalidArgument,
            HubError::NotFound { .. } | HubError::Missing(_) => Failure::NotFound,
            HubError::AlreadyExists(_) => Failure::AlreadyExists,
            HubError::Unavailable(_) => Failure::Unavailable,
            HubError::FailedPrecondition(_) => Failure::FailedPrecondition,
            HubError::NoticeRefused(refusal) => match refusal {
                NoticeRefusal::Unknown { .. } => Failure::NotFound,
                NoticeRefusal::WrongId { .. } => Failure::InvalidArgument,
                refusal if refusal.is_not_a_party() => Failure::PermissionDenied,
                _ => Failure::FailedPrecondition,
            },
            HubError::Store(store) => Failure::of_store(store),
            HubError::Overflow(_) | HubError::Internal(_) => Failure::Internal,
        }
    }
}

/// A decision's refusal, answered to the caller.
impl From<Refusal> for HubError {
    fn from(refusal: Refusal) -> HubError {
        match refusal {
            Refusal::AlreadyExists(why) => HubError::AlreadyExists(why),
            Refusal::FailedPrecondition(why) => HubError::FailedPrecondition(why),
            Refusal::Broken(why) => HubError::Store(StoreError::Invariant(why)),
        }
    }
}

impl From<HubError> for Status {
    fn from(error: HubError) -> Status {
        error.failure().status(error.to_string())
    }
}

pub type HubResult<T> = Result<T, HubError>;
