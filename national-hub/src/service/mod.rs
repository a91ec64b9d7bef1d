//! The hub's flows, each as load → decide → apply: one store transaction
//! loads what a decision of `domain` needs, calls it with the time, and
//! writes exactly what it says; the hub then waits until that is on disk
//! before it asks a province node or answers the caller. So each routed
//! transaction is recorded (with its month stamp) and flushed before the
//! other province is asked, and its outcome recorded and flushed before the
//! caller is answered. A province that does not answer leaves the
//! transaction pending; the caller's retry, or the recovery pass, asks again
//! with the same id. Notices between provinces are taken into the hub's
//! durable outbox and delivered until acknowledged.
//!
//! This module holds no rule of its own (they are in `domain`) and speaks
//! no gRPC (that is `api`). The time a decision is given comes from
//! [`Hub::now`] (the server's [`Clock`]), read once per step.
//!
//! | module      | holds |
//! |-------------|-------|
//! | `routing`   | payments, refunds and account transfers: routing, the deciding node's answer |
//! | `books`     | writing a booking, a journal entry, a reservation; loading prepaid funds |
//! | `reversals` | reversals and the donor's node's answer |
//! | `grants`    | grants and the beneficiary's node's answer |
//! | `notices`   | relaying notices, the outbox's sender |
//! | `months`    | closing, clearing, confirmations and disputes, settlement |
//! | `prepaid`   | opening funds, deposits and withdrawals, prepaid status |
//! | `queries`   | reads for the operators and the nodes |
//! | `recovery`  | the recovery pass over pending work |
//! | `audit`     | the self-check of `gongji audit` |
//! | `gauges`    | the metrics' gauges and `GetHubInfo` |

mod audit;
mod books;
mod gauges;
mod grants;
pub mod listings;
mod months;
mod notices;
mod prepaid;
mod queries;
mod recovery;
mod reversals;
mod routing;

use gongji_common::{
    clock::Clock,
    contract::Decline,
    outbox::Outbox,
    pending::InFlight,
    store::{Store, StoreError, Tx, TxFail},
    Period, ProvinceCode,
};

pub use gauges::HubInfo;
pub use months::MonthView;
pub use recovery::resolve_pending;
pub use routing::RouteOutcome;

use crate::{
    domain::{check_connected, PrepaidPolicy, Refusal},
    error::{HubError, HubResult},
    province_client::Provinces,
    store::{META, OPEN_PERIOD},
};

/// The hub's state: its store, its clients of the province nodes, its
/// outbox and its prepaid policy.
pub struct Hub {
    store: Store,
    provinces: Provinces,
    outbox: Outbox,
    policy: PrepaidPolicy,
    /// The clock every decision of the hub reads.
    clock: Clock,
    /// Pending work being sent to a province node right now.
    in_flight: InFlight,
}

impl Hub {
    /// Opens the hub on its store, starting the first open month at the
    /// current month (China Standard Time) on a new store, and deposits the
    /// opening prepaid funds of provinces it sees for the first time.
    pub async fn new(store: Store, provinces: Provinces, outbox: Outbox, policy: PrepaidPolicy, clock: Clock) -> HubResult<Hub> {
        store
            .transact::<_, HubError>(|tx| {
                if !tx.contains(META, OPEN_PERIOD)? {
                    tx.put(META, OPEN_PERIOD, &Period::of_unix_millis(clock.now_millis()))?;
                }
                Ok(())
            })
            .unconfirmed()?;
        let hub = Hub {
            store,
            provinces,
            outbox,
            policy,
            clock,
            in_flight: InFlight::default(),
        };
        hub.open_prepaid_accounts()?;
        let indexed = hub.build_listings().await?;
        if indexed > 0 {
            tracing::info!(transactions = indexed, "built the kind, status and pair indexes of an older store");
        }
        hub.store.durable().await?;
        Ok(hub)
    }

    pub fn policy(&self) -> &PrepaidPolicy {
        &self.policy
    }

    pub fn provinces(&self) -> &Provinces {
        &self.provinces
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Runs one transaction whose closure loads, decides and applies (a
    /// refusal, or any error, writes nothing), waits until it and everything
    /// it read is on disk, then lets the outbox send what it queued.
    async fn transact<R>(&self, f: impl FnOnce(&Tx) -> HubResult<R>) -> HubResult<R> {
        let outcome = self.store.transact(f).durable().await;
        self.outbox.wake();
        outcome
    }

    /// Pending work being sent right now (a recovery pass leaves it alone).
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// The time a decision is given: the only clock the flows read.
    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Whether the hub serves `province` (declined PROVINCE_NOT_CONNECTED if not).
    pub fn check_province(&self, province: ProvinceCode) -> Result<(), Decline> {
        check_connected(self.provinces.codes(), [province, province])
    }

    /// The month stamped on new transactions, as a transaction sees it.
    fn open(tx: &Tx) -> Result<Period, TxFail> {
        Ok(tx.get(META, OPEN_PERIOD)?.unwrap_or_else(Period::current))
    }
}

/// A decision's refusal as the error that abandons its store transaction
/// (nothing it wrote is kept): a broken rule of the books is INTERNAL; any
/// other is the caller's answer.
fn refuse(refusal: Refusal) -> HubError {
    match refusal {
        Refusal::Broken(why) => StoreError::Invariant(why).into(),
        other => other.into(),
    }
}

/// A refusal that cannot be the caller's (of a booking, of a settlement's
/// arithmetic): a broken rule of the books, abandoning the transaction.
fn broken(refusal: Refusal) -> TxFail {
    StoreError::Invariant(refusal.to_string())
}
