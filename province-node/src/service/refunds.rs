//! Refunds of approved payments: asked at the beneficiary's node (where the
//! institution or fund is), taken back at the donor's node. The money returns
//! to the quota it came from, or to the donor's available balance if the
//! relationship has ended. Never more than the payment paid. An institution
//! refunds only its own payments, checked in the refund's own transaction.

use gongji_common::period::now_millis;
use gongji_common::{
    contract::{CrossRefund, TxKind, TxStatus},
    pending::PendingKind,
    statement::Direction,
    Id, InstitutionCode, Money, Period,
};

use super::{check_touch, cross::CrossLine, payments::Source, Node};
use crate::{
    domain::{AcquiredPayment, Decline, DeclineReason, Event, EventKind, IssuedDebit, RefundCommand, RefundRecord, Relationship},
    error::{NodeError, NodeResult},
    hub_client::{HubDecision, Unanswered},
    store::{self, DEBITS, PAYMENTS, REFUNDS, RELATIONSHIPS},
};

impl Node {
    /// Refunds all or part of a payment served here, for `acting`: the
    /// institution asking, which may refund only its own payments, or `None`
    /// for an operator, who may refund any. Idempotent by refund id.
    pub async fn refund(&self, command: RefundCommand, acting: Option<&InstitutionCode>) -> NodeResult<RefundRecord> {
        if let Some(existing) = self.store.get::<RefundRecord>(REFUNDS, command.refund_id.as_bytes())? {
            if existing.command != command {
                return Err(NodeError::reused("refund", &command.refund_id));
            }
            check_touch(acting, "refund", &command.payment_id, &existing.payment.payee)?;
            return if existing.is_pending() {
                self.resolve_refund(&command.refund_id).await
            } else {
                Ok(existing)
            };
        }
        self.acquired(&command.payment_id)?;
        let record = self
            .transact(|tx| {
                if let Some(existing) = tx.get::<RefundRecord>(REFUNDS, command.refund_id.as_bytes())? {
                    return Ok(if existing.command == command {
                        check_touch(acting, "refund", &command.payment_id, &existing.payment.payee).map(|()| existing)
                    } else {
                        Err(NodeError::reused("refund", &command.refund_id))
                    });
                }
                let Some(mut payment) = tx.get::<AcquiredPayment>(PAYMENTS, command.payment_id.as_bytes())? else {
                    return Ok(Err(super::vanished("payment", &command.payment_id)));
                };
                if let Err(refusal) = check_touch(acting, "refund", &command.payment_id, &payment.command.payee) {
                    return Ok(Err(refusal));
                }
                let (TxStatus::Approved, Some(route)) = (payment.status, payment.route.clone()) else {
                    return Ok(Err(NodeError::FailedPrecondition(format!(
                        "payment {} is {}; only an approved payment can be refunded",
                        command.payment_id,
                        status_word(payment.status)
                    ))));
                };
                let refundable = payment.refundable();
                if command.amount > refundable {
                    let decline = Decline::new(
                        DeclineReason::RefundExceedsPayment,
                        format!(
                            "{} is more than the {refundable} left to refund of payment {}",
                            command.amount, command.payment_id
                        ),
                    );
                    let record = RefundRecord::new(command.clone(), route, TxStatus::Declined, None, Some(decline), now_millis());
                    tx.put(REFUNDS, command.refund_id.as_bytes(), &record)?;
                    return Ok(Ok(record));
                }
                payment.refunded = payment
                    .refunded
                    .checked_add(command.amount)
                    .map_err(|e| gongji_common::store::StoreError::Invariant(e.to_string()))?;
                tx.put(PAYMENTS, command.payment_id.as_bytes(), &payment)?;
                let record = if route.is_cross_province() {
                    Self::mark_pending(tx, PendingKind::Refund, &command.refund_id)?;
                    RefundRecord::new(command.clone(), route, TxStatus::Pending, None, None, now_millis())
                } else {
                    let relationship = tx.get::<Relationship>(RELATIONSHIPS, route.relationship_id.as_bytes())?;
                    let how = Self::give_back(
                        tx,
                        relationship,
                        &route.donor_id,
                        command.amount,
                        Source::Local(store::payee(&route.payee)),
                        command.refund_id.as_str(),
                        "refund",
                    )?;
                    Self::record_refund_event(tx, &route.relationship_id, &command.refund_id, command.amount, how)?;
                    RefundRecord::new(command.clone(), route, TxStatus::Approved, None, None, now_millis())
                };
                tx.put(REFUNDS, command.refund_id.as_bytes(), &record)?;
                Ok(Ok(record))
            })
            .await?;
        if record.is_pending() {
            return self.resolve_refund(&command.refund_id).await;
        }
        Ok(record)
    }

