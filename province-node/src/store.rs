//! The node's trees and key layouts, in one place. Keys are built from
//! parts with `gongji_common::store::key`; index trees map a key to `null`.
//!
//! | tree                  | key                               | value            |
//! |-----------------------|-----------------------------------|------------------|
//! | `persons`             | person id                         | `Person`         |
//! | `contributions`       | contribution id                   | `Contribution`   |
//! | `relationships`       | relationship id                   | `Relationship`   |
//! | `rels_by_donor`       | donor id ␟ relationship id        | null (local donors) |
//! | `rels_by_beneficiary` | beneficiary id ␟ relationship id  | null (local beneficiaries) |
//! | `live_pairs`          | donor id ␟ beneficiary id         | relationship id (pending or active, local donors) |
//! | `payments`            | payment id                        | `AcquiredPayment` (served here) |
//! | `debits`              | payment id                        | `IssuedDebit` (decided here) |
//! | `pending`             | kind ␟ id                         | when it became pending (ms; null in older entries): work awaiting another node (or a cascade) |
//! | `outbox`              | seq (u64 BE)                      | notice for another node, with delivery attempts |
//! | `applied_notices`     | notice id                         | null: notices already applied |
//! | `rel_events`          | relationship id ␟ seq (u64 BE)    | `Event` (history) |
//! | `quota_changes`       | change id                         | `QuotaChangeRecord` |
//! | `refunds`             | refund id                         | `RefundRecord` |
//! | `transfers_out`       | transfer id                       | `TransferOut` (released here) |
//! | `transfers_in`        | transfer id                       | `TransferIn` (received here) |
//! | `reversed_ids`        | payment id                        | `Tombstone`: reversed before this node saw it, when and by which institution (older records: the time alone) |
//! | `cross_lines`         | YYYY-MM ␟ kind ␟ id                | `CrossLine`: this node's own statement line, with its pooling region |
//! | `reconciliations`     | YYYY-MM                           | `Reconciliation` report of the month |
//! | `oplog`               | see `gongji_common::oplog`        | the operator audit log (append-only) |
//! | `wallets`             | person id                         | `Wallet` (医保钱包) |
//! | `wallet_transfers`    | transfer id                       | `WalletTransfer` (sent from here: the deciding record) |
//! | `wallet_credits`      | transfer id                       | `WalletCredit` (an accepted transfer from another province) |
//! | `wallet_incoming`     | transfer id                       | `IncomingWallet`: a transfer from another province as its sender's node told it (sent, then its outcome) |
//! | `wallet_sent`         | sender ␟ CST day (i64 BE)         | transfers sent that day (the daily limit) |
//! | `wallet_from`         | sender ␟ transfer                 | null: transfers a person sent |
//! | `wallet_to`           | recipient ␟ transfer              | null: transfers to a person of this province |
//! | `wallet_unaccepted`   | sender ␟ recipient                | transfer id, while unaccepted |
//! | `wallet_due`          | return time (i64 BE) ␟ transfer   | null: unaccepted transfers by return time |
//! | `wallet_payments`     | payment id                        | `WalletPayment`: paid from a wallet here |
//! | `wallet_reversed`     | payment id                        | when a wallet payment id was reversed before it arrived |
//! | `wallet_accepting`    | transfer id                       | `CrossWallet`: an acceptance of a transfer from another province, asked and not yet answered |
//! | `journal_by_account`  | account key ␟ seq (u64 BE)        | null: the journal entries that moved a person's account (`available/…`, `quota/…`), written with the entry; key `built` once it covers the whole journal |
//! | `payment_index`       | dimension ␟ value ␟ inverted time (u64 BE) ␟ payment id | null: payments (served or decided here) by `all`, `person`, `institution`, `relationship`, `month`, `status`, newest first (`service::listings`) |
//! | `listings_built`      | listing name                      | index version built (indexes of older data directories are built at start) |
//! | `refund_index`        | dimension ␟ value ␟ inverted time (u64 BE) ␟ refund id | null: refunds by `all`, `person` (beneficiary, donor), `institution`, `relationship`, `month`, `status`, newest first |
//! | `transfer_index`      | dimension ␟ value ␟ inverted time (u64 BE) ␟ transfer id | null: insurance transfers (released or received here) by `all`, `person`, `month`, `status`, newest first |
//!
//! Plus the shared `journal` and `balances` trees; accounts used here:
//! `available/PERSON`, `quota/RELATIONSHIP`, `contributions/`,
//! `institution/CODE`, `fund/NAME`, `transit/TRANSFER`, `province/CODE/YYYY-MM`,
//! `available/wallet/PERSON` (a wallet), `transit/wallet/TRANSFER` (an unaccepted wallet transfer).

use gongji_common::{
    books::{Account, AccountKind},
    contract::{CrossWallet, Payee},
    oplog::Logged,
    outbox::Queued,
    pending::Since,
    store::{key, key_prefix},
    Id, Period, ProvinceCode,
};

use crate::domain::{
    AcquiredPayment, Contribution, CrossLine, Event, IncomingWallet, IssuedDebit, Person, QuotaChangeRecord, RefundRecord, Relationship,
    Report, Tombstone, TransferIn, TransferOut, Wallet, WalletCredit, WalletPayment, WalletTransfer,
};

