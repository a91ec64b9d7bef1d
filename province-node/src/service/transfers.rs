//! Insurance transfers across provinces (医保关系转移接续). A transfer is one
//! decision: either the person leaves (their relationships end, their
//! balance moves) or nothing changes at all.
//!
//! At the releasing node: the destination is checked before anything is
//! written (a known region of a province the hub serves); the person is
//! marked transferred (no new relationships, payments or contributions, and
//! their relationships decline payments meanwhile, but stay as they are);
//! their available balance is held and routed by the hub to the receiving
//! node. Only once the receiving node has taken the person in do their
//! relationships end: the unused quotas come back to the person and follow
//! them to their new province (a follow-up transfer each). A refusal (by the
//! hub or the receiving node) gives the balance back and makes the person
//! active again, relationships untouched. Each step is durable and the whole
//! is resumed by the recovery pass, so any node may be down midway.

use gongji_common::books::Post;
use gongji_common::pending::PendingKind;
use gongji_common::{
    contract::{CrossTransfer, Decline, TxStatus},
    Id, Period,
};

use super::Node;
use crate::{
    domain::{
        decide_hold, decide_transfer, decide_transfer_answer, decide_transfer_in, forward_id, onward_reference, rest_reference, Answered,
        Refusal, TransferAnswerState, TransferCommand, TransferIn, TransferInState, TransferOut,
    },
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{self, PERSONS, TRANSFERS_IN, TRANSFERS_OUT},
};

/// A transfer as this node knows it.
pub enum TransferView {
    /// Released here.
    Out(TransferOut),
    /// Received here.
    In(TransferIn),
}

impl Node {
    /// Starts (or resumes) the transfer of a person's insurance to another province.
    pub async fn transfer(&self, command: TransferCommand) -> NodeResult<TransferOut> {
        self.check_destination(&command).await?;
        let record = self
            .decide(|tx, now| {
                let recorded = tx.get(TRANSFERS_OUT, &command.transfer_id)?;
                let person = tx.get(PERSONS, &command.person_id)?;
                Ok(decide_transfer(recorded, person, &command, now)?)
            })
            .await?;
        if record.is_pending() {
            return self.resolve_transfer(&command.transfer_id).await;
        }
        Ok(record)
    }