    fn record_refund_event(
        tx: &gongji_common::store::Tx,
        relationship: &Id,
        refund: &Id,
        amount: Money,
        how: &str,
    ) -> Result<(), gongji_common::store::TxFail> {
        Self::record_event(
            tx,
            relationship,
            &Event::new(EventKind::Refund, format!("refund {how}"), now_millis())
                .amount(amount)
                .reference(refund),
        )
    }

    /// Routes a pending cross-province refund through the hub and records
    /// the donor's node's answer.
    pub async fn resolve_refund(&self, id: &Id) -> NodeResult<RefundRecord> {
        let record = self.refund_record(id)?;
        if !record.is_pending() {
            return Ok(record);
        }
        let crossing = CrossRefund {
            refund_id: record.command.refund_id.clone(),
            payment: record.payment.clone(),
            amount: record.command.amount,
        };
        let decision =
            self.hub.route_refund(&crossing).await.map_err(|Unanswered(why)| {
                NodeError::Unavailable(format!("refund {id} is pending: {why}; it is retried in the background"))
            })?;
        let record = self
            .transact(|tx| {
                let Some(mut record) = tx.get::<RefundRecord>(REFUNDS, id.as_bytes())? else {
                    return Ok(Err(super::vanished("refund", id)));
                };
                if !record.is_pending() {
                    return Ok(Ok(record));
                }
                let route = record.payment.clone();
                let amount = record.command.amount;
                let release = |tx: &gongji_common::store::Tx| -> Result<(), gongji_common::store::TxFail> {
                    // Free what the refund had reserved on the payment.
                    if let Some(mut payment) = tx.get::<AcquiredPayment>(PAYMENTS, record.command.payment_id.as_bytes())? {
                        payment.refunded = payment.refunded.checked_sub(amount).unwrap_or(Money::ZERO);
                        tx.put(PAYMENTS, record.command.payment_id.as_bytes(), &payment)?;
                    }
                    Ok(())
                };
                match &decision {
                    HubDecision::Approved(period) => {
                        let region = self.payee_region(tx, &route.payee, &route.beneficiary_id)?;
                        let line = CrossLine::new(
                            *period,
                            TxKind::Refund,
                            id,
                            route.donor_province,
                            Direction::Payable,
                            amount,
                            region,
                        );
                        Self::post_cross(tx, &line, &store::payee(&route.payee), "cross-province refund")?;
                        // The grant record mirrors the quota coming back while it is live.
                        if let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, route.relationship_id.as_bytes())? {
                            if relationship.is_active() {
                                relationship
                                    .return_quota(amount, now_millis())
                                    .map_err(|e| gongji_common::store::StoreError::Invariant(e.to_string()))?;
                                tx.put(RELATIONSHIPS, route.relationship_id.as_bytes(), &relationship)?;
                            }
                        }
                        Self::record_refund_event(tx, &route.relationship_id, id, amount, "returned to the donor's province")?;
                        record.status = TxStatus::Approved;
                        record.period = Some(*period);
                    }
                    HubDecision::Taken(why) => {
                        // Another node's refund holds the id: this one was
                        // never routed, so it leaves no trace here either.
                        release(tx)?;
                        tx.remove(REFUNDS, id.as_bytes())?;
                        Self::clear_pending(tx, PendingKind::Refund, id)?;
                        return Ok(Err(NodeError::AlreadyExists(format!("{why}; nothing was recorded at this node"))));
                    }
                    HubDecision::Declined(period, decline) => {
                        release(tx)?;
                        record.status = TxStatus::Declined;
                        record.period = *period;
                        record.decline = Some(decline.clone());
                    }
                }
                record.decided_at = Some(gongji_common::period::now_millis());
                tx.put(REFUNDS, id.as_bytes(), &record)?;
                Self::clear_pending(tx, PendingKind::Refund, id)?;
                Ok(Ok(record))
            })
            .await?;
        tracing::info!(refund = %id, status = ?record.status, "cross-province refund resolved");
        Ok(record)
    }

    /// The donor's node takes back a refund routed by the hub. Idempotent by
    /// refund id; never more than the debit paid, less earlier refunds.
    pub async fn apply_refund(&self, refund: CrossRefund, period: Period) -> NodeResult<RefundRecord> {
        if refund.payment.donor_province != self.province {
            return Err(gongji_common::FieldError::new(
                "refund.payment.donor_province",
                format!("this node serves province {}", self.province),
            )
            .into());
        }
        let command = RefundCommand {
            refund_id: refund.refund_id.clone(),
            payment_id: refund.payment.payment_id.clone(),
            amount: refund.amount,
        };
        let record = self
            .transact(|tx| {
                if let Some(existing) = tx.get::<RefundRecord>(REFUNDS, refund.refund_id.as_bytes())? {
                    let same = existing.command == command && existing.payment == refund.payment && existing.period == Some(period);
                    return Ok(if same {
                        Ok(existing)
                    } else {
                        Err(NodeError::reused("refund", &refund.refund_id))
                    });
                }
                let debit = tx.get::<IssuedDebit>(DEBITS, refund.payment.payment_id.as_bytes())?;
                let decision = match &debit {
                    Some(d) if d.status == TxStatus::Approved && d.payment == refund.payment => {
                        let left = d.payment.amount.checked_sub(d.refunded).unwrap_or(Money::ZERO);
                        if refund.amount <= left {
                            Ok(())
                        } else {
                            Err(Decline::new(
                                DeclineReason::RefundExceedsPayment,
                                format!("only {left} of payment {} is left to refund", d.payment.payment_id),
                            ))
                        }
                    }
                    _ => Err(Decline::new(
                        DeclineReason::RefundExceedsPayment,
                        format!("payment {} is not an approved debit of this node", refund.payment.payment_id),
                    )),
                };
                if let (Ok(()), Some(mut debit)) = (&decision, debit) {
                    debit.refunded = debit
                        .refunded
                        .checked_add(refund.amount)
                        .map_err(|e| gongji_common::store::StoreError::Invariant(e.to_string()))?;
                    tx.put(DEBITS, refund.payment.payment_id.as_bytes(), &debit)?;
                    let relationship = tx.get::<Relationship>(RELATIONSHIPS, refund.payment.relationship_id.as_bytes())?;
                    let region = self.region_of(tx, &refund.payment.donor_id)?;
                    let line = CrossLine::new(
                        period,
                        TxKind::Refund,
                        &refund.refund_id,
                        refund.payment.beneficiary_province,
                        Direction::Receivable,
                        refund.amount,
                        region,
                    );
                    let how = Self::give_back(
                        tx,
                        relationship,
                        &refund.payment.donor_id,
                        refund.amount,
                        Source::Cross(line),
                        refund.refund_id.as_str(),
                        "cross-province refund",
                    )?;
                    Self::record_refund_event(tx, &refund.payment.relationship_id, &refund.refund_id, refund.amount, how)?;
                }
                let (status, decline) = match decision {
                    Ok(()) => (TxStatus::Approved, None),
                    Err(d) => (TxStatus::Declined, Some(d)),
                };
                let record = RefundRecord::new(command.clone(), refund.payment.clone(), status, Some(period), decline, now_millis());
                tx.put(REFUNDS, refund.refund_id.as_bytes(), &record)?;
                Ok(Ok(record))
            })
            .await?;
        tracing::info!(refund = %refund.refund_id, status = ?record.status, %period, "cross-province refund taken back");
        Ok(record)
    }

    pub fn refund_record(&self, id: &Id) -> NodeResult<RefundRecord> {
        self.store
            .get(REFUNDS, id.as_bytes())?
            .ok_or_else(|| NodeError::not_found("refund", id))
    }
}

fn status_word(status: TxStatus) -> &'static str {
    match status {
        TxStatus::Pending => "pending",
        TxStatus::Approved => "approved",
        TxStatus::Declined => "declined",
        TxStatus::Reversed => "reversed",
    }
}
