//! Routing payments, refunds and account transfers to the province that
//! decides them, and recording its answer (the rules: `domain::routing`).

use gongji_common::{
    contract::{Decline, TxKind},
    pending::PendingKind,
    Id, Period,
};

use super::{refuse, Hub};
use crate::{
    domain::{
        check_crosses,
        routing::{self, AnswerDecision, RouteDecision, RouteSnapshot},
        HubTransaction, TxBody,
    },
    error::{HubError, HubResult},
    store::{PENDING, TRANSACTIONS},
};

/// The hub's answer to a routed transaction.
pub struct RouteOutcome {
    pub period: Period,
    pub decision: Result<(), Decline>,
}

impl RouteOutcome {
    fn of(record: &HubTransaction) -> RouteOutcome {
        RouteOutcome {
            period: record.period,
            decision: record.decision(),
        }
    }
}

/// The recovery pass's kind of pending work for a transaction of `kind`.
pub(super) fn pending_kind(kind: TxKind) -> PendingKind {
    match kind {
        TxKind::Payment => PendingKind::Payment,
        TxKind::Refund => PendingKind::Refund,
        TxKind::Reversal => PendingKind::Reversal,
        TxKind::AccountTransfer => PendingKind::Transfer,
        TxKind::WalletTransfer => PendingKind::Wallet,
    }
}

impl Hub {
    /// Routes a payment, refund or account transfer to the province that
    /// decides it, stamping the open month first.
    pub async fn route(&self, body: TxBody) -> HubResult<RouteOutcome> {
        let field = match body.kind() {
            TxKind::Payment => "donor_province",
            TxKind::Refund => "payment.donor_province",
            TxKind::AccountTransfer => "to_province",
            TxKind::Reversal => return Err(HubError::Internal("reversals are routed by route_reversal".into())),
            TxKind::WalletTransfer => "sender_province",
        };
        check_crosses(field, body.payer(), body.payee())?;
        let key = body.key();
        self.store.warm(TRANSACTIONS, &key).await;
        // In flight from before it is recorded pending until it is answered:
        // a recovery pass meanwhile leaves it to this call.
        let _flight = self.in_flight.enter(pending_kind(body.kind()), body.id());
        let decided = self
            .transact(|tx| {
                let snapshot = RouteSnapshot {
                    existing: tx.get(TRANSACTIONS, &key)?,
                    open: Self::open(tx)?,
                    registered: self.provinces.codes(),
                    payer_funds: Self::funds(tx, body.payer())?,
                };
                let decided = match routing::decide(&snapshot, &body, self.now()) {
                    Ok(decided) => decided,
                    Err(refusal) => return Err(refuse(refusal)),
                };
                if let RouteDecision::New { record, reservation } = &decided {
                    Self::put_new(tx, record)?;
                    Self::reserve(tx, *reservation)?;
                    if record.is_pending() {
                        tx.put(PENDING, &pending_kind(body.kind()).key(body.id()), &Some(self.now()))?;
                    }
                }
                Ok(decided)
            })
            .await?;
        let record = match decided {
            RouteDecision::NotConnected { period, decline } => {
                return Ok(RouteOutcome {
                    period,
                    decision: Err(decline),
                })
            }
            RouteDecision::Recorded(record) | RouteDecision::New { record, .. } => record,
        };
        if record.is_pending() {
            return self.forward(body.kind(), body.id()).await;
        }
        Ok(RouteOutcome::of(&record))
    }

    /// Asks the deciding province about a pending transaction and records
    /// its answer (booked with both provinces' positions when approved).
    pub async fn forward(&self, kind: TxKind, id: &Id) -> HubResult<RouteOutcome> {
        let _flight = self.in_flight.enter(pending_kind(kind), id);
        if kind == TxKind::Reversal {
            self.forward_reversal(id).await?;
            return Ok(RouteOutcome::of(&self.transaction(kind, id)?));
        }
        let record = self.transaction(kind, id)?;
        if !record.is_pending() {
            return Ok(RouteOutcome::of(&record));
        }
        let asked = match &record.body {
            TxBody::Payment(payment) => self.provinces.authorize_debit(payment, record.period).await,
            TxBody::Refund(refund) => self.provinces.apply_refund(refund, record.period).await,
            TxBody::Transfer(transfer) => self.provinces.receive_transfer(transfer, record.period).await,
            TxBody::Wallet(wallet) => self.provinces.decide_wallet_acceptance(wallet, record.period).await,
            TxBody::Reversal(_) => return Err(HubError::Internal(format!("reversal {id} reached the generic forward"))),
        };
        let answer = asked.map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", record.body.decider())))?;
        let key = kind.key(id);
        let record = self
            .transact(|tx| {
                let Some(record) = tx.get(TRANSACTIONS, &key)? else {
                    return Err(HubError::not_found(kind.as_str(), id));
                };
                let now = self.now();
                match routing::decide_answer(&record, Self::reserved(tx, record.body.payer())?, &answer, now) {
                    AnswerDecision::Unchanged => Ok(record),
                    AnswerDecision::Decided { mut record, book, release } => {
                        Self::reserve(tx, release)?;
                        if book {
                            Self::book(tx, &mut record, now)?;
                        }
                        Self::put_changed(tx, &record)?;
                        tx.remove(PENDING, &pending_kind(kind).key(id))?;
                        Ok(record)
                    }
                }
            })
            .await?;
        if record.status == gongji_common::contract::TxStatus::Approved {
            self.warn_on_usage(record.body.payer());
        }
        tracing::info!(transaction = %key, status = ?record.status, period = %record.period, "transaction routed");
        Ok(RouteOutcome::of(&record))
    }
}
