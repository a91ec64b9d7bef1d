//! Months at the hub: closing (new transactions are stamped with the next
//! month, and the close completes once nothing stamped with the closed one is
//! pending), clearing (清分: gross per ordered pair and kind, each province's
//! net and statement digest, read from the sums the hub keeps as it posts
//! each statement line), the provinces' confirmations and disputes, and settlement (清算)
//! against prepaid funds. A cleared month never changes; a settled one is
//! final, and settling it again returns the same settlement.

use std::collections::BTreeMap;

use gongji_common::{
    contract::TxKind,
    pending::PendingKind,
    period::now_millis,
    statement::{Line, Summer, Totals},
    store::{key_prefix, last_key_part, JournalEntry, Posting, StoreError},
    Money, Period, ProvinceCode,
};

use crate::{
    domain::{ClearingResult, Dispute, MonthRecord, MonthState, SettleLine, SettlementRecord},
    error::{HubError, HubResult},
    service::Hub,
    store::{self, META, MONTHS, OPEN_PERIOD, PAIR_SUMS, STATEMENT_SUMS},
};

/// A month as operators see it.
pub struct MonthView {
    pub period: Period,
    pub state: MonthState,
    pub pending: u64,
    pub record: Option<MonthRecord>,
}

fn month_key(period: Period) -> Vec<u8> {
    period.to_string().into_bytes()
}

impl Hub {
    /// Closes the open month (or returns the named month if it is already
    /// closing or closed), then tries to complete the close.
    pub async fn close_month(&self, period: Option<Period>) -> HubResult<MonthView> {
        let open = self.open_period()?;
        let period = period.unwrap_or(open);
        if period > open {
            return Err(gongji_common::FieldError::new("period", format!("{period} has not started; the open month is {open}")).into());
        }
        self.store
            .transact(|tx| {
                let open = tx.get(META, OPEN_PERIOD)?.unwrap_or(open);
                if tx.contains(MONTHS, &month_key(period))? || period != open {
                    return Ok(());
                }
                tx.put(META, OPEN_PERIOD, &period.next())?;
                let record = MonthRecord {
                    period,
                    state: MonthState::Closing,
                    closed_at: now_millis(),
                    cleared_at: None,
                    clearing: None,
                    confirmed: BTreeMap::new(),
                    disputes: BTreeMap::new(),
                    settlement: None,
                };
                tx.put(MONTHS, &month_key(period), &record)
            })?
            .durable()
            .await?;
        tracing::info!(%period, next = %period.next(), "month closing: new transactions are stamped with the next month");
        self.complete_close(period).await?;
        self.month(period)
    }

    /// Completes the close of a closing month if nothing stamped with it is
    /// pending: clears it. Returns whether it is closed now.
    pub async fn complete_close(&self, period: Period) -> HubResult<bool> {
        // What follows reads what is on disk: let it hold every transaction
        // committed so far (a reversal of this month's payment just routed).
        self.store.durable().await?;
        match self.month_record(period)? {
            Some(record) if record.state == MonthState::Closing => {}
            Some(_) => return Ok(true),
            None => return Ok(false),
        }
        if self.pending_in(period)? > 0 {
            return Ok(false);
        }
        let store = self.store.clone();
        let hub_positions: Vec<(ProvinceCode, Money)> = self
            .provinces()
            .entries()
            .map(|e| Ok((e.code, self.position(e.code, period)?)))
            .collect::<HubResult<_>>()?;
        let clearing = tokio::task::spawn_blocking(move || clear(&store, period))
            .await
            .map_err(|e| HubError::Internal(format!("clearing task failed: {e}")))??;
        // The statement and the positions are written together; they must agree.
        for (province, position) in hub_positions {
            let net = clearing.provinces.get(&province).map_or(Ok(Money::ZERO), Totals::net)?;
            if net != position {
                return Err(HubError::Internal(format!(
                    "month {period}: province {province}'s statement nets {net} but its position is {position}"
                )));
            }
        }
        let closed = self
            .store
            .transact::<_, StoreError>(|tx| {
                let Some(mut record) = tx.get(MONTHS, &month_key(period))? else {
                    return Ok(false);
                };
                if record.state != MonthState::Closing {
                    return Ok(true);
                }
                record.state = MonthState::Closed;
                record.cleared_at = Some(now_millis());
                record.clearing = Some(clearing.clone());
                tx.put(MONTHS, &month_key(period), &record)?;
                Ok(true)
            })?
            .durable()
            .await?;
        tracing::info!(%period, transactions = clearing.transactions, provinces = clearing.provinces.len(), "month closed and cleared");
        Ok(closed)
    }

