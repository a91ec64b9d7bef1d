//! "An institution pays, refunds and reverses only as itself": the checks
//! the public handlers make for a caller with the institution role, who
//! the guard (`gongji_common::access`) has let call Pay, RefundPayment and
//! ReversePayment. Callers of other roles pass: the guard checked them.

use gongji_common::{
    access::{Principal, Role},
    Id,
};
use tonic::Status;

use crate::{
    error::NodeError,
    service::{Node, PaymentView},
};

/// The institution `principal` is, if it acts as one.
fn acting_institution(principal: &Principal) -> Option<&str> {
    match principal.role {
        Role::Institution => Some(principal.institution.as_ref().map_or("", |code| code.as_str())),
        _ => None,
    }
}

fn denied(principal: &Principal, mine: &str, theirs: &str, what: &str) -> Status {
    let theirs = if theirs.is_empty() { "no institution (a fund)" } else { theirs };
    Status::permission_denied(format!(
        "client {:?} is institution {mine} and cannot {what} for {theirs}",
        principal.name
    ))
}

/// A payment to `institution_id` may be asked for by `principal`.
pub fn may_pay(principal: &Principal, institution_id: &str) -> Result<(), Status> {
    match acting_institution(principal) {
        Some(mine) if mine != institution_id.trim() => Err(denied(principal, mine, institution_id.trim(), "pay")),
        _ => Ok(()),
    }
}

/// Payment `payment_id` may be refunded or reversed (`what`) by
/// `principal`: an institution only touches its own payments. A payment
/// this node does not know (or only knows as reversed before it arrived)
/// names no institution, so it passes: reversing the unknown is always
/// safe, and refunding it is refused by the handler.
pub fn may_touch(principal: &Principal, node: &Node, payment_id: &str, what: &str) -> Result<(), Status> {
    let Some(mine) = acting_institution(principal) else {
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
    if theirs == mine {
        Ok(())
    } else {
        Err(denied(principal, mine, &format!("{theirs}'s payment {payment_id}"), what))
    }
}
