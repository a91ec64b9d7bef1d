//! The node's one error type and its one mapping to gRPC status codes.
//! Business refusals are not errors: they are recorded outcomes.

use gongji_common::{contract::Payee, money::Overflow, store::StoreError, FieldError, Id, InstitutionCode};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad input; the message names the field.
    #[error("{0}")]
    InvalidArgument(#[from] FieldError),
    /// An id this node does not know.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// Not found, said in a whole sentence (where it is, or what is there instead).
    #[error("{0}")]
    Missing(String),
    /// An id reused with different content, or a duplicate registration.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but the state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller may not do this to this object (an institution touching
    /// another's payment).
    #[error("{0}")]
    PermissionDenied(String),
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
        NodeError::NotFound { what, id: id.to_string() }
    }

    /// The refusal of an id reused with different content.
    pub fn reused(what: &str, id: impl std::fmt::Display) -> NodeError {
        NodeError::AlreadyExists(format!(
            "{what} id {id} was already used with different content; use a new id for a new {what}"
        ))
    }

    /// The refusal of institution `mine` touching (`what`: "refund",
    /// "reverse") payment `id` made to `payee`; names both.
    pub fn not_yours(mine: &InstitutionCode, what: &str, id: &Id, payee: &Payee) -> NodeError {
        let whose = match payee {
            Payee::Institution(theirs) => format!("made at institution {theirs}"),
            Payee::Fund(_) => "to a fund, not an institution".to_owned(),
        };
        NodeError::PermissionDenied(format!("institution {mine} cannot {what} payment {id}: it was {whose}"))
    }

    /// The refusal of a payment whose id another institution reversed first.
    pub fn taken(id: &Id) -> NodeError {
        NodeError::AlreadyExists(format!(
            "payment id {id} is taken by another institution's reversal; use another id"
        ))
    }
}

impl From<NodeError> for Status {
    fn from(error: NodeError) -> Status {
        let message = error.to_string();
        match error {
            NodeError::InvalidArgument(_) => Status::invalid_argument(message),
            NodeError::NotFound { .. } | NodeError::Missing(_) => Status::not_found(message),
            NodeError::AlreadyExists(_) => Status::already_exists(message),
            NodeError::FailedPrecondition(_) => Status::failed_precondition(message),
            NodeError::PermissionDenied(_) => Status::permission_denied(message),
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
