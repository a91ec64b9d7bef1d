//! Notices between province nodes: sent through this node's durable outbox
//! to the hub, which relays them; received from the hub and applied once per
//! notice id. They carry what one side must learn of the other's changes to
//! a relationship: its end, a request to end it, a new quota.

use gongji_common::contract::{Notice, NoticeBody};
use tokio::sync::watch;

use super::Node;
use crate::{
    domain::{decide_notice, Delivery, NoticeState},
    error::NodeResult,
    store::{APPLIED_NOTICES, WALLETS, WALLET_INCOMING, WALLET_TRANSFERS},
};

impl Node {
    /// Applies a notice relayed by the hub, once per notice id, if it comes
    /// from the other party of a relationship this node holds (see
    /// [`decide_notice`]).
    ///
    /// A notice that may not be applied is acknowledged all the same, and
    /// only logged: the hub retries a notice until it is acknowledged, so
    /// an error would keep one that can never apply in its outbox, sent
    /// again forever.
    pub async fn deliver_notice(&self, notice: Notice) -> NodeResult<()> {
        if notice.to != self.province {
            return Err(gongji_common::FieldError::new(
                "to_province",
                format!("this node serves province {}, not {}", self.province, notice.to),
            )
            .into());
        }
        let delivery = self
            .decide(|tx, now| {
                let state = NoticeState {
                    here: self.province,
                    applied: tx.contains(APPLIED_NOTICES, &notice.id)?,
                    held: Self::load_held(tx, notice.body.relationship_id())?,
                    incoming: match &notice.body {
                        NoticeBody::Wallet(note) => tx.get(WALLET_INCOMING, &note.transfer_id)?,
                        _ => None,
                    },
                    wallet_closed: match &notice.body {
                        NoticeBody::Wallet(note) => tx.get(WALLETS, &note.recipient_id)?.is_some_and(|w| !w.is_open()),
                        _ => false,
                    },
                    sent: match &notice.body {
                        NoticeBody::WalletDeclineAsked { transfer_id, .. } => tx.get(WALLET_TRANSFERS, transfer_id)?,
                        _ => None,
                    },
                };
                Ok(decide_notice(state, &notice, now))
            })
            .await?;
        match delivery {
            Delivery::Applied => tracing::info!(notice = %notice.id, from = %notice.from, "notice applied"),
            Delivery::Repeated => {}
            Delivery::Refused(refusal) => {
                tracing::warn!(notice = %notice.id, from = %notice.from, %refusal, "notice not applied (acknowledged, so that it is not sent again)")
            }
        }
        Ok(())
    }

    /// Sends the outbox's notices to the hub until `stop` turns true.
    pub async fn run_outbox(&self, stop: watch::Receiver<bool>) {
        self.outbox
            .run(stop, |notice: Notice| async move {
                self.hub.relay_notice(&notice).await.map_err(|e| e.0)
            })
            .await
    }
}
