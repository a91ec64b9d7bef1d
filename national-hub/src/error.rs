//! The hub's one error type and its one mapping to gRPC status codes.

use gongji_common::{contract::NoticeRefusal, money::Overflow, store::StoreError, FieldError};
use tonic::Status;

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

    pub fn reused(what: &str, id: impl std::fmt::Display) -> HubError {
        HubError::AlreadyExists(format!("{what} id {id} was already used with different content"))
    }
}

impl From<HubError> for Status {
    fn from(error: HubError) -> Status {
        let message = error.to_string();
        match error {
            HubError::InvalidArgument(_) => Status::invalid_argument(message),
            HubError::NotFound { .. } | HubError::Missing(_) => Status::not_found(message),
            HubError::AlreadyExists(_) => Status::already_exists(message),
            HubError::Unavailable(_) => Status::unavailable(message),
            HubError::FailedPrecondition(_) => Status::failed_precondition(message),
            HubError::NoticeRefused(refusal) => match refusal {
                NoticeRefusal::Unknown { .. } => Status::not_found(message),
                NoticeRefusal::WrongId { .. } => Status::invalid_argument(message),
                refusal if refusal.is_not_a_party() => Status::permission_denied(message),
                _ => Status::failed_precondition(message),
            },
            HubError::Store(store) if store.is_unavailable() => Status::unavailable(message),
            HubError::Store(_) | HubError::Overflow(_) | HubError::Internal(_) => {
                tracing::error!(%message, "internal error");
                Status::internal(message)
            }
        }
    }
}

pub type HubResult<T> = Result<T, HubError>;
