//! Payments listed by person, institution, relationship, month or status,
//! a page at a time. Each payment has index entries in `payment_index`,
//! written in the transaction that writes the payment (see
//! [`index_payment`]); a page reads the entries of one index from where the
//! last page stopped, so its cost is the page's, not the store's.
//!
//! An index key is `dimension ␟ value ␟ inverted time ␟ payment id`: the
//! newest payment first, a stable order for payments already written (a
//! payment's time never changes). The cursor is the last key a page read:
//! the next page starts right after it, so a payment written meanwhile (a
//! newer one, before the cursor) is not listed, and none already listed is
//! listed again. Only the status entry moves when a payment's status
//! changes, in the same transaction.

use gongji_common::{
    contract::{Payee, TxStatus},
    cursor::{self, status_name},
    store::{key, key_prefix, last_key_part, Store, StoreError, Tx},
    Id, Period,
};

use crate::{
    domain::{AcquiredPayment, IssuedDebit},
    error::NodeResult,
    service::{Node, PaymentView},
    store::{DEBITS, LISTINGS_BUILT, PAYMENTS, PAYMENT_INDEX},
};

/// The version of the index layout; indexes of an older one (or none) are
/// built again at start.
const INDEX_VERSION: u32 = 1;

/// What a listing of payments asks for: at most one index is read (the
/// first filter given, in this order: relationship, person, institution,
/// month, status); the other filters are checked on each payment read.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
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

