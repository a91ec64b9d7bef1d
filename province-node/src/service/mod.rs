//! The node's flows: each public or hub-facing call as a sequence of
//! durable steps. A step is load → decide → apply in one store
//! transaction: the step loads the state its decision needs, a pure
//! decision of [`crate::domain`] decides, and [`Node::decide`] applies the
//! decision's changes (records, journal movements, history, pending marks,
//! outbox notices) together; then it waits for the disk, and only then is
//! another node called or the caller answered. A refusal writes nothing.

mod audit;
pub mod listings;
mod notices;
mod payments;
mod persons;
mod reconcile;
mod refunds;
mod relationships;
mod reversals;
mod statements;
mod transfers;
mod wallets;

use gongji_common::{
    books::{self, JournalEntry, Ledger, Post},
    clock::Clock,
    contract::{Notice, NoticeBody, Payee},
    outbox::Outbox,
    pending::{InFlight, PendingKind},
    store::{key, Committed, Store, StoreError, Tx},
    Id, ProvinceCode,
};

use crate::{
    domain::{forward_id, payee_region, Book, Change, Decision, Held, Move, Recipient},
    error::{NodeError, NodeResult},
    hub_client::HubClient,
    store::{
        self, APPLIED_NOTICES, CONTRIBUTIONS, CROSS_LINES, DEBITS, LIVE_PAIRS, OUTBOX, PAYMENTS, PENDING, PERSONS, QUOTA_CHANGES, REFUNDS,
        RELATIONSHIPS, RELS_BY_BENEFICIARY, RELS_BY_DONOR, REL_EVENTS, REVERSED_IDS, TRANSFERS_IN, TRANSFERS_OUT, WALLETS,
        WALLET_ACCEPTING, WALLET_CREDITS, WALLET_DUE, WALLET_FROM, WALLET_INCOMING, WALLET_PAYMENTS, WALLET_REVERSED, WALLET_SENT,
        WALLET_TO, WALLET_TRANSFERS, WALLET_UNACCEPTED,
    },
};

pub use payments::PaymentView;
pub use persons::Account;
pub use relationships::PersonRelationships;
pub use statements::index_journal;
pub use transfers::TransferView;
pub use wallets::{WalletListing, WalletView};

/// One province node's state and its link to the hub.
pub struct Node {
    province: ProvinceCode,
    store: Store,
    hub: HubClient,
    outbox: Outbox,
    /// How long a payment may stay pending before it is reversed.
    give_up_after: Option<std::time::Duration>,
    /// The clock every decision of the node reads.
    clock: Clock,
    /// The wallet's limits (published defaults, or the flags').
    wallet_limits: crate::domain::WalletLimits,
    /// Pending work being sent to the hub right now.
    in_flight: InFlight,
}

/// Counts for `GetNodeInfo`.
pub struct NodeStats {
    pub persons: u64,
    pub relationships: u64,
    pub payments: u64,
    pub pending: u64,
    pub outbox: u64,
    /// How long the oldest notice in the outbox has waited.
    pub outbox_oldest_age: Option<std::time::Duration>,
    pub trial_balance: gongji_common::Money,
}

impl Node {
    pub fn new(
        province: ProvinceCode,
        store: Store,
        hub: HubClient,
        outbox: Outbox,
        give_up_after: Option<std::time::Duration>,
        clock: Clock,
    ) -> Node {
        Node {
            province,
            store,
            hub,
            outbox,
            give_up_after,
            clock,
            wallet_limits: crate::domain::WalletLimits::PUBLISHED,
            in_flight: InFlight::default(),
        }
    }

    /// The node with these wallet limits instead of the published ones.
    pub fn with_wallet_limits(mut self, limits: crate::domain::WalletLimits) -> Node {
        self.wallet_limits = limits;
        self
    }

