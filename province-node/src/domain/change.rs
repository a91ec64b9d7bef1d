//! What a decision writes, in the domain's own words: the records it keeps,
//! the money it moves between books, the history it adds, the work it
//! leaves pending and the notices it sends. A decision is a value; the
//! service applies its changes in order, in the same store transaction that
//! loaded the state the decision was made on. A refusal has no changes.

use gongji_common::{
    contract::{NoticeBody, Payee, TxKind},
    pending::PendingKind,
    statement::{Direction, Line},
    Id, Money, Period, ProvinceCode, RegionCode,
};
use serde::{Deserialize, Serialize};

use super::IncomingWallet;
use super::{
    AcquiredPayment, Contribution, Event, IssuedDebit, Person, QuotaChangeRecord, RefundRecord, Relationship, Tombstone, TransferIn,
    TransferOut, Wallet, WalletCredit, WalletTransfer,
};

/// A book of the node's double-entry journal: where money is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Book {
    /// A person's available personal-account balance.
    Available(Id),
    /// The frozen, unused quota of a relationship owned here.
    Quota(Id),
    /// Contributions received from outside the network.
    Contributions,
    /// What the node owes whoever a payment paid: an institution or a fund.
    Payee(Payee),
    /// A balance held while transfer `id` is in flight.
    Transit(Id),
    /// What the node owes a province for a month (negative: is owed).
    Province(ProvinceCode, Period),
    /// A person's wallet (医保钱包).
    Wallet(Id),
    /// A wallet transfer's amount while it is unaccepted.
    WalletTransit(Id),
}

/// Money moved from one book to another, once per `reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub reference: String,
    pub memo: &'static str,
    pub from: Book,
    pub to: Book,
    pub amount: Money,
}

impl Move {
    pub fn new(reference: impl ToString, memo: &'static str, from: Book, to: Book, amount: Money) -> Move {
        Move {
            reference: reference.to_string(),
            memo,
            from,
            to,
            amount,
        }
    }
}

/// One of this node's cross-province transactions in a month: the line it
/// expects on its statement at the hub, with the pooling region it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossLine {
    pub period: Period,
    pub line: Line,
    /// The pooling region of this province the line belongs to.
    pub region: RegionCode,
}

impl CrossLine {
    pub fn new(
        period: Period,
        kind: TxKind,
        id: &Id,
        counterpart: ProvinceCode,
        direction: Direction,
        amount: Money,
        region: RegionCode,
    ) -> CrossLine {
        CrossLine {
            period,
            line: Line {
                kind,
                id: id.to_string(),
                counterpart,
                direction,
                amount,
            },
            region,
        }
    }

    /// The money the line moves: a payable line from `other` to what this
    /// node owes the counterpart for the month, a receivable one from the
    /// counterpart's book to `other`.
    pub fn movement(&self, other: Book, memo: &'static str) -> Move {
        let province = Book::Province(self.line.counterpart, self.period);
        let (from, to) = match self.line.direction {
            Direction::Payable => (other, province),
            Direction::Receivable => (province, other),
        };
        Move::new(&self.line.id, memo, from, to, self.line.amount)
    }
}

/// One write of a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Person(Person),
    Contribution(Contribution),
    Relationship(Relationship),
    QuotaChange(QuotaChangeRecord),
    /// The relationship is listed among the donor's.
    DonorIndex {
        donor: Id,
        relationship: Id,
    },
    /// The relationship is listed among the beneficiary's.
    BeneficiaryIndex {
        beneficiary: Id,
        relationship: Id,
    },
    /// A live relationship joins the two now (`Some`), or none does (`None`).
    LivePair {
        donor: Id,
        beneficiary: Id,
        relationship: Option<Id>,
    },
    Payment(AcquiredPayment),
    /// A payment record that must leave no trace (its id was another node's).
    PaymentForgotten(Id),
    Debit(IssuedDebit),
    Tombstone(Id, Tombstone),
    Refund(RefundRecord),
    RefundForgotten(Id),
    TransferOut(TransferOut),
    TransferOutForgotten(Id),
    TransferIn(TransferIn),
    /// An entry of a relationship's history.
    Event(Id, Event),
    /// Money moved between two books (nothing when the amount is zero).
    Move(Move),
    /// A cross-province line recorded, and its money moved against `other`.
    Cross {
        line: CrossLine,
        other: Book,
        memo: &'static str,
    },
    /// Work left waiting for another node (or a cascade).
    Pending(PendingKind, Id),
    /// Waiting work finished.
    Done(PendingKind, Id),
    /// A notice for another province's node, sent through the outbox.
    Notice(ProvinceCode, NoticeBody),
    /// A notice id applied here, never again.
    NoticeApplied(String),
    Wallet(Wallet),
    WalletTransfer(WalletTransfer),
    WalletCredit(WalletCredit),
    /// A transfer from another province as its sender's node told it.
    WalletIncoming(IncomingWallet),
    WalletPayment(super::WalletPayment),
    /// A wallet payment id reversed before it arrived, at this time: never paid.
    WalletReversedFirst(Id, i64),
    /// An acceptance of a transfer from another province, pending (`true`) or no longer.
    WalletAccepting(gongji_common::contract::CrossWallet, bool),
    /// How many transfers the sender has made on a CST day (the daily limit).
    WalletSent {
        sender: Id,
        day: i64,
        count: u32,
    },
    /// The sender's unaccepted transfer to the recipient (`Some`), or none (`None`).
    WalletUnaccepted {
        sender: Id,
        recipient: Id,
        transfer: Option<Id>,
    },
    /// The transfer is listed for return at `at` (`due`), or no longer.
    WalletDue {
        at: i64,
        transfer: Id,
        due: bool,
    },
}

/// A decision: what the caller is answered, and what is written for it.
#[must_use = "a decision takes effect only when its changes are applied"]
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<O> {
    pub outcome: O,
    pub changes: Vec<Change>,
}

impl<O> Decision<O> {
    /// A decision that writes nothing (a repeat, or nothing to do).
    pub fn unchanged(outcome: O) -> Decision<O> {
        Decision {
            outcome,
            changes: Vec::new(),
        }
    }

    pub fn new(outcome: O, changes: Vec<Change>) -> Decision<O> {
        Decision { outcome, changes }
    }

    pub fn map<P>(self, f: impl FnOnce(O) -> P) -> Decision<P> {
        Decision {
            outcome: f(self.outcome),
            changes: self.changes,
        }
    }
}
