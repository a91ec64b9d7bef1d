//! A month's transactions a page at a time, in the order recorded, from a
//! cursor on. The index read is the most selective the filters name: the
//! province pair, then the status, the kind; a province's transactions are
//! the entries of its pairs with every other province, merged by sequence;
//! the whole month is the entries of its kinds, merged likewise. The other
//! filters are checked on each transaction read. A transaction recorded
//! after a page is listed by a later page (it is recorded after every one
//! listed); none is listed twice or skipped.
//!
//! The kind, status and pair indexes are written with the transaction (a
//! status change moves its status entry in the same store transaction);
//! a store of an older version gets them at start ([`Hub::build_listings`]),
//! from the month index older versions wrote (`tx_by_period`, with
//! `tx_by_province`, no longer written: three entries fewer per
//! transaction).

use gongji_common::{
    contract::{TxKind, TxStatus},
    cursor::{self, status_name},
    store::{StoreError, Table},
    FieldError, Period, ProvinceCode,
};

use super::Hub;
use crate::{
    domain::HubTransaction,
    error::HubResult,
    store::{self, LISTINGS_BUILT, TRANSACTIONS, TX_BY_KIND, TX_BY_PAIR, TX_BY_PERIOD, TX_BY_STATUS},
};

/// The most transactions one page may hold.
pub const MAX_LIMIT: u32 = 1000;

/// The version of the kind, status and pair indexes; a store without this
/// mark gets them at start.
const INDEX_VERSION: u32 = 1;

/// Transactions indexed per store transaction when an older store's
/// indexes are built.
const BUILD_BATCH: usize = 5000;

/// Which of a month's transactions a listing reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    pub province: Option<ProvinceCode>,
    /// With `province`: the transactions between the two, either paying.
    pub counterpart: Option<ProvinceCode>,
    pub kind: Option<TxKind>,
    pub status: Option<TxStatus>,
}

impl Selection {
    /// Whether a transaction read is of the selection: the index read holds
    /// one of its filters, this checks them all.
    pub fn admits(&self, record: &HubTransaction) -> bool {
        let (payer, payee) = (record.body.payer(), record.body.payee());
        let between = |a: ProvinceCode, b: ProvinceCode| (payer == a && payee == b) || (payer == b && payee == a);
        self.province.is_none_or(|p| payer == p || payee == p)
            && self.province.zip(self.counterpart).is_none_or(|(a, b)| between(a, b))
            && self.kind.is_none_or(|kind| record.body.kind() == kind)
            && self.status.is_none_or(|status| record.status == status)
    }

    /// The index to read and the prefixes of its ranges for `period`
    /// (several: merged by sequence).
    fn ranges(&self, period: Period) -> (Table<[u8], String>, Vec<Vec<u8>>) {
        match (self.province, self.counterpart, self.status, self.kind) {
            (Some(a), Some(b), _, _) => (TX_BY_PAIR, vec![store::pair_prefix(period, a, b)]),
            (_, _, Some(status), _) => (TX_BY_STATUS, vec![store::value_prefix(period, status_name(status))]),
            (_, _, _, Some(kind)) => (TX_BY_KIND, vec![store::value_prefix(period, kind.as_str())]),
            (Some(p), None, None, None) => (
                TX_BY_PAIR,
                ProvinceCode::all_known()
                    .filter(|other| *other != p)
                    .map(|other| store::pair_prefix(period, p, other))
                    .collect(),
            ),
            (None, _, None, None) => (
                TX_BY_KIND,
                KINDS.iter().map(|kind| store::value_prefix(period, kind.as_str())).collect(),
            ),
        }
    }

    /// What a cursor carries of the selection it was given with (FNV-1a of
    /// the filters), so that it is refused with another.
    fn digest(&self, period: Period) -> [u8; 8] {
        cursor::filters_digest(&[
            &period.to_string(),
            self.province.as_ref().map_or("", ProvinceCode::as_str),
            self.counterpart.as_ref().map_or("", ProvinceCode::as_str),
            self.kind.map_or("", TxKind::as_str),
            self.status.map_or("", status_name),
        ])
    }
}

/// Every kind, one range of a month's entries each: the month's listing
/// merges them, so a transaction of a kind missing here is never listed.
const KINDS: [TxKind; 5] = [
    TxKind::Payment,
    TxKind::Refund,
    TxKind::Reversal,
    TxKind::AccountTransfer,
    TxKind::WalletTransfer,
];

