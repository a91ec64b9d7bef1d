//! Mutual-aid relationships at the donor's node (the owner, which holds the
//! frozen quota) and at the beneficiary's node (a grant record). The rules
//! are the `decide_*` functions of [`crate::domain`]'s relationship module;
//! this module loads their state and talks to the hub.

use gongji_common::books::Post;
use gongji_common::pending::PendingKind;
use gongji_common::{
    contract::Party,
    store::{last_key_part, Reads, Table},
    FieldError, Id,
};

use super::Node;
use crate::{
    domain::Refusal,
    domain::{
        decide_dissolve, decide_establish, decide_grant_answer, decide_grant_received, decide_quota_change, Decline, EndReason,
        EstablishCommand, EstablishState, Event, Grant, QuotaChangeCommand, QuotaChangeRecord, QuotaChangeState, Relationship,
        RelationshipStatus,
    },
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{self, LIVE_PAIRS, PERSONS, QUOTA_CHANGES, RELATIONSHIPS, RELS_BY_BENEFICIARY, RELS_BY_DONOR, REL_EVENTS},
};

/// A person's relationships on both sides.
pub struct PersonRelationships {
    pub as_donor: Vec<Relationship>,
    pub as_beneficiary: Vec<Relationship>,
}

impl Node {
    /// Establishes a relationship whose donor is insured here: freezes the
    /// quota at once, then (across provinces) asks the beneficiary's node
    /// through the hub. Returns the relationship as it stands; an
    /// unanswered grant stays pending and fails with `Unavailable`.
    pub async fn establish(&self, command: EstablishCommand) -> NodeResult<Relationship> {
        let grant = &command.grant;
        if grant.donor_province != self.province {
            return Err(FieldError::new("donor_id", "the donor must be insured in this node's province").into());
        }
        let relationship = self
            .decide(|tx, now| {
                let beneficiary = if grant.beneficiary_province == self.province {
                    tx.get(PERSONS, &grant.beneficiary_id)?
                } else {
                    None
                };
                let state = EstablishState {
                    recorded: tx.get(RELATIONSHIPS, &grant.relationship_id)?,
                    donor: tx.get(PERSONS, &grant.donor_id)?,
                    available: tx.balance(&store::available(&grant.donor_id))?,
                    live_pair: tx.get(LIVE_PAIRS, &store::pair_key(&grant.donor_id, &grant.beneficiary_id))?,
                    beneficiary,
                };
                Ok(decide_establish(state, grant, now)?)
            })
            .await?;
        if relationship.status == RelationshipStatus::Pending {
            return self.resolve_grant(&relationship.grant.relationship_id).await;
        }
        Ok(relationship)
    }

    /// Asks the hub for the answer to a pending grant and records it. Safe to
    /// call any number of times: the hub and the beneficiary's node answer a
    /// repeated grant with their recorded answer.
    pub async fn resolve_grant(&self, id: &Id) -> NodeResult<Relationship> {
        let _flight = self.in_flight.enter(PendingKind::Grant, id);
        let relationship = self.relationship(id)?;
        if relationship.status != RelationshipStatus::Pending {
            return Ok(relationship);
        }
        let answer = match self.hub.route_grant(&relationship.grant).await {
            Ok(answer) => answer,
            Err(Unanswered(why)) => {
                tracing::info!(relationship = %id, %why, "grant left pending: no answer from the hub");
                return Err(NodeError::Unavailable(format!(
                    "relationship {id} is pending: {why}; it is retried in the background, or retry with the same relationship_id"
                )));
            }
        };
        let relationship = self
            .decide(|tx, now| Ok(decide_grant_answer(Self::load_held(tx, id)?, id, &answer, now)?))
            .await?;
        tracing::info!(relationship = %id, status = ?relationship.status, "grant resolved");
        Ok(relationship)
    }

    /// The beneficiary's side of a cross-province grant: accept it if the
    /// beneficiary is an active insured person here. Idempotent by id.
    pub async fn receive_grant(&self, grant: Grant) -> NodeResult<Result<(), Decline>> {
        if grant.beneficiary_province != self.province {
            return Err(FieldError::new(
                "beneficiary_province",
                format!("this node serves province {}, not {}", self.province, grant.beneficiary_province),
            )
            .into());
        }
        self.decide(|tx, now| {
            let recorded = tx.get(RELATIONSHIPS, &grant.relationship_id)?;
            let beneficiary = tx.get(PERSONS, &grant.beneficiary_id)?;
            Ok(decide_grant_received(recorded, beneficiary.as_ref(), &grant, self.province, now)?)
        })
        .await
    }

