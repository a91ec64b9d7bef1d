//! Payments: served here as the acquirer (the beneficiary's province), and
//! decided here as the issuer (the donor's province). The rules are
//! [`crate::domain::decide_payment`], [`crate::domain::decide_payment_answer`]
//! and [`crate::domain::decide_debit`]; this module loads their state and
//! talks to the hub.

use gongji_common::pending::PendingKind;
use gongji_common::{contract::Payee, Id, Period};

use super::Node;
use crate::{
    domain::{
        decide_debit, decide_payment, decide_payment_answer, AcquiredPayment, AnswerState, Answered, CrossPayment, DebitState, IssuedDebit,
        Paid, PayCommand, PaymentState, Refusal, Tombstone,
    },
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{DEBITS, PAYMENTS, PENDING, PERSONS, RELATIONSHIPS, RELS_BY_BENEFICIARY, REVERSED_IDS},
};

/// A payment as this node knows it.
pub enum PaymentView {
    /// Served here: this node is the beneficiary's.
    Acquired(AcquiredPayment),
    /// Decided here for another province: this node is the donor's.
    Issued(IssuedDebit),
    /// Reversed before this node ever saw it (by the institution the
    /// tombstone names, or an operator).
    Cancelled { payment_id: Id, tombstone: Tombstone },
}

impl Node {
    /// Pays an institution (or, for a contribution, the province fund) from a
    /// beneficiary's relationship. Same-province payments are decided here
    /// in one transaction; cross-province ones are recorded pending, then
    /// routed through the hub to the donor's node.
    pub async fn pay(&self, command: PayCommand) -> NodeResult<PaymentView> {
        if let Payee::Institution(institution) = &command.payee {
            let institution_province = institution.region().province();
            if institution_province != self.province {
                return Err(gongji_common::FieldError::new(
                    "institution_id",
                    format!(
                        "{institution} is an institution of province {institution_province}; this node serves province {}",
                        self.province
                    ),
                )
                .into());
            }
        }
        // The beneficiary's relationships, each read again in the transaction.
        let candidates = self.indexed_relationships(RELS_BY_BENEFICIARY, &command.beneficiary_id)?;
        self.store
            .warming()
            .key(PAYMENTS, &command.payment_id)
            .key(REVERSED_IDS, &command.payment_id)
            .key(PENDING, &PendingKind::Payment.key(&command.payment_id))
            .read()
            .await;
        // In flight from before it is recorded pending until it is answered:
        // a recovery pass meanwhile leaves it to this call.
        let _flight = self.in_flight.enter(PendingKind::Payment, &command.payment_id);
        let paid = self
            .decide(|tx, now| {
                let id = &command.payment_id;
                let mut relationships = Vec::new();
                let mut donors = Vec::new();
                for relationship in &candidates {
                    if let Some(relationship) = tx.get(RELATIONSHIPS, relationship)? {
                        if relationship.owned_by(self.province) {
                            donors.extend(tx.get(PERSONS, &relationship.grant.donor_id)?);
                        }
                        relationships.push(relationship);
                    }
                }
                let state = PaymentState {
                    here: self.province,
                    tombstone: tx.get(REVERSED_IDS, id)?,
                    recorded: tx.get(PAYMENTS, id)?,
                    beneficiary: tx.get(PERSONS, &command.beneficiary_id)?,
                    candidates: relationships,
                    donors,
                };
                Ok(decide_payment(state, &command, now)?)
            })
            .await?;
        match paid {
            Paid::Cancelled(tombstone) => Ok(PaymentView::Cancelled {
                payment_id: command.payment_id,
                tombstone,
            }),
            Paid::Recorded(payment) if payment.is_pending() => self.resolve_payment(&command.payment_id).await.map(PaymentView::Acquired),
            Paid::Recorded(payment) => {
                tracing::info!(payment = %command.payment_id, status = ?payment.status, "payment decided here");
                Ok(PaymentView::Acquired(payment))
            }
        }
    }