/// Does not compile when a kind is added: add it to [`KINDS`] too.
#[allow(dead_code)]
fn every_kind_has_its_range(kind: TxKind) {
    match kind {
        TxKind::Payment | TxKind::Refund | TxKind::Reversal | TxKind::AccountTransfer | TxKind::WalletTransfer => {}
    }
}

impl Hub {
    /// A month's transactions read through the index `selection` names,
    /// in the order recorded, after `from` (a cursor a listing gave), each
    /// with the cursor that resumes after it; lazily. The caller checks
    /// the filters the index does not hold.
    pub fn transactions_after(
        &self,
        period: Period,
        selection: Selection,
        from: Option<&str>,
    ) -> HubResult<impl Iterator<Item = HubResult<(String, HubTransaction)>> + '_> {
        let digest = selection.digest(period);
        let first = match from {
            Some(text) => seq_after("cursor", text, &digest)?,
            None => 0,
        };
        let (tree, prefixes) = selection.ranges(period);
        let mut ranges: Vec<_> = prefixes
            .into_iter()
            .map(|prefix| {
                let start = [prefix.as_slice(), &first.to_be_bytes()].concat();
                self.store
                    .scan_from(tree, &prefix, &start)
                    .map(|item| -> Result<(u64, String), StoreError> {
                        let (index_key, key) = item?;
                        Ok((seq_of(&index_key)?, key))
                    })
                    .peekable()
            })
            .collect();
        Ok(std::iter::from_fn(move || cursor::next_merged(&mut ranges)).map(move |item| {
            let (seq, key) = item?;
            let record = self
                .store
                .get(TRANSACTIONS, &key)?
                .ok_or_else(|| crate::error::HubError::Internal(format!("index names transaction {key}, which is missing")))?;
            Ok((cursor::encode(&[&digest[..], &seq.to_be_bytes()].concat()), record))
        }))
    }

    /// Builds the kind, status and pair indexes of transactions recorded
    /// before they existed, once: the month index read in chunks (no scan
    /// open across a write), each chunk indexed in one store transaction;
    /// durable before it returns. Answers how many it indexed.
    pub async fn build_listings(&self) -> HubResult<usize> {
        if self.store.get(LISTINGS_BUILT, "transactions")? == Some(INDEX_VERSION) {
            return Ok(0);
        }
        let mut built = 0;
        let mut start = Vec::new();
        loop {
            let (mut chunk, mut read) = (Vec::with_capacity(BUILD_BATCH), 0);
            for item in self.store.scan_from(TX_BY_PERIOD, b"", &start).take(BUILD_BATCH) {
                let (index_key, key) = item?;
                let seq = seq_of(&index_key)?;
                read += 1;
                start = index_key;
                if let Some(record) = self.store.get(TRANSACTIONS, &key)? {
                    chunk.push((seq, record));
                }
            }
            if read == 0 {
                break;
            }
            start.push(0);
            built += chunk.len();
            self.store
                .transact(|tx| chunk.iter().try_for_each(|(seq, record)| Self::index_listings(tx, record, *seq)))
                .unconfirmed()?;
        }
        self.store
            .transact(|tx| tx.put(LISTINGS_BUILT, "transactions", &INDEX_VERSION))
            .durable()
            .await?;
        Ok(built)
    }
}

/// The first sequence after the one cursor `text` (of a selection with
/// `digest`) holds. Refused, naming the field, if it is no cursor of it.
fn seq_after(field: &str, text: &str, digest: &[u8; 8]) -> Result<u64, FieldError> {
    let decoded = cursor::start_after(field, text, digest)?;
    // The digest, the sequence, then the 0 start_after adds.
    decoded
        .get(8..16)
        .filter(|_| decoded.len() == 17)
        .and_then(|bytes| bytes.try_into().ok())
        .map(|bytes| u64::from_be_bytes(bytes).saturating_add(1))
        .ok_or_else(|| {
            FieldError::new(
                field,
                "is not a cursor of this listing: pass the cursor of the last transaction received, with the same filters, or none to start",
            )
        })
}

/// The seq at the end of an index key.
fn seq_of(index_key: &[u8]) -> Result<u64, StoreError> {
    let tail = index_key.len().checked_sub(8).map(|at| &index_key[at..]);
    tail.and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Invariant(format!("a month index key of {} bytes", index_key.len())))
}
