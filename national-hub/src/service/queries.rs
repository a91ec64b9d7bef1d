//! Reads for the operators and the nodes: transactions, grants, positions,
//! months, statement lines. They change nothing.

use gongji_common::books::Ledger;
use gongji_common::{
    contract::TxKind,
    statement::Line,
    store::{key_prefix, Reads},
    Id, Money, Period, ProvinceCode,
};

use super::Hub;
use crate::{
    domain::{notice::WalletRecord, GrantRecord, HubTransaction},
    error::{HubError, HubResult},
    store::{self, GRANTS, META, MONTHS, OPEN_PERIOD, STATEMENT, TRANSACTIONS, WALLET_TRANSFERS},
};

impl Hub {
    /// The month stamped on new transactions.
    pub fn open_period(&self) -> HubResult<Period> {
        Ok(self.store.get(META, OPEN_PERIOD)?.unwrap_or_else(Period::current))
    }

    pub fn transaction(&self, kind: TxKind, id: &Id) -> HubResult<HubTransaction> {
        self.store
            .get(TRANSACTIONS, &kind.key(id))?
            .ok_or_else(|| HubError::not_found(kind.as_str(), id))
    }

    /// The transaction with this id, of the given kind or of the first kind
    /// that has one (payment, refund, reversal, transfer).
    pub fn find_transaction(&self, id: &Id, kind: Option<TxKind>) -> HubResult<HubTransaction> {
        for kind in kind.map_or(TxKind::ALL.to_vec(), |k| vec![k]) {
            if let Some(record) = self.store.get(TRANSACTIONS, &kind.key(id))? {
                return Ok(record);
            }
        }
        Err(HubError::not_found("transaction", id))
    }

    /// A cross-province wallet transfer as the hub recorded it.
    pub fn wallet_transfer(&self, id: &Id) -> HubResult<WalletRecord> {
        self.store
            .get(WALLET_TRANSFERS, id)?
            .ok_or_else(|| HubError::not_found("wallet transfer", id))
    }

    /// One page of the cross-province wallet transfers recorded here, in id
    /// order, and the next page's cursor (empty after the last).
    pub fn wallet_transfers(&self, cursor: &str, limit: u32) -> HubResult<(Vec<WalletRecord>, String)> {
        let start = gongji_common::cursor::start_of_table("cursor", cursor)?;
        let limit = gongji_common::cursor::check_limit("limit", limit)?;
        Ok(gongji_common::cursor::page(
            self.store.scan_from(WALLET_TRANSFERS, &[], &start),
            limit,
            |_| true,
        )?)
    }

    pub fn grant(&self, id: &Id) -> HubResult<GrantRecord> {
        self.store.get(GRANTS, id)?.ok_or_else(|| HubError::not_found("grant", id))
    }

    /// A province's position in a month.
    pub fn position(&self, province: ProvinceCode, period: Period) -> HubResult<Money> {
        Ok(self.store.balance(&store::position(province, period))?)
    }

    /// Every month stamped so far, oldest first (the last is the open one).
    pub fn periods(&self) -> HubResult<Vec<Period>> {
        let mut periods: Vec<Period> = self
            .store
            .scan_prefix(MONTHS, b"")
            .map(|item| Ok(item?.1.period))
            .collect::<HubResult<_>>()?;
        periods.push(self.open_period()?);
        periods.sort();
        periods.dedup();
        Ok(periods)
    }

    /// One province's lines of any month in `books` (the store, or a
    /// snapshot), in statement order; lazily.
    pub fn lines(books: &impl Reads, period: Period, province: ProvinceCode) -> impl Iterator<Item = HubResult<Line>> + '_ {
        let prefix = key_prefix(&[period.to_string().as_bytes(), province.as_str().as_bytes()]);
        books.scan_prefix(STATEMENT, &prefix).map(|item| Ok(item?.1.line))
    }
}
