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

use gongji_common::period::now_millis;
use gongji_common::{
    contract::{CrossTransfer, Decline, DeclineReason, TxKind},
    pending::PendingKind,
    statement::Direction,
    store::{JournalEntry, Tx, TxFail},
    Id, Money, Period,
};

use super::{cross::CrossLine, Node};
use crate::{
    domain::{InsuranceType, Person, PersonStatus, TransferCommand, TransferIn, TransferOut},
    error::{NodeError, NodeResult},
    hub_client::{HubDecision, Unanswered},
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
            .transact(|tx| {
                if let Some(existing) = tx.get::<TransferOut>(TRANSFERS_OUT, command.transfer_id.as_bytes())? {
                    return Ok(if existing.command == command {
                        Ok(existing)
                    } else {
                        Err(NodeError::reused("transfer", &command.transfer_id))
                    });
                }
                let Some(mut person) = tx.get::<Person>(PERSONS, command.person_id.as_bytes())? else {
                    return Ok(Err(NodeError::not_found("person", &command.person_id)));
                };
                if !person.is_active() {
                    return Ok(Err(NodeError::FailedPrecondition(format!(
                        "person {} is not an active insured person here; only active insurance can be transferred",
                        person.id
                    ))));
                }
                person.status = PersonStatus::Transferred;
                tx.put(PERSONS, person.id.as_bytes(), &person)?;
                Self::mark_pending(tx, PendingKind::Transfer, &command.transfer_id)?;
                let record = TransferOut {
                    command: command.clone(),
                    name: person.name.clone(),
                    employee: person.insurance == InsuranceType::Employee,
                    amount: None,
                    period: None,
                    status: gongji_common::contract::TxStatus::Pending,
                    decline: None,
                    created_at: gongji_common::period::now_millis(),
                    decided_at: None,
                    follow_up: false,
                };
                tx.put(TRANSFERS_OUT, command.transfer_id.as_bytes(), &record)?;
                Ok(Ok(record))
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
        if self
            .store
            .get::<TransferOut>(TRANSFERS_OUT, command.transfer_id.as_bytes())?
            .is_some()
        {
            return Ok(());
        }
        match self.hub.check_province(to).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(decline)) => Err(NodeError::FailedPrecondition(format!(
                "cannot transfer to {}: {}; nothing was changed",
                command.to_region, decline.message
            ))),
            Err(Unanswered(why)) => Err(NodeError::Unavailable(format!(
                "cannot check that province {to} is connected ({why}); nothing was changed: try again"
            ))),
        }
    }

    /// Takes a pending transfer as far as it can go.
    pub async fn resolve_transfer(&self, id: &Id) -> NodeResult<TransferOut> {
        let mut record = self.transfer_out(id)?;
        if !record.is_pending() {
            return Ok(record);
        }
        let person_id = record.command.person_id.clone();
        if record.amount.is_none() {
            // The available balance moves now; unused quotas follow once the
            // relationships end, after the receiving node has said yes.
            record = self
                .transact(|tx| {
                    let Some(mut record) = tx.get::<TransferOut>(TRANSFERS_OUT, id.as_bytes())? else {
                        return Ok(Err(super::vanished("transfer", id)));
                    };
                    if record.amount.is_some() || !record.is_pending() {
                        return Ok(Ok(record));
                    }
                    let amount = tx.balance(&store::available(&person_id))?;
                    if !amount.is_zero() {
                        tx.post(&JournalEntry::transfer(
                            id.as_str(),
                            "balance held for transfer",
                            &store::available(&person_id),
                            &store::transit(id),
                            amount,
                        ))?;
                    }
                    record.amount = Some(amount);
                    tx.put(TRANSFERS_OUT, id.as_bytes(), &record)?;
                    Ok(Ok(record))
                })
                .await?;
        }
        let Some(amount) = record.amount else {
            return Err(super::vanished("transfer amount", id));
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
        let decision = self.hub.route_transfer(&crossing).await.map_err(|Unanswered(why)| {
            NodeError::Unavailable(format!("transfer {id} is pending: {why}; it is retried in the background"))
        })?;
        let record = self
            .transact(|tx| {
                let Some(mut record) = tx.get::<TransferOut>(TRANSFERS_OUT, id.as_bytes())? else {
                    return Ok(Err(super::vanished("transfer", id)));
                };
                if !record.is_pending() {
                    return Ok(Ok(record));
                }
                match &decision {
                    HubDecision::Approved(period) => {
                        let region = self.region_of(tx, &person_id)?;
                        let line = CrossLine::new(
                            *period,
                            TxKind::AccountTransfer,
                            id,
                            crossing.to_province,
                            Direction::Payable,
                            amount,
                            region,
                        );
                        Self::post_cross(tx, &line, &store::transit(id), "balance transferred")?;
                        if !record.follow_up {
                            if let Some(mut person) = tx.get::<Person>(PERSONS, person_id.as_bytes())? {
                                person.moved_to = Some(record.command.to_region);
                                tx.put(PERSONS, person_id.as_bytes(), &person)?;
                            }
                            // Money that came back while the transfer was in
                            // flight (a late refund) goes after the person too.
                            let arrived = tx.balance(&store::available(&person_id))?;
                            if !arrived.is_zero() {
                                Self::follow_person(tx, &person_id, arrived, &format!("transfer-rest/{id}"))?;
                            }
                            // Taken in there: now their relationships end.
                            Self::mark_pending(tx, PendingKind::Cascade, &person_id)?;
                        }
                        record.decide(Some(*period), Ok(()), now_millis());
                    }
                    HubDecision::Taken(why) => {
                        // Another node's transfer holds the id: this one was
                        // never routed, so it leaves no trace here either.
                        Self::give_back_held(tx, id, &person_id, amount, &record)?;
                        tx.remove(TRANSFERS_OUT, id.as_bytes())?;
                        Self::clear_pending(tx, PendingKind::Transfer, id)?;
                        return Ok(Err(NodeError::AlreadyExists(format!("{why}; nothing was changed at this node"))));
                    }
                    HubDecision::Declined(period, decline) => {
                        Self::give_back_held(tx, id, &person_id, amount, &record)?;
                        record.decide(*period, Err(decline.clone()), now_millis());
                    }
                }
                tx.put(TRANSFERS_OUT, id.as_bytes(), &record)?;
                Self::clear_pending(tx, PendingKind::Transfer, id)?;
                Ok(Ok(record))
            })
            .await?;
        tracing::info!(transfer = %id, status = ?record.status, "insurance transfer resolved");
        if record.status == gongji_common::contract::TxStatus::Approved && !record.follow_up {
            // The person has left: their relationships end now (the recovery
            // pass finishes it if this does not).
            if let Err(error) = self.cascade(&person_id).await {
                tracing::warn!(person = %person_id, %error, "relationships of a transferred person end in the background");
            }
        }
        Ok(record)
    }

    /// A refused transfer: the held balance back to the person, who stays
    /// insured here with every relationship as it was (a refused follow-up
    /// only leaves the money in their account here).
    fn give_back_held(tx: &Tx, id: &Id, person_id: &Id, amount: Money, record: &TransferOut) -> Result<(), TxFail> {
        if !amount.is_zero() {
            tx.post(&JournalEntry::transfer(
                id.as_str(),
                "transfer declined: balance back",
                &store::transit(id),
                &store::available(person_id),
                amount,
            ))?;
        }
        if !record.follow_up {
            if let Some(mut person) = tx.get::<Person>(PERSONS, person_id.as_bytes())? {
                person.status = PersonStatus::Active;
                tx.put(PERSONS, person_id.as_bytes(), &person)?;
            }
        }
        Ok(())
    }

    /// The receiving node takes a person in with their balance. Idempotent by
    /// transfer id. Declined if the person is already actively insured here.
    pub async fn receive_transfer(&self, transfer: CrossTransfer, period: Period) -> NodeResult<Result<(), Decline>> {
        if transfer.to_province != self.province || transfer.to_region.province() != self.province {
            return Err(
                gongji_common::FieldError::new("transfer.to_region", format!("this node serves province {}", self.province)).into(),
            );
        }
        let answer = self
            .transact(|tx| {
                let id = &transfer.transfer_id;
                if let Some(existing) = tx.get::<TransferIn>(TRANSFERS_IN, id.as_bytes())? {
                    return Ok(if existing.transfer == transfer && existing.period == period {
                        Ok(existing.decline.map_or(Ok(()), Err))
                    } else {
                        Err(NodeError::reused("transfer", id))
                    });
                }
                let existing = tx.get::<Person>(PERSONS, transfer.person_id.as_bytes())?;
                if transfer.follow_up {
                    return Ok(Ok(self.receive_follow_up(tx, &transfer, period, existing)?));
                }
                let decline = match &existing {
                    Some(person) if person.is_active() => Some(Decline::new(
                        DeclineReason::AlreadyInsured,
                        format!("person {} is already actively insured in province {}", person.id, self.province),
                    )),
                    _ => None,
                };
                if decline.is_none() {
                    let person = Person {
                        id: transfer.person_id.clone(),
                        name: transfer.name.clone(),
                        insurance: if transfer.employee {
                            InsuranceType::Employee
                        } else {
                            InsuranceType::Resident
                        },
                        region: transfer.to_region,
                        status: PersonStatus::Active,
                        registered_at: gongji_common::period::now_millis(),
                        moved_to: None,
                    };
                    tx.put(PERSONS, person.id.as_bytes(), &person)?;
                    let line = CrossLine::new(
                        period,
                        TxKind::AccountTransfer,
                        id,
                        transfer.from_province,
                        Direction::Receivable,
                        transfer.amount,
                        transfer.to_region,
                    );
                    Self::post_cross(tx, &line, &store::available(&person.id), "balance received by transfer")?;
                }
                let record = TransferIn {
                    transfer: transfer.clone(),
                    period,
                    decline: decline.clone(),
                    at: gongji_common::period::now_millis(),
                };
                tx.put(TRANSFERS_IN, id.as_bytes(), &record)?;
                Ok(Ok(decline.map_or(Ok(()), Err)))
            })
            .await?;
        tracing::info!(transfer = %transfer.transfer_id, person = %transfer.person_id, accepted = answer.is_ok(), "insurance transfer received");
        Ok(answer)
    }

    /// Money sent after a person who moved here: credited to their account,
    /// and sent on again if they have moved on since.
    fn receive_follow_up(
        &self,
        tx: &Tx,
        transfer: &CrossTransfer,
        period: Period,
        person: Option<Person>,
    ) -> Result<Result<(), Decline>, TxFail> {
        let decline = match person {
            None => Some(Decline::new(
                DeclineReason::PersonNotFound,
                format!("person {} is not insured in province {}", transfer.person_id, self.province),
            )),
            Some(person) => {
                let line = CrossLine::new(
                    period,
                    TxKind::AccountTransfer,
                    &transfer.transfer_id,
                    transfer.from_province,
                    Direction::Receivable,
                    transfer.amount,
                    person.region,
                );
                Self::post_cross(tx, &line, &store::available(&person.id), "balance sent after a transferred person")?;
                if !transfer.amount.is_zero() {
                    Self::follow_person(tx, &person.id, transfer.amount, &format!("transfer-in/{}", transfer.transfer_id))?;
                }
                None
            }
        };
        let record = TransferIn {
            transfer: transfer.clone(),
            period,
            decline: decline.clone(),
            at: gongji_common::period::now_millis(),
        };
        tx.put(TRANSFERS_IN, transfer.transfer_id.as_bytes(), &record)?;
        Ok(decline.map_or(Ok(()), Err))
    }

    /// Money just credited to the account of a person who has moved away is
    /// held and sent after them as a follow-up transfer (finished by the
    /// recovery pass). `reference` names the cause; once per cause. Returns
    /// whether it was sent on.
    pub(super) fn follow_person(tx: &Tx, person_id: &Id, amount: Money, reference: &str) -> Result<bool, TxFail> {
        let Some(person) = tx.get::<Person>(PERSONS, person_id.as_bytes())? else {
            return Ok(false);
        };
        let (PersonStatus::Transferred, Some(region)) = (person.status, person.moved_to) else {
            return Ok(false);
        };
        let id = Id::derived("fwd", reference);
        if tx.contains(TRANSFERS_OUT, id.as_bytes())? {
            return Ok(true);
        }
        tx.post(&JournalEntry::transfer(
            id.as_str(),
            "held to follow a transferred person",
            &store::available(person_id),
            &store::transit(&id),
            amount,
        ))?;
        let record = TransferOut {
            command: TransferCommand {
                transfer_id: id.clone(),
                person_id: person_id.clone(),
                to_region: region,
            },
            name: person.name.clone(),
            employee: person.insurance == InsuranceType::Employee,
            amount: Some(amount),
            period: None,
            status: gongji_common::contract::TxStatus::Pending,
            decline: None,
            created_at: gongji_common::period::now_millis(),
            decided_at: None,
            follow_up: true,
        };
        tx.put(TRANSFERS_OUT, id.as_bytes(), &record)?;
        Self::mark_pending(tx, PendingKind::Transfer, &id)?;
        tracing::info!(person = %person_id, transfer = %id, %amount, "money follows a transferred person");
        Ok(true)
    }

    fn transfer_out(&self, id: &Id) -> NodeResult<TransferOut> {
        self.store
            .get(TRANSFERS_OUT, id.as_bytes())?
            .ok_or_else(|| NodeError::not_found("transfer", id))
    }

    /// A transfer released or received here.
    pub fn transfer_view(&self, id: &Id) -> NodeResult<TransferView> {
        if let Some(out) = self.store.get::<TransferOut>(TRANSFERS_OUT, id.as_bytes())? {
            return Ok(TransferView::Out(out));
        }
        match self.store.get::<TransferIn>(TRANSFERS_IN, id.as_bytes())? {
            Some(received) => Ok(TransferView::In(received)),
            None => Err(NodeError::not_found("transfer", id)),
        }
    }
}
