//! Reversals: an institution that never got the answer to a payment reverses
//! it. An approved payment is credited back (to the quota, or the donor's
//! balance if the relationship has ended), a pending or unknown one is
//! cancelled, and a reversed id is never approved afterwards, even by a late
//! message, because every hop records the reversal before anything else can
//! approve the id. An institution reverses only its own payments, checked in
//! the reversal's own transaction; an unknown id it reverses becomes its id
//! (see `Tombstone`), so it cannot cancel another institution's payment in
//! advance.

use gongji_common::{
    contract::{CrossPayment, ReversalOutcome, TxKind, TxStatus},
    pending::PendingKind,
    period::now_millis,
    statement::Direction,
    Id, InstitutionCode, Period,
};

use super::{check_touch, cross::CrossLine, payments::Source, Node, PaymentView};
use crate::{
    domain::{AcquiredPayment, Event, EventKind, IssuedDebit, Relationship, Reversal, Tombstone},
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{self, DEBITS, PAYMENTS, RELATIONSHIPS, REVERSED_IDS},
};

impl Node {
    /// Reverses a payment at the node where it was (or would have been)
    /// served, for `acting`: the institution asking, which may reverse only
    /// its own payments, or `None` for an operator (or this node giving up),
    /// who may reverse any.
    pub async fn reverse(&self, id: &Id, acting: Option<&InstitutionCode>) -> NodeResult<PaymentView> {
        let view = self
            .transact(|tx| {
                let Some(mut payment) = tx.get::<AcquiredPayment>(PAYMENTS, id.as_bytes())? else {
                    if let Some(debit) = tx.get::<IssuedDebit>(DEBITS, id.as_bytes())? {
                        // Decided here for another province's payment (reversed
                        // through the hub, by the node that served it): no
                        // institution but its payee may even cancel the id here.
                        if let Err(refusal) = check_touch(acting, "reverse", id, &debit.payment.payee) {
                            return Ok(Err(refusal));
                        }
                    }
                    // Never seen: cancel the id for good, as the reversing
                    // institution's. A repeated reversal (by anyone) changes nothing.
                    let tombstone = match tx.get::<Tombstone>(REVERSED_IDS, id.as_bytes())? {
                        Some(tombstone) => tombstone,
                        None => {
                            let tombstone = Tombstone::new(acting.cloned(), now_millis());
                            tx.put(REVERSED_IDS, id.as_bytes(), &tombstone)?;
                            tombstone
                        }
                    };
                    return Ok(Ok(PaymentView::Cancelled {
                        payment_id: id.clone(),
                        tombstone,
                    }));
                };
                if let Err(refusal) = check_touch(acting, "reverse", id, &payment.command.payee) {
                    return Ok(Err(refusal));
                }
                if payment.refunded > gongji_common::Money::ZERO {
                    return Ok(Err(NodeError::FailedPrecondition(format!(
                        "payment {id} has refunds, so its answer arrived; refund the rest instead of reversing"
                    ))));
                }
                match (payment.status, payment.route.clone()) {
                    (TxStatus::Declined | TxStatus::Reversed, _) | (_, None) => {}
                    (TxStatus::Approved, Some(route)) if !route.is_cross_province() => {
                        let relationship = tx.get::<Relationship>(RELATIONSHIPS, route.relationship_id.as_bytes())?;
                        let how = Self::give_back(
                            tx,
                            relationship,
                            &route.donor_id,
                            route.amount,
                            Source::Local(store::payee(&route.payee)),
                            &format!("reversal/{id}"),
                            "payment reversed",
                        )?;
                        Self::record_reversal_event(tx, &route, how)?;
                        payment.status = TxStatus::Reversed;
                        payment.reversal = Some(Reversal::new(true, None, true, now_millis()));
                        tx.put(PAYMENTS, id.as_bytes(), &payment)?;
                    }
                    (TxStatus::Approved | TxStatus::Pending, Some(_)) => {
                        // Cross-province: stop here at once (a late answer finds the
                        // payment no longer pending), then tell the donor's side.
                        let was_approved = payment.status == TxStatus::Approved;
                        Self::clear_pending(tx, PendingKind::Payment, id)?;
                        Self::mark_pending(tx, PendingKind::Reversal, id)?;
                        payment.status = TxStatus::Reversed;
                        payment.reversal = Some(Reversal::new(was_approved, None, false, now_millis()));
                        tx.put(PAYMENTS, id.as_bytes(), &payment)?;
                    }
                }
                Ok(Ok(PaymentView::Acquired(payment)))
            })
            .await?;
        match view {
            PaymentView::Acquired(p) if p.reversal.is_some_and(|r| !r.settled) => {
                self.resolve_reversal(id).await.map(PaymentView::Acquired)
            }
            view => Ok(view),
        }
    }

    fn record_reversal_event(tx: &gongji_common::store::Tx, route: &CrossPayment, how: &str) -> Result<(), gongji_common::store::TxFail> {
        Self::record_event(
            tx,
            &route.relationship_id,
            &Event::new(EventKind::Reversal, format!("payment reversed; {how}"), now_millis())
                .amount(route.amount)
                .reference(&route.payment_id),
        )
    }

