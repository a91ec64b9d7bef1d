//! Insured persons and personal accounts.

use gongji_common::period::now_millis;
use gongji_common::{
    pending::PendingKind,
    store::{Tx, TxFail},
    Id, Money,
};

use super::Node;
use crate::{
    domain::{Contribution, CreditCommand, EndReason, Person, PersonStatus, RegisterCommand, Relationship},
    error::{NodeError, NodeResult},
    store::{self, CONTRIBUTIONS, PERSONS, RELATIONSHIPS, RELS_BY_BENEFICIARY, RELS_BY_DONOR},
};

/// What registering one person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    Unchanged,
}

/// A personal account's balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub person_id: Id,
    pub available: Money,
    pub frozen: Money,
}

impl Node {
    /// Registers a person and waits until it is on disk.
    pub async fn register_person(&self, command: RegisterCommand) -> NodeResult<Person> {
        command.check_province("region_code", self.province)?;
        self.transact(|tx| Self::register_in(tx, &command)).await.map(|(person, _)| person)
    }

    /// Registers a person without waiting for the disk: the import waits
    /// once for a whole stream before it answers ([`Node::finish_import`]).
    pub fn register_person_unflushed(&self, command: RegisterCommand) -> NodeResult<(Person, ImportOutcome)> {
        command.check_province("region_code", self.province)?;
        self.store.transact(|tx| Self::register_in(tx, &command))?.unconfirmed()
    }

    fn register_in(tx: &Tx, command: &RegisterCommand) -> Result<NodeResult<(Person, ImportOutcome)>, TxFail> {
        if let Some(existing) = tx.get::<Person>(PERSONS, command.id.as_bytes())? {
            return Ok(if existing.matches(command) {
                Ok((existing, ImportOutcome::Unchanged))
            } else {
                Err(NodeError::AlreadyExists(format!(
                    "person {} is already registered with different details",
                    command.id
                )))
            });
        }
        let person = command.clone().into_person(now_millis());
        tx.put(PERSONS, person.id.as_bytes(), &person)?;
        Ok(Ok((person, ImportOutcome::Imported)))
    }

    /// Waits until an import's writes are on disk.
    pub async fn finish_import(&self) -> NodeResult<()> {
        Ok(self.store.durable().await?)
    }

    pub fn person(&self, id: &Id) -> NodeResult<Person> {
        self.store
            .get(PERSONS, id.as_bytes())?
            .ok_or_else(|| NodeError::not_found("person", id))
    }

    /// Credits a contribution into an employee's personal account, once per
    /// contribution id.
    pub async fn credit_contribution(&self, command: CreditCommand) -> NodeResult<Contribution> {
        let contribution = self
            .transact(|tx| {
                if let Some(existing) = tx.get::<Contribution>(CONTRIBUTIONS, command.contribution_id.as_bytes())? {
                    return Ok(if existing.command == command {
                        Ok(existing)
                    } else {
                        Err(NodeError::reused("contribution", &command.contribution_id))
                    });
                }
                let Some(person) = tx.get::<Person>(PERSONS, command.person_id.as_bytes())? else {
                    return Ok(Err(NodeError::not_found("person", &command.person_id)));
                };
                if let Err(e) = Self::check_account_holder(&person) {
                    return Ok(Err(e));
                }
                let entry = gongji_common::store::JournalEntry::transfer(
                    command.contribution_id.as_str(),
                    "contribution",
                    &store::contributions(),
                    &store::available(&person.id),
                    command.amount,
                );
                tx.post(&entry)?;
                let contribution = Contribution {
                    command: command.clone(),
                    credited_at: entry.at,
                };
                tx.put(CONTRIBUTIONS, command.contribution_id.as_bytes(), &contribution)?;
                Ok(Ok(contribution))
            })
            .await?;
        Ok(contribution)
    }

    fn check_account_holder(person: &Person) -> NodeResult<()> {
        if !person.has_personal_account() {
            return Err(NodeError::FailedPrecondition(format!(
                "person {} holds resident insurance and has no personal account",
                person.id
            )));
        }
        if !person.is_active() {
            return Err(NodeError::FailedPrecondition(format!(
                "person {} is not an active insured person",
                person.id
            )));
        }
        Ok(())
    }

