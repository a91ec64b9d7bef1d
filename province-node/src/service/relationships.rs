//! Mutual-aid relationships at the donor's node (owner) and the
//! beneficiary's node (grant record).

use gongji_common::{
    store::{key, last_key_part, JournalEntry, TreeId, Tx, TxFail},
    Id,
};

use gongji_common::pending::PendingKind;

use super::Node;
use crate::{
    domain::{check_beneficiary, check_donor, Decline, EstablishCommand, Grant, Person, Relationship, RelationshipStatus},
    error::{NodeError, NodeResult},
    hub_client::Unanswered,
    store::{self, LIVE_PAIRS, PENDING, PERSONS, RELATIONSHIPS, RELS_BY_BENEFICIARY, RELS_BY_DONOR},
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
            return Err(NodeError::InvalidArgument(gongji_common::FieldError::new(
                "donor_id",
                "the donor must be insured in this node's province",
            )));
        }
        let relationship = self.transact(|tx| {
            if let Some(existing) = tx.get::<Relationship>(RELATIONSHIPS, grant.relationship_id.as_bytes())? {
                return Ok(if existing.grant == *grant {
                    Ok(existing)
                } else {
                    Err(NodeError::reused("relationship", &grant.relationship_id))
                });
            }
            let Some(donor) = tx.get::<Person>(PERSONS, grant.donor_id.as_bytes())? else {
                return Ok(Err(NodeError::not_found("person", &grant.donor_id)));
            };
            Ok(Ok(Self::establish_in(tx, grant, &donor)?))
        })?;
        self.durable().await?;
        if relationship.status == RelationshipStatus::Pending {
            return self.resolve_grant(&relationship.grant.relationship_id).await;
        }
        Ok(relationship)
    }

    /// Decides and records a new relationship inside a transaction.
    fn establish_in(tx: &Tx, grant: &Grant, donor: &Person) -> Result<Relationship, TxFail> {
        let id = &grant.relationship_id;
        let available = tx.balance(&store::available(&donor.id))?;
        let pair = store::pair_key(&grant.donor_id, &grant.beneficiary_id);
        let existing = tx.get::<Id>(LIVE_PAIRS, &pair)?;
        let mut decision = check_donor(donor, available, grant.quota, existing.as_ref());
        if decision.is_ok() && !Self::crosses(grant) {
            let beneficiary = tx.get::<Person>(PERSONS, grant.beneficiary_id.as_bytes())?;
            decision = check_beneficiary(beneficiary.as_ref(), &grant.beneficiary_id);
        }
        let relationship = match decision {
            Err(decline) => Relationship::new(grant.clone(), RelationshipStatus::Declined, Some(decline)),
            Ok(()) => {
                tx.post(&JournalEntry::transfer(
                    id.as_str(),
                    "quota frozen",
                    &store::available(&donor.id),
                    &store::quota(id),
                    grant.quota,
                ))?;
                tx.put(LIVE_PAIRS, &pair, id)?;
                if Self::crosses(grant) {
                    tx.put(PENDING, &PendingKind::Grant.key(id), &())?;
                    Relationship::new(grant.clone(), RelationshipStatus::Pending, None)
                } else {
                    tx.put(RELS_BY_BENEFICIARY, &key(&[grant.beneficiary_id.as_bytes(), id.as_bytes()]), &())?;
                    Relationship::new(grant.clone(), RelationshipStatus::Active, None)
                }
            }
        };
        tx.put(RELS_BY_DONOR, &key(&[grant.donor_id.as_bytes(), id.as_bytes()]), &())?;
        tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
        Ok(relationship)
    }

    fn crosses(grant: &Grant) -> bool {
        grant.donor_province != grant.beneficiary_province
    }

    /// Asks the hub for the answer to a pending grant and records it. Safe to
    /// call any number of times: the hub and the beneficiary's node answer a
    /// repeated grant with their recorded answer.
    pub async fn resolve_grant(&self, id: &Id) -> NodeResult<Relationship> {
        let relationship = self.relationship(id)?;
        if relationship.status != RelationshipStatus::Pending {
            return Ok(relationship);
        }
        let answer = match self.hub.route_grant(&relationship.grant).await {
            Ok(answer) => answer,
            Err(Unanswered(why)) => {
                tracing::info!(relationship = %id, %why, "grant left pending: no answer from the hub");
                return Err(NodeError::Unavailable(format!(
                    "relationship {id} is pending: the beneficiary's province did not answer ({why}); \
                     it is retried in the background, or retry with the same relationship_id"
                )));
            }
        };
        let relationship = self.transact(|tx| {
            let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? else {
                return Ok(Err(NodeError::not_found("relationship", id)));
            };
            if relationship.status != RelationshipStatus::Pending {
                return Ok(Ok(relationship));
            }
            match &answer {
                Ok(()) => relationship.set_status(RelationshipStatus::Active, None),
                Err(decline) => {
                    tx.post(&JournalEntry::transfer(
                        id.as_str(),
                        "quota released: grant declined",
                        &store::quota(id),
                        &store::available(&relationship.grant.donor_id),
                        relationship.remaining(),
                    ))?;
                    tx.remove(
                        LIVE_PAIRS,
                        &store::pair_key(&relationship.grant.donor_id, &relationship.grant.beneficiary_id),
                    )?;
                    relationship.set_status(RelationshipStatus::Declined, Some(decline.clone()));
                }
            }
            tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
            tx.remove(PENDING, &PendingKind::Grant.key(id))?;
            Ok(Ok(relationship))
        })?;
        self.durable().await?;
        tracing::info!(relationship = %id, status = ?relationship.status, "grant resolved");
        Ok(relationship)
    }

    /// The beneficiary's side of a cross-province grant: accept it if the
    /// beneficiary is an active insured person here. Idempotent by id.
    pub async fn receive_grant(&self, grant: Grant) -> NodeResult<Result<(), Decline>> {
        if grant.beneficiary_province != self.province {
            return Err(NodeError::InvalidArgument(gongji_common::FieldError::new(
                "beneficiary_province",
                format!("this node serves province {}, not {}", self.province, grant.beneficiary_province),
            )));
        }
        let answer = self.transact(|tx| {
            let id = &grant.relationship_id;
            if let Some(existing) = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? {
                return Ok(if existing.grant == grant {
                    Ok(match existing.decline {
                        Some(decline) if existing.status == RelationshipStatus::Declined => Err(decline),
                        _ => Ok(()),
                    })
                } else {
                    Err(NodeError::reused("relationship", id))
                });
            }
            let beneficiary = tx.get::<Person>(PERSONS, grant.beneficiary_id.as_bytes())?;
            let decision = check_beneficiary(beneficiary.as_ref(), &grant.beneficiary_id);
            let relationship = match &decision {
                Ok(()) => {
                    tx.put(RELS_BY_BENEFICIARY, &key(&[grant.beneficiary_id.as_bytes(), id.as_bytes()]), &())?;
                    Relationship::new(grant.clone(), RelationshipStatus::Active, None)
                }
                Err(decline) => Relationship::new(grant.clone(), RelationshipStatus::Declined, Some(decline.clone())),
            };
            tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
            Ok(Ok(decision))
        })?;
        self.durable().await?;
        Ok(answer)
    }

    pub fn relationship(&self, id: &Id) -> NodeResult<Relationship> {
        self.store
            .get(RELATIONSHIPS, id.as_bytes())?
            .ok_or_else(|| NodeError::not_found("relationship", id))
    }

    /// Ids of the relationships an index lists for a person.
    pub(super) fn indexed_relationships(&self, index: TreeId, person: &Id) -> NodeResult<Vec<Id>> {
        let mut ids = Vec::new();
        for key in self.store.scan_keys(index, &store::person_prefix(person)) {
            let key = key?;
            let id = String::from_utf8_lossy(last_key_part(&key));
            ids.push(Id::parse("relationship_id", &id)?);
        }
        Ok(ids)
    }

    fn relationships_in(&self, index: TreeId, person: &Id) -> NodeResult<Vec<Relationship>> {
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
