//! Payments, refunds and insurance transfers listed by person, institution,
//! relationship, month or status (those that apply), a page at a time. Each
//! record has index entries in its listing's index (`payment_index`,
//! `refund_index`, `transfer_index`), written in the transaction that writes
//! the record (see [`index_payment`]); a page reads the entries of its
//! index from where the last page stopped, so its cost is the page's, not
//! the store's.
//!
//! An index key is `dimension ␟ value ␟ position`, the position being
//! `inverted time ␟ record id`: the newest record first, a stable order for
//! records already written (a record's time never changes). A record has
//! one entry per dimension that names it: its status, each person, its
//! institution. Every record has exactly one status entry, so the listing
//! of all records merges the four status ranges by position; a month is a
//! range of positions in any of them; a relationship's records are read
//! from its beneficiary's entries. Few entries per record keep writing a
//! payment cheap: they are most of what a payment writes.
//!
//! The cursor is the position a page read last: the next page starts right
//! after it, so a record written meanwhile (a newer one, before the cursor)
//! is not listed, and none already listed is listed again. Only the status
//! entry moves when a record's status changes, in the same transaction, and
//! keeps its position.

use gongji_common::{
    contract::{Payee, TxStatus},
    cursor::{self, status_name},
    store::{key, key_prefix, last_key_part, Store, StoreError, Table, Tx, KEY_SEPARATOR},
    FieldError, Id, Period,
};

use crate::{
    domain::{AcquiredPayment, IssuedDebit, RefundRecord, TransferIn, TransferOut},
    error::NodeResult,
    service::{Node, PaymentView, TransferView},
    store::{
        DEBITS, LISTINGS_BUILT, PAYMENTS, PAYMENT_INDEX, REFUNDS, REFUND_INDEX, RELATIONSHIPS, TRANSFERS_IN, TRANSFERS_OUT, TRANSFER_INDEX,
    },
};

/// The version of the index layout; indexes of an older one (or none) are
/// built again at start. Version 1 also had `all`, `month` and
/// `relationship` entries.
const INDEX_VERSION: u32 = 2;

/// How often building an index at start says how far it got, in records.
const BUILD_PROGRESS_EVERY: usize = 100_000;

/// How often removing an older layout's entries says how far it got.
const CLEAR_PROGRESS_EVERY: usize = 500_000;

/// Every status, one range of entries each: the listing of all records
/// merges them, so a record of a status missing here would never be listed.
const STATUSES: [TxStatus; 4] = [TxStatus::Pending, TxStatus::Approved, TxStatus::Declined, TxStatus::Reversed];

/// Does not compile when a status is added: add it to [`STATUSES`] too.
#[allow(dead_code)]
fn every_status_has_its_range(status: TxStatus) {
    match status {
        TxStatus::Pending | TxStatus::Approved | TxStatus::Declined | TxStatus::Reversed => {}
    }
}

/// What a listing asks for: one dimension's entries are read (the first
/// filter given, in this order: relationship (its beneficiary's entries),
/// person, institution, status; none: every status's), within the month's
/// positions if one is given; the other filters are checked on each record
/// read. Transfers have no institution or relationship: those filters
/// select none.
#[derive(Debug, Clone, Default)]
pub struct ListingFilter {
    pub relationship: Option<Id>,
    pub person: Option<Id>,
    pub institution: Option<String>,
    pub month: Option<Period>,
    pub status: Option<TxStatus>,
}

/// One page of a listing and where the next one starts (none: the end).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    /// How many index entries the page read: its cost (the page's size,
    /// plus the entries other filters than the index's turned down).
    pub read: usize,
}

/// What an index entry of a record holds: who, where, when, how it stands.
pub struct Indexed<'a> {
    id: &'a Id,
    persons: Vec<&'a Id>,
    institution: Option<&'a str>,
    relationship: Option<&'a Id>,
    at: i64,
    status: TxStatus,
}

