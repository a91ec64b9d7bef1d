//! The node's self-check for `gongji audit`: its books (see
//! `gongji_common::books::check_books`) plus the node's own rules — a payment id
//! cancelled before it arrived was never paid, and a debit reversed before it
//! was approved never reached the statement.

use std::collections::BTreeMap;

use gongji_common::{
    books::{AccountKind, BooksCheck, Ledger},
    contract::TxStatus,
    pending::Waiting,
    statement::Direction,
    store::{Reads, Snapshot},
    Id, Money,
};

use super::Node;
use crate::{
    domain::WalletStatus,
    error::NodeResult,
    store::{
        self, CROSS_LINES, DEBITS, OUTBOX, PAYMENTS, PENDING, REVERSED_IDS, WALLET_ACCEPTING, WALLET_CREDITS, WALLET_DUE, WALLET_INCOMING,
        WALLET_TRANSFERS,
    },
};

/// What the self-check found, read at one consistent point.
pub struct SelfCheck {
    pub books: BooksCheck,
    /// Work waiting for another node, and notices not yet acknowledged.
    pub waiting: Waiting,
}

impl Node {
    /// Checks this node's books and rules; reads everything once, from one
    /// snapshot, so that it holds while payments go on.
    pub fn self_check(&self) -> NodeResult<SelfCheck> {
        let snapshot = self.store.snapshot()?;
        let mut check = gongji_common::books::check_books(&snapshot)?;
        for item in snapshot.scan_prefix(REVERSED_IDS, b"") {
            let (key, _) = item?;
            let id = gongji_common::Id::parse("reversed payment id", &String::from_utf8_lossy(&key))?;
            if let Some(paid) = snapshot.get(PAYMENTS, &id)? {
                if paid.status == TxStatus::Approved {
                    check
                        .violations
                        .add(format!("payment {id} was cancelled before it arrived, yet it is approved"));
                }
            }
        }
        for item in snapshot.scan_prefix(DEBITS, b"") {
            let (_, debit) = item?;
            let never_approved = debit.status == TxStatus::Reversed && debit.reversal.is_some_and(|r| !r.was_approved);
            if never_approved && has_line(&snapshot, debit.period, "payment", &debit.payment.payment_id)? {
                check.violations.add(format!(
                    "payment {} was cancelled, yet it was booked as a debit",
                    debit.payment.payment_id
                ));
            }
        }
        for item in snapshot.scan_prefix(PAYMENTS, b"") {
            let (_, payment) = item?;
            let cancelled = payment.reversal.is_some_and(|r| r.settled && !r.was_approved);
            if let (true, Some(period)) = (cancelled, payment.period) {
                if has_line(&snapshot, period, "payment", &payment.command.payment_id)? {
                    check
                        .violations
                        .add(format!("payment {} was cancelled, yet it was booked", payment.command.payment_id));
                }
            }
        }
        // What this node claims on (or owes) each province in each month is
        // the net of its own lines with that province: every posting to
        // such an account is made with its line (`Node::post_cross`).
        let mut from_lines: BTreeMap<String, Money> = BTreeMap::new();
        for item in snapshot.scan_prefix(CROSS_LINES, b"") {
            let (_, cross) = item?;
            let net = from_lines
                .entry(store::province(cross.line.counterpart, cross.period).key())
                .or_insert(Money::ZERO);
            *net = match cross.line.direction {
                Direction::Payable => net.checked_add(cross.line.amount)?,
                Direction::Receivable => net.checked_sub(cross.line.amount)?,
            };
        }
        for item in snapshot.balances() {
            let (account, balance) = item?;
            if !account.starts_with(AccountKind::Province.as_str()) {
                continue;
            }
            let lines = from_lines.remove(&account).unwrap_or(Money::ZERO);
            if lines != balance {
                check.violations.add(format!(
                    "account {account} holds {balance}, but this node's own lines with that province net {lines}"
                ));
            }
        }
        for (account, lines) in from_lines.into_iter().filter(|(_, net)| !net.is_zero()) {
            check.violations.add(format!(
                "this node's own lines net {lines} with {account}, yet the account never moved"
            ));
        }
        wallet_check(&snapshot, self.province, &mut check)?;
        Ok(SelfCheck {
            books: check,
            waiting: Waiting::read(&snapshot, PENDING, OUTBOX)?,
        })
    }

