//! The hub's self-check for `gongji audit`: its books (see
//! `gongji_common::store::audit`) plus the hub's own rules — each month's
//! positions sum to zero and equal the provinces' statement lines, and a
//! payment cancelled by a reversal never reached a statement.

use std::collections::BTreeMap;

use gongji_common::{contract::TxStatus, statement::Direction, store::audit::BooksCheck, Money, Period, ProvinceCode};

use crate::{
    domain::{HubLine, HubTransaction, MonthRecord, TxBody},
    error::HubResult,
    service::Hub,
    store::{self, MONTHS, STATEMENT, TRANSACTIONS},
};

impl Hub {
    /// Checks the hub's books and rules; reads everything once.
    pub fn self_check(&self) -> HubResult<BooksCheck> {
        let mut check = self.store.check_books()?;

        // Each month's positions, and each province's statement lines.
        let mut positions: BTreeMap<(String, String), Money> = BTreeMap::new();
        for item in self.store.balances() {
            let (account, balance) = item?;
            if let Some(rest) = account.strip_prefix("position/") {
                if let Some((province, period)) = rest.split_once('/') {
                    positions.insert((period.to_owned(), province.to_owned()), balance);
                }
            }
        }
        let mut by_month: BTreeMap<String, Money> = BTreeMap::new();
        for ((period, _), balance) in &positions {
            let sum = by_month.entry(period.clone()).or_insert(Money::ZERO);
            *sum = sum.checked_add(*balance)?;
        }
        for (period, sum) in by_month {
            if !sum.is_zero() {
                check.violations.add(format!("the positions of {period} sum to {sum}, not 0.00"));
            }
        }
        let mut lines: BTreeMap<(String, String), Money> = BTreeMap::new();
        for item in self.store.scan_prefix::<HubLine>(STATEMENT, b"") {
            let (key, HubLine { owner, line }) = item?;
            let period =
                String::from_utf8_lossy(key.split(|b| *b == gongji_common::store::KEY_SEPARATOR).next().unwrap_or_default()).into_owned();
            let net = lines.entry((period, owner.to_string())).or_insert(Money::ZERO);
            *net = match line.direction {
                Direction::Payable => net.checked_sub(line.amount)?,
                Direction::Receivable => net.checked_add(line.amount)?,
            };
        }
        for (key, position) in &positions {
            let from_lines = lines.get(key).copied().unwrap_or(Money::ZERO);
            if from_lines != *position {
                check.violations.add(format!(
                    "province {} in {}: position {position} but its statement lines net {from_lines}",
                    key.1, key.0
                ));
            }
        }
        for (key, net) in &lines {
            if !positions.contains_key(key) && !net.is_zero() {
                check.violations.add(format!(
                    "province {} in {}: statement lines net {net} with no position",
                    key.1, key.0
                ));
            }
        }

        // Cancelled payments never reach a statement.
        for item in self.store.scan_prefix::<HubTransaction>(TRANSACTIONS, b"payment/") {
            let (_, record) = item?;
            if let (TxStatus::Reversed, TxBody::Payment(payment)) = (record.status, &record.body) {
                for province in [payment.donor_province, payment.beneficiary_province] {
                    let key = store::statement_key(record.period, province, "payment", payment.payment_id.as_str());
                    if self.store.get::<HubLine>(STATEMENT, &key)?.is_some() {
                        check.violations.add(format!(
                            "payment {} was cancelled, yet it is on {province}'s statement",
                            payment.payment_id
                        ));
                    }
                }
            }
        }
        Ok(check)
    }

    /// Every month stamped so far, oldest first (the last is the open one).
    pub fn periods(&self) -> HubResult<Vec<Period>> {
        let mut periods: Vec<Period> = self
            .store
            .scan_prefix::<MonthRecord>(MONTHS, b"")
            .map(|item| Ok(item?.1.period))
            .collect::<HubResult<_>>()?;
        periods.push(self.open_period()?);
        periods.sort();
        periods.dedup();
        Ok(periods)
    }

    /// One province's lines of any month, in statement order; lazily.
    pub fn lines(&self, period: Period, province: ProvinceCode) -> impl Iterator<Item = HubResult<gongji_common::statement::Line>> + '_ {
        let prefix = gongji_common::store::key_prefix(&[period.to_string().as_bytes(), province.as_str().as_bytes()]);
        self.store.scan_prefix::<HubLine>(STATEMENT, &prefix).map(|item| Ok(item?.1.line))
    }
}
