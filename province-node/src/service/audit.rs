//! The node's self-check for `gongji audit`: its books (see
//! `gongji_common::store::audit`) plus the node's own rules — a payment id
//! cancelled before it arrived was never paid, and a debit reversed before it
//! was approved never reached the statement.

use gongji_common::{contract::TxStatus, store::audit::BooksCheck, Id};

use super::Node;
use crate::{
    domain::{AcquiredPayment, IssuedDebit, Tombstone},
    error::NodeResult,
    store::{self, CROSS_LINES, DEBITS, PAYMENTS, REVERSED_IDS},
};

impl Node {
    /// Checks this node's books and rules; reads everything once.
    pub fn self_check(&self) -> NodeResult<BooksCheck> {
        let mut check = self.store.check_books()?;
        for item in self.store.scan_prefix::<Tombstone>(REVERSED_IDS, b"") {
            let (key, _) = item?;
            let id = String::from_utf8_lossy(&key).into_owned();
            if let Some(paid) = self.store.get::<AcquiredPayment>(PAYMENTS, &key)? {
                if paid.status == TxStatus::Approved {
                    check
                        .violations
                        .add(format!("payment {id} was cancelled before it arrived, yet it is approved"));
                }
            }
        }
        for item in self.store.scan_prefix::<IssuedDebit>(DEBITS, b"") {
            let (_, debit) = item?;
            let never_approved = debit.status == TxStatus::Reversed && debit.reversal.is_some_and(|r| !r.was_approved);
            if never_approved && self.has_line(debit.period, "payment", &debit.payment.payment_id)? {
                check.violations.add(format!(
                    "payment {} was cancelled, yet it was booked as a debit",
                    debit.payment.payment_id
                ));
            }
        }
        for item in self.store.scan_prefix::<AcquiredPayment>(PAYMENTS, b"") {
            let (_, payment) = item?;
            let cancelled = payment.reversal.is_some_and(|r| r.settled && !r.was_approved);
            if let (true, Some(period)) = (cancelled, payment.period) {
                if self.has_line(period, "payment", &payment.command.payment_id)? {
                    check
                        .violations
                        .add(format!("payment {} was cancelled, yet it was booked", payment.command.payment_id));
                }
            }
        }
        Ok(check)
    }

    fn has_line(&self, period: gongji_common::Period, kind: &str, id: &Id) -> NodeResult<bool> {
        Ok(self
            .store
            .get::<super::cross::CrossLine>(CROSS_LINES, &store::cross_line_key(period, kind, id.as_str()))?
            .is_some())
    }

    /// This node's own lines of a month, in statement order; lazily.
    pub fn lines(&self, period: gongji_common::Period) -> impl Iterator<Item = NodeResult<gongji_common::statement::Line>> + '_ {
        self.store
            .scan_prefix::<super::cross::CrossLine>(CROSS_LINES, &gongji_common::store::key_prefix(&[period.to_string().as_bytes()]))
            .map(|item| Ok(item?.1.line))
    }
}
