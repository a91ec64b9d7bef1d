//! The hub's recovery task: on start-up and periodically, every routed
//! transaction still waiting for a province node is asked again with its own
//! id, until a definite answer comes back.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{service::Hub, store::PendingKind};

pub async fn run(hub: Arc<Hub>, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        resolve_pending(&hub).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One pass; returns how many transactions are still pending.
pub async fn resolve_pending(hub: &Hub) -> usize {
    let mut still_pending = 0;
    for kind in [PendingKind::Grant, PendingKind::Payment] {
        let ids = match hub.pending_ids(kind) {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot list pending transactions");
                return 0;
            }
        };
        for id in ids {
            let result = match kind {
                PendingKind::Grant => match hub.grant(&id) {
                    Ok(record) => hub.forward_grant(&record.grant).await.map(|_| ()),
                    Err(e) => Err(e),
                },
                PendingKind::Payment => hub.forward_payment(&id).await.map(|_| ()),
            };
            if let Err(error) = result {
                still_pending += 1;
                tracing::debug!(%id, kind = kind.as_str(), %error, "still pending");
            }
        }
    }
    still_pending
}
