//! Transactions waiting for another node, and the loop that finishes them.
//!
//! Each service keeps a `pending` tree (kind ␟ id → when it became pending,
//! [`Since`]) written in the same transaction as the pending record itself and
//! removed with its outcome. On
//! start-up and then periodically, a recovery pass re-sends every pending
//! transaction with its own id until a definite answer comes back; that is
//! always safe because every hop answers a repeated id with its recorded
//! outcome.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    contract::Notice,
    outbox::Outbox,
    store::{key, key_prefix, last_key_part, Reads, Store, StoreError, Table},
    Id,
};

/// The value of a pending entry: when it became pending (Unix milliseconds,
/// the server's clock); `null` (None) in entries written before the time was
/// recorded.
pub type Since = Option<i64>;

/// What a pending entry waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingKind {
    /// A relationship grant the beneficiary's node has not answered.
    Grant,
    /// A payment the donor's node has not decided.
    Payment,
    /// A refund the donor's node has not taken back.
    Refund,
    /// A reversal the donor's node has not confirmed.
    Reversal,
    /// An insurance transfer the receiving node has not answered.
    Transfer,
    /// A person whose insurance ended or moved, whose relationships must
    /// all dissolve (a node-local step).
    Cascade,
    /// A wallet transfer whose outcome another server has not acknowledged.
    Wallet,
}

impl PendingKind {
    /// In the order a recovery pass resolves them: a person's relationships
    /// dissolve before their transfer goes on.
    pub const ALL: [PendingKind; 7] = [
        PendingKind::Grant,
        PendingKind::Payment,
        PendingKind::Refund,
        PendingKind::Reversal,
        PendingKind::Cascade,
        PendingKind::Transfer,
        PendingKind::Wallet,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PendingKind::Grant => "grant",
            PendingKind::Payment => "payment",
            PendingKind::Refund => "refund",
            PendingKind::Reversal => "reversal",
            PendingKind::Transfer => "transfer",
            PendingKind::Cascade => "cascade",
            PendingKind::Wallet => "wallet",
        }
    }

    /// The key of a pending entry.
    pub fn key(self, id: &Id) -> Vec<u8> {
        key(&[self.as_str().as_bytes(), id.as_bytes()])
    }
}

/// Ids of the pending entries of one kind.
pub fn pending_ids(store: &Store, tree: Table<[u8], Since>, kind: PendingKind) -> Result<Vec<Id>, StoreError> {
    let mut ids = Vec::new();
    for key in store.scan_keys(tree, &key_prefix(&[kind.as_str().as_bytes()])) {
        let key = key?;
        let id = Id::parse("pending id", &String::from_utf8_lossy(last_key_part(&key))).map_err(|e| StoreError::Encoding {
            tree: "pending",
            detail: e.to_string(),
        })?;
        ids.push(id);
    }
    Ok(ids)
}

/// The pending work being sent right now, by the call that recorded it (or
/// by a recovery pass), so a recovery pass leaves it to that call instead of
/// sending it a second time. Only in memory: after a restart nothing is in
/// flight, and the pass takes everything up again.
#[derive(Debug, Default)]
pub struct InFlight {
    sending: Mutex<HashMap<(PendingKind, Id), usize>>,
}

/// Work marked in flight until this is dropped.
#[must_use = "the work is in flight only while this is kept"]
pub struct Flight<'a> {
    in_flight: &'a InFlight,
    key: (PendingKind, Id),
}

impl InFlight {
    fn sending(&self) -> MutexGuard<'_, HashMap<(PendingKind, Id), usize>> {
        self.sending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks `id` in flight while the answer is kept (a call and a recovery
    /// pass may both hold it).
    pub fn enter(&self, kind: PendingKind, id: &Id) -> Flight<'_> {
        let key = (kind, id.clone());
        *self.sending().entry(key.clone()).or_default() += 1;
        Flight { in_flight: self, key }
    }