    /// Completes every close still waiting (the recovery pass calls this).
    pub async fn complete_closes(&self) -> HubResult<()> {
        let closing: Vec<Period> = self
            .store
            .scan_prefix(MONTHS, b"")
            .filter_map(|item| match item {
                Ok((_, r)) if r.state == MonthState::Closing => Some(Ok(r.period)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?;
        for period in closing {
            self.complete_close(period).await?;
        }
        Ok(())
    }

    /// Transactions stamped with `period` that are still pending (a pending
    /// reversal also holds the month of the payment it reverses).
    fn pending_in(&self, period: Period) -> HubResult<u64> {
        let mut count = 0;
        for (kind, pending) in [
            (TxKind::Payment, PendingKind::Payment),
            (TxKind::Refund, PendingKind::Refund),
            (TxKind::AccountTransfer, PendingKind::Transfer),
            (TxKind::Reversal, PendingKind::Reversal),
        ] {
            for id in self.pending_ids(pending)? {
                let record = self.transaction(kind, &id)?;
                let mut periods = vec![record.period];
                if kind == TxKind::Reversal {
                    periods.push(self.transaction(TxKind::Payment, &id)?.period);
                }
                if periods.contains(&period) {
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    fn month_record(&self, period: Period) -> HubResult<Option<MonthRecord>> {
        Ok(self.store.get(MONTHS, &month_key(period))?)
    }

    /// Where a month stands.
    pub fn month(&self, period: Period) -> HubResult<MonthView> {
        let open = self.open_period()?;
        match self.month_record(period)? {
            Some(record) => Ok(MonthView {
                period,
                state: record.state,
                pending: self.pending_in(period)?,
                record: Some(record),
            }),
            None if period == open => Ok(MonthView {
                period,
                state: MonthState::Open,
                pending: self.pending_in(period)?,
                record: None,
            }),
            None if period > open => Err(HubError::Missing(format!(
                "month {period} has not started: the open month is {open}"
            ))),
            None => Err(HubError::Missing(format!(
                "the hub has no month {period}: it was never open here (the open month is {open})"
            ))),
        }
    }

    /// The clearing of a cleared month.
    pub fn clearing(&self, period: Period) -> HubResult<ClearingResult> {
        let view = self.month(period)?;
        view.record
            .and_then(|r| r.clearing)
            .ok_or_else(|| HubError::FailedPrecondition(format!("month {period} is {}; it is cleared once closed", state_word(view.state))))
    }

    /// One province's statement lines of a cleared month, in order; lazily.
    pub fn statement(&self, period: Period, province: ProvinceCode) -> HubResult<impl Iterator<Item = HubResult<Line>> + '_> {
        self.clearing(period)?;
        Ok(Self::lines(&self.store, period, province))
    }

    /// A province confirms its statement; once every province with activity
    /// has, the month is reconciled.
    pub async fn confirm_month(&self, period: Period, province: ProvinceCode, digest: &str) -> HubResult<MonthView> {
        let clearing = self.clearing(period)?;
        let expected = clearing
            .provinces
            .get(&province)
            .map_or_else(|| Summer::default().finish().digest, |t| t.digest.clone());
        if digest != expected {
            return Err(HubError::FailedPrecondition(format!(
                "province {province}'s confirmation names digest {digest}, but its statement of {period} is {expected}; reconcile again"
            )));
        }
        self.update_month(period, |record| {
            record.disputes.remove(&province);
            record.confirmed.insert(province, digest.to_owned());
            let everyone = record
                .clearing
                .as_ref()
                .is_some_and(|c| c.provinces.keys().all(|p| record.confirmed.contains_key(p)));
            if everyone {
                record.state = MonthState::Reconciled;
            }
        })
        .await?;
        tracing::info!(%period, %province, "statement confirmed");
        self.month(period)
    }

    /// A province disputes its statement.
    pub async fn dispute_month(&self, period: Period, province: ProvinceCode, dispute: Dispute) -> HubResult<MonthView> {
        self.clearing(period)?;
        tracing::warn!(%period, %province, only_at_hub = dispute.only_at_hub, only_at_node = dispute.only_at_node, amount_differs = dispute.amount_differs, counterpart_differs = dispute.counterpart_differs, detail = %dispute.detail, "statement disputed");
        self.update_month(period, |record| {
            record.confirmed.remove(&province);
            record.disputes.insert(province, dispute.clone());
            record.state = MonthState::Closed;
        })
        .await?;
        self.month(period)
    }

    /// Changes a cleared, unsettled month's answers.
    async fn update_month(&self, period: Period, change: impl Fn(&mut MonthRecord)) -> HubResult<()> {
        self.store
            .transact::<_, StoreError>(|tx| {
                let Some(mut record) = tx.get(MONTHS, &month_key(period))? else {
                    return Ok(Err(HubError::not_found("month", period)));
                };
                if record.state == MonthState::Settled {
                    return Ok(Err(HubError::FailedPrecondition(format!(
                        "month {period} is settled and never changes; corrections go into a later month"
                    ))));
                }
                change(&mut record);
                tx.put(MONTHS, &month_key(period), &record)?;
                Ok(Ok(()))
            })?
            .durable()
            .await?
    }

    /// Settles a month: draws net payers' prepaid funds and pays net
    /// receivers, atomically. Needs every confirmation or an override reason.
    pub async fn settle_month(&self, period: Period, override_reason: Option<String>, operator: String) -> HubResult<SettlementRecord> {
        let settlement = self
            .store
            .transact::<_, StoreError>(|tx| {
                let Some(mut record) = tx.get(MONTHS, &month_key(period))? else {
                    return Ok(Err(HubError::FailedPrecondition(format!("month {period} is not closed"))));
                };
                if let Some(done) = &record.settlement {
                    return Ok(Ok(done.clone()));
                }
                let Some(clearing) = record.clearing.clone() else {
                    return Ok(Err(HubError::FailedPrecondition(format!(
                        "month {period} is still closing: transactions stamped with it are pending"
                    ))));
                };
                let missing: Vec<String> = clearing
                    .provinces
                    .keys()
                    .filter(|p| !record.confirmed.contains_key(p))
                    .map(|p| p.to_string())
                    .collect();
                if !missing.is_empty() && override_reason.is_none() {
                    return Ok(Err(HubError::FailedPrecondition(format!(
                        "month {period} waits for the confirmation of province(s) {}; settle with an override reason to go ahead without",
                        missing.join(", ")
                    ))));
                }
                let mut lines = Vec::new();
                let mut postings = Vec::new();
                for (province, totals) in &clearing.provinces {
                    let net = totals.net().map_err(|e| StoreError::Invariant(e.to_string()))?;
                    let (drawn, paid) = if net.is_negative() {
                        (net.negated(), Money::ZERO)
                    } else {
                        (Money::ZERO, net)
                    };
                    if !drawn.is_zero() {
                        let funds = tx.balance(&store::prepaid(*province))?;
                        if funds < drawn {
                            return Ok(Err(HubError::FailedPrecondition(format!(
                            "province {province} owes {drawn} for {period} but has {funds} of prepaid funds; it needs a top-up of {} first",
                            drawn.checked_sub(funds).unwrap_or(drawn)
                        ))));
                        }
                    }
                    if !net.is_zero() {
                        postings.push(Posting {
                            account: store::unsettled(*province),
                            amount: net.negated(),
                        });
                        if !drawn.is_zero() {
                            postings.push(Posting {
                                account: store::prepaid(*province),
                                amount: drawn.negated(),
                            });
                        }
                        if !paid.is_zero() {
                            postings.push(Posting {
                                account: store::paid_out(*province),
                                amount: paid,
                            });
                        }
                    }
                    lines.push(SettleLine {
                        province: *province,
                        net,
                        drawn,
                        paid,
                    });
                }
                if !postings.is_empty() {
                    tx.post(&JournalEntry {
                        reference: format!("settlement/{period}"),
                        memo: "monthly settlement".into(),
                        at: now_millis(),
                        postings,
                    })?;
                }
                let settlement = SettlementRecord {
                    lines,
                    override_reason: override_reason.clone(),
                    operator: operator.clone(),
                    at: now_millis(),
                };
                record.settlement = Some(settlement.clone());
                record.state = MonthState::Settled;
                tx.put(MONTHS, &month_key(period), &record)?;
                Ok(Ok(settlement))
            })?
            .durable()
            .await??;
        let top_ups = self.top_up_requests()?;
        tracing::info!(%period, provinces = settlement.lines.len(), override_reason = ?settlement.override_reason, ?top_ups, "month settled");
        Ok(settlement)
    }
}

/// One pass over a month's statement lines: gross per pair and kind (from
/// the payers' lines), and each province's totals and digest (lines arrive
/// grouped by province, in statement order).
/// Clears a month from the sums kept as its lines were posted.
fn clear(store: &gongji_common::store::Store, period: Period) -> HubResult<ClearingResult> {
    clear_from_sums(store, period)
}

fn clear_from_sums(store: &gongji_common::store::Store, period: Period) -> HubResult<ClearingResult> {
    let prefix = key_prefix(&[period.to_string().as_bytes()]);
    let mut pairs = BTreeMap::new();
    let mut transactions = 0;
    for item in store.scan_prefix(PAIR_SUMS, &prefix) {
        let (_, pair) = item?;
        transactions += pair.count;
        pairs.insert((pair.payer, pair.payee, pair.kind), pair);
    }
    let mut provinces = BTreeMap::new();
    for item in store.scan_prefix(STATEMENT_SUMS, &prefix) {
        let (key, sums) = item?;
        let province = ProvinceCode::parse("statement_sums", &String::from_utf8_lossy(last_key_part(&key)))
            .map_err(|e| HubError::Internal(format!("statement sums of {period}: {e}")))?;
        provinces.insert(province, sums.finish());
    }
    Ok(ClearingResult {
        transactions,
        lines: pairs.into_values().collect(),
        provinces,
    })
}

pub fn state_word(state: MonthState) -> &'static str {
    match state {
        MonthState::Open => "open",
        MonthState::Closing => "closing",
        MonthState::Closed => "closed",
        MonthState::Reconciled => "reconciled",
        MonthState::Settled => "settled",
    }
}
