//! The hub's recovery pass: every routed transaction or grant still waiting
//! for a province node is asked again with its own id (see
//! `gongji_common::pending`), and every month's close still waiting is
//! completed.

use gongji_common::{contract::TxKind, pending::PendingKind, Id};

use super::Hub;
use crate::{error::HubResult, store::PENDING};

impl Hub {
    /// Ids of the work waiting for a province node, by kind.
    pub fn pending_ids(&self, kind: PendingKind) -> HubResult<Vec<Id>> {
        Ok(gongji_common::pending::pending_ids(&self.store, PENDING, kind)?)
    }

    /// Takes one pending piece of work up again.
    pub async fn resolve(&self, kind: PendingKind, id: &Id) -> HubResult<()> {
        match kind {
            PendingKind::Grant => self.forward_grant(id).await.map(drop),
            PendingKind::Payment => self.forward(TxKind::Payment, id).await.map(drop),
            PendingKind::Refund => self.forward(TxKind::Refund, id).await.map(drop),
            PendingKind::Transfer => self.forward(TxKind::AccountTransfer, id).await.map(drop),
            PendingKind::Reversal => self.forward_reversal(id).await.map(drop),
            PendingKind::Cascade => Ok(()),
            PendingKind::Wallet => self.forward(TxKind::WalletTransfer, id).await.map(drop),
        }
    }
}

/// One pass; returns how many pieces of work are still pending (a piece
/// the call that recorded it is still sending is left to it).
pub async fn resolve_pending(hub: &Hub) -> usize {
    let still_pending = gongji_common::pending::resolve_each(
        hub.in_flight(),
        |kind| hub.pending_ids(kind),
        |kind, id| async move { hub.resolve(kind, &id).await },
    )
    .await;
    if let Err(error) = hub.complete_closes().await {
        tracing::error!(%error, "cannot complete a month's close");
    }
    still_pending
}
