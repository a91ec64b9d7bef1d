//! The node's recovery pass: every piece of work still waiting for another
//! node (or a cascade) is taken up again with its own id (see
//! `gongji_common::pending`), unless the call that recorded it is still
//! sending it.

use crate::service::Node;

/// One pass over every pending piece of work; returns how many are still pending.
pub async fn resolve_pending(node: &Node) -> usize {
    gongji_common::pending::resolve_each(
        node.in_flight(),
        |kind| node.pending_ids(kind),
        |kind, id| async move { node.resolve(kind, &id).await },
    )
    .await
}
