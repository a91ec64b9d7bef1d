//! Reversals: an institution that never got the answer to a payment
//! reverses it; the rules ("reversal wins over a late approval") are
//! [`crate::domain::decide_reversal`], [`crate::domain::decide_reversal_answer`]
//! and [`crate::domain::decide_debit_reversal`]; this module loads their
//! state and talks to the hub.

use gongji_common::pending::PendingKind;
use gongji_common::{
    contract::{CrossPayment, ReversalOutcome},
    Id, InstitutionCode, Period,
};

use super::{Node, PaymentView};
use crate::{
    domain::{
        decide_debit_reversal, decide_reversal, decide_reversal_answer, reversal_reference, AcquiredPayment, DebitReversalState,
        ReversalAnswerState, ReversalState, Reversed,
    },
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{DEBITS, PAYMENTS, RELATIONSHIPS, REVERSED_IDS},
};

impl Node {
    /// Reverses a payment at the node where it was (or would have been)
    /// served, for `acting`: the institution asking, which may reverse only
    /// its own payments, or `None` for an operator (or this node giving up),
    /// who may reverse any.
    pub async fn reverse(&self, id: &Id, acting: Option<&InstitutionCode>) -> NodeResult<PaymentView> {
        let reversed = self
            .decide(|tx, now| {
                let payment = tx.get(PAYMENTS, id)?;
                let recipient = match payment.as_ref().and_then(|p| p.route.as_ref()) {
                    Some(route) => Self::load_recipient(tx, &route.relationship_id, &route.donor_id, &reversal_reference(id))?,
                    None => Default::default(),
                };
                let state = ReversalState {
                    payment,
                    debit: tx.get(DEBITS, id)?,
                    tombstone: tx.get(REVERSED_IDS, id)?,
                    recipient,
                };
                Ok(decide_reversal(state, id, acting, now)?)
            })
            .await?;
        match reversed {
            Reversed::Payment(p) if p.reversal.is_some_and(|r| !r.settled) => self.resolve_reversal(id).await.map(PaymentView::Acquired),
            Reversed::Payment(p) => Ok(PaymentView::Acquired(p)),
            Reversed::Cancelled(tombstone) => Ok(PaymentView::Cancelled {
                payment_id: id.clone(),
                tombstone,
            }),
        }
    }

    /// Tells the hub (and through it the donor's node) about a reversal, and
    /// records what it found (see [`decide_reversal_answer`]).
    pub async fn resolve_reversal(&self, id: &Id) -> NodeResult<AcquiredPayment> {
        let _flight = self.in_flight.enter(PendingKind::Reversal, id);
        let payment = self.acquired(id)?;
        let (Some(route), Some(reversal)) = (payment.route.clone(), payment.reversal) else {
            return Ok(payment);
        };
        if reversal.settled {
            return Ok(payment);
        }
        let outcome = self.hub.route_reversal(&route).await.map_err(|Unanswered(why)| {
            NodeError::Unavailable(format!(
                "payment {id} is reversed here; the donor's province has not confirmed yet: {why}; this is retried in the background"
            ))
        })?;
        let payment = self
            .decide(|tx, now| {
                let state = ReversalAnswerState {
                    payment: tx.get(PAYMENTS, id)?,
                    relationship: tx.get(RELATIONSHIPS, &route.relationship_id)?,
                    region: self.load_payee_region(tx, &route.payee, &route.beneficiary_id)?,
                };
                Ok(decide_reversal_answer(state, id, &outcome, now)?)
            })
            .await?;
        tracing::info!(payment = %id, reversal = ?payment.reversal, "reversal settled");
        Ok(payment)
    }

    /// The donor's node reverses a debit (see [`decide_debit_reversal`]).
    pub async fn reverse_debit(&self, payment: CrossPayment, period: Period) -> NodeResult<ReversalOutcome> {
        if payment.donor_province != self.province {
            return Err(
                gongji_common::FieldError::new("payment.donor_province", format!("this node serves province {}", self.province)).into(),
            );
        }
        let id = &payment.payment_id;
        let outcome = self
            .decide(|tx, now| {
                let state = DebitReversalState {
                    here: self.province,
                    debit: tx.get(DEBITS, id)?,
                    recipient: Self::load_recipient(tx, &payment.relationship_id, &payment.donor_id, &reversal_reference(id))?,
                };
                Ok(decide_debit_reversal(state, &payment, period, now)?)
            })
            .await?;
        tracing::info!(payment = %id, ?outcome, "debit reversed");
        Ok(outcome)
    }
}