/// What an index entry of a payment records: who, where, when, how it stands.
struct Indexed<'a> {
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

    /// The payment's index keys.
    fn keys(&self) -> Vec<Vec<u8>> {
        let month = Period::of_unix_millis(self.at).to_string();
        let mut values: Vec<(&str, &[u8])> = vec![
            ("all", &[]),
            ("month", month.as_bytes()),
            ("status", status_name(self.status).as_bytes()),
        ];
        values.extend(self.persons.iter().map(|person| ("person", person.as_bytes())));
        values.extend(self.institution.map(|code| ("institution", code.as_bytes())));
        values.extend(self.relationship.map(|id| ("relationship", id.as_bytes())));
        values
            .into_iter()
            .map(|(dimension, value)| key(&[dimension.as_bytes(), value, &newest_first(self.at), self.id.as_bytes()]))
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

/// Writes the index entries of a payment being written (`before` is its
/// stored version, if any): the entries it no longer has are removed.
fn reindex(tx: &Tx, before: Option<Indexed>, after: Option<Indexed>) -> Result<(), StoreError> {
    let old = before.map(|indexed| indexed.keys()).unwrap_or_default();
    let new = after.map(|indexed| indexed.keys()).unwrap_or_default();
    for gone in old.iter().filter(|key| !new.contains(key)) {
        tx.remove(PAYMENT_INDEX, gone)?;
    }
    for key in new.iter().filter(|key| !old.contains(key)) {
        tx.put(PAYMENT_INDEX, key, &())?;
    }
    Ok(())
}

/// Indexes a payment served here, in the transaction that writes it
/// (`None`: it is forgotten).
pub fn index_payment(tx: &Tx, id: &Id, payment: Option<&AcquiredPayment>) -> Result<(), StoreError> {
    let before = tx.get(PAYMENTS, id)?;
    reindex(tx, before.as_ref().map(Indexed::acquired), payment.map(Indexed::acquired))
}

/// Indexes a debit decided here, in the transaction that writes it.
pub fn index_debit(tx: &Tx, debit: &IssuedDebit) -> Result<(), StoreError> {
    let before = tx.get(DEBITS, &debit.payment.payment_id)?;
    reindex(tx, before.as_ref().map(Indexed::issued), Some(Indexed::issued(debit)))
}

impl PaymentFilter {
    /// The index a listing reads, as a key prefix.
    fn index(&self) -> Vec<u8> {
        let (dimension, value): (&str, Vec<u8>) = if let Some(id) = &self.relationship {
            ("relationship", id.as_bytes().to_vec())
        } else if let Some(id) = &self.person {
            ("person", id.as_bytes().to_vec())
        } else if let Some(code) = &self.institution {
            ("institution", code.as_bytes().to_vec())
        } else if let Some(month) = self.month {
            ("month", month.to_string().into_bytes())
        } else if let Some(status) = self.status {
            ("status", status_name(status).as_bytes().to_vec())
        } else {
            ("all", Vec::new())
        };
        key_prefix(&[dimension.as_bytes(), &value])
    }

    fn admits(&self, payment: &PaymentView) -> bool {
        let indexed = match payment {
            PaymentView::Acquired(p) => Indexed::acquired(p),
            PaymentView::Issued(d) => Indexed::issued(d),
            PaymentView::Cancelled { .. } => return false,
        };
        self.relationship.as_ref().is_none_or(|id| indexed.relationship == Some(id))
            && self.person.as_ref().is_none_or(|id| indexed.persons.contains(&id))
            && self.institution.as_deref().is_none_or(|code| indexed.institution == Some(code))
            && self.month.is_none_or(|month| Period::of_unix_millis(indexed.at) == month)
            && self.status.is_none_or(|status| indexed.status == status)
    }
}

/// One page of the payments a node's store holds (served there or decided
/// there), newest first, after `from` (a previous page's `next_cursor`
/// with the same filters) on.
pub fn list_payments(store: &Store, filter: &PaymentFilter, from: Option<&str>, limit: usize) -> NodeResult<Page<PaymentView>> {
    let prefix = filter.index();
    let start = match from {
        None => prefix.clone(),
        Some(text) => cursor::start_after("cursor", text, &prefix)?,
    };
    let mut items = Vec::new();
    let mut last = None;
    let mut read = 0;
    for entry in store.scan_from(PAYMENT_INDEX, &prefix, &start) {
        let (index_key, ()) = entry?;
        read += 1;
        let id = Id::parse("cursor", &String::from_utf8_lossy(last_key_part(&index_key)))?;
        last = Some(index_key);
        let payment = match store.get(PAYMENTS, &id)? {
            Some(p) => PaymentView::Acquired(p),
            None => match store.get(DEBITS, &id)? {
                Some(d) => PaymentView::Issued(d),
                None => continue,
            },
        };
        if filter.admits(&payment) {
            items.push(payment);
            if items.len() == limit {
                break;
            }
        }
    }
    let next_cursor = if items.len() == limit {
        last.map(|key| cursor::encode(&key))
    } else {
        None
    };
    Ok(Page { items, next_cursor, read })
}

impl Node {
    /// One page of the payments this node holds (see [`list_payments`]).
    pub fn list_payments(&self, filter: &PaymentFilter, cursor: Option<&str>, limit: usize) -> NodeResult<Page<PaymentView>> {
        list_payments(&self.store, filter, cursor, limit)
    }

    /// Builds the payment indexes of records written before they existed
    /// (a data directory of an older version): once, at start, if the
    /// store has no mark of this index version; durable before it returns.
    pub async fn build_listings(&self) -> NodeResult<usize> {
        if self.store.get(LISTINGS_BUILT, "payments")? == Some(INDEX_VERSION) {
            return Ok(0);
        }
        let mut built = 0;
        let mut keys = Vec::new();
        let acquired = self
            .store
            .scan_prefix(PAYMENTS, b"")
            .map(|entry| entry.map(|(_, p)| Indexed::acquired(&p).keys()));
        let issued = self
            .store
            .scan_prefix(DEBITS, b"")
            .map(|entry| entry.map(|(_, d)| Indexed::issued(&d).keys()));
        for entry in acquired.chain(issued) {
            keys.extend(entry?);
            built += 1;
            if keys.len() >= 5000 {
                self.put_index_keys(&std::mem::take(&mut keys))?;
            }
        }
        self.put_index_keys(&keys)?;
        self.store
            .transact(|tx| tx.put(LISTINGS_BUILT, "payments", &INDEX_VERSION))
            .durable()
            .await?;
        Ok(built)
    }

    fn put_index_keys(&self, keys: &[Vec<u8>]) -> NodeResult<()> {
        self.store
            .transact(|tx| keys.iter().try_for_each(|key| tx.put(PAYMENT_INDEX, key, &())))
            .unconfirmed()?;
        Ok(())
    }
}