impl<'a> Indexed<'a> {
    fn acquired(payment: &'a AcquiredPayment) -> Indexed<'a> {
        let mut persons = vec![&payment.command.beneficiary_id];
        if let Some(route) = &payment.route {
            persons.push(&route.donor_id);
        }
        Indexed {
            id: &payment.command.payment_id,
            persons,
            institution: institution(&payment.command.payee),
            relationship: payment.route.as_ref().map(|route| &route.relationship_id),
            at: payment.created_at,
            status: payment.status,
        }
    }

    fn issued(debit: &'a IssuedDebit) -> Indexed<'a> {
        Indexed {
            id: &debit.payment.payment_id,
            persons: vec![&debit.payment.donor_id, &debit.payment.beneficiary_id],
            institution: institution(&debit.payment.payee),
            relationship: Some(&debit.payment.relationship_id),
            at: debit.decided_at,
            status: debit.status,
        }
    }

    /// A refund, at the beneficiary's node or the donor's: the refunded
    /// payment's beneficiary and donor, institution and relationship.
    fn refund(refund: &'a RefundRecord) -> Indexed<'a> {
        Indexed {
            id: &refund.command.refund_id,
            persons: vec![&refund.payment.beneficiary_id, &refund.payment.donor_id],
            institution: institution(&refund.payment.payee),
            relationship: Some(&refund.payment.relationship_id),
            at: refund.created_at,
            status: refund.status,
        }
    }

    fn transfer_out(transfer: &'a TransferOut) -> Indexed<'a> {
        Indexed {
            id: &transfer.command.transfer_id,
            persons: vec![&transfer.command.person_id],
            institution: None,
            relationship: None,
            at: transfer.created_at,
            status: transfer.status,
        }
    }

    fn transfer_in(transfer: &'a TransferIn) -> Indexed<'a> {
        Indexed {
            id: &transfer.transfer.transfer_id,
            persons: vec![&transfer.transfer.person_id],
            institution: None,
            relationship: None,
            at: transfer.at,
            status: transfer.status(),
        }
    }

    /// The record's index keys.
    fn keys(&self) -> Vec<Vec<u8>> {
        let mut values: Vec<(&str, &[u8])> = vec![("status", status_name(self.status).as_bytes())];
        values.extend(self.persons.iter().map(|person| ("person", person.as_bytes())));
        values.extend(self.institution.map(|code| ("institution", code.as_bytes())));
        let position = key(&[&newest_first(self.at), self.id.as_bytes()]);
        values
            .into_iter()
            .map(|(dimension, value)| [key_prefix(&[dimension.as_bytes(), value]), position.clone()].concat())
            .collect()
    }
}

fn institution(payee: &Payee) -> Option<&str> {
    match payee {
        Payee::Institution(code) => Some(code.as_str()),
        Payee::Fund(_) => None,
    }
}

/// A time as key bytes that sort the latest first.
fn newest_first(at: i64) -> [u8; 8] {
    (u64::MAX - at.max(0) as u64).to_be_bytes()
}

/// Writes the index entries of a record being written to `index` (`before`
/// is its stored version, if any): the entries it no longer has are removed.
fn reindex(tx: &Tx, index: Table<[u8], ()>, before: Option<Indexed>, after: Option<Indexed>) -> Result<(), StoreError> {
    let old = before.map(|indexed| indexed.keys()).unwrap_or_default();
    let new = after.map(|indexed| indexed.keys()).unwrap_or_default();
    for gone in old.iter().filter(|key| !new.contains(key)) {
        tx.remove(index, gone)?;
    }
    for key in new.iter().filter(|key| !old.contains(key)) {
        tx.put(index, key, &())?;
    }
    Ok(())
}

/// Indexes a payment served here, in the transaction that writes it
/// (`None`: it is forgotten).
pub fn index_payment(tx: &Tx, id: &Id, payment: Option<&AcquiredPayment>) -> Result<(), StoreError> {
    let before = tx.get(PAYMENTS, id)?;
    reindex(
        tx,
        PAYMENT_INDEX,
        before.as_ref().map(Indexed::acquired),
        payment.map(Indexed::acquired),
    )
}

/// Indexes a debit decided here, in the transaction that writes it.
pub fn index_debit(tx: &Tx, debit: &IssuedDebit) -> Result<(), StoreError> {
    let before = tx.get(DEBITS, &debit.payment.payment_id)?;
    reindex(
        tx,
        PAYMENT_INDEX,
        before.as_ref().map(Indexed::issued),
        Some(Indexed::issued(debit)),
    )
}

/// Indexes a refund, in the transaction that writes it (`None`: forgotten).
pub fn index_refund(tx: &Tx, id: &Id, refund: Option<&RefundRecord>) -> Result<(), StoreError> {
    let before = tx.get(REFUNDS, id)?;
    reindex(tx, REFUND_INDEX, before.as_ref().map(Indexed::refund), refund.map(Indexed::refund))
}

/// Indexes a transfer released here, in the transaction that writes it
/// (`None`: forgotten).
pub fn index_transfer_out(tx: &Tx, id: &Id, transfer: Option<&TransferOut>) -> Result<(), StoreError> {
    let before = tx.get(TRANSFERS_OUT, id)?;
    reindex(
        tx,
        TRANSFER_INDEX,
        before.as_ref().map(Indexed::transfer_out),
        transfer.map(Indexed::transfer_out),
    )
}

/// Indexes a transfer received here, in the transaction that writes it.
pub fn index_transfer_in(tx: &Tx, transfer: &TransferIn) -> Result<(), StoreError> {
    let before = tx.get(TRANSFERS_IN, &transfer.transfer.transfer_id)?;
    reindex(
        tx,
        TRANSFER_INDEX,
        before.as_ref().map(Indexed::transfer_in),
        Some(Indexed::transfer_in(transfer)),
    )
}

impl ListingFilter {
    /// The ranges of index keys a listing reads, each as its key prefix
    /// (several: merged by position). Empty: nothing can match (a
    /// relationship this node does not hold).
    fn ranges(&self, store: &Store) -> NodeResult<Vec<Vec<u8>>> {
        let range = |dimension: &str, value: &[u8]| key_prefix(&[dimension.as_bytes(), value]);
        Ok(if let Some(id) = &self.relationship {
            match store.get(RELATIONSHIPS, id)? {
                Some(relationship) => vec![range("person", relationship.grant.beneficiary_id.as_bytes())],
                None => Vec::new(),
            }
        } else if let Some(id) = &self.person {
            vec![range("person", id.as_bytes())]
        } else if let Some(code) = &self.institution {
            vec![range("institution", code.as_bytes())]
        } else {
            let statuses: &[TxStatus] = match &self.status {
                Some(status) => std::slice::from_ref(status),
                None => &STATUSES,
            };
            statuses
                .iter()
                .map(|status| range("status", status_name(*status).as_bytes()))
                .collect()
        })
    }

    /// The positions of the month asked for: the first (its newest time)
    /// and the time bytes past which it ends.
    fn months_positions(&self) -> Option<([u8; 8], [u8; 8])> {
        self.month
            .map(|month| (newest_first(month.next().first_millis() - 1), newest_first(month.first_millis())))
    }

    fn admits(&self, indexed: &Indexed) -> bool {
        self.relationship.as_ref().is_none_or(|id| indexed.relationship == Some(id))
            && self.person.as_ref().is_none_or(|id| indexed.persons.contains(&id))
            && self.institution.as_deref().is_none_or(|code| indexed.institution == Some(code))
            && self.month.is_none_or(|month| Period::of_unix_millis(indexed.at) == month)
            && self.status.is_none_or(|status| indexed.status == status)
    }

    /// What a cursor carries of the filters it was given with (FNV-1a of
    /// their values), so that a cursor is refused with other filters.
    fn digest(&self) -> [u8; 8] {
        let month = self.month.map(|month| month.to_string()).unwrap_or_default();
        cursor::filters_digest(&[
            self.relationship.as_ref().map_or("", Id::as_str),
            self.person.as_ref().map_or("", Id::as_str),
            self.institution.as_deref().unwrap_or(""),
            &month,
            self.status.map_or("", status_name),
        ])
    }

    /// The cursor of a page that read `position` last.
    fn cursor(&self, position: &[u8]) -> String {
        cursor::encode(&[&self.digest()[..], position].concat())
    }

    /// Where the page after cursor `text` starts: right after the position
    /// it holds. Refused (naming the field) if it is no cursor of a listing
    /// with these filters.
    fn after_cursor(&self, field: &str, text: &str) -> Result<Vec<u8>, FieldError> {
        let refused = || {
            FieldError::new(
                field,
                "is not a cursor of this listing: pass the next cursor the previous page gave, with the same filters, or none to start",
            )
        };
        let decoded = cursor::start_after(field, text, &self.digest())?;
        // The digest, then the position: inverted time, separator, id (then the 0 after it).
        let position = &decoded[8..];
        let id = position
            .get(9..position.len() - 1)
            .filter(|_| position[8] == KEY_SEPARATOR)
            .ok_or_else(refused)?;
        Id::parse(field, &String::from_utf8_lossy(id)).map_err(|_| refused())?;
        Ok(position.to_vec())
    }
}

/// A kind of record a node lists: its index, how to read one by id, and
/// what its index entries hold.
pub trait Listed: Sized {
    const INDEX: Table<[u8], ()>;
    fn load(store: &Store, id: &Id) -> NodeResult<Option<Self>>;
    /// None: not listed (a cancelled payment).
    fn indexed(&self) -> Option<Indexed<'_>>;
}

impl Listed for PaymentView {
    const INDEX: Table<[u8], ()> = PAYMENT_INDEX;

    fn load(store: &Store, id: &Id) -> NodeResult<Option<PaymentView>> {
        if let Some(p) = store.get(PAYMENTS, id)? {
            return Ok(Some(PaymentView::Acquired(p)));
        }
        Ok(store.get(DEBITS, id)?.map(PaymentView::Issued))
    }

    fn indexed(&self) -> Option<Indexed<'_>> {
        match self {
            PaymentView::Acquired(p) => Some(Indexed::acquired(p)),
            PaymentView::Issued(d) => Some(Indexed::issued(d)),
            PaymentView::Cancelled { .. } => None,
        }
    }
}

impl Listed for RefundRecord {
    const INDEX: Table<[u8], ()> = REFUND_INDEX;

    fn load(store: &Store, id: &Id) -> NodeResult<Option<RefundRecord>> {
        Ok(store.get(REFUNDS, id)?)
    }

    fn indexed(&self) -> Option<Indexed<'_>> {
        Some(Indexed::refund(self))
    }
}

impl Listed for TransferView {
    const INDEX: Table<[u8], ()> = TRANSFER_INDEX;

    fn load(store: &Store, id: &Id) -> NodeResult<Option<TransferView>> {
        if let Some(out) = store.get(TRANSFERS_OUT, id)? {
            return Ok(Some(TransferView::Out(out)));
        }
        Ok(store.get(TRANSFERS_IN, id)?.map(TransferView::In))
    }

    fn indexed(&self) -> Option<Indexed<'_>> {
        Some(match self {
            TransferView::Out(out) => Indexed::transfer_out(out),
            TransferView::In(received) => Indexed::transfer_in(received),
        })
    }
}

/// One page of the records of a kind a node's store holds, newest first,
/// after `from` (a previous page's `next_cursor` with the same filters) on.
pub fn list<T: Listed>(store: &Store, filter: &ListingFilter, from: Option<&str>, limit: usize) -> NodeResult<Page<T>> {
    let after = from.map(|text| filter.after_cursor("cursor", text)).transpose()?;
    let month = filter.months_positions();
    // The first position a page may read: after the cursor, within the month.
    let first = after
        .into_iter()
        .chain(month.map(|(newest, _)| newest.to_vec()))
        .max()
        .unwrap_or_default();
    let mut ranges = Vec::new();
    for prefix in filter.ranges(store)? {
        let start = [prefix.as_slice(), &first].concat();
        let skip = prefix.len();
        let positions = store
            .scan_from(T::INDEX, &prefix, &start)
            .map(move |entry| entry.map(|(index_key, ())| index_key[skip..].to_vec()))
            .take_while(move |entry| match (entry, month) {
                (Ok(position), Some((_, oldest))) => position.get(..8).is_some_and(|time| time <= oldest.as_slice()),
                _ => true,
            });
        ranges.push(positions.peekable());
    }
    let mut items = Vec::new();
    let mut last = None;
    let mut read = 0;
    while let Some(position) = cursor::next_merged(&mut ranges).transpose()? {
        read += 1;
        let id = Id::parse("cursor", &String::from_utf8_lossy(last_key_part(&position)))?;
        last = Some(position);
        let Some(record) = T::load(store, &id)? else {
            continue;
        };
        if record.indexed().is_some_and(|indexed| filter.admits(&indexed)) {
            items.push(record);
            if items.len() == limit {
                break;
            }
        }
    }
    let next_cursor = if items.len() == limit {
        last.map(|position| filter.cursor(&position))
    } else {
        None
    };
    Ok(Page { items, next_cursor, read })
}

impl Node {
    /// One page of the records of a kind this node holds (see [`list`]).
    pub fn list<T: Listed>(&self, filter: &ListingFilter, cursor: Option<&str>, limit: usize) -> NodeResult<Page<T>> {
        list(&self.store, filter, cursor, limit)
    }

    /// Builds the indexes of records written before they existed (a data
    /// directory of an older version): once per listing, at start, if the
    /// store has no mark of this index version; durable before it returns.
    pub async fn build_listings(&self) -> NodeResult<usize> {
        let payments = || {
            let acquired = self
                .store
                .scan_prefix(PAYMENTS, b"")
                .map(|entry| entry.map(|(_, p)| Indexed::acquired(&p).keys()));
            let issued = self
                .store
                .scan_prefix(DEBITS, b"")
                .map(|entry| entry.map(|(_, d)| Indexed::issued(&d).keys()));
            acquired.chain(issued)
        };
        let refunds = || {
            self.store
                .scan_prefix(REFUNDS, b"")
                .map(|entry| entry.map(|(_, r)| Indexed::refund(&r).keys()))
        };
        let transfers = || {
            let out = self
                .store
                .scan_prefix(TRANSFERS_OUT, b"")
                .map(|entry| entry.map(|(_, t)| Indexed::transfer_out(&t).keys()));
            let received = self
                .store
                .scan_prefix(TRANSFERS_IN, b"")
                .map(|entry| entry.map(|(_, t)| Indexed::transfer_in(&t).keys()));
            out.chain(received)
        };
        Ok(self.build_listing("payments", PAYMENT_INDEX, payments).await?
            + self.build_listing("refunds", REFUND_INDEX, refunds).await?
            + self.build_listing("transfers", TRANSFER_INDEX, transfers).await?)
    }

    /// Builds one listing's index from its records' keys, in transactions
    /// of at most a few thousand entries, unless already built; the entries
    /// of an older layout are removed first.
    async fn build_listing<I>(&self, name: &str, index: Table<[u8], ()>, records: impl FnOnce() -> I) -> NodeResult<usize>
    where
        I: Iterator<Item = Result<Vec<Vec<u8>>, StoreError>>,
    {
        if self.store.get(LISTINGS_BUILT, name)? == Some(INDEX_VERSION) {
            return Ok(0);
        }
        let removed = self.clear_index(index).await?;
        if removed > 0 {
            tracing::info!(listing = name, removed, "removed the index entries of an older layout");
        }
        let mut built = 0;
        let mut keys = Vec::new();
        for entry in records() {
            keys.extend(entry?);
            built += 1;
            if built % BUILD_PROGRESS_EVERY == 0 {
                tracing::info!(listing = name, records = built, "building the listing's index");
            }
            if keys.len() >= 5000 {
                self.put_index_keys(index, &std::mem::take(&mut keys))?;
            }
        }
        self.put_index_keys(index, &keys)?;
        self.store
            .transact(|tx| tx.put(LISTINGS_BUILT, name, &INDEX_VERSION))
            .durable()
            .await?;
        Ok(built)
    }

    /// Removes every entry of `index`, a few thousand at a time, each batch
    /// on disk before the next is read (reads outside a transaction see
    /// only what is on disk). Answers how many it removed.
    async fn clear_index(&self, index: Table<[u8], ()>) -> NodeResult<usize> {
        let mut removed = 0;
        loop {
            let keys = self.store.scan_keys(index, b"").take(5000).collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Ok(removed);
            }
            self.store
                .transact(|tx| keys.iter().try_for_each(|key| tx.remove(index, key)))
                .durable()
                .await?;
            let before = removed;
            removed += keys.len();
            if before / CLEAR_PROGRESS_EVERY < removed / CLEAR_PROGRESS_EVERY {
                tracing::info!(removed, "removing the index entries of an older layout");
            }
        }
    }

    fn put_index_keys(&self, index: Table<[u8], ()>, keys: &[Vec<u8>]) -> NodeResult<()> {
        self.store
            .transact(|tx| keys.iter().try_for_each(|key| tx.put(index, key, &())))
            .unconfirmed()?;
        Ok(())
    }
}
