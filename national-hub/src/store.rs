//! The hub's trees, key layouts and accounts, in one place. Only `service`
//! (and the self-check) reads and writes them; `domain` never sees them.
//!
//! | tree             | key                              | value             |
//! |------------------|----------------------------------|-------------------|
//! | `transactions`   | kind/id (`payment/P1`, `refund/R1`, `reversal/P1`, `transfer/T1`) | `HubTransaction` |
//! | `tx_by_period`   | YYYY-MM ␟ seq (u64 BE)           | transaction key   |
//! | `tx_by_province` | YYYY-MM ␟ province ␟ seq (u64 BE) | transaction key (one entry for payer, one for payee) |
//! | `grants`         | relationship id                  | `GrantRecord`     |
//! | `pending`        | kind ␟ id                        | when it became pending (ms; null in older entries): awaiting a province node |
//! | `meta`           | name                             | e.g. `open_period` → "YYYY-MM" |
//! | `outbox`         | seq (u64 BE)                     | notice to deliver, with attempts |
//! | `relayed`        | notice id                        | null: notices already taken in |
//! | `wallet_transfers` | wallet transfer id             | `WalletRecord`: a cross-province transfer, sent and its outcome |
//! | `months`         | YYYY-MM                          | `MonthRecord` (from its close on) |
//! | `statement`      | YYYY-MM ␟ province ␟ kind ␟ id   | `HubLine`: an approved transaction as the province sees it |
//! | `reserved`       | province                         | outflow of its payments and transfers still being decided |
//! | `prepaid_ops`    | operation id                     | `PrepaidOp` (deposits and withdrawals) |
//! | `statement_sums` | YYYY-MM ␟ province               | `Summer`: the totals and digest of the province's statement so far |
//! | `pair_sums`      | YYYY-MM ␟ payer ␟ payee ␟ kind   | `PairLine`: count and gross of the pair's transactions so far |
//! | `oplog`          | see `gongji_common::oplog`       | the operator audit log (append-only) |
//! | `tx_seq`         | transaction key                  | its seq: where it is in the indexes below and the two above |
//! | `tx_by_kind`     | YYYY-MM ␟ kind ␟ seq (u64 BE)     | transaction key |
//! | `tx_by_status`   | YYYY-MM ␟ status ␟ seq (u64 BE)   | transaction key (moved when the status changes, in the same store transaction) |
//! | `tx_by_pair`     | YYYY-MM ␟ province ␟ province ␟ seq (u64 BE) | transaction key (the two provinces in code order, either paying) |
//! | `listings_built` | index name                       | version built (indexes of older data directories are built at start) |
//!
//! The two sums are written with every statement line, so a month's
//! clearing reads them instead of the lines.
//!
//! Plus the shared `journal` and `balances`; accounts used here:
//! `position/CODE/YYYY-MM` (receivable minus payable of a province in a month),
//! `unsettled/CODE` (the same over all unsettled months), `prepaid/CODE`,
//! `deposits/CODE` (external money in, less withdrawals) and `paid_out/CODE`.

use gongji_common::{
    books::{Account, AccountKind, JournalEntry, Posting},
    oplog::Logged,
    outbox::Queued,
    pending::Since,
    statement::Summer,
    store::{key, key_prefix},
    Id, Money, Period, ProvinceCode,
};

use crate::domain::{notice::WalletRecord, Entry, GrantRecord, HubAccount, HubLine, HubTransaction, MonthRecord, PairLine, PrepaidOp};

gongji_common::tables! {
    TRANSACTIONS: str => HubTransaction = "transactions";
    // Written by older versions only: a month's and a province's
    // transactions are now read from the kind and pair indexes.
    TX_BY_PERIOD: [u8] => String = "tx_by_period";
    TX_BY_PROVINCE: [u8] => String = "tx_by_province";
    GRANTS: Id => GrantRecord = "grants";
    PENDING: [u8] => Since = "pending";
    META: [u8] => Period = "meta";
    OUTBOX: [u8] => Queued = "outbox";
    RELAYED: str => () = "relayed";
    WALLET_TRANSFERS: Id => WalletRecord = "wallet_transfers";
    MONTHS: [u8] => MonthRecord = "months";
    STATEMENT: [u8] => HubLine = "statement";
    RESERVED: str => Money = "reserved";
    PREPAID_OPS: Id => PrepaidOp = "prepaid_ops";
    STATEMENT_SUMS: [u8] => Summer = "statement_sums";
    PAIR_SUMS: [u8] => PairLine = "pair_sums";
    OPLOG: [u8] => Logged = "oplog";
    TX_SEQ: str => u64 = "tx_seq";
    TX_BY_KIND: [u8] => String = "tx_by_kind";
    TX_BY_STATUS: [u8] => String = "tx_by_status";
    TX_BY_PAIR: [u8] => String = "tx_by_pair";
    LISTINGS_BUILT: str => u32 = "listings_built";
}

