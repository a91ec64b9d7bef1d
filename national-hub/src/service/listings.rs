//! A month's transactions a page at a time: the month's index (or the
//! province's) read from a cursor on, in the order recorded. A transaction
//! recorded after a page is listed by a later page (it is recorded after
//! every one listed); none is listed twice or skipped.

use gongji_common::{cursor, Period, ProvinceCode};

use super::Hub;
use crate::{
    domain::HubTransaction,
    error::HubResult,
    store::{self, TRANSACTIONS, TX_BY_PERIOD, TX_BY_PROVINCE},
};

/// The most transactions one page may hold.
pub const MAX_LIMIT: u32 = 1000;

impl Hub {
    /// A month's transactions (of one province, if given) in the order
    /// recorded, after `from` (a cursor a listing gave), each with the
    /// cursor that resumes after it; lazily.
    pub fn transactions_after(
        &self,
        period: Period,
        province: Option<ProvinceCode>,
        from: Option<&str>,
    ) -> HubResult<impl Iterator<Item = HubResult<(String, HubTransaction)>> + '_> {
        let (tree, prefix) = match province {
            Some(p) => (TX_BY_PROVINCE, store::province_prefix(period, p)),
            None => (TX_BY_PERIOD, store::period_prefix(period)),
        };
        let start = match from {
            Some(text) => cursor::start_after("cursor", text, &prefix)?,
            None => prefix.clone(),
        };
        Ok(self.store.scan_from(tree, &prefix, &start).map(move |item| {
            let (index_key, key) = item?;
            let record = self
                .store
                .get(TRANSACTIONS, &key)?
                .ok_or_else(|| crate::error::HubError::Internal(format!("index names transaction {key}, which is missing")))?;
            Ok((cursor::encode(&index_key), record))
        }))
    }
}
