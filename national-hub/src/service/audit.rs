//! The hub's self-check for `gongji audit`: its books (see
//! `gongji_common::books::check_books`) plus the hub's own rules — each month's
//! positions sum to zero and equal the provinces' statement lines, the
//! sums the clearing reads equal the lines, and a payment cancelled by a
//! reversal never reached a statement, and a cross-province wallet
//! transfer's outcome agrees with its routed acceptance. It reads one snapshot and writes
//! nothing.

use std::collections::BTreeMap;

use gongji_common::{
    books::{BooksCheck, Ledger},
    contract::{TxKind, TxStatus, WalletStatus},
    pending::Waiting,
    statement::{Direction, Summer},
    store::Reads,
    Money,
};

use super::Hub;
use crate::{
    domain::{HubLine, TxBody},
    error::HubResult,
    store::{self, PAIR_SUMS, STATEMENT, STATEMENT_SUMS, TRANSACTIONS},
};

impl Hub {
    /// Checks the hub's books and rules; reads everything once, from one
    /// snapshot, so that it holds while transactions go on. Also says how
    /// much work is pending and how many notices are unsent, at that point.
    pub fn self_check(&self) -> HubResult<(BooksCheck, Waiting)> {
        let snapshot = self.store.snapshot()?;
        let mut check = gongji_common::books::check_books(&snapshot)?;

        // Each month's positions, and each province's statement lines.
        let mut positions: BTreeMap<(String, String), Money> = BTreeMap::new();
        for item in snapshot.balances() {
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
        let mut sums: BTreeMap<(String, String), Summer> = BTreeMap::new();
        let mut pairs: BTreeMap<(String, String, String, String), (u64, Money)> = BTreeMap::new();
        for item in snapshot.scan_prefix(STATEMENT, b"") {
            let (key, HubLine { owner, line }) = item?;
            let period =
                String::from_utf8_lossy(key.split(|b| *b == gongji_common::store::KEY_SEPARATOR).next().unwrap_or_default()).into_owned();
            {
                sums.entry((period.clone(), owner.to_string())).or_default().add(&line)?;
                if line.direction == Direction::Payable {
                    let pair_key = (
                        period.clone(),
                        owner.to_string(),
                        line.counterpart.to_string(),
                        line.kind.as_str().to_owned(),
                    );
                    let pair = pairs.entry(pair_key).or_insert((0, Money::ZERO));
                    pair.0 += 1;
                    pair.1 = pair.1.checked_add(line.amount)?;
                }
            }
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

        // The sums the clearing reads are the lines' (months they cover).
        for item in snapshot.scan_prefix(STATEMENT_SUMS, b"") {
            let (key, stored) = item?;
            let mut parts = key
                .split(|b| *b == gongji_common::store::KEY_SEPARATOR)
                .map(|p| String::from_utf8_lossy(p).into_owned());
            let key = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let from_lines = sums.remove(&key).unwrap_or_default().finish();
            if stored.finish() != from_lines {
                check.violations.add(format!(
                    "province {} in {}: the statement sums the clearing reads ({:?}) differ from its lines ({from_lines:?})",
                    key.1,
                    key.0,
                    stored.finish()
                ));
            }
        }
        for ((period, province), _) in sums {
            check
                .violations
                .add(format!("province {province} in {period}: statement lines with no statement sums"));
        }
        for item in snapshot.scan_prefix(PAIR_SUMS, b"") {
            let (key, stored) = item?;
            let period =
                String::from_utf8_lossy(key.split(|b| *b == gongji_common::store::KEY_SEPARATOR).next().unwrap_or_default()).into_owned();
            let key = (
                period,
                stored.payer.to_string(),
                stored.payee.to_string(),
                stored.kind.as_str().to_owned(),
            );
            let from_lines = pairs.remove(&key).unwrap_or((0, Money::ZERO));
            if (stored.count, stored.gross) != from_lines {
                check.violations.add(format!(
                    "{} → {} ({}) in {}: the clearing's sums say {} transaction(s), {}; the lines {}, {}",
                    key.1, key.2, key.3, key.0, stored.count, stored.gross, from_lines.0, from_lines.1
                ));
            }
        }
        for ((period, payer, payee, kind), _) in pairs {
            check
                .violations
                .add(format!("{payer} → {payee} ({kind}) in {period}: statement lines with no pair sums"));
        }

        // Cancelled payments never reach a statement.
        for item in snapshot.scan_prefix(TRANSACTIONS, b"payment/") {
            let (_, record) = item?;
            if let (TxStatus::Reversed, TxBody::Payment(payment)) = (record.status, &record.body) {
                for province in [payment.donor_province, payment.beneficiary_province] {
                    let key = store::statement_key(record.period, province, "payment", payment.payment_id.as_str());
                    if snapshot.get(STATEMENT, &key)?.is_some() {
                        check.violations.add(format!(
                            "payment {} was cancelled, yet it is on {province}'s statement",
                            payment.payment_id
                        ));
                    }
                }
            }
        }
        // A cross-province wallet transfer's outcome, as its sender's node
        // told it, agrees with its acceptance as routed here: accepted
        // exactly when the acceptance was approved, in its month (one
        // still being decided, or not told yet, is pending, not wrong).
        for item in snapshot.scan_prefix(store::WALLET_TRANSFERS, b"") {
            let (_, record) = item?;
            let Some(outcome) = record.note.outcome else { continue };
            let id = &record.note.transfer_id;
            let routed = snapshot.get(TRANSACTIONS, &TxKind::WalletTransfer.key(id))?;
            let approved = routed.as_ref().filter(|t| t.status == TxStatus::Approved).map(|t| t.period);
            let pending = routed.as_ref().is_some_and(|t| t.status == TxStatus::Pending);
            let agrees = match (outcome.status == WalletStatus::Accepted, approved) {
                (true, Some(period)) => period == outcome.period,
                (accepted, approved) => !accepted && approved.is_none(),
            };
            if !pending && !agrees {
                check.violations.add(format!(
                    "wallet transfer {id} was {} in {} by province {}'s node, but its acceptance here is {}",
                    outcome.status.as_str(),
                    outcome.period,
                    record.sender_province,
                    match approved {
                        Some(period) => format!("approved in {period}"),
                        None => "not approved".to_owned(),
                    }
                ));
            }
        }
        let waiting = Waiting::read(&snapshot, store::PENDING, store::OUTBOX)?;
        Ok((check, waiting))
    }
}
