//! A durable outbox: messages for another node, written in the same
//! transaction as the change that causes them, and sent by one worker that
//! retries each with exponential backoff until the next hop acknowledges it.
//! Nothing is lost on a crash (the entry is on disk with its cause) and
//! nothing is applied twice (receivers apply a message once per id), so a
//! node that was down for minutes catches up when it returns.

use std::{future::Future, sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use crate::{
    period::now_millis,
    store::{Reads, Store, StoreError, Table, Tx, TxFail},
};

/// One queued message and its delivery attempts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry<T> {
    message: T,
    attempts: u32,
    /// Unix milliseconds before which the message is not sent again.
    next_attempt_at: i64,
    enqueued_at: i64,
    last_error: Option<String>,
}

/// How long to wait before sending a failed message again: doubling from
/// `initial` up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// From a tenth of a second (or `max`, if less) doubling up to `max`.
    pub fn up_to(max: Duration) -> Backoff {
        Backoff {
            initial: Duration::from_millis(100).min(max),
            max,
        }
    }

    fn after(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What an outbox table holds: each entry a message of the type its
/// [`Outbox`] is used with, and its delivery attempts (sequence number →
/// entry). Declared as a table's value type; read only through [`Outbox`].
pub enum Queued {}

/// The outbox of one node, over one table of its store.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    tree: Table<[u8], Queued>,
    wake: Arc<Notify>,
    backoff: Backoff,
}

impl Outbox {
    pub fn new(store: Store, tree: Table<[u8], Queued>, backoff: Backoff) -> Outbox {
        Outbox {
            store,
            tree,
            wake: Arc::new(Notify::new()),
            backoff,
        }
    }

    /// Queues a message inside the caller's transaction; call [`Outbox::wake`]
    /// once the transaction is durable.
    pub fn enqueue<T: Serialize>(tx: &Tx, tree: Table<[u8], Queued>, message: &T) -> Result<(), TxFail> {
        let seq = tx.next_id()?;
        let now = now_millis();
        tx.put(
            tree.holding::<Entry<&T>>(),
            &seq.to_be_bytes(),
            &Entry {
                message,
                attempts: 0,
                next_attempt_at: now,
                enqueued_at: now,
                last_error: None,
            },
        )
    }

    /// The messages waiting in the outbox tree `tree` of `books` (the
    /// store, or a snapshot), oldest first; lazily.
    pub fn queued<'a, T: DeserializeOwned, R: Reads>(
        books: &'a R,
        tree: Table<[u8], Queued>,
    ) -> impl Iterator<Item = Result<T, StoreError>> + use<'a, T, R> {
        books
            .scan_prefix(tree.holding::<Entry<T>>(), b"")
            .map(|item| item.map(|(_, entry)| entry.message))
    }

    /// Tells the worker that new messages are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Messages waiting to be acknowledged.
    pub fn len(&self) -> usize {
        self.store.count(self.tree)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long the oldest waiting message has waited (none when empty).
    pub fn oldest_age(&self) -> Result<Option<Duration>, StoreError> {
        /// An entry's enqueue time, whatever its message.
        #[derive(Deserialize)]
        struct Enqueued {
            enqueued_at: i64,
        }
        // Keys are sequence numbers, so the first entry is the oldest.
        let first = self.store.scan_prefix(self.tree.holding::<Enqueued>(), b"").next().transpose()?;
        Ok(first.map(|(_, entry)| Duration::from_millis(u64::try_from(now_millis().saturating_sub(entry.enqueued_at)).unwrap_or(0))))
    }

    /// Sends every due message, oldest first, with `send`; removes those
    /// acknowledged and reschedules the others. Returns when the next
    /// message falls due (None when the outbox is empty).
    pub async fn send_due<T, F, Fut>(&self, send: &F) -> Result<Option<i64>, StoreError>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut next_due: Option<i64> = None;
        // The scan sees only what is on disk (see `store`): a message whose
        // cause this node could still lose is never sent.
        let entries: Vec<(Vec<u8>, Entry<T>)> = self.store.scan_prefix(self.tree.holding(), b"").collect::<Result<_, _>>()?;
        if entries.is_empty() {
            return Ok(None);
        }
        let mut changed = false;
        for (key, entry) in entries {
            let now = now_millis();
            if entry.next_attempt_at > now {
                next_due = Some(next_due.map_or(entry.next_attempt_at, |d| d.min(entry.next_attempt_at)));
                continue;
            }
            match send(entry.message.clone()).await {
                Ok(()) => {
                    // Losing this removal in a crash only sends the message
                    // again, which its receiver ignores: no wait for it here.
                    self.store.transact(|tx| tx.remove(self.tree, &key[..])).unconfirmed()?;
                    changed = true;
                }
                Err(error) => {
                    let attempts = entry.attempts.saturating_add(1);
                    let retry_at = now_millis() + self.backoff.after(attempts).as_millis() as i64;
                    if attempts == 1 || attempts % 10 == 0 {
                        tracing::warn!(attempts, %error, "outbox message not acknowledged; retrying with backoff");
                    }
                    let updated = Entry {
                        attempts,
                        next_attempt_at: retry_at,
                        last_error: Some(error),
                        ..entry
                    };
                    self.store
                        .transact(|tx| tx.put(self.tree.holding(), &key[..], &updated))
                        .unconfirmed()?;
                    changed = true;
                    next_due = Some(next_due.map_or(retry_at, |d| d.min(retry_at)));
                }
            }
        }
        if changed {
            // The next pass reads what is on disk: removals and new
            // schedules must be there, or it would send them all again.
            self.store.durable().await?;
        }
        Ok(next_due)
    }

    /// Delivers messages until `stop` turns true.
    pub async fn run<T, F, Fut>(&self, mut stop: watch::Receiver<bool>, send: F)
    where
        T: Serialize + DeserializeOwned + Clone,
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        loop {
            let wait = match self.send_due(&send).await {
                Ok(Some(due)) => Duration::from_millis((due - now_millis()).clamp(1, self.backoff.max.as_millis() as i64) as u64),
                Ok(None) => self.backoff.max,
                Err(error) => {
                    tracing::error!(%error, "outbox cannot read its queue");
                    self.backoff.max
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    const QUEUE: Table<[u8], Queued> = Table::app(0);

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let waits: Vec<u128> = (1..=7).map(|n| backoff.after(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn messages_survive_a_restart_and_leave_only_when_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
        };
        {
            let store = Store::open(dir.path(), &["outbox"]).unwrap();
            store
                .transact(|tx| {
                    Outbox::enqueue(tx, QUEUE, &"first".to_string())?;
                    Outbox::enqueue(tx, QUEUE, &"second".to_string())
                })
                .durable()
                .await
                .unwrap();
            let outbox = Outbox::new(store, QUEUE, backoff);
            let refuse = |_: String| async { Err::<(), String>("down".into()) };
            assert!(outbox.send_due(&refuse).await.unwrap().is_some());
            assert_eq!(outbox.len(), 2, "nothing leaves unacknowledged");
        }
        let store = Store::open(dir.path(), &["outbox"]).unwrap();
        let outbox = Outbox::new(store, QUEUE, backoff);
        let delivered = Mutex::new(Vec::new());
        let accept = |m: String| {
            delivered.lock().unwrap().push(m);
            async { Ok::<(), String>(()) }
        };
        while !outbox.is_empty() {
            tokio::time::sleep(Duration::from_millis(6)).await;
            outbox.send_due(&accept).await.unwrap();
        }
        assert_eq!(
            *delivered.lock().unwrap(),
            vec!["first".to_string(), "second".to_string()],
            "in order, after the restart"
        );
    }
}