    /// Marks `id` in flight unless it already is (then none: someone is
    /// sending it).
    pub fn try_enter(&self, kind: PendingKind, id: &Id) -> Option<Flight<'_>> {
        let key = (kind, id.clone());
        let mut sending = self.sending();
        if sending.contains_key(&key) {
            return None;
        }
        sending.insert(key.clone(), 1);
        Some(Flight { in_flight: self, key })
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut sending = self.in_flight.sending();
        if let Some(count) = sending.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                sending.remove(&self.key);
            }
        }
    }
}

/// How many pending ids a self-check lists.
const LISTED: usize = 1000;

/// Work waiting at one point: pending entries and unacknowledged notices.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    pub pending: u64,
    /// The first pending entries, as "kind/id".
    pub pending_ids: Vec<String>,
    pub outbox: u64,
    /// The first notices in the outbox, as "kind/relationship id".
    pub outbox_ids: Vec<String>,
}

impl Waiting {
    /// What waits in `books` (a snapshot, read with the self-check), from
    /// its `pending` and `outbox` trees (an outbox of notices).
    pub fn read(
        books: &impl Reads,
        pending: Table<[u8], Since>,
        outbox: Table<[u8], crate::outbox::Queued>,
    ) -> Result<Waiting, StoreError> {
        let mut waiting = Waiting {
            outbox: books.count(outbox) as u64,
            ..Waiting::default()
        };
        for notice in Outbox::queued::<Notice, _>(books, outbox).take(LISTED) {
            let body = notice?.body;
            waiting.outbox_ids.push(format!("{}/{}", body.kind(), body.relationship_id()));
        }
        for item in books.scan_prefix(pending.holding::<serde_json::Value>(), b"") {
            let (key, _) = item?;
            waiting.pending += 1;
            if waiting.pending_ids.len() < LISTED {
                let mut parts = key.split(|b| *b == crate::store::KEY_SEPARATOR);
                let kind = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                waiting
                    .pending_ids
                    .push(format!("{kind}/{}", String::from_utf8_lossy(last_key_part(&key))));
            }
        }
        Ok(waiting)
    }
}

/// One recovery pass: every pending id of every kind, in [`PendingKind::ALL`]
/// order, taken up again by `resolve` unless it is in flight (its own call
/// is sending it: the pass would only send it twice). Returns how many are
/// still pending (failed, or left to the call that sends them).
pub async fn resolve_each<E, Fut>(
    in_flight: &InFlight,
    pending_ids: impl Fn(PendingKind) -> Result<Vec<Id>, E>,
    resolve: impl Fn(PendingKind, Id) -> Fut,
) -> usize
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<(), E>>,
{
    let mut still_pending = 0;
    for kind in PendingKind::ALL {
        let ids = match pending_ids(kind) {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot list pending work");
                return 0;
            }
        };
        for id in ids {
            let Some(_flight) = in_flight.try_enter(kind, &id) else {
                still_pending += 1;
                continue;
            };
            if let Err(error) = resolve(kind, id.clone()).await {
                still_pending += 1;
                tracing::debug!(%id, kind = kind.as_str(), %error, "still pending");
            }
        }
    }
    still_pending
}

/// Runs `pass` now and then every `interval` until `stop` turns true.
pub async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        pass().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Id {
        Id::parse("id", text).expect("a valid id")
    }

    #[test]
    fn work_is_in_flight_while_any_of_its_senders_keeps_it() {
        let in_flight = InFlight::default();
        let (a, b) = (id("p-1"), id("p-2"));
        let call = in_flight.enter(PendingKind::Payment, &a);
        assert!(
            in_flight.try_enter(PendingKind::Payment, &a).is_none(),
            "a pass leaves it to the call"
        );
        assert!(in_flight.try_enter(PendingKind::Refund, &a).is_some(), "another kind is other work");
        let pass = in_flight.try_enter(PendingKind::Payment, &b).expect("nothing sends p-2");
        let retry = in_flight.enter(PendingKind::Payment, &b);
        drop(pass);
        assert!(in_flight.try_enter(PendingKind::Payment, &b).is_none(), "the retry still sends it");
        drop((call, retry));
        assert!(in_flight.try_enter(PendingKind::Payment, &a).is_some());
        assert!(in_flight.try_enter(PendingKind::Payment, &b).is_some());
        assert!(in_flight.sending().is_empty(), "nothing is left once every flight ended");
    }
}
