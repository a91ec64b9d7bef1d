//! Transactions waiting for another node, and the loop that finishes them.
//!
//! Each service keeps a `pending` tree (kind ␟ id → when it became pending,
//! [`Since`]) written in the same transaction as the pending record itself and
//! removed with its outcome. On
//! start-up and then periodically, a recovery pass re-sends every pending
//! transaction with its own id until a definite answer comes back; that is
//! always safe because every hop answers a repeated id with its recorded
//! outcome.

use std::{future::Future, time::Duration};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