    /// This node's own lines of a month in `books` (the store, or a
    /// snapshot), in statement order; lazily.
    pub fn lines(
        books: &impl Reads,
        period: gongji_common::Period,
    ) -> impl Iterator<Item = NodeResult<gongji_common::statement::Line>> + '_ {
        books
            .scan_prefix(CROSS_LINES, &gongji_common::store::key_prefix(&[period.to_string().as_bytes()]))
            .map(|item| Ok(item?.1.line))
    }
}

/// The wallet's rules (docs/WALLET.md): each transfer sent from here is
/// settled at most once, its amount in transit exactly while it is
/// unaccepted (and listed for its return only then); an accepted transfer to
/// another province is on this node's lines in its month, and so is every
/// transfer credited here from another. (No wallet is below zero: a wallet
/// is an account that holds money, which the books check.)
fn wallet_check(books: &Snapshot, here: gongji_common::ProvinceCode, check: &mut BooksCheck) -> NodeResult<()> {
    use gongji_common::books::Ledger as _;
    for item in books.scan_prefix(WALLET_TRANSFERS, b"") {
        let (_, transfer) = item?;
        let id = transfer.id();
        let in_transit = books.balance(&store::wallet_transit(id))?;
        let unaccepted = transfer.status == WalletStatus::Unaccepted;
        let expected = if unaccepted { transfer.command.amount } else { Money::ZERO };
        if in_transit != expected {
            check.violations.add(format!(
                "wallet transfer {id} is {} but {in_transit} of it is in transit (expected {expected})",
                transfer.status.as_str()
            ));
        }
        let listed = books.get(WALLET_DUE, &store::wallet_due_key(transfer.return_at, id))?.is_some();
        if listed != unaccepted {
            check.violations.add(format!(
                "wallet transfer {id} is {} but {} listed for its return",
                transfer.status.as_str(),
                if listed { "is" } else { "is not" }
            ));
        }
        if unaccepted == transfer.settled_at.is_some() {
            check.violations.add(format!(
                "wallet transfer {id} is {} with settled_at {:?}",
                transfer.status.as_str(),
                transfer.settled_at
            ));
        }
        let crossed = transfer.status == WalletStatus::Accepted && transfer.command.recipient_province != here;
        match (crossed, transfer.period) {
            (true, Some(period)) if !has_line(books, period, "wallet", id)? => {
                check
                    .violations
                    .add(format!("wallet transfer {id} was accepted in {period}, yet it is on no line"));
            }
            (true, None) => check
                .violations
                .add(format!("wallet transfer {id} was accepted across provinces without a month")),
            _ => {}
        }
    }
    // A transfer from another province agrees with its credit here: credited
    // only if the sender's node told it accepted (or has not told its
    // outcome yet), in the same month; told accepted, credited or still
    // being accepted here (the credit follows the sender's decision).
    for item in books.scan_prefix(WALLET_INCOMING, b"") {
        let (_, incoming) = item?;
        let id = &incoming.note.transfer_id;
        let credit = books.get(WALLET_CREDITS, id)?;
        let accepting = books.get(WALLET_ACCEPTING, id)?.is_some();
        match (incoming.note.outcome, credit) {
            (Some(outcome), Some(credit)) if outcome.status != WalletStatus::Accepted || outcome.period != credit.period => {
                check.violations.add(format!(
                    "wallet transfer {id} from province {} was {} in {} by its sender's node, yet credited here in {}",
                    incoming.sender_province,
                    outcome.status.as_str(),
                    outcome.period,
                    credit.period
                ))
            }
            (Some(outcome), None) if outcome.status == WalletStatus::Accepted && !accepting => check.violations.add(format!(
                "wallet transfer {id} from province {} was accepted in {} by its sender's node, yet it is not credited here",
                incoming.sender_province, outcome.period
            )),
            _ => {}
        }
    }
    for item in books.scan_prefix(WALLET_CREDITS, b"") {
        let (_, credit) = item?;
        if !has_line(books, credit.period, "wallet", &credit.transfer_id)? {
            check.violations.add(format!(
                "wallet transfer {} was credited in {}, yet it is on no line",
                credit.transfer_id, credit.period
            ));
        }
    }
    Ok(())
}

fn has_line(books: &Snapshot, period: gongji_common::Period, kind: &str, id: &Id) -> NodeResult<bool> {
    Ok(books.get(CROSS_LINES, &store::cross_line_key(period, kind, id.as_str()))?.is_some())
}
