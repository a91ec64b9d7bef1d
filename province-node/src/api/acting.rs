//! "An institution pays, refunds and reverses only as itself": who a caller
//! acts as, for the public handlers of Pay, RefundPayment and
//! ReversePayment (which the guard, `gongji_common::access`, lets an
//! institution call). Pay is checked here, on the request alone. A refund
//! or a reversal depends on the payment, which may be stored or change at
//! any moment, so the node checks it in the same store transaction that
//! refunds or reverses the payment, or tombstones an unknown id
//! (`Node::refund`, `Node::reverse`): handlers pass the acting institution.

use gongji_common::{
    access::{Principal, Role},
    InstitutionCode,
};
use tonic::Status;

/// The institution `principal` acts as, if it acts as one; `None` for the
/// other roles, whom the guard checked (an operator may act for any).
pub fn institution(principal: &Principal) -> Result<Option<&InstitutionCode>, Status> {
    match (principal.role, &principal.institution) {
        (Role::Institution, Some(code)) => Ok(Some(code)),
        // The clients file refuses such an entry; refuse rather than act for any.
        (Role::Institution, None) => Err(Status::permission_denied(format!(
            "client {:?} has the institution role but names no institution",
            principal.name
        ))),
        _ => Ok(None),
    }
}

/// A payment to `institution_id` may be asked for by `principal`.
pub fn may_pay(principal: &Principal, institution_id: &str) -> Result<(), Status> {
    match institution(principal)? {
        Some(mine) if mine.as_str() != institution_id.trim() => Err(denied(principal, mine, institution_id.trim(), "pay")),
        _ => Ok(()),
    }
}

fn denied(principal: &Principal, mine: &InstitutionCode, theirs: &str, what: &str) -> Status {
    let theirs = if theirs.is_empty() { "no institution (a fund)" } else { theirs };
    Status::permission_denied(format!(
        "client {:?} is institution {mine} and cannot {what} for {theirs}",
        principal.name
    ))
}
