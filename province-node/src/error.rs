//! The node's one error type and which kind of failure each of its variants
//! is (`gongji_common::status::Failure` gives each kind its gRPC code, for
//! the hub and the nodes alike). Business refusals are not errors: they are
//! recorded outcomes.

use gongji_common::{money::Overflow, status::Failure, store::StoreError, FieldError};

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

impl NodeError {
    /// The kind of failure this is (`Failure` gives each kind its gRPC code,
    /// the same at the hub).
    pub fn failure(&self) -> Failure {
        match self {
            NodeError::InvalidArgument(_) => Failure::InvalidArgument,
            NodeError::Refused(refusal) => match refusal {
                Refusal::NotFound { .. } | Refusal::Missing(_) => Failure::NotFound,
                Refusal::AlreadyExists(_) => Failure::AlreadyExists,
                Refusal::FailedPrecondition(_) => Failure::FailedPrecondition,
                Refusal::PermissionDenied(_) => Failure::PermissionDenied,
                Refusal::Broken(_) => Failure::Internal,
            },
            NodeError::Unavailable(_) => Failure::Unavailable,
            NodeError::Store(store) => Failure::of_store(store),
            NodeError::Overflow(_) => Failure::Internal,
        }
    }
}

impl From<NodeError> for Status {
    fn from(error: NodeError) -> Status {
        error.failure().status(error.to_string())
    }
}

pub type NodeResult<T> = Result<T, NodeError>;
