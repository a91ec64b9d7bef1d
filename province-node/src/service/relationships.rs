//! Mutual-aid relationships at the donor's node (the owner, which holds the
//! frozen quota) and at the beneficiary's node (a grant record).

use gongji_common::period::now_millis;
use gongji_common::{
    contract::{NoticeBody, Party},
    pending::PendingKind,
    store::{key, last_key_part, JournalEntry, Reads, TreeId, Tx, TxFail},
    FieldError, Id, Money,
};

use super::Node;
use crate::{
    domain::{
        check_beneficiary, check_donor, check_quota_change, Decline, EndReason, EstablishCommand, Event, EventKind, Grant, Person,
        QuotaChangeCommand, QuotaChangeRecord, Relationship, RelationshipStatus,
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
            .transact(|tx| {
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
            })
            .await?;
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
            decision = check_beneficiary(beneficiary.as_ref(), &grant.beneficiary_id, grant.donor_province);
        }
        let relationship = match decision {
            Err(decline) => {
                Self::record_event(tx, id, &Event::new(EventKind::Declined, &decline.message, now_millis()))?;
                Relationship::new(grant.clone(), RelationshipStatus::Declined, Some(decline), now_millis())
            }
            Ok(()) => {
                tx.post(&JournalEntry::transfer(
                    id.as_str(),
                    "quota frozen",
                    &store::available(&donor.id),
                    &store::quota(id),
                    grant.quota,
                ))?;
                tx.put(LIVE_PAIRS, &pair, id)?;
                Self::record_event(
                    tx,
                    id,
                    &Event::new(
                        EventKind::Established,
                        format!("{:?} of the donor; quota frozen", grant.kind).to_lowercase(),
                        now_millis(),
                    )
                    .amount(grant.quota),
                )?;
                if Self::crosses(grant) {
                    Self::mark_pending(tx, PendingKind::Grant, id)?;
                    Relationship::new(grant.clone(), RelationshipStatus::Pending, None, now_millis())
                } else {
                    tx.put(RELS_BY_BENEFICIARY, &key(&[grant.beneficiary_id.as_bytes(), id.as_bytes()]), &())?;
                    Relationship::new(grant.clone(), RelationshipStatus::Active, None, now_millis())
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
                    "relationship {id} is pending: {why}; it is retried in the background, or retry with the same relationship_id"
                )));
            }
        };
        let relationship = self
            .transact(|tx| {
                let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? else {
                    return Ok(Err(super::vanished("relationship", id)));
                };
                if relationship.status != RelationshipStatus::Pending {
                    return Ok(Ok(relationship));
                }
                match &answer {
                    Ok(()) => {
                        relationship.set_status(RelationshipStatus::Active, None, now_millis());
                        Self::record_event(
                            tx,
                            id,
                            &Event::new(
                                EventKind::GrantAccepted,
                                "the beneficiary's province accepted the grant",
                                now_millis(),
                            ),
                        )?;
                    }
                    Err(decline) => {
                        let released = tx.balance(&store::quota(id))?;
                        tx.post(&JournalEntry::transfer(
                            id.as_str(),
                            "quota released: grant declined",
                            &store::quota(id),
                            &store::available(&relationship.grant.donor_id),
                            released,
                        ))?;
                        tx.remove(
                            LIVE_PAIRS,
                            &store::pair_key(&relationship.grant.donor_id, &relationship.grant.beneficiary_id),
                        )?;
                        relationship.set_status(RelationshipStatus::Declined, Some(decline.clone()), now_millis());
                        Self::record_event(
                            tx,
                            id,
                            &Event::new(EventKind::Declined, &decline.message, now_millis()).amount(released),
                        )?;
                    }
                }
                tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
                Self::clear_pending(tx, PendingKind::Grant, id)?;
                Ok(Ok(relationship))
            })
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
        let answer = self
            .transact(|tx| {
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
                let decision = check_beneficiary(beneficiary.as_ref(), &grant.beneficiary_id, self.province);
                let relationship = match &decision {
                    Ok(()) => {
                        tx.put(RELS_BY_BENEFICIARY, &key(&[grant.beneficiary_id.as_bytes(), id.as_bytes()]), &())?;
                        Self::record_event(
                            tx,
                            id,
                            &Event::new(
                                EventKind::GrantAccepted,
                                format!("granted by {} of province {}", grant.donor_id, grant.donor_province),
                                now_millis(),
                            )
                            .amount(grant.quota),
                        )?;
                        Relationship::new(grant.clone(), RelationshipStatus::Active, None, now_millis())
                    }
                    Err(decline) => {
                        Self::record_event(tx, id, &Event::new(EventKind::Declined, &decline.message, now_millis()))?;
                        Relationship::new(grant.clone(), RelationshipStatus::Declined, Some(decline.clone()), now_millis())
                    }
                };
                tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
                Ok(Ok(decision))
            })
            .await?;
        Ok(answer)
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
            return Err(NodeError::FailedPrecondition(format!(
                "the {who} of relationship {id} is insured in province {their_province}; ask that province's node"
            )));
        }
        let relationship = self
            .transact(|tx| {
                let Some(relationship) = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? else {
                    return Ok(Err(super::vanished("relationship", id)));
                };
                if !relationship.is_live() {
                    return Ok(Ok(relationship));
                }
                Ok(Ok(self.end_here(tx, relationship, reason)?))
            })
            .await?;
        tracing::info!(relationship = %id, ?reason, status = ?relationship.status, "relationship dissolved here");
        Ok(relationship)
    }

    /// Ends a live relationship at this node: the owner returns the unused
    /// quota and tells the beneficiary's node; a grant record stops payments
    /// at once and asks the donor's node to end it.
    pub(super) fn end_here(&self, tx: &Tx, relationship: Relationship, reason: EndReason) -> Result<Relationship, TxFail> {
        if relationship.owned_by(self.province) {
            self.end_owned(tx, relationship, reason)
        } else {
            self.end_grant(tx, relationship, reason)
        }
    }

    /// The donor's node ends a relationship it owns.
    pub(super) fn end_owned(&self, tx: &Tx, mut relationship: Relationship, reason: EndReason) -> Result<Relationship, TxFail> {
        let id = relationship.id().clone();
        let grant = relationship.grant.clone();
        let returned = tx.balance(&store::quota(&id))?;
        if !returned.is_zero() {
            tx.post(&JournalEntry::transfer(
                id.as_str(),
                "quota returned: relationship ended",
                &store::quota(&id),
                &store::available(&grant.donor_id),
                returned,
            ))?;
        }
        tx.remove(LIVE_PAIRS, &store::pair_key(&grant.donor_id, &grant.beneficiary_id))?;
        Self::clear_pending(tx, PendingKind::Grant, &id)?;
        relationship.dissolve(reason, now_millis());
        tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
        Self::record_event(
            tx,
            &id,
            &Event::new(
                EventKind::Dissolved,
                format!("{}; unused quota returned to the donor", reason.describe()),
                now_millis(),
            )
            .amount(returned)
            .ended(reason),
        )?;
        if relationship.is_cross_province() {
            self.send_notice(
                tx,
                grant.beneficiary_province,
                NoticeBody::RelationshipEnded {
                    grant,
                    reason,
                    quota: relationship.quota,
                    used: relationship.used,
                    version: relationship.version,
                },
            )?;
        }
        Ok(relationship)
    }

    /// The beneficiary's node stops a grant at once and asks the donor's node.
    fn end_grant(&self, tx: &Tx, mut relationship: Relationship, reason: EndReason) -> Result<Relationship, TxFail> {
        let id = relationship.id().clone();
        let version = relationship.version;
        relationship.dissolve(reason, now_millis());
        // The version is the donor node's; only its notices move it.
        relationship.version = version;
        tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
        Self::record_event(
            tx,
            &id,
            &Event::new(
                EventKind::DissolutionRequested,
                format!("{}; payments stopped here", reason.describe()),
                now_millis(),
            )
            .ended(reason),
        )?;
        self.send_notice(
            tx,
            relationship.grant.donor_province,
            NoticeBody::DissolutionRequested {
                relationship_id: id,
                reason,
            },
        )?;
        Ok(relationship)
    }

    /// Changes the quota of a relationship owned here. Idempotent by change id.
    pub async fn change_quota(&self, command: QuotaChangeCommand) -> NodeResult<(QuotaChangeRecord, Relationship)> {
        let id = &command.relationship_id;
        let outcome = self
            .transact(|tx| {
                if let Some(existing) = tx.get::<QuotaChangeRecord>(QUOTA_CHANGES, command.change_id.as_bytes())? {
                    if existing.command != command {
                        return Ok(Err(NodeError::reused("quota change", &command.change_id)));
                    }
                    let relationship = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())?;
                    return Ok(relationship
                        .map(|r| (existing, r))
                        .ok_or_else(|| super::vanished("relationship", id)));
                }
                let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? else {
                    return Ok(Err(NodeError::not_found("relationship", id)));
                };
                if !relationship.owned_by(self.province) {
                    return Ok(Err(NodeError::FailedPrecondition(format!(
                        "relationship {id} is owned by the donor's node (province {}); change its quota there",
                        relationship.grant.donor_province
                    ))));
                }
                let donor = relationship.grant.donor_id.clone();
                let available = tx.balance(&store::available(&donor))?;
                let old_quota = relationship.quota;
                let decision = check_quota_change(&relationship, command.quota, available);
                if let Ok(delta) = decision {
                    let (from, to, amount) = if delta.is_negative() {
                        (store::quota(id), store::available(&donor), delta.negated())
                    } else {
                        (store::available(&donor), store::quota(id), delta)
                    };
                    if !amount.is_zero() {
                        tx.post(&JournalEntry::transfer(
                            command.change_id.as_str(),
                            "quota changed",
                            &from,
                            &to,
                            amount,
                        ))?;
                    }
                    relationship.quota = command.quota;
                    relationship.version += 1;
                    relationship.updated_at = gongji_common::period::now_millis();
                    tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
                    Self::record_quota_event(tx, &relationship, old_quota, &command.change_id)?;
                    if relationship.is_cross_province() {
                        self.send_notice(
                            tx,
                            relationship.grant.beneficiary_province,
                            NoticeBody::QuotaChanged {
                                relationship_id: id.clone(),
                                change_id: command.change_id.clone(),
                                quota: command.quota,
                                version: relationship.version,
                            },
                        )?;
                    }
                }
                let record = QuotaChangeRecord {
                    command: command.clone(),
                    old_quota,
                    decline: decision.err(),
                    at: gongji_common::period::now_millis(),
                };
                tx.put(QUOTA_CHANGES, command.change_id.as_bytes(), &record)?;
                Ok(Ok((record, relationship)))
            })
            .await?;
        Ok(outcome)
    }

    pub(super) fn record_quota_event(tx: &Tx, relationship: &Relationship, old_quota: Money, change_id: &Id) -> Result<(), TxFail> {
        Self::record_event(
            tx,
            relationship.id(),
            &Event::new(
                EventKind::QuotaChanged,
                format!("quota changed from {old_quota} to {}", relationship.quota),
                now_millis(),
            )
            .amount(relationship.quota)
            .reference(change_id),
        )
    }

    pub fn relationship(&self, id: &Id) -> NodeResult<Relationship> {
        self.store
            .get(RELATIONSHIPS, id.as_bytes())?
            .ok_or_else(|| NodeError::not_found("relationship", id))
    }

    /// Every relationship in `books` (the store, or a snapshot), owned and
    /// granted, in id order; lazily, so that millions are never held in memory.
    pub fn relationships(books: &impl Reads) -> impl Iterator<Item = NodeResult<Relationship>> + '_ {
        books.scan_prefix::<Relationship>(RELATIONSHIPS, b"").map(|item| Ok(item?.1))
    }

    /// A relationship's history at this node, oldest first.
    pub fn history(&self, id: &Id) -> NodeResult<Vec<Event>> {
        self.relationship(id)?;
        let mut events = Vec::new();
        for item in self.store.scan_prefix::<Event>(REL_EVENTS, &store::id_prefix(id)) {
            events.push(item?.1);
        }
        Ok(events)
    }

    /// Ids of the relationships an index lists for a person.
    pub(super) fn indexed_relationships(&self, index: TreeId, person: &Id) -> NodeResult<Vec<Id>> {
        let mut ids = Vec::new();
        for key in self.store.scan_keys(index, &store::id_prefix(person)) {
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
