//! Notices between provinces: taken into the hub's durable outbox once per
//! id, when they may pass (the rules: `domain::notice`), and delivered until
//! acknowledged.

use gongji_common::{
    contract::{Notice, NoticeRefusal},
    outbox::Outbox,
};
use tokio::sync::watch;

use super::Hub;
use crate::{
    domain::notice,
    error::HubResult,
    store::{GRANTS, OUTBOX, RELAYED},
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
        let checked: Result<(), NoticeRefusal> = match notice::check_crosses(&notice) {
            Err(refusal) => Err(refusal),
            Ok(()) => {
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
