//! Writing what decisions say about the hub's books: a booking of an
//! approved transaction (positions, statement lines, the clearing's sums),
//! a journal entry, a province's reservation; and reading the books a
//! decision needs: a province's prepaid funds, a transaction's month.

use gongji_common::books::Post;
use gongji_common::{
    cursor::status_name,
    store::{Tx, TxFail},
    Money, ProvinceCode,
};

use super::{broken, Hub};
use crate::{
    domain::{
        books::{self, Books},
        prepaid::Reservation,
        Entry, Funds, HubTransaction,
    },
    store::{self, MONTHS, PAIR_SUMS, RESERVED, STATEMENT, STATEMENT_SUMS, TRANSACTIONS, TX_BY_KIND, TX_BY_PAIR, TX_BY_STATUS, TX_SEQ},
};

impl Hub {
    /// Books an approved `record` into its month at `now` (see
    /// `domain::books`): loads the month's books as this transaction sees
    /// them, so that a payment and its credit back booked in one
    /// transaction add up, and records the positions on `record`.
    pub(super) fn book(tx: &Tx, record: &mut HubTransaction, now: i64) -> Result<(), TxFail> {
        let body = &record.body;
        let (payer, payee, period) = (body.payer(), body.payee(), record.period);
        let kind = body.kind().as_str();
        let loaded = Books {
            month: tx.get(MONTHS, period.to_string().as_bytes())?.map(|month| month.state),
            payer_position: tx.balance(&store::position(payer, period))?,
            payee_position: tx.balance(&store::position(payee, period))?,
            payer_sums: tx
                .get(STATEMENT_SUMS, &store::statement_sums_key(period, payer))?
                .unwrap_or_default(),
            payee_sums: tx
                .get(STATEMENT_SUMS, &store::statement_sums_key(period, payee))?
                .unwrap_or_default(),
            pair: tx.get(PAIR_SUMS, &store::pair_sums_key(period, payer, payee, kind))?,
        };
        let booking = books::book(record, loaded, now).map_err(broken)?;
        if let Some(entry) = &booking.entry {
            Self::post(tx, entry)?;
        }
        tx.put(STATEMENT_SUMS, &store::statement_sums_key(period, payer), &booking.payer_sums)?;
        tx.put(STATEMENT_SUMS, &store::statement_sums_key(period, payee), &booking.payee_sums)?;
        tx.put(PAIR_SUMS, &store::pair_sums_key(period, payer, payee, kind), &booking.pair)?;
        for line in &booking.lines {
            let key = store::statement_key(period, line.owner, kind, body.id().as_str());
            tx.put(STATEMENT, &key, line)?;
        }
        record.payer_position = Some(booking.payer_position);
        record.payee_position = Some(booking.payee_position);
        Ok(())
    }

    /// Posts a decision's entry to the store's journal.
    pub(super) fn post(tx: &Tx, entry: &Entry) -> Result<(), TxFail> {
        tx.post(&store::journal_entry(entry)).map(drop)
    }

    /// Writes a province's reservation, if a decision changed it.
    pub(super) fn reserve(tx: &Tx, reservation: Option<Reservation>) -> Result<(), TxFail> {
        match reservation {
            Some(Reservation { province, reserved }) => tx.put(RESERVED, province.as_str(), &reserved),
            None => Ok(()),
        }
    }

    /// What `province` has reserved, as a transaction sees it.
    pub(super) fn reserved(tx: &Tx, province: ProvinceCode) -> Result<Money, TxFail> {
        Ok(tx.get(RESERVED, province.as_str())?.unwrap_or(Money::ZERO))
    }

    /// A province's prepaid funds, as a transaction sees them.
    pub(super) fn funds(tx: &Tx, province: ProvinceCode) -> Result<Funds, TxFail> {
        Ok(Funds {
            prepaid: tx.balance(&store::prepaid(province))?,
            unsettled: tx.balance(&store::unsettled(province))?,
            reserved: Self::reserved(tx, province)?,
        })
    }

    /// Writes a new transaction, indexed by kind, status and province pair
    /// (a month's transactions are its kinds' entries, a province's its
    /// pairs' entries: see `listings`).
    pub(super) fn put_new(tx: &Tx, record: &HubTransaction) -> Result<(), TxFail> {
        let key = record.body.key();
        let seq = tx.next_id()?;
        tx.put(TRANSACTIONS, &key, record)?;
        Self::index_listings(tx, record, seq)
    }

    /// Writes the kind, status and pair index entries of the transaction
    /// at `seq` (and where it is: `tx_seq`).
    pub(super) fn index_listings(tx: &Tx, record: &HubTransaction, seq: u64) -> Result<(), TxFail> {
        let (key, body) = (record.body.key(), &record.body);
        tx.put(TX_SEQ, &key, &seq)?;
        tx.put(TX_BY_KIND, &store::by_value_key(record.period, body.kind().as_str(), seq), &key)?;
        tx.put(
            TX_BY_STATUS,
            &store::by_value_key(record.period, status_name(record.status), seq),
            &key,
        )?;
        tx.put(
            TX_BY_PAIR,
            &store::by_pair_key(record.period, body.payer(), body.payee(), seq),
            &key,
        )
    }

    /// Writes a transaction already recorded, whose status may have
    /// changed: its status index entry moves in the same store transaction.
    pub(super) fn put_changed(tx: &Tx, record: &HubTransaction) -> Result<(), TxFail> {
        let key = record.body.key();
        if let (Some(before), Some(seq)) = (tx.get(TRANSACTIONS, &key)?, tx.get(TX_SEQ, &key)?) {
            if before.status != record.status {
                tx.remove(TX_BY_STATUS, &store::by_value_key(before.period, status_name(before.status), seq))?;
                tx.put(
                    TX_BY_STATUS,
                    &store::by_value_key(record.period, status_name(record.status), seq),
                    &key,
                )?;
            }
        }
        tx.put(TRANSACTIONS, &key, record)
    }
}
