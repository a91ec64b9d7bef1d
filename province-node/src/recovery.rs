//! The recovery task: on start-up and then periodically, every transaction
//! left pending (no definite answer from another node) is retried with its
//! own id until one comes back. Retrying is always safe because every hop
//! answers a repeated id with its recorded outcome.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{service::Node, store::PendingKind};

/// Runs until `stop` turns true.
pub async fn run(node: Arc<Node>, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        resolve_pending(&node).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One pass over every pending transaction; returns how many are still pending.
pub async fn resolve_pending(node: &Node) -> usize {
    let mut still_pending = 0;
    for kind in [PendingKind::Grant, PendingKind::Payment] {
        let ids = match node.pending_ids(kind) {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot list pending transactions");
                return 0;
            }
        };
        for id in ids {
            let result = match kind {
                PendingKind::Grant => node.resolve_grant(&id).await.map(|_| ()),
                PendingKind::Payment => node.resolve_payment(&id).await.map(|_| ()),
            };
            if let Err(error) = result {
                still_pending += 1;
                tracing::debug!(%id, kind = kind.as_str(), %error, "still pending");
            }
        }
    }
    still_pending
}
