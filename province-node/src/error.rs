//! The node's one error type and its one mapping to gRPC status codes.
//! Business refusals are not errors: they are recorded outcomes.

use gongji_common::{money::Overflow, store::StoreError, FieldError};

use crate::domain::Refusal;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad input; the message names the field.
    #[error("{0}")]
    InvalidArgument(#[from] FieldError),
    /// A refusal of the rules: nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Another node did not answer in time; the transaction is pending.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("money arithmetic overflowed")]
    Overflow(#[from] Overflow),
}

impl NodeError {
    pub fn not_found(what: &'static str, id: impl ToString) -> NodeError {
        Refusal::not_found(what, id).into()
    }
}

impl From<NodeError> for Status {
    fn from(error: NodeError) -> Status {
        let message = error.to_string();
        match error {
            NodeError::InvalidArgument(_) => Status::invalid_argument(message),
            NodeError::Refused(refusal) => match refusal {
                Refusal::NotFound { .. } | Refusal::Missing(_) => Status::not_found(message),
                Refusal::AlreadyExists(_) => Status::already_exists(message),
                Refusal::FailedPrecondition(_) => Status::failed_precondition(message),
                Refusal::PermissionDenied(_) => Status::permission_denied(message),
                Refusal::Broken(_) => {
                    tracing::error!(%message, "internal error");
                    Status::internal(message)
                }
            },
            NodeError::Unavailable(_) => Status::unavailable(message),
            NodeError::Store(store) if store.is_unavailable() => Status::unavailable(message),
            NodeError::Store(_) | NodeError::Overflow(_) => {
                tracing::error!(%message, "internal error");
                Status::internal(message)
            }
        }
    }
}

pub type NodeResult<T> = Result<T, NodeError>;
