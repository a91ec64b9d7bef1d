//! Months at the hub: closing, completing a close with the month's clearing,
//! the provinces' confirmations and disputes, and settlement (the rules:
//! `domain::month` and `domain::settlement`).

use gongji_common::books::Post;
use std::collections::BTreeMap;

use gongji_common::{
    contract::TxKind,
    pending::PendingKind,
    statement::Line,
    store::{key_prefix, last_key_part, Store},
    Money, Period, ProvinceCode,
};

use super::{refuse, Hub};
use crate::{
    domain::{
        month,
        settlement::{self, SettleCommand, SettleDecision},
        ClearingResult, Dispute, MonthRecord, MonthState, Refusal, SettlementRecord,
    },
    error::{HubError, HubResult},
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
        month::check_started(period, open)?;
        self.store
            .transact::<_, HubError>(|tx| {
                let open = tx.get(META, OPEN_PERIOD)?.unwrap_or(open);
                let recorded = tx.contains(MONTHS, &month_key(period))?;
                if let Some(record) = month::close(period, open, recorded, self.now()) {
                    tx.put(META, OPEN_PERIOD, &period.next())?;
                    tx.put(MONTHS, &month_key(period), &record)?;
                }
                Ok(())
            })
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
        let positions: Vec<(ProvinceCode, Money)> = self
            .provinces()
            .entries()
            .map(|e| Ok((e.code, self.position(e.code, period)?)))
            .collect::<HubResult<_>>()?;
        let clearing = tokio::task::spawn_blocking(move || clearing_of(&store, period))
            .await
            .map_err(|e| HubError::Internal(format!("clearing task failed: {e}")))??;
        // The statement and the positions are written together; they must agree.
        month::check_positions(period, &clearing, &positions).map_err(HubError::Internal)?;
        let closed = self
            .store
            .transact::<_, HubError>(|tx| {
                let Some(record) = tx.get(MONTHS, &month_key(period))? else {
                    return Ok(false);
                };
                if let Some(cleared) = month::cleared(&record, clearing.clone(), self.now()) {
                    tx.put(MONTHS, &month_key(period), &cleared)?;
                }
                Ok(true)
            })
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

    /// Pending transactions that hold `period` open (see `domain::month::holds`).
    fn pending_in(&self, period: Period) -> HubResult<u64> {
        let mut count = 0;
        for (kind, pending) in [
            (TxKind::Payment, PendingKind::Payment),
            (TxKind::Refund, PendingKind::Refund),
            (TxKind::AccountTransfer, PendingKind::Transfer),
            (TxKind::WalletTransfer, PendingKind::Wallet),
            (TxKind::Reversal, PendingKind::Reversal),
        ] {
            for id in self.pending_ids(pending)? {
                let record = self.transaction(kind, &id)?;
                let reversed = match kind {
                    TxKind::Reversal => Some(self.transaction(TxKind::Payment, &id)?),
                    _ => None,
                };
                if month::holds(period, &record, reversed.as_ref()) {
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
            .ok_or_else(|| HubError::FailedPrecondition(format!("month {period} is {}; it is cleared once closed", view.state.word())))
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
        month::check_digest(&clearing, period, province, digest)?;
        self.update_month(period, |record| month::confirm(record, province, digest)).await?;
        tracing::info!(%period, %province, "statement confirmed");
        self.month(period)
    }

    /// A province disputes its statement.
    pub async fn dispute_month(&self, period: Period, province: ProvinceCode, dispute: Dispute) -> HubResult<MonthView> {
        self.clearing(period)?;
        tracing::warn!(%period, %province, only_at_hub = dispute.only_at_hub, only_at_node = dispute.only_at_node, amount_differs = dispute.amount_differs, counterpart_differs = dispute.counterpart_differs, detail = %dispute.detail, "statement disputed");
        self.update_month(period, |record| month::dispute(record, province, dispute.clone()))
            .await?;
        self.month(period)
    }

    /// Writes a month's record as `change` decides it.
    async fn update_month(&self, period: Period, change: impl Fn(&MonthRecord) -> Result<MonthRecord, Refusal>) -> HubResult<()> {
        self.store
            .transact::<_, HubError>(|tx| {
                let Some(record) = tx.get(MONTHS, &month_key(period))? else {
                    return Err(HubError::not_found("month", period));
                };
                match change(&record) {
                    Ok(changed) => tx.put(MONTHS, &month_key(period), &changed)?,
                    Err(refusal) => return Err(refuse(refusal)),
                }
                Ok(())
            })
            .durable()
            .await
    }

    /// Settles a month: draws net payers' prepaid funds and pays net
    /// receivers, atomically. Needs every confirmation or an override reason.
    pub async fn settle_month(&self, period: Period, override_reason: Option<String>, operator: String) -> HubResult<SettlementRecord> {
        let command = SettleCommand {
            period,
            override_reason,
            operator,
        };
        let settlement = self
            .store
            .transact::<_, HubError>(|tx| {
                let record = tx.get(MONTHS, &month_key(period))?;
                let mut funds = BTreeMap::new();
                for province in record.as_ref().map(settlement::provinces).unwrap_or_default() {
                    funds.insert(province, tx.balance(&store::prepaid(province))?);
                }
                let decided = match settlement::decide(record.as_ref(), &funds, &command, self.now()) {
                    Ok(decided) => decided,
                    Err(refusal) => return Err(refuse(refusal)),
                };
                match decided {
                    SettleDecision::Settled(done) => Ok(done),
                    SettleDecision::Settle { settlement, record, entry } => {
                        if let Some(entry) = &entry {
                            Self::post(tx, entry)?;
                        }
                        tx.put(MONTHS, &month_key(period), &record)?;
                        Ok(settlement)
                    }
                }
            })
            .durable()
            .await?;
        let top_ups = self.top_up_requests()?;
        tracing::info!(%period, provinces = settlement.lines.len(), override_reason = ?settlement.override_reason, ?top_ups, "month settled");
        Ok(settlement)
    }
}

/// A month's clearing, read from the sums kept as its lines were booked.
fn clearing_of(store: &Store, period: Period) -> HubResult<ClearingResult> {
    let prefix = key_prefix(&[period.to_string().as_bytes()]);
    let mut pairs = Vec::new();
    for item in store.scan_prefix(PAIR_SUMS, &prefix) {
        pairs.push(item?.1);
    }
    let mut sums = Vec::new();
    for item in store.scan_prefix(STATEMENT_SUMS, &prefix) {
        let (key, summer) = item?;
        let province = ProvinceCode::parse("statement_sums", &String::from_utf8_lossy(last_key_part(&key)))
            .map_err(|e| HubError::Internal(format!("statement sums of {period}: {e}")))?;
        sums.push((province, summer));
    }
    Ok(month::clearing_from_sums(pairs, sums))
}
