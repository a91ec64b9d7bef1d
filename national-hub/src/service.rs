//! The hub's flows. Each routed transaction is recorded (with its month
//! stamp) and flushed before the other province is asked, and its outcome
//! recorded and flushed before the caller is answered. A province that does
//! not answer leaves the transaction pending; the caller's retry, or the
//! recovery task, asks again with the same id.

use gongji_common::{
    contract::{CrossPayment, Decline, DeclineReason, Grant, TxStatus},
    period::now_millis,
    store::{JournalEntry, Posting, Store, Tx, TxFail},
    Id, Money, Period, ProvinceCode,
};

use gongji_common::pending::PendingKind;

use crate::{
    domain::{check_crosses, GrantRecord, HubTransaction},
    error::{HubError, HubResult},
    province_client::Provinces,
    store::{self, GRANTS, META, OPEN_PERIOD, PENDING, TRANSACTIONS, TX_BY_PERIOD, TX_BY_PROVINCE},
};

pub struct Hub {
    store: Store,
    provinces: Provinces,
}

/// The hub's answer to a routed payment.
pub struct RouteOutcome {
    pub period: Period,
    pub decision: Result<(), Decline>,
}

impl Hub {
    /// Opens the hub on its store, starting the first open month at the
    /// current month (China Standard Time) on a new store.
    pub async fn new(store: Store, provinces: Provinces) -> HubResult<Hub> {
        store.transact(|tx| {
            if !tx.contains(META, OPEN_PERIOD)? {
                tx.put(META, OPEN_PERIOD, &Period::current())?;
            }
            Ok(())
        })?;
        store.durable().await?;
        Ok(Hub { store, provinces })
    }

