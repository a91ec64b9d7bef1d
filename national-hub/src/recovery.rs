//! The hub's recovery pass: every routed transaction still waiting for a
//! province node is asked again with its own id (see `gongji_common::pending`).

use gongji_common::pending::PendingKind;

use crate::service::Hub;

/// One pass; returns how many pieces of work are still pending.
pub async fn resolve_pending(hub: &Hub) -> usize {
    let mut still_pending = 0;
    for kind in PendingKind::ALL {
        let ids = match hub.pending_ids(kind) {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot list pending work");
                return 0;
            }
        };
        for id in ids {
            if let Err(error) = hub.resolve(kind, &id).await {
                still_pending += 1;
                tracing::debug!(%id, kind = kind.as_str(), %error, "still pending");
            }
        }
    }
    if let Err(error) = hub.complete_closes().await {
        tracing::error!(%error, "cannot complete a month's close");
    }
    still_pending
}
