//! The hub's flows. Each routed transaction is recorded (with its month
//! stamp) and flushed before the other province is asked, and its outcome
//! recorded and flushed before the caller is answered. A province that does
//! not answer leaves the transaction pending; the caller's retry, or the
//! recovery pass, asks again with the same id. Notices between provinces are
//! taken into the hub's durable outbox (only between the two parties of a
//! relationship it routed) and delivered until acknowledged.

use gongji_common::{
    contract::{CrossPayment, Decline, DeclineReason, Grant, Notice, NoticeRefusal, ReversalOutcome, TxKind, TxStatus},
    outbox::Outbox,
    pending::PendingKind,
    period::now_millis,
    store::{JournalEntry, Posting, Store, Tx, TxFail},
    Id, Money, Period, ProvinceCode,
};
use tokio::sync::watch;

use gongji_common::{
    statement::{Direction, Line},
    store::StoreError,
};

use crate::{
    domain::{check_crosses, GrantRecord, HubLine, HubTransaction, PairLine, TxBody},
    error::{HubError, HubResult},
    province_client::Provinces,
    store::{
        self, GRANTS, META, MONTHS, OPEN_PERIOD, OUTBOX, PAIR_SUMS, PENDING, RELAYED, STATEMENT, STATEMENT_SUMS, TRANSACTIONS,
        TX_BY_PERIOD, TX_BY_PROVINCE,
    },
};

pub struct Hub {
    pub(crate) store: Store,
    provinces: Provinces,
    outbox: Outbox,
    policy: PrepaidPolicy,
}

/// How prepaid funds are checked and sized.
#[derive(Debug, Clone, Copy)]
pub struct PrepaidPolicy {
    /// Deposited for each province the first time the hub sees it.
    pub opening: Money,
    /// The least a province's required prepaid level can be.
    pub floor: Money,
    /// Usage (percent) from which a province is at the yellow level.
    pub yellow_percent: u32,
    /// Usage (percent) from which a province is at the red level.
    pub red_percent: u32,
}

/// The hub's answer to a routed transaction.
pub struct RouteOutcome {
    pub period: Period,
    pub decision: Result<(), Decline>,
}

/// Where a reversal stands after its first step.
enum ReversalStep {
    Done(ReversalOutcome),
    AskDonor,
}

fn pending_kind(kind: TxKind) -> PendingKind {
    match kind {
        TxKind::Payment => PendingKind::Payment,
        TxKind::Refund => PendingKind::Refund,
        TxKind::Reversal => PendingKind::Reversal,
        TxKind::AccountTransfer => PendingKind::Transfer,
    }
}

impl Hub {
    /// Opens the hub on its store, starting the first open month at the
    /// current month (China Standard Time) on a new store.
    pub async fn new(store: Store, provinces: Provinces, outbox: Outbox, policy: PrepaidPolicy) -> HubResult<Hub> {
        store
            .transact::<_, TxFail>(|tx| {
                if !tx.contains(META, OPEN_PERIOD)? {
                    tx.put(META, OPEN_PERIOD, &Period::current())?;
                }
                Ok(())
            })?
            .unconfirmed();
        let hub = Hub {
            store,
            provinces,
            outbox,
            policy,
        };
        hub.open_prepaid_accounts()?;
        hub.store.durable().await?;
        Ok(hub)
    }

    pub fn policy(&self) -> &PrepaidPolicy {
        &self.policy
    }