    /// Refuses, before anything is written, a transfer to this province, to
    /// a region of no province of the national platform, or to a province
    /// the hub does not serve (asked of the hub; unreachable: UNAVAILABLE).
    async fn check_destination(&self, command: &TransferCommand) -> NodeResult<()> {
        let to = command.to_region.province();
        if to == self.province {
            return Err(gongji_common::FieldError::new(
                "to_region",
                format!(
                    "{} is a region of this province; a transfer moves insurance to another province",
                    command.to_region
                ),
            )
            .into());
        }
        if to.known_name().is_none() {
            return Err(gongji_common::FieldError::new(
                "to_region",
                format!(
                    "{} is no region of the national platform: {to} is not a province code (GB/T 2260, e.g. 340100 for Hefei, Anhui)",
                    command.to_region
                ),
            )
            .into());
        }
        // A transfer already recorded is resumed whatever the hub says now.
        if self.store.get(TRANSFERS_OUT, &command.transfer_id)?.is_some() {
            return Ok(());
        }
        match self.hub.check_province(to).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(decline)) => Err(NodeError::Refused(Refusal::FailedPrecondition(format!(
                "cannot transfer to {}: {}; nothing was changed",
                command.to_region, decline.message
            )))),
            Err(Unanswered(why)) => Err(NodeError::Unavailable(format!(
                "cannot check that province {to} is connected ({why}); nothing was changed: try again"
            ))),
        }
    }

    /// Takes a pending transfer as far as it can go: holds the balance that
    /// moves (once), routes it through the hub, records the answer.
    pub async fn resolve_transfer(&self, id: &Id) -> NodeResult<TransferOut> {
        let _flight = self.in_flight.enter(PendingKind::Transfer, id);
        let mut record = self.transfer_out(id)?;
        if !record.is_pending() {
            return Ok(record);
        }
        let person_id = record.command.person_id.clone();
        if record.amount.is_none() {
            record = self
                .decide(|tx, _| {
                    let available = tx.balance(&store::available(&person_id))?;
                    Ok(decide_hold(tx.get(TRANSFERS_OUT, id)?, id, available)?)
                })
                .await?;
        }
        let Some(amount) = record.amount.filter(|_| record.is_pending()) else {
            return Ok(record);
        };
        let crossing = CrossTransfer {
            transfer_id: id.clone(),
            person_id: person_id.clone(),
            name: record.name.clone(),
            employee: record.employee,
            from_province: self.province,
            to_province: record.command.to_region.province(),
            to_region: record.command.to_region,
            amount,
            follow_up: record.follow_up,
        };
        let answer = self.hub.route_transfer(&crossing).await.map_err(|Unanswered(why)| {
            NodeError::Unavailable(format!("transfer {id} is pending: {why}; it is retried in the background"))
        })?;
        let answered = self
            .decide(|tx, now| {
                let state = TransferAnswerState {
                    here: self.province,
                    record: tx.get(TRANSFERS_OUT, id)?,
                    person: tx.get(PERSONS, &person_id)?,
                    arrived: tx.balance(&store::available(&person_id))?,
                    forwarded: tx.contains(TRANSFERS_OUT, &forward_id(&rest_reference(id)))?,
                };
                Ok(decide_transfer_answer(state, id, &answer, now)?)
            })
            .await?;
        let record = match answered {
            Answered::Recorded(record) => record,
            Answered::Taken(why) => return Err(Refusal::AlreadyExists(format!("{why}; nothing was changed at this node")).into()),
        };
        tracing::info!(transfer = %id, status = ?record.status, "insurance transfer resolved");
        if record.status == TxStatus::Approved && !record.follow_up {
            // The person has left: their relationships end now (the recovery
            // pass finishes it if this does not).
            if let Err(error) = self.cascade(&person_id).await {
                tracing::warn!(person = %person_id, %error, "relationships of a transferred person end in the background");
            }
        }
        Ok(record)
    }

    /// The receiving node takes a person in with their balance, or money
    /// sent after them (see [`decide_transfer_in`]).
    pub async fn receive_transfer(&self, transfer: CrossTransfer, period: Period) -> NodeResult<Result<(), Decline>> {
        if transfer.to_province != self.province || transfer.to_region.province() != self.province {
            return Err(
                gongji_common::FieldError::new("transfer.to_region", format!("this node serves province {}", self.province)).into(),
            );
        }
        let id = &transfer.transfer_id;
        let answer = self
            .decide(|tx, now| {
                let state = TransferInState {
                    here: self.province,
                    recorded: tx.get(TRANSFERS_IN, id)?,
                    person: tx.get(PERSONS, &transfer.person_id)?,
                    forwarded: tx.contains(TRANSFERS_OUT, &forward_id(&onward_reference(id)))?,
                };
                Ok(decide_transfer_in(state, &transfer, period, now)?)
            })
            .await?;
        tracing::info!(transfer = %transfer.transfer_id, person = %transfer.person_id, accepted = answer.is_ok(), "insurance transfer received");
        Ok(answer)
    }

    fn transfer_out(&self, id: &Id) -> NodeResult<TransferOut> {
        self.store
            .get(TRANSFERS_OUT, id)?
            .ok_or_else(|| NodeError::not_found("transfer", id))
    }

    /// A transfer released or received here.
    pub fn transfer_view(&self, id: &Id) -> NodeResult<TransferView> {
        if let Some(out) = self.store.get(TRANSFERS_OUT, id)? {
            return Ok(TransferView::Out(out));
        }
        match self.store.get(TRANSFERS_IN, id)? {
            Some(received) => Ok(TransferView::In(received)),
            None => Err(NodeError::not_found("transfer", id)),
        }
    }
}
