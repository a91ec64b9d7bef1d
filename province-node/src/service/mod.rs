//! The node's flows: each public or hub-facing call as a sequence of
//! durable steps. A step is one store transaction (state change, journal
//! entry and idempotency record together) followed by a wait for the disk;
//! only then is another node called or the caller answered.

mod payments;
mod persons;
mod relationships;

use gongji_common::{
    store::{Store, Tx, TxFail},
    ProvinceCode,
};

use crate::{error::NodeResult, hub_client::HubClient, store::PENDING};

pub use payments::PaymentView;
pub use persons::{Account, ImportOutcome};
pub use relationships::PersonRelationships;

/// One province node's state and its link to the hub.
pub struct Node {
    province: ProvinceCode,
    store: Store,
    hub: HubClient,
}

/// Counts for `GetNodeInfo`.
pub struct NodeStats {
    pub persons: u64,
    pub relationships: u64,
    pub payments: u64,
    pub pending: u64,
    pub trial_balance: gongji_common::Money,
}

impl Node {
    pub fn new(province: ProvinceCode, store: Store, hub: HubClient) -> Node {
        Node { province, store, hub }
    }

    pub fn province(&self) -> ProvinceCode {
        self.province
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one transaction whose closure decides with domain errors, and
    /// maps storage errors into the node's error type.
    fn transact<R>(&self, f: impl Fn(&Tx) -> Result<NodeResult<R>, TxFail>) -> NodeResult<R> {
        self.store.transact(f)?
    }

    /// Waits until every write so far is on disk.
    async fn durable(&self) -> NodeResult<()> {
        Ok(self.store.durable().await?)
    }

    pub fn stats(&self) -> NodeResult<NodeStats> {
        use crate::store::{DEBITS, PAYMENTS, PERSONS, RELATIONSHIPS};
        Ok(NodeStats {
            persons: self.store.count(PERSONS) as u64,
            relationships: self.store.count(RELATIONSHIPS) as u64,
            payments: (self.store.count(PAYMENTS) + self.store.count(DEBITS)) as u64,
            pending: self.store.count(PENDING) as u64,
            trial_balance: self.store.trial_balance()?,
        })
    }
}