pub const OPEN_PERIOD: &[u8] = b"open_period";
/// The key of a province's statement sums in a month.
pub fn statement_sums_key(period: Period, province: ProvinceCode) -> Vec<u8> {
    key(&[period.to_string().as_bytes(), province.as_str().as_bytes()])
}

/// The key of an ordered pair's sums of one kind in a month.
pub fn pair_sums_key(period: Period, payer: ProvinceCode, payee: ProvinceCode, kind: &str) -> Vec<u8> {
    key(&[
        period.to_string().as_bytes(),
        payer.as_str().as_bytes(),
        payee.as_str().as_bytes(),
        kind.as_bytes(),
    ])
}

/// The key of a transaction in the month index older versions wrote
/// (`tx_by_period`, read to build an older store's indexes).
pub fn by_period_key(period: Period, seq: u64) -> Vec<u8> {
    key(&[period.to_string().as_bytes(), &seq.to_be_bytes()])
}

/// The key of a transaction in the index of a month's transactions by
/// `value` (a kind, a status): the month, the value, then the seq.
pub fn by_value_key(period: Period, value: &str, seq: u64) -> Vec<u8> {
    key(&[period.to_string().as_bytes(), value.as_bytes(), &seq.to_be_bytes()])
}

pub fn value_prefix(period: Period, value: &str) -> Vec<u8> {
    key_prefix(&[period.to_string().as_bytes(), value.as_bytes()])
}

/// Two provinces in code order: a pair, whichever pays.
fn ordered(a: ProvinceCode, b: ProvinceCode) -> (ProvinceCode, ProvinceCode) {
    if a.as_str() <= b.as_str() {
        (a, b)
    } else {
        (b, a)
    }
}

pub fn by_pair_key(period: Period, a: ProvinceCode, b: ProvinceCode, seq: u64) -> Vec<u8> {
    let (low, high) = ordered(a, b);
    key(&[
        period.to_string().as_bytes(),
        low.as_str().as_bytes(),
        high.as_str().as_bytes(),
        &seq.to_be_bytes(),
    ])
}

pub fn pair_prefix(period: Period, a: ProvinceCode, b: ProvinceCode) -> Vec<u8> {
    let (low, high) = ordered(a, b);
    key_prefix(&[period.to_string().as_bytes(), low.as_str().as_bytes(), high.as_str().as_bytes()])
}

/// The key of a statement line.
pub fn statement_key(period: Period, province: ProvinceCode, kind: &str, id: &str) -> Vec<u8> {
    key(&[
        period.to_string().as_bytes(),
        province.as_str().as_bytes(),
        kind.as_bytes(),
        id.as_bytes(),
    ])
}

pub fn prepaid(province: ProvinceCode) -> Account {
    Account::new(AccountKind::Prepaid, province.as_str())
}

pub fn unsettled(province: ProvinceCode) -> Account {
    Account::new(AccountKind::Unsettled, province.as_str())
}

pub fn paid_out(province: ProvinceCode) -> Account {
    Account::new(AccountKind::PaidOut, province.as_str())
}

pub fn deposits(province: ProvinceCode) -> Account {
    Account::new(AccountKind::Deposits, province.as_str())
}

/// A province's position in a month.
pub fn position(province: ProvinceCode, period: Period) -> Account {
    Account::new(AccountKind::Position, format!("{province}/{period}"))
}

/// The store's account of one of the hub's accounts.
pub fn account(account: &HubAccount) -> Account {
    match account {
        HubAccount::Position(province, period) => position(*province, *period),
        HubAccount::Unsettled(province) => unsettled(*province),
        HubAccount::Prepaid(province) => prepaid(*province),
        HubAccount::Deposits(province) => deposits(*province),
        HubAccount::PaidOut(province) => paid_out(*province),
    }
}

/// The store's journal entry of a decision's entry.
pub fn journal_entry(entry: &Entry) -> JournalEntry {
    JournalEntry {
        reference: entry.reference.clone(),
        memo: entry.memo.clone(),
        at: entry.at,
        postings: entry
            .legs
            .iter()
            .map(|leg| Posting {
                account: account(&leg.account),
                amount: leg.amount,
            })
            .collect(),
    }
}
