//! Notices between provinces: taken into the hub's durable outbox once per
//! id, when they may pass (the rules: `domain::notice`), and delivered until
//! acknowledged.

use gongji_common::{
    contract::{Notice, NoticeBody, NoticeRefusal, WalletNote},
    outbox::Outbox,
};
use tokio::sync::watch;

use super::Hub;
use crate::{
    domain::notice,
    error::HubResult,
    store::{GRANTS, OUTBOX, RELAYED, WALLET_TRANSFERS},
};

impl Hub {
    /// Takes a notice into the outbox for its province (once per id). The
    /// notice must be about a relationship of the hub's directory (a grant
    /// it routed), sent by the province of the party that sends its kind
    /// (`from`, which the router has checked is the caller) to the other
    /// party's: a province may not end, ask to end or change the quota of
    /// a relationship it is no party to. A refused notice is neither
    /// recorded nor relayed.
    pub async fn relay_notice(&self, notice: Notice) -> HubResult<()> {
        notice::check_provinces(&notice, self.provinces.codes())?;
        let checked: Result<(), NoticeRefusal> = match (notice::check_crosses(&notice), &notice.body) {
            (Err(refusal), _) => Err(refusal),
            (Ok(()), NoticeBody::Wallet(note)) => self.relay_wallet(&notice, note).await?,
            (Ok(()), NoticeBody::WalletDeclineAsked { transfer_id, .. }) => {
                self.transact(|tx| {
                    let recorded = tx.get(WALLET_TRANSFERS, transfer_id)?;
                    let relayed = tx.contains(RELAYED, &notice.id)?;
                    let (checked, enqueue) = notice::decide_wallet_decline_asked(&notice, recorded.as_ref(), relayed);
                    if enqueue {
                        Outbox::enqueue(tx, OUTBOX, &notice)?;
                        tx.put(RELAYED, &notice.id, &())?;
                    }
                    Ok(checked)
                })
                .await?
            }
            (Ok(()), _) => {
                self.transact(|tx| {
                    let relationship = notice.body.relationship_id();
                    let directory = tx.get(GRANTS, relationship)?;
                    let relayed = tx.contains(RELAYED, &notice.id)?;
                    let decided = notice::decide(&notice, directory.as_ref(), relayed, self.now());
                    if let Some(ended) = &decided.ended {
                        tx.put(GRANTS, relationship, ended)?;
                    }
                    if decided.enqueue {
                        Outbox::enqueue(tx, OUTBOX, &notice)?;
                        tx.put(RELAYED, &notice.id, &())?;
                    }
                    Ok(decided.checked)
                })
                .await?
            }
        };
        self.refused(&notice, checked)
    }

    /// Records a cross-province wallet transfer's notice (sent, or its
    /// outcome) and takes it into the outbox for the recipient's node, once
    /// per id (see [`notice::decide_wallet`]).
    async fn relay_wallet(&self, notice: &Notice, note: &WalletNote) -> HubResult<Result<(), NoticeRefusal>> {
        self.transact(|tx| {
            let recorded = tx.get(WALLET_TRANSFERS, &note.transfer_id)?;
            let relayed = tx.contains(RELAYED, &notice.id)?;
            let (checked, enqueue) = notice::decide_wallet(notice, note, recorded.as_ref(), relayed, self.now());
            let record = match checked {
                Ok(record) => record,
                Err(refusal) => return Ok(Err(refusal)),
            };
            if let Some(record) = record {
                tx.put(WALLET_TRANSFERS, &note.transfer_id, &record)?;
            }
            if enqueue {
                Outbox::enqueue(tx, OUTBOX, notice)?;
                tx.put(RELAYED, &notice.id, &())?;
            }
            Ok(Ok(()))
        })
        .await
    }

    /// A refused notice is logged and answered as its refusal.
    fn refused(&self, notice: &Notice, checked: Result<(), NoticeRefusal>) -> HubResult<()> {
        checked.map_err(|refusal| {
            tracing::warn!(notice = %notice.id, from = %notice.from, to = %notice.to, %refusal, "notice refused");
            refusal.into()
        })
    }

    /// Delivers the outbox's notices until `stop` turns true.
    pub async fn run_outbox(&self, stop: watch::Receiver<bool>) {
        self.outbox
            .run(stop, |notice: Notice| async move {
                self.provinces.deliver_notice(&notice).await.map_err(|e| e.0)
            })
            .await
    }
}
