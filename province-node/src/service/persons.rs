//! Insured persons and personal accounts; the end of a person's insurance
//! (terminated, or moved away) ends their relationships. The rules are the
//! `decide_*` functions of [`crate::domain`]'s person module.

use gongji_common::books::{Ledger, Post};
use gongji_common::{Id, Money};

use super::Node;
use crate::{
    domain::Refusal,
    domain::{
        decide_cascade, decide_credit, decide_register, decide_terminate, forward_id, quotas_reference, CascadeState, Contribution,
        CreditCommand, ImportOutcome, Person, RegisterCommand,
    },
    error::{NodeError, NodeResult},
    store::{self, CONTRIBUTIONS, PERSONS, RELS_BY_BENEFICIARY, RELS_BY_DONOR, TRANSFERS_OUT},
};

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
        self.decide(|tx, now| Ok(decide_register(tx.get(PERSONS, &command.id)?, &command, now)?))
            .await
            .map(|(person, _)| person)
    }

    /// Registers a person without waiting for the disk: the import waits
    /// once for a whole stream before it answers ([`Node::finish_import`]).
    pub fn register_person_unflushed(&self, command: RegisterCommand) -> NodeResult<(Person, ImportOutcome)> {
        command.check_province("region_code", self.province)?;
        self.decide_unconfirmed(|tx, now| Ok(decide_register(tx.get(PERSONS, &command.id)?, &command, now)?))
            .unconfirmed()
    }

    /// Waits until an import's writes are on disk.
    pub async fn finish_import(&self) -> NodeResult<()> {
        Ok(self.store.durable().await?)
    }

    pub fn person(&self, id: &Id) -> NodeResult<Person> {
        self.store.get(PERSONS, id)?.ok_or_else(|| NodeError::not_found("person", id))
    }

    /// Credits a contribution into an employee's personal account, once per
    /// contribution id.
    pub async fn credit_contribution(&self, command: CreditCommand) -> NodeResult<Contribution> {
        self.decide(|tx, now| {
            let recorded = tx.get(CONTRIBUTIONS, &command.contribution_id)?;
            let person = tx.get(PERSONS, &command.person_id)?;
            Ok(decide_credit(recorded, person, &command, now)?)
        })
        .await
    }

    /// A personal account: available, and frozen as the remaining quotas of
    /// the relationships the holder gives.
    pub fn account(&self, person_id: &Id) -> NodeResult<Account> {
        let person = self.person(person_id)?;
        if !person.has_personal_account() {
            return Err(NodeError::Refused(Refusal::FailedPrecondition(format!(
                "person {person_id} holds resident insurance and has no personal account"
            ))));
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

    /// Terminates a person's insurance; their relationships then dissolve
    /// (see [`Node::cascade`]). Terminating a terminated person changes nothing.
    pub async fn terminate(&self, id: &Id) -> NodeResult<Person> {
        let person = self.decide(|tx, _| Ok(decide_terminate(tx.get(PERSONS, id)?, id)?)).await?;
        self.cascade(id).await?;
        tracing::info!(person = %id, "insurance terminated");
        Ok(person)
    }

    /// Dissolves every live relationship of a person whose insurance ended
    /// or moved, on both sides: as donor here (quota returns at once) and as
    /// beneficiary (here, or by asking the donor's node). The person's status
    /// was changed first, in its own transaction, so no new relationship can
    /// appear meanwhile; a crash in between leaves the cascade pending for
    /// the recovery pass. The person's wallet transfers are settled first
    /// (docs/WALLET.md).
    pub async fn cascade(&self, person_id: &Id) -> NodeResult<()> {
        self.end_wallet(person_id).await?;
        let mut ids = self.indexed_relationships(RELS_BY_DONOR, person_id)?;
        ids.extend(self.indexed_relationships(RELS_BY_BENEFICIARY, person_id)?);
        let ended = self
            .decide(|tx, now| {
                let mut relationships = Vec::new();
                for id in &ids {
                    relationships.extend(Self::load_held(tx, id)?);
                }
                let state = CascadeState {
                    here: self.province,
                    person: tx.get(PERSONS, person_id)?,
                    relationships,
                    available: tx.balance(&store::available(person_id))?,
                    forwarded: tx.contains(TRANSFERS_OUT, &forward_id(&quotas_reference(person_id)))?,
                };
                Ok(decide_cascade(state, person_id, now)?)
            })
            .await?;
        if ended > 0 {
            tracing::info!(person = %person_id, ended, "relationships dissolved with the person's insurance");
        }
        Ok(())
    }
}