    /// Pending work being sent right now (a recovery pass leaves it alone).
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// The time a decision is given: the only clock the flows read.
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    pub fn province(&self) -> ProvinceCode {
        self.province
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// One step of a flow: in one store transaction, `step` loads the
    /// state and decides (given the time); the decision's changes are
    /// applied in the same transaction. Then waits until it (and everything
    /// it read) is on disk, and lets the outbox send what it queued. A
    /// refusal, or any error, writes nothing.
    async fn decide<O>(&self, step: impl FnOnce(&Tx, i64) -> NodeResult<Decision<O>>) -> NodeResult<O> {
        let outcome = self.decide_unconfirmed(step).durable().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// [`Node::decide`] without waiting for the disk: the caller waits once
    /// for many steps before it answers (an import).
    fn decide_unconfirmed<O>(&self, step: impl FnOnce(&Tx, i64) -> NodeResult<Decision<O>>) -> Committed<'_, O, NodeError> {
        let now = self.now();
        self.store.transact(|tx| {
            let decision = step(tx, now)?;
            self.apply(tx, decision.changes, now)?;
            Ok(decision.outcome)
        })
    }

    /// Writes a decision's changes, in order.
    fn apply(&self, tx: &Tx, changes: Vec<Change>, now: i64) -> Result<(), StoreError> {
        for change in changes {
            match change {
                Change::Person(person) => tx.put(PERSONS, &person.id, &person)?,
                Change::Contribution(c) => tx.put(CONTRIBUTIONS, &c.command.contribution_id, &c)?,
                Change::Relationship(r) => tx.put(RELATIONSHIPS, r.id(), &r)?,
                Change::QuotaChange(record) => tx.put(QUOTA_CHANGES, &record.command.change_id, &record)?,
                Change::DonorIndex { donor, relationship } => {
                    tx.put(RELS_BY_DONOR, &key(&[donor.as_bytes(), relationship.as_bytes()]), &())?
                }
                Change::BeneficiaryIndex { beneficiary, relationship } => {
                    tx.put(RELS_BY_BENEFICIARY, &key(&[beneficiary.as_bytes(), relationship.as_bytes()]), &())?
                }
                Change::LivePair {
                    donor,
                    beneficiary,
                    relationship,
                } => match relationship {
                    Some(id) => tx.put(LIVE_PAIRS, &store::pair_key(&donor, &beneficiary), &id)?,
                    None => tx.remove(LIVE_PAIRS, &store::pair_key(&donor, &beneficiary))?,
                },
                Change::Payment(p) => {
                    listings::index_payment(tx, &p.command.payment_id, Some(&p))?;
                    tx.put(PAYMENTS, &p.command.payment_id, &p)?
                }
                Change::PaymentForgotten(id) => {
                    listings::index_payment(tx, &id, None)?;
                    tx.remove(PAYMENTS, &id)?
                }
                Change::Debit(d) => {
                    listings::index_debit(tx, &d)?;
                    tx.put(DEBITS, &d.payment.payment_id, &d)?
                }
                Change::Tombstone(id, tombstone) => tx.put(REVERSED_IDS, &id, &tombstone)?,
                Change::Refund(r) => {
                    listings::index_refund(tx, &r.command.refund_id, Some(&r))?;
                    tx.put(REFUNDS, &r.command.refund_id, &r)?
                }
                Change::RefundForgotten(id) => {
                    listings::index_refund(tx, &id, None)?;
                    tx.remove(REFUNDS, &id)?
                }
                Change::TransferOut(t) => {
                    if t.follow_up && t.is_pending() {
                        tracing::info!(person = %t.command.person_id, transfer = %t.command.transfer_id, amount = ?t.amount, "money follows a transferred person");
                    }
                    listings::index_transfer_out(tx, &t.command.transfer_id, Some(&t))?;
                    tx.put(TRANSFERS_OUT, &t.command.transfer_id, &t)?
                }
                Change::TransferOutForgotten(id) => {
                    listings::index_transfer_out(tx, &id, None)?;
                    tx.remove(TRANSFERS_OUT, &id)?
                }
                Change::TransferIn(t) => {
                    listings::index_transfer_in(tx, &t)?;
                    tx.put(TRANSFERS_IN, &t.transfer.transfer_id, &t)?
                }
                Change::Event(relationship, event) => {
                    let seq = tx.next_id()?;
                    tx.put(REL_EVENTS, &store::event_key(&relationship, seq), &event)?
                }
                Change::Move(movement) => Self::post(tx, &movement, now)?,
                Change::Cross { line, other, memo } => {
                    Self::post(tx, &line.movement(other, memo), now)?;
                    tx.put(
                        CROSS_LINES,
                        &store::cross_line_key(line.period, line.line.kind.as_str(), &line.line.id),
                        &line,
                    )?
                }
                // Marked again (a retried step) it keeps the time it first waited from.
                Change::Pending(kind, id) => {
                    if !tx.contains(PENDING, &kind.key(&id))? {
                        tx.put(PENDING, &kind.key(&id), &Some(now))?
                    }
                }
                Change::Done(kind, id) => tx.remove(PENDING, &kind.key(&id))?,
                Change::Notice(to, body) => self.send_notice(tx, to, body)?,
                Change::NoticeApplied(id) => tx.put(APPLIED_NOTICES, &id, &())?,
                Change::Wallet(wallet) => tx.put(WALLETS, &wallet.person_id, &wallet)?,
                Change::WalletTransfer(t) => {
                    if t.command.recipient_province == self.province {
                        tx.put(WALLET_TO, &wallets::listed(&t.command.recipient_id, t.id()), &())?;
                    }
                    tx.put(WALLET_FROM, &wallets::listed(&t.command.sender_id, t.id()), &())?;
                    tx.put(WALLET_TRANSFERS, t.id(), &t)?
                }
                Change::WalletIncoming(incoming) => {
                    let note = &incoming.note;
                    tx.put(WALLET_TO, &wallets::listed(&note.recipient_id, &note.transfer_id), &())?;
                    tx.put(WALLET_INCOMING, &note.transfer_id, &incoming)?
                }
                Change::WalletCredit(credit) => {
                    tx.put(WALLET_TO, &wallets::listed(&credit.recipient_id, &credit.transfer_id), &())?;
                    tx.put(WALLET_CREDITS, &credit.transfer_id, &credit)?
                }
                Change::WalletPayment(payment) => tx.put(WALLET_PAYMENTS, &payment.command.payment_id, &payment)?,
                Change::WalletReversedFirst(id, at) => tx.put(WALLET_REVERSED, &id, &at)?,
                Change::WalletAccepting(cross, true) => tx.put(WALLET_ACCEPTING, &cross.transfer_id, &cross)?,
                Change::WalletAccepting(cross, false) => tx.remove(WALLET_ACCEPTING, &cross.transfer_id)?,
                Change::WalletSent { sender, day, count } => tx.put(WALLET_SENT, &store::wallet_sent_key(&sender, day), &count)?,
                Change::WalletUnaccepted {
                    sender,
                    recipient,
                    transfer,
                } => match transfer {
                    Some(id) => tx.put(WALLET_UNACCEPTED, &store::pair_key(&sender, &recipient), &id)?,
                    None => tx.remove(WALLET_UNACCEPTED, &store::pair_key(&sender, &recipient))?,
                },
                Change::WalletDue { at, transfer, due } => match due {
                    true => tx.put(WALLET_DUE, &store::wallet_due_key(at, &transfer), &())?,
                    false => tx.remove(WALLET_DUE, &store::wallet_due_key(at, &transfer))?,
                },
            }
        }
        Ok(())
    }

    /// Posts a movement as a journal entry (a zero amount moves nothing).
    fn post(tx: &Tx, movement: &Move, now: i64) -> Result<(), StoreError> {
        if movement.amount.is_zero() {
            return Ok(());
        }
        let mut entry = JournalEntry::transfer(
            &movement.reference,
            movement.memo,
            &account(&movement.from),
            &account(&movement.to),
            movement.amount,
        );
        entry.at = now;
        let seq = tx.post(&entry)?;
        statements::index_entry(tx, &entry, seq)
    }

    /// Queues a notice for another province's node, under the id made from
    /// what it says (which the hub and the receiving node check).
    fn send_notice(&self, tx: &Tx, to: ProvinceCode, body: NoticeBody) -> Result<(), StoreError> {
        let notice = Notice {
            id: body.notice_id(),
            from: self.province,
            to,
            body,
        };
        Outbox::enqueue(tx, OUTBOX, &notice)
    }

    /// A relationship held here with what is left of its quota book.
    fn load_held(tx: &Tx, id: &Id) -> NodeResult<Option<Held>> {
        let Some(relationship) = tx.get(RELATIONSHIPS, id)? else {
            return Ok(None);
        };
        let quota_left = tx.balance(&store::quota(id))?;
        Ok(Some(Held { relationship, quota_left }))
    }

    /// Where money given back of cause `reference` goes: the relationship
    /// it came from, its donor, and whether it was already sent after them.
    fn load_recipient(tx: &Tx, relationship: &Id, donor: &Id, reference: &str) -> NodeResult<Recipient> {
        Ok(Recipient {
            relationship: tx.get(RELATIONSHIPS, relationship)?,
            donor: tx.get(PERSONS, donor)?,
            forwarded: tx.contains(TRANSFERS_OUT, &forward_id(reference))?,
        })
    }

    /// The region a payee's lines belong to (see [`payee_region`]).
    fn load_payee_region(&self, tx: &Tx, payee: &Payee, beneficiary: &Id) -> NodeResult<gongji_common::RegionCode> {
        let beneficiary = match payee {
            Payee::Institution(_) => None,
            Payee::Fund(_) => tx.get(PERSONS, beneficiary)?,
        };
        Ok(payee_region(payee, beneficiary.as_ref(), self.province))
    }

    /// Ids of the work waiting for another node (or a cascade), by kind.
    pub fn pending_ids(&self, kind: PendingKind) -> NodeResult<Vec<Id>> {
        Ok(gongji_common::pending::pending_ids(&self.store, PENDING, kind)?)
    }

    /// Finishes one pending piece of work (used by the recovery pass).
    pub async fn resolve(&self, kind: PendingKind, id: &Id) -> NodeResult<()> {
        match kind {
            PendingKind::Grant => self.resolve_grant(id).await.map(drop),
            PendingKind::Payment => match self.given_up(id)? {
                Some(payee) => {
                    tracing::warn!(payment = %id, "payment pending too long: reversing it for its institution");
                    let acting = match &payee {
                        Payee::Institution(code) => Some(code),
                        Payee::Fund(_) => None,
                    };
                    self.reverse(id, acting).await.map(drop)
                }
                None => self.resolve_payment(id).await.map(drop),
            },
            PendingKind::Refund => self.resolve_refund(id).await.map(drop),
            PendingKind::Reversal => self.resolve_reversal(id).await.map(drop),
            PendingKind::Transfer => self.resolve_transfer(id).await.map(drop),
            PendingKind::Cascade => self.cascade(id).await,
            PendingKind::Wallet => self.resolve_wallet(id).await,
        }
    }

    /// Has a pending payment waited longer than its institution would? If
    /// so, whom it pays: the node reverses it as that institution.
    fn given_up(&self, id: &Id) -> NodeResult<Option<Payee>> {
        let Some(limit) = self.give_up_after else {
            return Ok(None);
        };
        let payment = self.acquired(id)?;
        let waited = self.now() - payment.created_at;
        Ok((waited > limit.as_millis() as i64).then_some(payment.command.payee))
    }

    pub fn stats(&self) -> NodeResult<NodeStats> {
        use crate::store::{DEBITS, PAYMENTS, PERSONS, RELATIONSHIPS};
        Ok(NodeStats {
            persons: self.store.count(PERSONS) as u64,
            relationships: self.store.count(RELATIONSHIPS) as u64,
            payments: (self.store.count(PAYMENTS) + self.store.count(DEBITS)) as u64,
            pending: self.store.count(PENDING) as u64,
            outbox: self.outbox.len() as u64,
            outbox_oldest_age: self.outbox.oldest_age()?,
            trial_balance: self.store.trial_balance()?,
        })
    }
}

impl Node {
    /// Writes the node's gauges for a metrics scrape: pending intents and the outbox.
    pub fn gauges(&self, out: &mut gongji_common::metrics::Exposition) -> NodeResult<()> {
        gongji_common::metrics::queue_gauges(out, &self.store, PENDING, &self.outbox, self.now())?;
        self.wallet_gauges(out)?;
        Ok(())
    }
}

/// The account of the store's journal that holds a book.
fn account(book: &Book) -> books::Account {
    match book {
        Book::Available(person) => store::available(person),
        Book::Quota(relationship) => store::quota(relationship),
        Book::Contributions => store::contributions(),
        Book::Payee(payee) => store::payee(payee),
        Book::Transit(transfer) => store::transit(transfer),
        Book::Province(province, period) => store::province(*province, *period),
        Book::Wallet(person) => store::wallet(person),
        Book::WalletTransit(transfer) => store::wallet_transit(transfer),
    }
}
