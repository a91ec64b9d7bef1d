//! Why a request is refused: nothing is written for it and the caller gets
//! an error. (A decline is not a refusal: it is a recorded outcome.)

use gongji_common::{contract::Payee, Id, InstitutionCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An id this node does not know.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// Not found, said in a whole sentence (where it is, or what is there instead).
    #[error("{0}")]
    Missing(String),
    /// An id reused with different content, or a duplicate.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but the state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller may not do this to this object.
    #[error("{0}")]
    PermissionDenied(String),
    /// The records contradict each other: a broken node, never input.
    #[error("books would break: {0}")]
    Broken(String),
}

impl Refusal {
    pub fn not_found(what: &'static str, id: impl ToString) -> Refusal {
        Refusal::NotFound { what, id: id.to_string() }
    }

    /// The refusal of an id reused with different content.
    pub fn reused(what: &str, id: impl std::fmt::Display) -> Refusal {
        Refusal::AlreadyExists(format!(
            "{what} id {id} was already used with different content; use a new id for a new {what}"
        ))
    }

    /// The refusal of institution `mine` touching (`what`: "refund",
    /// "reverse") payment `id` made to `payee`; names both.
    pub fn not_yours(mine: &InstitutionCode, what: &str, id: &Id, payee: &Payee) -> Refusal {
        let whose = match payee {
            Payee::Institution(theirs) => format!("made at institution {theirs}"),
            Payee::Fund(_) => "to a fund, not an institution".to_owned(),
        };
        Refusal::PermissionDenied(format!("institution {mine} cannot {what} payment {id}: it was {whose}"))
    }

    /// The refusal of a payment whose id another institution reversed first.
    pub fn taken(id: &Id) -> Refusal {
        Refusal::AlreadyExists(format!(
            "payment id {id} is taken by another institution's reversal; use another id"
        ))
    }

    /// A record this step read a moment ago is gone: the store lost it.
    pub fn vanished(what: &'static str, id: &Id) -> Refusal {
        Refusal::not_found(what, id)
    }
}

/// Money arithmetic that overflows in a decision is a broken record, never input.
impl From<gongji_common::money::Overflow> for Refusal {
    fn from(e: gongji_common::money::Overflow) -> Refusal {
        Refusal::Broken(e.to_string())
    }
}
