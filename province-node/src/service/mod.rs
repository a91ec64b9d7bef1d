//! The node's flows: each public or hub-facing call as a sequence of
//! durable steps. A step is one store transaction (state change, journal
//! entry, history event, outbox notice and idempotency record together)
//! followed by a wait for the disk; only then is another node called or the
//! caller answered.

mod audit;
mod cross;
mod notices;
mod payments;
mod persons;
mod reconcile;
mod refunds;
mod relationships;
mod reversals;
mod transfers;

use gongji_common::{
    contract::{Notice, NoticeBody, Payee},
    outbox::Outbox,
    pending::PendingKind,
    store::{Store, Tx, TxFail},
    Id, InstitutionCode, ProvinceCode,
};

use crate::{
    domain::Event,
    error::{NodeError, NodeResult},
    hub_client::HubClient,
    store::{self, OUTBOX, PENDING, REL_EVENTS},
};

pub use payments::PaymentView;
pub use persons::{Account, ImportOutcome};
pub use reconcile::{Comparison, Mismatch, RegionTotals, Report};
pub use relationships::PersonRelationships;
pub use transfers::TransferView;

/// One province node's state and its link to the hub.
pub struct Node {
    province: ProvinceCode,
    store: Store,
    hub: HubClient,
    outbox: Outbox,
    /// How long a payment may stay pending before it is reversed.
    give_up_after: Option<std::time::Duration>,
}

/// Counts for `GetNodeInfo`.
pub struct NodeStats {
    pub persons: u64,
    pub relationships: u64,
    pub payments: u64,
    pub pending: u64,
    pub outbox: u64,
    /// How long the oldest notice in the outbox has waited.
    pub outbox_oldest_age: Option<std::time::Duration>,
    pub trial_balance: gongji_common::Money,
}

impl Node {
    pub fn new(province: ProvinceCode, store: Store, hub: HubClient, outbox: Outbox, give_up_after: Option<std::time::Duration>) -> Node {
        Node {
            province,
            store,
            hub,
            outbox,
            give_up_after,
        }
    }

    pub fn province(&self) -> ProvinceCode {
        self.province
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Runs one transaction whose closure decides with domain errors, waits
    /// until it (and everything it read) is on disk, then lets the outbox
    /// send what it queued. Storage errors become the node's.
    async fn transact<R>(&self, f: impl FnOnce(&Tx) -> Result<NodeResult<R>, TxFail>) -> NodeResult<R> {
        let result = self.store.transact(f)?.durable().await?;
        self.outbox.wake();
        result
    }

    /// Appends an event to a relationship's history.
    fn record_event(tx: &Tx, relationship: &Id, event: &Event) -> Result<(), TxFail> {
        let seq = tx.next_id()?;
        tx.put(REL_EVENTS, &store::event_key(relationship, seq), event)
    }

    /// Queues a notice for another province's node, under the id made from
    /// what it says (which the hub and the receiving node check).
    fn send_notice(&self, tx: &Tx, to: ProvinceCode, body: NoticeBody) -> Result<(), TxFail> {
        let notice = Notice {
            id: body.notice_id(),
            from: self.province,
            to,
            body,
        };
        Outbox::enqueue(tx, OUTBOX, &notice)
    }

    fn mark_pending(tx: &Tx, kind: PendingKind, id: &Id) -> Result<(), TxFail> {
        tx.put(PENDING, &kind.key(id), &())
    }

    fn clear_pending(tx: &Tx, kind: PendingKind, id: &Id) -> Result<(), TxFail> {
        tx.remove(PENDING, &kind.key(id))
    }

    /// Ids of the work waiting for another node (or a cascade), by kind.
    pub fn pending_ids(&self, kind: PendingKind) -> NodeResult<Vec<Id>> {
        Ok(gongji_common::pending::pending_ids(&self.store, PENDING, kind)?)
    }

    /// Finishes one pending piece of work (used by the recovery pass).
    pub async fn resolve(&self, kind: PendingKind, id: &Id) -> NodeResult<()> {
        match kind {
            PendingKind::Grant => self.resolve_grant(id).await.map(drop),
            PendingKind::Payment => match self.given_up(id)? {
                Some(payee) => {
                    tracing::warn!(payment = %id, "payment pending too long: reversing it for its institution");
                    let acting = match &payee {
                        Payee::Institution(code) => Some(code),
                        Payee::Fund(_) => None,
                    };
                    self.reverse(id, acting).await.map(drop)
                }
                None => self.resolve_payment(id).await.map(drop),
            },
            PendingKind::Refund => self.resolve_refund(id).await.map(drop),
            PendingKind::Reversal => self.resolve_reversal(id).await.map(drop),
            PendingKind::Transfer => self.resolve_transfer(id).await.map(drop),
            PendingKind::Cascade => self.cascade(id).await,
        }
    }

    /// Has a pending payment waited longer than its institution would? If
    /// so, whom it pays: the node reverses it as that institution.
    fn given_up(&self, id: &Id) -> NodeResult<Option<Payee>> {
        let Some(limit) = self.give_up_after else {
            return Ok(None);
        };
        let payment = self.acquired(id)?;
        let waited = gongji_common::period::now_millis() - payment.created_at;
        Ok((waited > limit.as_millis() as i64).then_some(payment.command.payee))
    }

    pub fn stats(&self) -> NodeResult<NodeStats> {
        use crate::store::{DEBITS, PAYMENTS, PERSONS, RELATIONSHIPS};
        Ok(NodeStats {
            persons: self.store.count(PERSONS) as u64,
            relationships: self.store.count(RELATIONSHIPS) as u64,
            payments: (self.store.count(PAYMENTS) + self.store.count(DEBITS)) as u64,
            pending: self.store.count(PENDING) as u64,
            outbox: self.outbox.len() as u64,
            outbox_oldest_age: self.outbox.oldest_age()?,
            trial_balance: self.store.trial_balance()?,
        })
    }
}

impl Node {
    /// Writes the node's gauges for a metrics scrape: pending intents and the outbox.
    pub fn gauges(&self, out: &mut gongji_common::metrics::Exposition) -> NodeResult<()> {
        gongji_common::metrics::queue_gauges(out, &self.store, PENDING, &self.outbox)?;
        Ok(())
    }
}

/// "An institution refunds and reverses only its own payments": refuses
/// institution `acting` (`None`: an operator, or this node) doing `what` to
/// payment `id` made to `payee` at another institution.
fn check_touch(acting: Option<&InstitutionCode>, what: &str, id: &Id, payee: &Payee) -> NodeResult<()> {
    match acting {
        Some(mine) if !crate::domain::may_touch(acting, payee) => Err(NodeError::not_yours(mine, what, id, payee)),
        _ => Ok(()),
    }
}

/// A step that finds a relationship missing refers to an id it read earlier:
/// the store lost it, which must never happen.
fn vanished(what: &'static str, id: &Id) -> NodeError {
    NodeError::not_found(what, id)
}