    /// A personal account: available, and frozen as the remaining quotas of
    /// the relationships the holder gives.
    pub fn account(&self, person_id: &Id) -> NodeResult<Account> {
        let person = self.person(person_id)?;
        if !person.has_personal_account() {
            return Err(NodeError::FailedPrecondition(format!(
                "person {person_id} holds resident insurance and has no personal account"
            )));
        }
        let available = self.store.balance(&store::available(person_id))?;
        let mut frozen = Money::ZERO;
        for relationship_id in self.indexed_relationships(RELS_BY_DONOR, person_id)? {
            frozen = frozen.checked_add(self.store.balance(&store::quota(&relationship_id))?)?;
        }
        Ok(Account {
            person_id: person_id.clone(),
            available,
            frozen,
        })
    }
}

impl Node {
    /// Terminates a person's insurance; their relationships then dissolve
    /// (see [`Node::cascade`]). Terminating a terminated person changes nothing.
    pub async fn terminate(&self, id: &Id) -> NodeResult<Person> {
        let person = self
            .transact(|tx| {
                let Some(mut person) = tx.get::<Person>(PERSONS, id.as_bytes())? else {
                    return Ok(Err(NodeError::not_found("person", id)));
                };
                match person.status {
                    PersonStatus::Terminated => return Ok(Ok(person)),
                    PersonStatus::Transferred => {
                        return Ok(Err(NodeError::FailedPrecondition(format!(
                            "person {id} was transferred to another province; their insurance there is not this node's"
                        ))))
                    }
                    PersonStatus::Active => {}
                }
                person.status = PersonStatus::Terminated;
                tx.put(PERSONS, id.as_bytes(), &person)?;
                Self::mark_pending(tx, PendingKind::Cascade, id)?;
                Ok(Ok(person))
            })
            .await?;
        self.cascade(id).await?;
        tracing::info!(person = %id, "insurance terminated");
        Ok(person)
    }

    /// Dissolves every live relationship of a person whose insurance ended
    /// or moved, on both sides: as donor here (quota returns at once) and as
    /// beneficiary (here, or by asking the donor's node). The person's status
    /// was changed first, in its own transaction, so no new relationship can
    /// appear meanwhile; a crash in between leaves the cascade pending for
    /// the recovery pass.
    pub async fn cascade(&self, person_id: &Id) -> NodeResult<()> {
        let person = self.person(person_id)?;
        let reasons = match person.status {
            PersonStatus::Terminated => Some((EndReason::DonorTerminated, EndReason::BeneficiaryTerminated)),
            PersonStatus::Transferred => Some((EndReason::DonorTransferred, EndReason::BeneficiaryTransferred)),
            PersonStatus::Active => None,
        };
        let mut ids = self.indexed_relationships(RELS_BY_DONOR, person_id)?;
        ids.extend(self.indexed_relationships(RELS_BY_BENEFICIARY, person_id)?);
        let ended = self
            .transact(|tx| {
                let mut ended = 0;
                if let Some((as_donor, as_beneficiary)) = reasons {
                    for id in &ids {
                        let Some(relationship) = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? else {
                            continue;
                        };
                        if relationship.is_live() {
                            let reason = if relationship.grant.donor_id == *person_id {
                                as_donor
                            } else {
                                as_beneficiary
                            };
                            self.end_here(tx, relationship, reason)?;
                            ended += 1;
                        }
                    }
                }
                // A person who moved away: the quotas just returned follow them.
                if let (PersonStatus::Transferred, Some(_)) = (person.status, person.moved_to) {
                    let returned = tx.balance(&store::available(person_id))?;
                    if !returned.is_zero() {
                        Self::follow_person(tx, person_id, returned, &format!("quotas/{person_id}"))?;
                    }
                }
                Self::clear_pending(tx, PendingKind::Cascade, person_id)?;
                Ok(Ok(ended))
            })
            .await?;
        if ended > 0 {
            tracing::info!(person = %person_id, ended, "relationships dissolved with the person's insurance");
        }
        Ok(())
    }
}