gongji_common::tables! {
    PERSONS: Id => Person = "persons";
    CONTRIBUTIONS: Id => Contribution = "contributions";
    RELATIONSHIPS: Id => Relationship = "relationships";
    RELS_BY_DONOR: [u8] => () = "rels_by_donor";
    RELS_BY_BENEFICIARY: [u8] => () = "rels_by_beneficiary";
    LIVE_PAIRS: [u8] => Id = "live_pairs";
    PAYMENTS: Id => AcquiredPayment = "payments";
    DEBITS: Id => IssuedDebit = "debits";
    PENDING: [u8] => Since = "pending";
    OUTBOX: [u8] => Queued = "outbox";
    APPLIED_NOTICES: str => () = "applied_notices";
    REL_EVENTS: [u8] => Event = "rel_events";
    QUOTA_CHANGES: Id => QuotaChangeRecord = "quota_changes";
    REFUNDS: Id => RefundRecord = "refunds";
    TRANSFERS_OUT: Id => TransferOut = "transfers_out";
    TRANSFERS_IN: Id => TransferIn = "transfers_in";
    REVERSED_IDS: Id => Tombstone = "reversed_ids";
    CROSS_LINES: [u8] => CrossLine = "cross_lines";
    RECONCILIATIONS: str => Report = "reconciliations";
    OPLOG: [u8] => Logged = "oplog";
    WALLETS: Id => Wallet = "wallets";
    WALLET_TRANSFERS: Id => WalletTransfer = "wallet_transfers";
    WALLET_CREDITS: Id => WalletCredit = "wallet_credits";
    WALLET_INCOMING: Id => IncomingWallet = "wallet_incoming";
    WALLET_SENT: [u8] => u32 = "wallet_sent";
    WALLET_FROM: [u8] => () = "wallet_from";
    WALLET_TO: [u8] => () = "wallet_to";
    WALLET_UNACCEPTED: [u8] => Id = "wallet_unaccepted";
    WALLET_DUE: [u8] => () = "wallet_due";
    WALLET_ACCEPTING: Id => CrossWallet = "wallet_accepting";
    WALLET_PAYMENTS: Id => WalletPayment = "wallet_payments";
    WALLET_REVERSED: Id => i64 = "wallet_reversed";
    JOURNAL_BY_ACCOUNT: [u8] => () = "journal_by_account";
    PAYMENT_INDEX: [u8] => () = "payment_index";
    LISTINGS_BUILT: str => u32 = "listings_built";
    REFUND_INDEX: [u8] => () = "refund_index";
    TRANSFER_INDEX: [u8] => () = "transfer_index";
}

/// The key of a sender's count of transfers on a CST day.
pub fn wallet_sent_key(sender: &Id, day: i64) -> Vec<u8> {
    key(&[sender.as_bytes(), &day.to_be_bytes()])
}

/// The key of a transfer listed for its return: the time (ms, big-endian,
/// so the earliest first), then the transfer.
pub fn wallet_due_key(at: i64, transfer: &Id) -> Vec<u8> {
    key(&[&at.max(0).to_be_bytes(), transfer.as_bytes()])
}

/// The time of a return-list key.
pub fn wallet_due_at(key: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

/// A person's wallet balance: an `available` account (never below zero)
/// named `wallet/PERSON` (ids have no `/`, so it is no person's account).
pub fn wallet(person: &Id) -> Account {
    Account::new(AccountKind::Available, format!("wallet/{person}"))
}

/// A wallet transfer's amount while unaccepted: `transit/wallet/TRANSFER`.
pub fn wallet_transit(transfer: &Id) -> Account {
    Account::new(AccountKind::Transit, format!("wallet/{transfer}"))
}

/// The key of a journal entry in the index of `account`'s entries.
pub fn journal_by_account_key(account: &Account, seq: u64) -> Vec<u8> {
    key(&[account.key().as_bytes(), &seq.to_be_bytes()])
}

/// The key that marks the index of entries by account as covering the
/// whole journal (it is no account's key: those have a separator after).
pub const JOURNAL_INDEX_BUILT: &[u8] = b"built";

/// The key of a cross-province line: month, kind, id (the hub's statement order).
pub fn cross_line_key(period: Period, kind: &str, id: &str) -> Vec<u8> {
    key(&[period.to_string().as_bytes(), kind.as_bytes(), id.as_bytes()])
}

pub fn pair_key(a: &Id, b: &Id) -> Vec<u8> {
    key(&[a.as_bytes(), b.as_bytes()])
}

pub fn id_prefix(person: &Id) -> Vec<u8> {
    key_prefix(&[person.as_bytes()])
}

pub fn available(person: &Id) -> Account {
    Account::new(AccountKind::Available, person.as_str())
}

pub fn quota(relationship: &Id) -> Account {
    Account::new(AccountKind::Quota, relationship.as_str())
}

pub fn contributions() -> Account {
    Account::new(AccountKind::Contributions, "")
}

/// What this node owes whoever a payment paid: an institution or a fund.
pub fn payee(payee: &Payee) -> Account {
    match payee {
        Payee::Institution(code) => Account::new(AccountKind::Institution, code.as_str()),
        Payee::Fund(fund) => Account::new(AccountKind::Fund, fund.as_str()),
    }
}

/// A balance held while transfer `id` is in flight.
pub fn transit(id: &Id) -> Account {
    Account::new(AccountKind::Transit, id.as_str())
}

/// The history key of an event of a relationship.
pub fn event_key(relationship: &Id, seq: u64) -> Vec<u8> {
    key(&[relationship.as_bytes(), &seq.to_be_bytes()])
}

/// What this node owes `province` for `period` (negative: what it is owed).
pub fn province(province: ProvinceCode, period: Period) -> Account {
    Account::new(AccountKind::Province, format!("{province}/{period}"))
}