    /// Asks the hub for the decision on a pending cross-province payment and
    /// records it. Safe to repeat: every hop answers a repeated id with its
    /// recorded outcome.
    pub async fn resolve_payment(&self, id: &Id) -> NodeResult<AcquiredPayment> {
        let _flight = self.in_flight.enter(PendingKind::Payment, id);
        let payment = self.acquired(id)?;
        let Some(route) = payment.route.clone().filter(|_| payment.is_pending()) else {
            return Ok(payment);
        };
        let answer = match self.hub.route_payment(&route).await {
            Ok(answer) => answer,
            Err(Unanswered(why)) => {
                tracing::info!(payment = %id, %why, "payment left pending: no decision from the hub");
                return Err(NodeError::Unavailable(format!(
                    "payment {id} is pending: {why}; it is retried in the background, or retry with the same payment_id"
                )));
            }
        };
        let answered = self
            .decide(|tx, now| {
                let state = AnswerState {
                    payment: tx.get(PAYMENTS, id)?,
                    relationship: tx.get(RELATIONSHIPS, &route.relationship_id)?,
                    region: self.load_payee_region(tx, &route.payee, &route.beneficiary_id)?,
                };
                Ok(decide_payment_answer(state, id, &answer, now)?)
            })
            .await?;
        let payment = match answered {
            Answered::Recorded(payment) => payment,
            Answered::Taken(why) => return Err(Refusal::AlreadyExists(format!("{why}; nothing was recorded at this node")).into()),
        };
        tracing::info!(payment = %id, status = ?payment.status, period = ?payment.period, "cross-province payment resolved");
        Ok(payment)
    }

    /// The issuer's decision on a cross-province payment routed by the hub
    /// (see [`decide_debit`]).
    pub async fn authorize_debit(&self, payment: CrossPayment, period: Period) -> NodeResult<IssuedDebit> {
        if payment.donor_province != self.province {
            return Err(gongji_common::FieldError::new(
                "payment.donor_province",
                format!("this node serves province {}, not {}", self.province, payment.donor_province),
            )
            .into());
        }
        self.store.warm(DEBITS, &payment.payment_id).await;
        let debit = self
            .decide(|tx, now| {
                let state = DebitState {
                    here: self.province,
                    recorded: tx.get(DEBITS, &payment.payment_id)?,
                    relationship: tx.get(RELATIONSHIPS, &payment.relationship_id)?,
                    donor: tx.get(PERSONS, &payment.donor_id)?,
                };
                Ok(decide_debit(state, &payment, period, now)?)
            })
            .await?;
        tracing::info!(payment = %payment.payment_id, status = ?debit.status, %period, "cross-province debit decided");
        Ok(debit)
    }

    /// A payment served here; one served elsewhere whose donor is insured
    /// here is named with the node it belongs to.
    pub(super) fn acquired(&self, id: &Id) -> NodeResult<AcquiredPayment> {
        if let Some(payment) = self.store.get(PAYMENTS, id)? {
            return Ok(payment);
        }
        match self.store.get(DEBITS, id)? {
            Some(debit) => Err(NodeError::Refused(Refusal::Missing(format!(
                "payment {id} was served at province {served}'s node; this is province {here}'s, which holds its donor's quota: \
                 refunds and reversals of it go to province {served}'s node",
                served = debit.payment.beneficiary_province,
                here = self.province,
            )))),
            None => Err(NodeError::not_found("payment", id)),
        }
    }

    /// A payment this node has seen, as acquirer or issuer.
    pub fn payment(&self, id: &Id) -> NodeResult<PaymentView> {
        if let Some(acquired) = self.store.get(PAYMENTS, id)? {
            return Ok(PaymentView::Acquired(acquired));
        }
        if let Some(issued) = self.store.get(DEBITS, id)? {
            return Ok(PaymentView::Issued(issued));
        }
        match self.store.get(REVERSED_IDS, id)? {
            Some(tombstone) => Ok(PaymentView::Cancelled {
                payment_id: id.clone(),
                tombstone,
            }),
            None => Err(NodeError::not_found("payment", id)),
        }
    }
}
