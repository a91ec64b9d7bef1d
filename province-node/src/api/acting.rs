//! "An institution pays, refunds and reverses only as itself": who a caller
//! acts as, for the public handlers of Pay, RefundPayment and
//! ReversePayment (which the guard, `gongji_common::access`, lets an
//! institution call). Pay and RefundPayment are checked here; a reversal
//! may name an id the node has not seen yet, so the node checks it in the
//! same store transaction that reverses the payment or tombstones the id
//! (`Node::reverse`).

use gongji_common::{
    access::{Principal, Role},
    Id, InstitutionCode,
};
use tonic::Status;

use crate::{
    error::NodeError,
    service::{Node, PaymentView},
};

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

/// Payment `payment_id` may be refunded by `principal`: an institution only
/// refunds its own payments. A payment this node does not know passes: the
/// handler refuses to refund it.
pub fn may_refund(principal: &Principal, node: &Node, payment_id: &str) -> Result<(), Status> {
    let Some(mine) = institution(principal)? else {
        return Ok(());
    };
    let Ok(id) = Id::parse("payment_id", payment_id) else {
        return Ok(()); // the handler refuses the id itself
    };
    let theirs = match node.payment(&id) {
        Ok(PaymentView::Acquired(payment)) => payment.command.payee.institution_id().to_owned(),
        Ok(PaymentView::Issued(debit)) => debit.payment.payee.institution_id().to_owned(),
        Ok(PaymentView::Cancelled { .. }) | Err(NodeError::NotFound { .. }) => return Ok(()),
        Err(other) => return Err(other.into()),
    };
    if theirs == mine.as_str() {
        Ok(())
    } else {
        Err(denied(principal, mine, &format!("{theirs}'s payment {payment_id}"), "refund"))
    }
}
