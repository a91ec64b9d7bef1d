//! Notices between province nodes: sent through this node's durable outbox
//! to the hub, which relays them; received from the hub and applied once per
//! notice id. They carry what one side must learn of the other's changes to
//! a relationship: its end, a request to end it, a new quota.

use gongji_common::period::now_millis;
use gongji_common::{
    contract::{Notice, NoticeBody, NoticeRefusal},
    store::{Tx, TxFail},
};
use tokio::sync::watch;

use super::Node;
use crate::{
    domain::{End, Event, EventKind, Relationship, RelationshipStatus},
    error::NodeResult,
    store::{APPLIED_NOTICES, RELATIONSHIPS},
};

/// What became of a delivered notice.
enum Delivery {
    Applied,
    /// Its id was applied before.
    Repeated,
    /// It may not be applied here.
    Refused(NoticeRefusal),
}

impl Node {
    /// Applies a notice relayed by the hub, once per notice id, if it comes
    /// from the other party of a relationship this node holds.
    ///
    /// A notice that may not be applied is acknowledged all the same, and
    /// only logged: the hub retries a notice until it is acknowledged, so
    /// an error would keep one that can never apply in its outbox, sent
    /// again forever. Its id is not recorded as applied, so that a false
    /// notice cannot take the id of the true one.
    pub async fn deliver_notice(&self, notice: Notice) -> NodeResult<()> {
        if notice.to != self.province {
            return Err(gongji_common::FieldError::new(
                "to_province",
                format!("this node serves province {}, not {}", self.province, notice.to),
            )
            .into());
        }
        let delivery = self
            .transact(|tx| {
                if tx.contains(APPLIED_NOTICES, notice.id.as_bytes())? {
                    return Ok(Ok(Delivery::Repeated));
                }
                if let Err(refusal) = Self::check_notice(tx, &notice)? {
                    return Ok(Ok(Delivery::Refused(refusal)));
                }
                self.apply_notice(tx, &notice)?;
                tx.put(APPLIED_NOTICES, notice.id.as_bytes(), &())?;
                Ok(Ok(Delivery::Applied))
            })
            .await?;
        match delivery {
            Delivery::Applied => tracing::info!(notice = %notice.id, from = %notice.from, "notice applied"),
            Delivery::Repeated => {}
            Delivery::Refused(refusal) => {
                tracing::warn!(notice = %notice.id, from = %notice.from, %refusal, "notice not applied (acknowledged, so that it is not sent again)")
            }
        }
        Ok(())
    }

    /// May this node apply `notice`? It must be about a relationship this
    /// node holds and come from its other party, as this node recorded the
    /// relationship (see [`Notice::check_against`]). Only an end may find
    /// none: it can overtake the grant it ends (the hub relays the end while
    /// its recovery pass still forwards the grant), so it is checked against
    /// the grant it carries, which must make this node the beneficiary's.
    fn check_notice(tx: &Tx, notice: &Notice) -> Result<Result<(), NoticeRefusal>, TxFail> {
        let id = notice.body.relationship_id();
        Ok(match (tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())?, &notice.body) {
            (Some(held), _) => notice.check_against(&held.grant),
            (None, NoticeBody::RelationshipEnded { grant, .. }) => notice.check_against(grant),
            (None, _) => Err(NoticeRefusal::Unknown {
                relationship: id.clone(),
                from: notice.from,
            }),
        })
    }

    fn apply_notice(&self, tx: &Tx, notice: &Notice) -> Result<(), TxFail> {
        match &notice.body {
            NoticeBody::RelationshipEnded {
                grant,
                reason,
                quota,
                used,
                version,
            } => {
                let id = &grant.relationship_id;
                let mut relationship = match tx.get::<Relationship>(RELATIONSHIPS, id.as_bytes())? {
                    Some(r) if r.owned_by(self.province) => return Ok(()),
                    Some(r) => r,
                    // The end overtook the grant: record it ended, so a late
                    // grant finds it and can never make it live.
                    None => {
                        let mut r = Relationship::new(grant.clone(), RelationshipStatus::Dissolved, None, now_millis());
                        r.quota = *quota;
                        r.used = *used;
                        r
                    }
                };
                relationship.status = RelationshipStatus::Dissolved;
                // An end asked for here keeps its own time; otherwise it ends now.
                if relationship.end.is_none() {
                    relationship.end = Some(End {
                        reason: *reason,
                        at: gongji_common::period::now_millis(),
                    });
                }
                relationship.version = relationship.version.max(*version);
                relationship.updated_at = gongji_common::period::now_millis();
                tx.put(RELATIONSHIPS, id.as_bytes(), &relationship)?;
                Self::record_event(
                    tx,
                    id,
                    &Event::new(
                        EventKind::Dissolved,
                        format!("{}; the donor's province returned the unused quota", reason.describe()),
                        now_millis(),
                    )
                    .ended(*reason),
                )?;
            }
            NoticeBody::DissolutionRequested { relationship_id, reason } => {
                if let Some(relationship) = tx.get::<Relationship>(RELATIONSHIPS, relationship_id.as_bytes())? {
                    if relationship.owned_by(self.province) && relationship.is_live() {
                        self.end_owned(tx, relationship, *reason)?;
                    }
                }
            }
            NoticeBody::QuotaChanged {
                relationship_id,
                change_id,
                quota,
                version,
            } => {
                if let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, relationship_id.as_bytes())? {
                    // Only a newer change of a live grant record counts; a
                    // late notice never undoes a later one.
                    if !relationship.owned_by(self.province) && relationship.is_live() && *version > relationship.version {
                        let old_quota = relationship.quota;
                        relationship.quota = *quota;
                        relationship.version = *version;
                        relationship.updated_at = gongji_common::period::now_millis();
                        tx.put(RELATIONSHIPS, relationship_id.as_bytes(), &relationship)?;
                        Self::record_quota_event(tx, &relationship, old_quota, change_id)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends the outbox's notices to the hub until `stop` turns true.
    pub async fn run_outbox(&self, stop: watch::Receiver<bool>) {
        self.outbox
            .run(stop, |notice: Notice| async move {
                self.hub.relay_notice(&notice).await.map_err(|e| e.0)
            })
            .await
    }
}
