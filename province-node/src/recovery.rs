//! The node's recovery pass: every grant and payment still waiting for the
//! hub is asked again with its own id (see `gongji_common::pending`).

use gongji_common::pending::PendingKind;

use crate::service::Node;

/// One pass over every pending transaction; returns how many are still pending.
pub async fn resolve_pending(node: &Node) -> usize {
    let mut still_pending = 0;
    for kind in PendingKind::ALL {
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