    pub fn provinces(&self) -> &Provinces {
        &self.provinces
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Runs one transaction whose closure decides with hub errors, waits
    /// until it (and everything it read) is on disk, then lets the outbox
    /// send what it queued.
    async fn transact<R>(&self, f: impl FnOnce(&Tx) -> Result<HubResult<R>, TxFail>) -> HubResult<R> {
        let result = self.store.transact(f)?.durable().await?;
        self.outbox.wake();
        result
    }

    /// The month stamped on new transactions.
    pub fn open_period(&self) -> HubResult<Period> {
        Ok(self.store.get(META, OPEN_PERIOD)?.unwrap_or_else(Period::current))
    }

    /// Whether the hub serves `province` (declined PROVINCE_NOT_CONNECTED if not).
    pub fn check_province(&self, province: ProvinceCode) -> Result<(), Decline> {
        self.check_connected([province, province])
    }

    fn check_connected(&self, provinces: [ProvinceCode; 2]) -> Result<(), Decline> {
        match provinces.into_iter().find(|p| !self.provinces.contains(*p)) {
            Some(missing) => Err(Decline::new(
                DeclineReason::ProvinceNotConnected,
                format!("province {missing} is not connected to the national hub"),
            )),
            None => Ok(()),
        }
    }

    // ---- Grants ------------------------------------------------------------------------

    /// Routes a grant from the donor's node to the beneficiary's.
    pub async fn route_grant(&self, grant: Grant) -> HubResult<Result<(), Decline>> {
        check_crosses("beneficiary_province", grant.donor_province, grant.beneficiary_province)?;
        let id = grant.relationship_id.clone();
        let record = self
            .transact(|tx| {
                if let Some(existing) = tx.get(GRANTS, &id)? {
                    return Ok(if existing.grant == grant {
                        Ok(Ok(existing))
                    } else {
                        Err(HubError::reused("relationship", &id))
                    });
                }
                // Only a new grant is refused for a province the hub does not know:
                // an existing one keeps its recorded answer whatever the registry says.
                if let Err(decline) = self.check_connected([grant.donor_province, grant.beneficiary_province]) {
                    return Ok(Ok(Err(decline)));
                }
                let record = GrantRecord {
                    grant: grant.clone(),
                    status: TxStatus::Pending,
                    decline: None,
                    recorded_at: now_millis(),
                    decided_at: None,
                };
                tx.put(GRANTS, &id, &record)?;
                tx.put(PENDING, &PendingKind::Grant.key(&id), &())?;
                Ok(Ok(Ok(record)))
            })
            .await?;
        let record = match record {
            Ok(record) => record,
            Err(decline) => return Ok(Err(decline)),
        };
        match record.answer() {
            Some(answer) => Ok(answer),
            None => self.forward_grant(&id).await,
        }
    }

    /// Asks the beneficiary's node about a pending grant and records the answer.
    pub async fn forward_grant(&self, id: &Id) -> HubResult<Result<(), Decline>> {
        let record = self.grant(id)?;
        if let Some(answer) = record.answer() {
            return Ok(answer);
        }
        let grant = &record.grant;
        let answer = self
            .provinces
            .receive_grant(grant)
            .await
            .map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", grant.beneficiary_province)))?;
        let record = self
            .transact(|tx| {
                let Some(mut record) = tx.get(GRANTS, id)? else {
                    return Ok(Err(HubError::not_found("grant", id)));
                };
                if record.status == TxStatus::Pending {
                    record.status = if answer.is_ok() { TxStatus::Approved } else { TxStatus::Declined };
                    record.decline = answer.clone().err();
                    record.decided_at = Some(now_millis());
                    tx.put(GRANTS, id, &record)?;
                    tx.remove(PENDING, &PendingKind::Grant.key(id))?;
                }
                Ok(Ok(record))
            })
            .await?;
        tracing::info!(relationship = %id, status = ?record.status, "grant routed");
        Ok(record.answer().unwrap_or(answer))
    }

    // ---- Payments, refunds, account transfers ---------------------------------------------

    /// Routes a payment, refund or account transfer to the province that
    /// decides it, stamping the open month first.
    pub async fn route(&self, body: TxBody) -> HubResult<RouteOutcome> {
        let field = match body.kind() {
            TxKind::Payment => "donor_province",
            TxKind::Refund => "payment.donor_province",
            TxKind::AccountTransfer => "to_province",
            TxKind::Reversal => return Err(HubError::Internal("reversals are routed by route_reversal".into())),
        };
        check_crosses(field, body.payer(), body.payee())?;
        let key = body.key();
        let record = self
            .transact(|tx| {
                if let Some(existing) = tx.get(TRANSACTIONS, &key)? {
                    return Ok(if existing.body == body {
                        Ok(Ok(existing))
                    } else {
                        Err(HubError::AlreadyExists(format!(
                            "{kind} id {id} is already recorded at the hub for another {kind}, served at province {origin}'s node; \
                             use a new {kind} id",
                            kind = body.kind().as_str(),
                            id = body.id(),
                            origin = existing.body.origin(),
                        )))
                    });
                }
                // Only a new transaction is refused for a province the hub does not
                // know: an existing one keeps its recorded outcome.
                if let Err(decline) = self.check_connected([body.payer(), body.payee()]) {
                    return Ok(Ok(Err(RouteOutcome {
                        period: Self::open(tx)?,
                        decision: Err(decline),
                    })));
                }
                let mut record = Self::record_new(tx, body.clone())?;
                if let Err(decline) = self.reserve_outflow(tx, &body)? {
                    // The payer cannot cover it: a definite, recorded decline.
                    record.status = TxStatus::Declined;
                    record.decline = Some(decline);
                    record.decided_at = Some(now_millis());
                    tx.put(TRANSACTIONS, &key, &record)?;
                    return Ok(Ok(Ok(record)));
                }
                tx.put(PENDING, &pending_kind(body.kind()).key(body.id()), &())?;
                Ok(Ok(Ok(record)))
            })
            .await?;
        let record = match record {
            Ok(record) => record,
            Err(refused) => return Ok(refused),
        };
        if record.is_pending() {
            return self.forward(body.kind(), body.id()).await;
        }
        Ok(RouteOutcome {
            period: record.period,
            decision: record.decision(),
        })
    }

    /// Records a new pending transaction stamped with the open month, indexed
    /// by month and by both provinces.
    fn record_new(tx: &Tx, body: TxBody) -> Result<HubTransaction, TxFail> {
        let period = tx.get(META, OPEN_PERIOD)?.unwrap_or_else(Period::current);
        let record = HubTransaction::pending(body, period);
        Self::put_new(tx, &record)?;
        Ok(record)
    }

    fn put_new(tx: &Tx, record: &HubTransaction) -> Result<(), TxFail> {
        let key = record.body.key();
        let seq = tx.next_id()?;
        tx.put(TRANSACTIONS, &key, record)?;
        tx.put(TX_BY_PERIOD, &store::by_period_key(record.period, seq), &key)?;
        for province in [record.body.payer(), record.body.payee()] {
            tx.put(TX_BY_PROVINCE, &store::by_province_key(record.period, province, seq), &key)?;
        }
        Ok(())
    }

    /// Asks the deciding province about a pending transaction and records
    /// the decision with both provinces' positions.
    pub async fn forward(&self, kind: TxKind, id: &Id) -> HubResult<RouteOutcome> {
        if kind == TxKind::Reversal {
            self.forward_reversal(id).await?;
            let record = self.transaction(kind, id)?;
            return Ok(RouteOutcome {
                period: record.period,
                decision: record.decision(),
            });
        }
        let record = self.transaction(kind, id)?;
        if !record.is_pending() {
            return Ok(RouteOutcome {
                period: record.period,
                decision: record.decision(),
            });
        }
        let asked = match &record.body {
            TxBody::Payment(payment) => self.provinces.authorize_debit(payment, record.period).await,
            TxBody::Refund(refund) => self.provinces.apply_refund(refund, record.period).await,
            TxBody::Transfer(transfer) => self.provinces.receive_transfer(transfer, record.period).await,
            TxBody::Reversal(_) => return Err(HubError::Internal(format!("reversal {id} reached the generic forward"))),
        };
        let decision = asked.map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", record.body.decider())))?;
        let key = kind.key(id);
        let record = self
            .transact(|tx| {
                let Some(mut record) = tx.get(TRANSACTIONS, &key)? else {
                    return Ok(Err(HubError::not_found(kind.as_str(), id)));
                };
                // Decided meanwhile, or cancelled by a reversal: a late answer changes nothing.
                if !record.is_pending() {
                    return Ok(Ok(record));
                }
                Self::release_outflow(tx, &record.body)?;
                match &decision {
                    Ok(()) => {
                        Self::post_positions(tx, &mut record)?;
                        record.status = TxStatus::Approved;
                    }
                    Err(decline) => {
                        record.status = TxStatus::Declined;
                        record.decline = Some(decline.clone());
                    }
                }
                record.decided_at = Some(now_millis());
                tx.put(TRANSACTIONS, &key, &record)?;
                tx.remove(PENDING, &pending_kind(kind).key(id))?;
                Ok(Ok(record))
            })
            .await?;
        if record.status == TxStatus::Approved {
            self.warn_on_usage(record.body.payer());
        }
        tracing::info!(transaction = %key, status = ?record.status, period = %record.period, "transaction routed");
        Ok(RouteOutcome {
            period: record.period,
            decision: record.decision(),
        })
    }

    /// Moves both provinces' positions for an approved transaction and
    /// records them on it.
    fn post_positions(tx: &Tx, record: &mut HubTransaction) -> Result<(), TxFail> {
        if let Some(month) = tx.get(MONTHS, record.period.to_string().as_bytes())? {
            if month.state.is_cleared() {
                return Err(StoreError::Invariant(format!(
                    "{} would change month {}, which is already cleared",
                    record.body.key(),
                    record.period
                )));
            }
        }
        let body = &record.body;
        let payer = store::position(body.payer(), record.period);
        let payee = store::position(body.payee(), record.period);
        let amount = body.amount();
        if !amount.is_zero() {
            let posting = |account, amount| Posting { account, amount };
            tx.post(&JournalEntry {
                reference: body.key(),
                memo: body.kind().as_str().to_owned(),
                at: now_millis(),
                postings: vec![
                    posting(payer.clone(), amount.negated()),
                    posting(payee.clone(), amount),
                    posting(store::unsettled(body.payer()), amount.negated()),
                    posting(store::unsettled(body.payee()), amount),
                ],
            })?;
        }
        record.payer_position = Some(tx.balance(&payer)?);
        record.payee_position = Some(tx.balance(&payee)?);
        for (owner, counterpart, direction) in [
            (body.payer(), body.payee(), Direction::Payable),
            (body.payee(), body.payer(), Direction::Receivable),
        ] {
            let line = Line {
                kind: body.kind(),
                id: body.id().to_string(),
                counterpart,
                direction,
                amount,
            };
            Self::add_to_sums(tx, record.period, owner, &line)?;
            tx.put(
                STATEMENT,
                &store::statement_key(record.period, owner, body.kind().as_str(), body.id().as_str()),
                &HubLine { owner, line },
            )?;
        }
        Ok(())
    }

    /// Adds a statement line to its province's statement sums and, if the
    /// province pays, to the pair's sums: what the month's clearing reads.
    fn add_to_sums(tx: &Tx, period: Period, owner: ProvinceCode, line: &Line) -> Result<(), TxFail> {
        let overflow = |e: gongji_common::money::Overflow| StoreError::Invariant(e.to_string());
        let sums_key = store::statement_sums_key(period, owner);
        let mut sums = tx.get(STATEMENT_SUMS, &sums_key)?.unwrap_or_default();
        sums.add(line).map_err(overflow)?;
        tx.put(STATEMENT_SUMS, &sums_key, &sums)?;
        if line.direction == Direction::Payable {
            let pair_key = store::pair_sums_key(period, owner, line.counterpart, line.kind.as_str());
            let mut pair = tx.get(PAIR_SUMS, &pair_key)?.unwrap_or(PairLine {
                payer: owner,
                payee: line.counterpart,
                kind: line.kind,
                count: 0,
                gross: Money::ZERO,
            });
            pair.count += 1;
            pair.gross = pair.gross.checked_add(line.amount).map_err(overflow)?;
            tx.put(PAIR_SUMS, &pair_key, &pair)?;
        }
        Ok(())
    }

    // ---- Reversals -----------------------------------------------------------------------

    /// Routes a reversal: a payment the hub never saw is cancelled for good; a
    /// pending one is cancelled at once (a late approval is then undone); an
    /// approved one is credited back in the open month.
    pub async fn route_reversal(&self, payment: CrossPayment) -> HubResult<ReversalOutcome> {
        check_crosses("donor_province", payment.donor_province, payment.beneficiary_province)?;
        let id = payment.payment_id.clone();
        let payment_key = TxKind::Payment.key(&id);
        let reversal_key = TxKind::Reversal.key(&id);
        let step = self
            .transact(|tx| {
                let Some(mut original) = tx.get(TRANSACTIONS, &payment_key)? else {
                    let mut cancelled = HubTransaction::pending(TxBody::Payment(payment.clone()), Self::open(tx)?);
                    cancelled.status = TxStatus::Reversed;
                    cancelled.decided_at = Some(now_millis());
                    Self::put_new(tx, &cancelled)?;
                    return Ok(Ok(ReversalStep::Done(ReversalOutcome::NOTHING_APPROVED)));
                };
                if original.body != TxBody::Payment(payment.clone()) {
                    // Another payment holds this id at the hub, so this one never
                    // got past it: there is nothing of it to undo.
                    tracing::warn!(payment = %id, "reversal of a payment whose id another payment holds at the hub");
                    return Ok(Ok(ReversalStep::Done(ReversalOutcome::NOTHING_APPROVED)));
                }
                if let Some(reversal) = tx.get(TRANSACTIONS, &reversal_key)? {
                    return Ok(Ok(if reversal.is_pending() {
                        ReversalStep::AskDonor
                    } else {
                        ReversalStep::Done(Self::reversal_outcome(&original, &reversal))
                    }));
                }
                match original.status {
                    TxStatus::Declined | TxStatus::Reversed => return Ok(Ok(ReversalStep::Done(ReversalOutcome::NOTHING_APPROVED))),
                    TxStatus::Pending => {
                        // Cancel at once: no answer can approve it here any more.
                        Self::release_outflow(tx, &original.body)?;
                        original.status = TxStatus::Reversed;
                        original.decided_at = Some(now_millis());
                        tx.put(TRANSACTIONS, &payment_key, &original)?;
                        tx.remove(PENDING, &PendingKind::Payment.key(&id))?;
                    }
                    TxStatus::Approved => {}
                }
                let reversal = HubTransaction::pending(TxBody::Reversal(payment.clone()), Self::open(tx)?);
                Self::put_new(tx, &reversal)?;
                tx.put(PENDING, &PendingKind::Reversal.key(&id), &())?;
                Ok(Ok(ReversalStep::AskDonor))
            })
            .await?;
        match step {
            ReversalStep::Done(outcome) => Ok(outcome),
            ReversalStep::AskDonor => self.forward_reversal(&id).await,
        }
    }

    fn open(tx: &Tx) -> Result<Period, TxFail> {
        Ok(tx.get(META, OPEN_PERIOD)?.unwrap_or_else(Period::current))
    }

    fn reversal_outcome(original: &HubTransaction, reversal: &HubTransaction) -> ReversalOutcome {
        if reversal.status == TxStatus::Approved {
            ReversalOutcome {
                was_approved: true,
                original_period: Some(original.period),
                reversal_period: Some(reversal.period),
            }
        } else {
            ReversalOutcome::NOTHING_APPROVED
        }
    }

    /// Asks the donor's node to reverse the payment and records what it did:
    /// if it had approved it, the payment's approval (if the hub never
    /// learned it) and the credit back, each in its own month.
    pub async fn forward_reversal(&self, id: &Id) -> HubResult<ReversalOutcome> {
        let payment_key = TxKind::Payment.key(id);
        let reversal_key = TxKind::Reversal.key(id);
        let reversal = self.transaction(TxKind::Reversal, id)?;
        let TxBody::Reversal(payment) = &reversal.body else {
            return Err(HubError::Internal(format!("reversal {id} carries no payment")));
        };
        if !reversal.is_pending() {
            return Ok(Self::reversal_outcome(&self.transaction(TxKind::Payment, id)?, &reversal));
        }
        let answer = self
            .provinces
            .reverse_debit(payment, reversal.period)
            .await
            .map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", payment.donor_province)))?;
        let outcome = self
            .transact(|tx| {
                let (Some(mut original), Some(mut reversal)) = (tx.get(TRANSACTIONS, &payment_key)?, tx.get(TRANSACTIONS, &reversal_key)?)
                else {
                    return Ok(Err(HubError::not_found("reversal", id)));
                };
                if !reversal.is_pending() {
                    return Ok(Ok(Self::reversal_outcome(&original, &reversal)));
                }
                if answer.was_approved {
                    if original.status != TxStatus::Approved {
                        // The donor approved before the reversal reached it: the
                        // payment happened in its month; book it there.
                        Self::post_positions(tx, &mut original)?;
                        original.status = TxStatus::Approved;
                    }
                    original.reversal_period = Some(reversal.period);
                    Self::post_positions(tx, &mut reversal)?;
                    reversal.status = TxStatus::Approved;
                } else {
                    if original.status == TxStatus::Approved {
                        tracing::error!(payment = %id, "the donor's node reports no approval of a payment the hub recorded approved");
                    }
                    reversal.status = TxStatus::Declined;
                    reversal.decline = Some(Decline::new(
                        DeclineReason::Reversed,
                        "nothing had been approved: the payment is cancelled",
                    ));
                }
                reversal.decided_at = Some(now_millis());
                tx.put(TRANSACTIONS, &payment_key, &original)?;
                tx.put(TRANSACTIONS, &reversal_key, &reversal)?;
                tx.remove(PENDING, &PendingKind::Reversal.key(id))?;
                Ok(Ok(Self::reversal_outcome(&original, &reversal)))
            })
            .await?;
        tracing::info!(payment = %id, ?outcome, "reversal routed");
        Ok(outcome)
    }

    // ---- Notices -------------------------------------------------------------------------

    /// Takes a notice into the outbox for its province (once per id). The
    /// notice must be about a relationship of the hub's directory (a grant
    /// it routed), sent by the province of the party that sends its kind
    /// (`from`, which the router has checked is the caller) to the other
    /// party's: a province may not end, ask to end or change the quota of
    /// a relationship it is no party to. A refused notice is neither
    /// recorded nor relayed.
    pub async fn relay_notice(&self, notice: Notice) -> HubResult<()> {
        for (field, province) in [("from_province", notice.from), ("to_province", notice.to)] {
            if !self.provinces.contains(province) {
                return Err(
                    gongji_common::FieldError::new(field, format!("province {province} is not connected to the national hub")).into(),
                );
            }
        }
        let relationship = notice.body.relationship_id();
        let checked = if notice.from == notice.to {
            // Only a same-province relationship has both parties in one
            // province, and nothing of it ever needs the hub.
            Err(NoticeRefusal::SameProvince {
                relationship: relationship.clone(),
                province: notice.from,
                from: notice.from,
            })
        } else {
            self.transact(|tx| {
                let checked = match (tx.get(GRANTS, relationship)?, &notice.body) {
                    (Some(record), _) => notice.check_against(&record.grant),
                    // Ended by its donor before its grant ever reached the hub
                    // (the hub was down): the grant the end carries is checked
                    // instead, and kept in the directory as ended, so that the
                    // beneficiary's node learns it and nothing else of it passes.
                    (None, gongji_common::contract::NoticeBody::RelationshipEnded { grant, .. })
                        if grant.relationship_id == *relationship =>
                    {
                        let checked = notice.check_against(grant);
                        if checked.is_ok() {
                            let record = GrantRecord {
                                grant: grant.clone(),
                                status: TxStatus::Reversed,
                                decline: Some(Decline::new(
                                    DeclineReason::RelationshipNotActive,
                                    format!("relationship {relationship} was ended by its donor before its grant reached the hub"),
                                )),
                                recorded_at: now_millis(),
                                decided_at: Some(now_millis()),
                            };
                            tx.put(GRANTS, relationship, &record)?;
                        }
                        checked
                    }
                    (None, _) => Err(NoticeRefusal::Unknown {
                        relationship: relationship.clone(),
                        from: notice.from,
                    }),
                };
                if checked.is_ok() && !tx.contains(RELAYED, &notice.id)? {
                    Outbox::enqueue(tx, OUTBOX, &notice)?;
                    tx.put(RELAYED, &notice.id, &())?;
                }
                Ok(Ok(checked))
            })
            .await?
        };
        checked.map_err(|refusal| {
            tracing::warn!(notice = %notice.id, from = %notice.from, to = %notice.to, %refusal, "notice refused");
            refusal.into()
        })
    }

    /// Delivers the outbox's notices until `stop` turns true.
    pub async fn run_outbox(&self, stop: watch::Receiver<bool>) {
        self.outbox
            .run(stop, |notice: Notice| async move {
                self.provinces.deliver_notice(&notice).await.map_err(|e| e.0)
            })
            .await
    }

    // ---- Queries and recovery ---------------------------------------------------------------

    pub fn transaction(&self, kind: TxKind, id: &Id) -> HubResult<HubTransaction> {
        self.store
            .get(TRANSACTIONS, &kind.key(id))?
            .ok_or_else(|| HubError::not_found(kind.as_str(), id))
    }

    /// The transaction with this id, of the given kind or of the first kind
    /// that has one (payment, refund, reversal, transfer).
    pub fn find_transaction(&self, id: &Id, kind: Option<TxKind>) -> HubResult<HubTransaction> {
        for kind in kind.map_or(TxKind::ALL.to_vec(), |k| vec![k]) {
            if let Some(record) = self.store.get(TRANSACTIONS, &kind.key(id))? {
                return Ok(record);
            }
        }
        Err(HubError::not_found("transaction", id))
    }

    pub fn grant(&self, id: &Id) -> HubResult<GrantRecord> {
        self.store.get(GRANTS, id)?.ok_or_else(|| HubError::not_found("grant", id))
    }

    /// A month's transactions (of one province, if given), in the order
    /// recorded; lazily, so a large month is never held in memory.
    pub fn transactions(&self, period: Period, province: Option<ProvinceCode>) -> impl Iterator<Item = HubResult<HubTransaction>> + '_ {
        let (tree, prefix) = match province {
            Some(p) => (TX_BY_PROVINCE, store::province_prefix(period, p)),
            None => (TX_BY_PERIOD, store::period_prefix(period)),
        };
        self.store.scan_prefix(tree, &prefix).map(move |item| {
            let (_, key) = item?;
            self.store
                .get(TRANSACTIONS, &key)?
                .ok_or_else(|| HubError::Internal(format!("index names transaction {key}, which is missing")))
        })
    }

    /// A province's position in a month.
    pub fn position(&self, province: ProvinceCode, period: Period) -> HubResult<Money> {
        Ok(self.store.balance(&store::position(province, period))?)
    }

    /// Ids of the work waiting for a province node, by kind.
    pub fn pending_ids(&self, kind: PendingKind) -> HubResult<Vec<Id>> {
        Ok(gongji_common::pending::pending_ids(&self.store, PENDING, kind)?)
    }

    /// Takes one pending piece of work up again (the recovery pass).
    pub async fn resolve(&self, kind: PendingKind, id: &Id) -> HubResult<()> {
        match kind {
            PendingKind::Grant => self.forward_grant(id).await.map(drop),
            PendingKind::Payment => self.forward(TxKind::Payment, id).await.map(drop),
            PendingKind::Refund => self.forward(TxKind::Refund, id).await.map(drop),
            PendingKind::Transfer => self.forward(TxKind::AccountTransfer, id).await.map(drop),
            PendingKind::Reversal => self.forward_reversal(id).await.map(drop),
            PendingKind::Cascade => Ok(()),
        }
    }
}
