//! Reversals: the first step at the hub, then the donor's node's answer
//! (the rules: `domain::reversal`).

use gongji_common::{
    contract::{CrossPayment, ReversalOutcome, TxKind},
    pending::PendingKind,
    Id,
};

use super::Hub;
use crate::{
    domain::{
        check_crosses,
        reversal::{self, ReversalAnswerDecision, ReversalDecision, ReversalSnapshot},
        TxBody,
    },
    error::{HubError, HubResult},
    store::{PENDING, TRANSACTIONS},
};

impl Hub {
    /// Routes a reversal: a payment the hub never saw is cancelled for good; a
    /// pending one is cancelled at once (a late approval is then undone); an
    /// approved one is credited back in the open month.
    pub async fn route_reversal(&self, payment: CrossPayment) -> HubResult<ReversalOutcome> {
        check_crosses("donor_province", payment.donor_province, payment.beneficiary_province)?;
        let id = payment.payment_id.clone();
        let payment_key = TxKind::Payment.key(&id);
        let reversal_key = TxKind::Reversal.key(&id);
        let decided = self
            .transact(|tx| {
                let snapshot = ReversalSnapshot {
                    original: tx.get(TRANSACTIONS, &payment_key)?,
                    reversal: tx.get(TRANSACTIONS, &reversal_key)?,
                    open: Self::open(tx)?,
                    donor_reserved: Self::reserved(tx, payment.donor_province)?,
                };
                let decided = reversal::decide(&snapshot, &payment, self.now());
                match &decided {
                    ReversalDecision::Done(_) | ReversalDecision::HeldByAnother | ReversalDecision::AskDonor => {}
                    ReversalDecision::CancelUnknown(cancelled) => Self::put_new(tx, cancelled)?,
                    ReversalDecision::Start {
                        cancelled,
                        release,
                        reversal,
                    } => {
                        if let Some(cancelled) = cancelled {
                            Self::put_changed(tx, cancelled)?;
                            tx.remove(PENDING, &PendingKind::Payment.key(&id))?;
                        }
                        Self::reserve(tx, *release)?;
                        Self::put_new(tx, reversal)?;
                        tx.put(PENDING, &PendingKind::Reversal.key(&id), &Some(self.now()))?;
                    }
                }
                Ok(decided)
            })
            .await?;
        match decided {
            ReversalDecision::Done(outcome) => Ok(outcome),
            ReversalDecision::CancelUnknown(_) => Ok(ReversalOutcome::NOTHING_APPROVED),
            ReversalDecision::HeldByAnother => {
                // Another payment holds this id at the hub, so this one never
                // got past it: there is nothing of it to undo.
                tracing::warn!(payment = %id, "reversal of a payment whose id another payment holds at the hub");
                Ok(ReversalOutcome::NOTHING_APPROVED)
            }
            ReversalDecision::AskDonor | ReversalDecision::Start { .. } => self.forward_reversal(&id).await,
        }
    }

    /// Asks the donor's node to reverse the payment and records what it did:
    /// if it had approved it, the payment's approval (if the hub never
    /// learned it) and the credit back, each booked in its own month.
    pub async fn forward_reversal(&self, id: &Id) -> HubResult<ReversalOutcome> {
        let _flight = self.in_flight.enter(PendingKind::Reversal, id);
        let payment_key = TxKind::Payment.key(id);
        let reversal_key = TxKind::Reversal.key(id);
        let pending = self.transaction(TxKind::Reversal, id)?;
        let TxBody::Reversal(payment) = &pending.body else {
            return Err(HubError::Internal(format!("reversal {id} carries no payment")));
        };
        if !pending.is_pending() {
            return Ok(reversal::outcome(&self.transaction(TxKind::Payment, id)?, &pending));
        }
        let answer = self
            .provinces
            .reverse_debit(payment, pending.period)
            .await
            .map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", payment.donor_province)))?;
        let outcome = self
            .transact(|tx| {
                let (Some(original), Some(pending)) = (tx.get(TRANSACTIONS, &payment_key)?, tx.get(TRANSACTIONS, &reversal_key)?) else {
                    return Err(HubError::not_found("reversal", id));
                };
                let now = self.now();
                match reversal::decide_answer(&original, &pending, &answer, now) {
                    ReversalAnswerDecision::Unchanged(outcome) => Ok(outcome),
                    ReversalAnswerDecision::Decided {
                        mut original,
                        mut reversal,
                        book_original,
                        book_reversal,
                        contradicts_hub,
                    } => {
                        if contradicts_hub {
                            tracing::error!(payment = %id, "the donor's node reports no approval of a payment the hub recorded approved");
                        }
                        // Each booked on what the store holds then: the two
                        // may share a month.
                        if book_original {
                            Self::book(tx, &mut original, now)?;
                        }
                        if book_reversal {
                            Self::book(tx, &mut reversal, now)?;
                        }
                        Self::put_changed(tx, &original)?;
                        Self::put_changed(tx, &reversal)?;
                        tx.remove(PENDING, &PendingKind::Reversal.key(id))?;
                        Ok(reversal::outcome(&original, &reversal))
                    }
                }
            })
            .await?;
        tracing::info!(payment = %id, ?outcome, "reversal routed");
        Ok(outcome)
    }
}