    pub fn provinces(&self) -> &Provinces {
        &self.provinces
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn transact<R>(&self, f: impl Fn(&Tx) -> Result<HubResult<R>, TxFail>) -> HubResult<R> {
        self.store.transact(f)?
    }

    /// The month stamped on new transactions.
    pub fn open_period(&self) -> HubResult<Period> {
        Ok(self.store.get(META, OPEN_PERIOD)?.unwrap_or_else(Period::current))
    }

    fn check_connected(&self, provinces: [ProvinceCode; 2]) -> Result<(), Decline> {
        match provinces.into_iter().find(|p| !self.provinces.contains(*p)) {
            Some(missing) => Err(Decline::new(
                DeclineReason::ProvinceNotConnected,
                format!("province {missing} is not connected to the national hub"),
            )),
            None => Ok(()),
        }
    }

    /// Routes a grant from the donor's node to the beneficiary's.
    pub async fn route_grant(&self, grant: Grant) -> HubResult<Result<(), Decline>> {
        check_crosses("beneficiary_province", grant.donor_province, grant.beneficiary_province)?;
        if let Err(decline) = self.check_connected([grant.donor_province, grant.beneficiary_province]) {
            return Ok(Err(decline));
        }
        let id = grant.relationship_id.clone();
        let record = self.transact(|tx| {
            if let Some(existing) = tx.get::<GrantRecord>(GRANTS, id.as_bytes())? {
                return Ok(if existing.grant == grant {
                    Ok(existing)
                } else {
                    Err(HubError::reused("relationship", &id))
                });
            }
            let record = GrantRecord {
                grant: grant.clone(),
                status: TxStatus::Pending,
                decline: None,
                recorded_at: now_millis(),
                decided_at: None,
            };
            tx.put(GRANTS, id.as_bytes(), &record)?;
            tx.put(PENDING, &PendingKind::Grant.key(&id), &())?;
            Ok(Ok(record))
        })?;
        self.store.durable().await?;
        match record.answer() {
            Some(answer) => Ok(answer),
            None => self.forward_grant(&record.grant).await,
        }
    }

    /// Asks the beneficiary's node about a pending grant and records the answer.
    pub async fn forward_grant(&self, grant: &Grant) -> HubResult<Result<(), Decline>> {
        let id = &grant.relationship_id;
        let answer = self.provinces.receive_grant(grant).await.map_err(|why| {
            HubError::Unavailable(format!(
                "grant {id} is pending: province {} did not answer ({why})",
                grant.beneficiary_province
            ))
        })?;
        let record = self.transact(|tx| {
            let Some(mut record) = tx.get::<GrantRecord>(GRANTS, id.as_bytes())? else {
                return Ok(Err(HubError::NotFound {
                    what: "grant",
                    id: id.to_string(),
                }));
            };
            if record.status == TxStatus::Pending {
                record.status = if answer.is_ok() { TxStatus::Approved } else { TxStatus::Declined };
                record.decline = answer.clone().err();
                record.decided_at = Some(now_millis());
                tx.put(GRANTS, id.as_bytes(), &record)?;
                tx.remove(PENDING, &PendingKind::Grant.key(id))?;
            }
            Ok(Ok(record))
        })?;
        self.store.durable().await?;
        tracing::info!(relationship = %id, status = ?record.status, "grant routed");
        Ok(record.answer().unwrap_or(answer))
    }

    /// Routes a payment from the beneficiary's node to the donor's node,
    /// stamping the open month first.
    pub async fn route_payment(&self, payment: CrossPayment) -> HubResult<RouteOutcome> {
        check_crosses("donor_province", payment.donor_province, payment.beneficiary_province)?;
        if let Err(decline) = self.check_connected([payment.donor_province, payment.beneficiary_province]) {
            return Ok(RouteOutcome {
                period: self.open_period()?,
                decision: Err(decline),
            });
        }
        let id = payment.payment_id.clone();
        let record = self.transact(|tx| {
            if let Some(existing) = tx.get::<HubTransaction>(TRANSACTIONS, id.as_bytes())? {
                return Ok(if existing.payment == payment {
                    Ok(existing)
                } else {
                    Err(HubError::reused("transaction", &id))
                });
            }
            let period = tx.get::<Period>(META, OPEN_PERIOD)?.unwrap_or_else(Period::current);
            let record = HubTransaction::pending_payment(payment.clone(), period);
            let seq = tx.next_id()?;
            tx.put(TRANSACTIONS, id.as_bytes(), &record)?;
            tx.put(TX_BY_PERIOD, &store::by_period_key(period, seq), &id)?;
            for province in [record.payer(), record.payee()] {
                tx.put(TX_BY_PROVINCE, &store::by_province_key(period, province, seq), &id)?;
            }
            tx.put(PENDING, &PendingKind::Payment.key(&id), &())?;
            Ok(Ok(record))
        })?;
        self.store.durable().await?;
        if record.is_pending() {
            return self.forward_payment(&id).await;
        }
        Ok(outcome_of(&record))
    }

    /// Asks the donor's node to decide a pending payment and records the
    /// decision with both provinces' positions.
    pub async fn forward_payment(&self, id: &Id) -> HubResult<RouteOutcome> {
        let record = self.transaction(id)?;
        if !record.is_pending() {
            return Ok(outcome_of(&record));
        }
        let decision = self
            .provinces
            .authorize_debit(&record.payment, record.period)
            .await
            .map_err(|why| {
                HubError::Unavailable(format!(
                    "payment {id} is pending: province {} did not answer ({why})",
                    record.payer()
                ))
            })?;
        let record = self.transact(|tx| {
            let Some(mut record) = tx.get::<HubTransaction>(TRANSACTIONS, id.as_bytes())? else {
                return Ok(Err(HubError::NotFound {
                    what: "transaction",
                    id: id.to_string(),
                }));
            };
            if !record.is_pending() {
                return Ok(Ok(record));
            }
            match &decision {
                Ok(()) => {
                    let payer = store::position(record.payer(), record.period);
                    let payee = store::position(record.payee(), record.period);
                    let amount = record.payment.amount;
                    tx.post(&JournalEntry {
                        reference: id.to_string(),
                        memo: "cross-province payment".into(),
                        at: now_millis(),
                        postings: vec![
                            Posting {
                                account: payer.clone(),
                                amount: amount.negated(),
                            },
                            Posting {
                                account: payee.clone(),
                                amount,
                            },
                        ],
                    })?;
                    record.payer_position = Some(tx.balance(&payer)?);
                    record.payee_position = Some(tx.balance(&payee)?);
                    record.status = TxStatus::Approved;
                }
                Err(decline) => {
                    record.status = TxStatus::Declined;
                    record.decline = Some(decline.clone());
                }
            }
            record.decided_at = Some(now_millis());
            tx.put(TRANSACTIONS, id.as_bytes(), &record)?;
            tx.remove(PENDING, &PendingKind::Payment.key(id))?;
            Ok(Ok(record))
        })?;
        self.store.durable().await?;
        tracing::info!(payment = %id, status = ?record.status, period = %record.period, "payment routed");
        Ok(outcome_of(&record))
    }

    pub fn transaction(&self, id: &Id) -> HubResult<HubTransaction> {
        self.store.get(TRANSACTIONS, id.as_bytes())?.ok_or_else(|| HubError::NotFound {
            what: "transaction",
            id: id.to_string(),
        })
    }

    pub fn grant(&self, id: &Id) -> HubResult<GrantRecord> {
        self.store.get(GRANTS, id.as_bytes())?.ok_or_else(|| HubError::NotFound {
            what: "grant",
            id: id.to_string(),
        })
    }

    /// Ids of a month's transactions (of one province, if given), in the
    /// order recorded; lazily, so a large month is never held in memory.
    pub fn transaction_ids(&self, period: Period, province: Option<ProvinceCode>) -> impl Iterator<Item = HubResult<Id>> + '_ {
        let (tree, prefix) = match province {
            Some(p) => (TX_BY_PROVINCE, store::province_prefix(period, p)),
            None => (TX_BY_PERIOD, store::period_prefix(period)),
        };
        self.store.scan_prefix::<Id>(tree, &prefix).map(|item| Ok(item?.1))
    }

    /// A province's position in a month.
    pub fn position(&self, province: ProvinceCode, period: Period) -> HubResult<Money> {
        Ok(self.store.balance(&store::position(province, period))?)
    }

    /// Ids of the transactions waiting for another node, by kind.
    pub fn pending_ids(&self, kind: PendingKind) -> HubResult<Vec<Id>> {
        Ok(gongji_common::pending::pending_ids(&self.store, PENDING, kind)?)
    }
}

fn outcome_of(record: &HubTransaction) -> RouteOutcome {
    RouteOutcome {
        period: record.period,
        decision: match (&record.status, &record.decline) {
            (TxStatus::Approved, _) => Ok(()),
            (_, Some(decline)) => Err(decline.clone()),
            (_, None) => Err(Decline::new(DeclineReason::RefusedByPeer, "declined")),
        },
    }
}
