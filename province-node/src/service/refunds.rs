//! Refunds of approved payments: asked at the beneficiary's node (where the
//! institution or fund is), taken back at the donor's node. The rules are
//! [`crate::domain::decide_refund`], [`crate::domain::decide_refund_answer`]
//! and [`crate::domain::decide_take_back`]; this module loads their state
//! and talks to the hub.

use gongji_common::pending::PendingKind;
use gongji_common::{contract::CrossRefund, Id, InstitutionCode, Period};

use super::Node;
use crate::{
    domain::{
        decide_refund, decide_refund_answer, decide_take_back, Answered, RefundAnswerState, RefundCommand, RefundRecord, RefundState,
        Refusal, TakeBackState,
    },
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{DEBITS, PAYMENTS, REFUNDS, RELATIONSHIPS},
};

impl Node {
    /// Refunds all or part of a payment served here, for `acting`: the
    /// institution asking, which may refund only its own payments, or `None`
    /// for an operator, who may refund any. Idempotent by refund id.
    pub async fn refund(&self, command: RefundCommand, acting: Option<&InstitutionCode>) -> NodeResult<RefundRecord> {
        if self.store.get(REFUNDS, &command.refund_id)?.is_none() {
            // Says where a payment served elsewhere is, or that none is.
            self.acquired(&command.payment_id)?;
        }
        let record = self
            .decide(|tx, now| {
                let payment = tx.get(PAYMENTS, &command.payment_id)?;
                let recipient = match payment.as_ref().and_then(|p| p.route.as_ref()) {
                    Some(route) => Self::load_recipient(tx, &route.relationship_id, &route.donor_id, command.refund_id.as_str())?,
                    None => Default::default(),
                };
                let state = RefundState {
                    recorded: tx.get(REFUNDS, &command.refund_id)?,
                    payment,
                    recipient,
                };
                Ok(decide_refund(state, &command, acting, now)?)
            })
            .await?;
        if record.is_pending() {
            return self.resolve_refund(&command.refund_id).await;
        }
        Ok(record)
    }

    /// Routes a pending cross-province refund through the hub and records
    /// the donor's node's answer.
    pub async fn resolve_refund(&self, id: &Id) -> NodeResult<RefundRecord> {
        let _flight = self.in_flight.enter(PendingKind::Refund, id);
        let record = self.refund_record(id)?;
        if !record.is_pending() {
            return Ok(record);
        }
        let crossing = CrossRefund {
            refund_id: record.command.refund_id.clone(),
            payment: record.payment.clone(),
            amount: record.command.amount,
        };
        let answer =
            self.hub.route_refund(&crossing).await.map_err(|Unanswered(why)| {
                NodeError::Unavailable(format!("refund {id} is pending: {why}; it is retried in the background"))
            })?;
        let route = &record.payment;
        let answered = self
            .decide(|tx, now| {
                let state = RefundAnswerState {
                    record: tx.get(REFUNDS, id)?,
                    payment: tx.get(PAYMENTS, &record.command.payment_id)?,
                    relationship: tx.get(RELATIONSHIPS, &route.relationship_id)?,
                    region: self.load_payee_region(tx, &route.payee, &route.beneficiary_id)?,
                };
                Ok(decide_refund_answer(state, id, &answer, now)?)
            })
            .await?;
        let record = match answered {
            Answered::Recorded(record) => record,
            Answered::Taken(why) => return Err(Refusal::AlreadyExists(format!("{why}; nothing was recorded at this node")).into()),
        };
        tracing::info!(refund = %id, status = ?record.status, "cross-province refund resolved");
        Ok(record)
    }

    /// The donor's node takes back a refund routed by the hub (see
    /// [`decide_take_back`]).
    pub async fn apply_refund(&self, refund: CrossRefund, period: Period) -> NodeResult<RefundRecord> {
        if refund.payment.donor_province != self.province {
            return Err(gongji_common::FieldError::new(
                "refund.payment.donor_province",
                format!("this node serves province {}", self.province),
            )
            .into());
        }
        let record = self
            .decide(|tx, now| {
                let route = &refund.payment;
                let state = TakeBackState {
                    here: self.province,
                    recorded: tx.get(REFUNDS, &refund.refund_id)?,
                    debit: tx.get(DEBITS, &route.payment_id)?,
                    recipient: Self::load_recipient(tx, &route.relationship_id, &route.donor_id, refund.refund_id.as_str())?,
                };
                Ok(decide_take_back(state, &refund, period, now)?)
            })
            .await?;
        tracing::info!(refund = %refund.refund_id, status = ?record.status, %period, "cross-province refund taken back");
        Ok(record)
    }

    pub fn refund_record(&self, id: &Id) -> NodeResult<RefundRecord> {
        self.store.get(REFUNDS, id)?.ok_or_else(|| NodeError::not_found("refund", id))
    }
}
