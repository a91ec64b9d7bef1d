//! The node's recovery pass: every piece of work still waiting for another
//! node (or a cascade) is taken up again with its own id (see
//! `gongji_common::pending`).

use gongji_common::pending::PendingKind;

use crate::service::Node;

/// One pass over every pending piece of work; returns how many are still pending.
pub async fn resolve_pending(node: &Node) -> usize {
    let mut still_pending = 0;
    for kind in PendingKind::ALL {
        let ids = match node.pending_ids(kind) {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot list pending work");
                return 0;
            }
        };
        for id in ids {
            if let Err(error) = node.resolve(kind, &id).await {
                still_pending += 1;
                tracing::debug!(%id, kind = kind.as_str(), %error, "still pending");
            }
        }
    }
    still_pending
}