    /// Tells the hub (and through it the donor's node) about a reversal, and
    /// records what it found: if the payment had been approved, this node's
    /// books get the payment in its month and the credit back in the
    /// reversal's month, matching the hub's and the donor's.
    pub async fn resolve_reversal(&self, id: &Id) -> NodeResult<AcquiredPayment> {
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
            .transact(|tx| {
                let Some(mut payment) = tx.get::<AcquiredPayment>(PAYMENTS, id.as_bytes())? else {
                    return Ok(Err(super::vanished("payment", id)));
                };
                let Some(mut reversal) = payment.reversal.filter(|r| !r.settled) else {
                    return Ok(Ok(payment));
                };
                if let ReversalOutcome {
                    was_approved: true,
                    original_period: Some(original),
                    reversal_period: Some(back),
                } = outcome
                {
                    if !reversal.was_approved {
                        // The approval never reached this node: book it now, in its month.
                        self.record_acquired_approval(tx, &route, original)?;
                    }
                    let region = self.payee_region(tx, &route.payee, &route.beneficiary_id)?;
                    let line = CrossLine::new(
                        back,
                        TxKind::Reversal,
                        id,
                        route.donor_province,
                        Direction::Payable,
                        route.amount,
                        region,
                    );
                    Self::post_cross(tx, &line, &store::payee(&route.payee), "cross-province payment reversed")?;
                    if let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, route.relationship_id.as_bytes())? {
                        if relationship.is_active() {
                            relationship
                                .return_quota(route.amount, now_millis())
                                .map_err(|e| gongji_common::store::StoreError::Invariant(e.to_string()))?;
                            tx.put(RELATIONSHIPS, route.relationship_id.as_bytes(), &relationship)?;
                        }
                    }
                    Self::record_reversal_event(tx, &route, "the donor's province credited it back")?;
                    payment.period = Some(original);
                    reversal.was_approved = true;
                    reversal.period = Some(back);
                } else {
                    reversal.was_approved = false;
                }
                reversal.settled = true;
                payment.reversal = Some(reversal);
                payment.decided_at = Some(now_millis());
                tx.put(PAYMENTS, id.as_bytes(), &payment)?;
                Self::clear_pending(tx, PendingKind::Reversal, id)?;
                Ok(Ok(payment))
            })
            .await?;
        tracing::info!(payment = %id, reversal = ?payment.reversal, "reversal settled");
        Ok(payment)
    }

    /// The donor's node reverses a debit: credits an approved one back in
    /// `period`, or cancels the id so that a late debit request is declined.
    pub async fn reverse_debit(&self, payment: CrossPayment, period: Period) -> NodeResult<ReversalOutcome> {
        if payment.donor_province != self.province {
            return Err(
                gongji_common::FieldError::new("payment.donor_province", format!("this node serves province {}", self.province)).into(),
            );
        }
        let id = payment.payment_id.clone();
        let outcome = self
            .transact(|tx| {
                let Some(mut debit) = tx.get::<IssuedDebit>(DEBITS, id.as_bytes())? else {
                    tx.put(
                        DEBITS,
                        id.as_bytes(),
                        &IssuedDebit::cancelled(payment.clone(), period, now_millis()),
                    )?;
                    return Ok(Ok(ReversalOutcome::NOTHING_APPROVED));
                };
                if debit.payment != payment {
                    return Ok(Err(NodeError::reused("payment", &id)));
                }
                let outcome = match (debit.status, debit.reversal) {
                    (TxStatus::Reversed, Some(r)) => ReversalOutcome {
                        was_approved: r.was_approved,
                        original_period: r.was_approved.then_some(debit.period),
                        reversal_period: r.period,
                    },
                    (TxStatus::Approved, _) => {
                        let amount = debit
                            .payment
                            .amount
                            .checked_sub(debit.refunded)
                            .unwrap_or(gongji_common::Money::ZERO);
                        let relationship = tx.get::<Relationship>(RELATIONSHIPS, payment.relationship_id.as_bytes())?;
                        let region = self.region_of(tx, &payment.donor_id)?;
                        let line = CrossLine::new(
                            period,
                            TxKind::Reversal,
                            &id,
                            payment.beneficiary_province,
                            Direction::Receivable,
                            amount,
                            region,
                        );
                        let how = Self::give_back(
                            tx,
                            relationship,
                            &payment.donor_id,
                            amount,
                            Source::Cross(line),
                            &format!("reversal/{id}"),
                            "cross-province payment reversed",
                        )?;
                        Self::record_reversal_event(tx, &payment, how)?;
                        debit.status = TxStatus::Reversed;
                        debit.reversal = Some(Reversal::new(true, Some(period), true, now_millis()));
                        tx.put(DEBITS, id.as_bytes(), &debit)?;
                        ReversalOutcome {
                            was_approved: true,
                            original_period: Some(debit.period),
                            reversal_period: Some(period),
                        }
                    }
                    _ => {
                        debit.status = TxStatus::Reversed;
                        debit.reversal = Some(Reversal::new(false, None, true, now_millis()));
                        tx.put(DEBITS, id.as_bytes(), &debit)?;
                        ReversalOutcome::NOTHING_APPROVED
                    }
                };
                Ok(Ok(outcome))
            })
            .await?;
        tracing::info!(payment = %id, ?outcome, "debit reversed");
        Ok(outcome)
    }
}