    /// Dissolves a relationship at the request of `party`, who must be
    /// insured here. Ending an ended relationship returns it unchanged.
    pub async fn dissolve(&self, id: &Id, party: Party) -> NodeResult<Relationship> {
        let relationship = self.relationship(id)?;
        let (their_province, reason) = match party {
            Party::Donor => (relationship.grant.donor_province, EndReason::DonorRequest),
            Party::Beneficiary => (relationship.grant.beneficiary_province, EndReason::BeneficiaryRequest),
        };
        if their_province != self.province {
            let who = match party {
                Party::Donor => "donor",
                Party::Beneficiary => "beneficiary",
            };
            return Err(NodeError::Refused(Refusal::FailedPrecondition(format!(
                "the {who} of relationship {id} is insured in province {their_province}; ask that province's node"
            ))));
        }
        let relationship = self
            .decide(|tx, now| Ok(decide_dissolve(Self::load_held(tx, id)?, id, reason, self.province, now)?))
            .await?;
        tracing::info!(relationship = %id, ?reason, status = ?relationship.status, "relationship dissolved here");
        Ok(relationship)
    }

    /// Changes the quota of a relationship owned here. Idempotent by change id.
    pub async fn change_quota(&self, command: QuotaChangeCommand) -> NodeResult<(QuotaChangeRecord, Relationship)> {
        self.decide(|tx, now| {
            let relationship = tx.get(RELATIONSHIPS, &command.relationship_id)?;
            let available = match &relationship {
                Some(r) => tx.balance(&store::available(&r.grant.donor_id))?,
                None => gongji_common::Money::ZERO,
            };
            let state = QuotaChangeState {
                recorded: tx.get(QUOTA_CHANGES, &command.change_id)?,
                relationship,
                available,
            };
            Ok(decide_quota_change(state, &command, self.province, now)?)
        })
        .await
    }

    pub fn relationship(&self, id: &Id) -> NodeResult<Relationship> {
        self.store
            .get(RELATIONSHIPS, id)?
            .ok_or_else(|| NodeError::not_found("relationship", id))
    }

    /// Every relationship in `books` (the store, or a snapshot), owned and
    /// granted, in id order; lazily, so that millions are never held in memory.
    pub fn relationships(books: &impl Reads) -> impl Iterator<Item = NodeResult<Relationship>> + '_ {
        books.scan_prefix(RELATIONSHIPS, b"").map(|item| Ok(item?.1))
    }

    /// A relationship's history at this node, oldest first.
    pub fn history(&self, id: &Id) -> NodeResult<Vec<Event>> {
        self.relationship(id)?;
        let mut events = Vec::new();
        for item in self.store.scan_prefix(REL_EVENTS, &store::id_prefix(id)) {
            events.push(item?.1);
        }
        Ok(events)
    }

    /// Ids of the relationships an index lists for a person.
    pub(super) fn indexed_relationships(&self, index: Table<[u8], ()>, person: &Id) -> NodeResult<Vec<Id>> {
        let mut ids = Vec::new();
        for key in self.store.scan_keys(index, &store::id_prefix(person)) {
            let key = key?;
            let id = String::from_utf8_lossy(last_key_part(&key));
            ids.push(Id::parse("relationship_id", &id)?);
        }
        Ok(ids)
    }

    fn relationships_in(&self, index: Table<[u8], ()>, person: &Id) -> NodeResult<Vec<Relationship>> {
        self.indexed_relationships(index, person)?
            .iter()
            .map(|id| self.relationship(id))
            .collect()
    }

    /// The relationships in which a person is the beneficiary.
    pub(super) fn beneficiary_relationships(&self, person: &Id) -> NodeResult<Vec<Relationship>> {
        self.relationships_in(RELS_BY_BENEFICIARY, person)
    }

    /// A person's relationships as donor and as beneficiary.
    pub fn list_relationships(&self, person: &Id) -> NodeResult<PersonRelationships> {
        self.person(person)?;
        Ok(PersonRelationships {
            as_donor: self.relationships_in(RELS_BY_DONOR, person)?,
            as_beneficiary: self.beneficiary_relationships(person)?,
        })
    }
}
