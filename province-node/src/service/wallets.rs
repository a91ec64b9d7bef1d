//! The medical-insurance wallet (医保钱包): opening a wallet, sending to a
//! close relative's wallet, settling a transfer exactly once (accepted,
//! declined, cancelled or returned), the return pass, and what a wallet
//! shows. The rules are the `decide_*` functions of [`crate::domain`]'s
//! wallet module; docs/WALLET.md says why they are so.

use gongji_common::pending::PendingKind;
use gongji_common::{
    books::{Ledger, Post},
    contract::{CrossWallet, Decline, DeclineReason},
    store::{key, key_prefix, last_key_part, Tx},
    Id, InstitutionCode, Money, Period,
};

use super::Node;
use crate::{
    domain::{
        cst_day, decide_accept_across, decide_accept_answer, decide_acceptance_at_sender, decide_open_wallet, decide_send, decide_settle,
        decide_wallet_end, decide_wallet_pay, decide_wallet_refund, decide_wallet_reverse, IncomingWallet, PayCommand, RecipientState,
        Refusal, SendCommand, SendState, Settle, Wallet, WalletCredit, WalletPayment, WalletTransfer,
    },
    error::{NodeError, NodeResult},
    store::{
        self, PERSONS, WALLETS, WALLET_ACCEPTING, WALLET_CREDITS, WALLET_DUE, WALLET_FROM, WALLET_INCOMING, WALLET_PAYMENTS,
        WALLET_REVERSED, WALLET_SENT, WALLET_TO, WALLET_TRANSFERS, WALLET_UNACCEPTED,
    },
};

/// A wallet with its balance and transfers, for `ShowWallet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletView {
    pub person_id: Id,
    /// This node's province.
    pub here: gongji_common::ProvinceCode,
    pub wallet: Option<Wallet>,
    pub balance: Money,
    /// Transfers the person sent, in id order.
    pub sent: Vec<WalletTransfer>,
    /// Transfers to the person decided here (from this province).
    pub received: Vec<WalletTransfer>,
    /// Transfers from other provinces as their senders' nodes told this
    /// node, each with its credit here once accepted.
    pub incoming: Vec<(IncomingWallet, Option<WalletCredit>)>,
    /// Accepted transfers from other provinces credited here that no notice
    /// told of yet.
    pub credited: Vec<WalletCredit>,
}

impl Node {
    /// Opens a person's wallet (once; opening again answers the same wallet).
    pub async fn open_wallet(&self, person_id: &Id) -> NodeResult<Wallet> {
        self.decide(|tx, now| {
            let person = tx.get(PERSONS, person_id)?;
            Ok(decide_open_wallet(tx.get(WALLETS, person_id)?, person.as_ref(), person_id, now)?)
        })
        .await
    }

    /// Sends a wallet transfer from the sender's available balance.
    /// Idempotent by transfer id.
    pub async fn send_to_wallet(&self, command: SendCommand) -> NodeResult<WalletTransfer> {
        // A recipient of another province is checked by their node, through
        // the hub, before anything is recorded (a repeat needs no check).
        let elsewhere =
            match command.recipient_province != self.province && self.store.get(WALLET_TRANSFERS, &command.transfer_id)?.is_none() {
                true => Some(
                    self.hub
                        .check_wallet_recipient(&command.recipient_id, command.recipient_province)
                        .await
                        .map_err(|why| {
                            NodeError::Unavailable(format!(
                                "cannot check the recipient in province {}: {why}",
                                command.recipient_province
                            ))
                        })?,
                ),
                false => None,
            };
        let limits = self.wallet_limits;
        self.decide(|tx, now| {
            let state = SendState {
                recorded: tx.get(WALLET_TRANSFERS, &command.transfer_id)?,
                sender: tx.get(PERSONS, &command.sender_id)?,
                available: tx.balance(&store::available(&command.sender_id))?,
                sent_today: tx
                    .get(WALLET_SENT, &store::wallet_sent_key(&command.sender_id, cst_day(now)))?
                    .unwrap_or(0),
                unaccepted: tx.get(WALLET_UNACCEPTED, &store::pair_key(&command.sender_id, &command.recipient_id))?,
                recipient: match elsewhere {
                    Some(state) => state,
                    None if command.recipient_province != self.province => RecipientState::Open,
                    None => Self::recipient_state(tx, &command.recipient_id)?,
                },
            };
            Ok(decide_send(state, &command, &limits, self.province, now)?)
        })
        .await
    }

    /// Accepts, declines, cancels or returns a transfer sent from here: the
    /// one record that decides it, settled exactly once.
    pub async fn settle_wallet(&self, transfer_id: &Id, settle: Settle) -> NodeResult<WalletTransfer> {
        self.decide(|tx, now| {
            let recorded = tx.get(WALLET_TRANSFERS, transfer_id)?;
            let recipient = match &recorded {
                Some(t) if t.command.recipient_province == self.province => Self::recipient_state(tx, &t.command.recipient_id)?,
                _ => RecipientState::Unknown,
            };
            Ok(decide_settle(
                recorded,
                transfer_id,
                &settle,
                recipient,
                Period::of_unix_millis(now),
                self.province,
                now,
            )?)
        })
        .await
    }

    /// The sender's node decides an acceptance asked by a recipient's node of
    /// another province (through the hub): accepted once, in `period`; any
    /// refusal (already returned, declined or cancelled; not the transfer
    /// accepted) is a decline, answered to the hub.
    pub async fn decide_wallet_acceptance(&self, wallet: CrossWallet, period: Period) -> NodeResult<Result<(), Decline>> {
        if wallet.sender_province != self.province || wallet.recipient_province == self.province {
            return Err(gongji_common::FieldError::new(
                "acceptance.sender_province",
                format!("this node serves province {}", self.province),
            )
            .into());
        }
        let decided = self
            .decide(|tx, now| {
                let recorded = tx.get(WALLET_TRANSFERS, &wallet.transfer_id)?;
                Ok(decide_acceptance_at_sender(recorded, &wallet, period, self.province, now)?)
            })
            .await;
        match decided {
            Ok(_) => Ok(Ok(())),
            Err(NodeError::Refused(refusal)) => Ok(Err(Decline::new(DeclineReason::RefusedByPeer, refusal.to_string()))),
            Err(error) => Err(error),
        }
    }

    /// The sender's node settles a transfer as declined by its recipient in
    /// another province (relayed by the hub); a refusal is the answer.
    pub async fn decide_wallet_decline(&self, wallet: CrossWallet) -> NodeResult<Result<(), Decline>> {
        if wallet.sender_province != self.province || wallet.recipient_province == self.province {
            return Err(gongji_common::FieldError::new("sender_province", format!("this node serves province {}", self.province)).into());
        }
        let settle = Settle::Decline {
            by: wallet.recipient_id.clone(),
        };
        let decided = self
            .decide(|tx, now| {
                let recorded = tx.get(WALLET_TRANSFERS, &wallet.transfer_id)?;
                if let Some(transfer) = &recorded {
                    if transfer.command.recipient_province != wallet.recipient_province {
                        return Err(Refusal::PermissionDenied(format!(
                            "wallet transfer {} is not to province {}",
                            wallet.transfer_id, wallet.recipient_province
                        ))
                        .into());
                    }
                }
                let period = Period::of_unix_millis(now);
                Ok(decide_settle(
                    recorded,
                    &wallet.transfer_id,
                    &settle,
                    RecipientState::Open,
                    period,
                    self.province,
                    now,
                )?)
            })
            .await;
        match decided {
            Ok(_) => Ok(Ok(())),
            Err(NodeError::Refused(refusal)) => Ok(Err(Decline::new(DeclineReason::RefusedByPeer, refusal.to_string()))),
            Err(error) => Err(error),
        }
    }

    /// The recipient's node declines a transfer from another province: the
    /// sender's node settles it through the hub, at once (nothing is
    /// recorded here; UNAVAILABLE when it cannot answer: decline again).
    pub async fn decline_across(&self, wallet: CrossWallet) -> NodeResult<()> {
        if wallet.recipient_province != self.province || wallet.sender_province == self.province {
            return Err(gongji_common::FieldError::new("sender_province", "names another province than this node's").into());
        }
        let answer = self.hub.relay_wallet_decline(&wallet).await.map_err(|why| {
            NodeError::Unavailable(format!(
                "the decline of wallet transfer {} was not answered: {why}",
                wallet.transfer_id
            ))
        })?;
        answer.map_err(|decline| Refusal::FailedPrecondition(decline.message).into())
    }

    /// The recipient's node accepts a transfer from another province: records
    /// the acceptance as pending, asks the sender's node through the hub, and
    /// credits the wallet once it is accepted. UNAVAILABLE when no answer
    /// came: the acceptance stays pending and the recovery pass finishes it
    /// (accepting again with the same fields answers the outcome).
    pub async fn accept_across(&self, wallet: CrossWallet) -> NodeResult<WalletCredit> {
        if wallet.recipient_province != self.province || wallet.sender_province == self.province {
            return Err(gongji_common::FieldError::new("sender_province", "names another province than this node's").into());
        }
        let done = self
            .decide(|tx, _| {
                let state = Self::recipient_state(tx, &wallet.recipient_id)?;
                let credited = tx.get(WALLET_CREDITS, &wallet.transfer_id)?;
                let accepting = tx.get(WALLET_ACCEPTING, &wallet.transfer_id)?;
                Ok(decide_accept_across(credited, accepting, state, &wallet)?)
            })
            .await?;
        match done {
            Some(credit) => Ok(credit),
            None => self.resolve_acceptance(&wallet.transfer_id).await,
        }
    }

    /// Asks the hub about a pending acceptance and records the answer.
    async fn resolve_acceptance(&self, id: &Id) -> NodeResult<WalletCredit> {
        let _flight = self.in_flight.enter(PendingKind::Wallet, id);
        let Some(wallet) = self.store.get(WALLET_ACCEPTING, id)? else {
            return self
                .store
                .get(WALLET_CREDITS, id)?
                .ok_or_else(|| NodeError::not_found("wallet transfer", id));
        };
        let answer = self
            .hub
            .route_wallet_acceptance(&wallet)
            .await
            .map_err(|why| NodeError::Unavailable(format!("the acceptance of wallet transfer {id} is pending: {why}")))?;
        let outcome = self
            .decide(|tx, now| {
                let accepting = tx.get(WALLET_ACCEPTING, id)?;
                let credited = tx.get(WALLET_CREDITS, id)?;
                let recipient = tx.get(PERSONS, &wallet.recipient_id)?;
                Ok(decide_accept_answer(
                    accepting,
                    credited,
                    recipient.as_ref(),
                    answer,
                    self.province,
                    now,
                )?)
            })
            .await?;
        Ok(outcome?)
    }

    /// Pays from a wallet (see [`crate::domain::decide_wallet_pay`]). An id
    /// used by a payment from a quota here is refused.
    pub async fn pay_from_wallet(&self, command: PayCommand) -> NodeResult<WalletPayment> {
        self.decide(|tx, now| {
            if tx.contains(crate::store::PAYMENTS, &command.payment_id)? || tx.contains(crate::store::DEBITS, &command.payment_id)? {
                return Err(Refusal::reused("payment", &command.payment_id).into());
            }
            let beneficiary = tx.get(PERSONS, &command.beneficiary_id)?;
            let wallet = tx.get(WALLETS, &command.beneficiary_id)?;
            let balance = tx.balance(&store::wallet(&command.beneficiary_id))?;
            Ok(decide_wallet_pay(
                tx.get(WALLET_PAYMENTS, &command.payment_id)?,
                tx.contains(WALLET_REVERSED, &command.payment_id)?,
                beneficiary.as_ref(),
                wallet.as_ref(),
                balance,
                &command,
                now,
            )?)
        })
        .await
    }

    /// Refunds a wallet payment into the wallet.
    pub async fn refund_wallet_payment(
        &self,
        payment_id: &Id,
        refund_id: &Id,
        amount: Money,
        acting: Option<&InstitutionCode>,
    ) -> NodeResult<WalletPayment> {
        self.decide(|tx, _| {
            Ok(decide_wallet_refund(
                tx.get(WALLET_PAYMENTS, payment_id)?,
                payment_id,
                refund_id,
                amount,
                acting,
            )?)
        })
        .await
    }

    /// Reverses a wallet payment (`None`: an unknown id, now cancelled for good).
    pub async fn reverse_wallet_payment(&self, payment_id: &Id, acting: Option<&InstitutionCode>) -> NodeResult<Option<WalletPayment>> {
        self.decide(|tx, now| {
            Ok(decide_wallet_reverse(
                tx.get(WALLET_PAYMENTS, payment_id)?,
                payment_id,
                acting,
                now,
            )?)
        })
        .await
    }

    /// The return pass: every unaccepted transfer whose return time has
    /// passed goes back to its sender, each in its own durable step. Safe to
    /// repeat (a returned transfer is not listed any more, and the decision
    /// checks the time and status again). Answers how many it returned.
    pub async fn return_due_wallet_transfers(&self) -> NodeResult<usize> {
        let now = self.now();
        let mut due = Vec::new();
        for key in self.store.scan_keys(WALLET_DUE, &[]) {
            let key = key?;
            match store::wallet_due_at(&key) {
                Some(at) if at <= now => due.push(Id::parse("wallet transfer", &String::from_utf8_lossy(last_key_part(&key)))?),
                _ => break,
            }
        }
        let mut returned = 0;
        for id in due {
            match self.settle_wallet(&id, Settle::Return).await {
                Ok(_) => returned += 1,
                Err(NodeError::Refused(refusal)) => tracing::warn!(transfer = %id, %refusal, "wallet return pass: not returned"),
                Err(error) => return Err(error),
            }
        }
        Ok(returned)
    }

    /// A transfer to a person of this province from another province, as
    /// its sender's node told this node (none for one sent from here).
    pub fn incoming_wallet(&self, transfer_id: &Id) -> NodeResult<Option<IncomingWallet>> {
        if self.store.get(WALLET_TRANSFERS, transfer_id)?.is_some() {
            return Ok(None);
        }
        Ok(self.store.get(WALLET_INCOMING, transfer_id)?)
    }

    /// One page of the cross-province transfers held here, in id order
    /// (docs/LISTINGS.md): sent from here to another province, or (`incoming`)
    /// to persons here from another province, each with its credit here.
    pub fn list_wallet_transfers(&self, incoming: bool, cursor: &str, limit: u32) -> NodeResult<WalletListing> {
        let start = gongji_common::cursor::start_of_table("cursor", cursor)?;
        let limit = gongji_common::cursor::check_limit("limit", limit)?;
        if incoming {
            let (page, next) = gongji_common::cursor::page(self.store.scan_from(WALLET_INCOMING, &[], &start), limit, |_| true)?;
            let mut listed = Vec::new();
            for incoming in page {
                let credit = self.store.get(WALLET_CREDITS, &incoming.note.transfer_id)?;
                listed.push((incoming, credit));
            }
            return Ok(WalletListing::Incoming(listed, next));
        }
        let here = self.province;
        let (page, next) = gongji_common::cursor::page(self.store.scan_from(WALLET_TRANSFERS, &[], &start), limit, |t| {
            t.command.recipient_province != here
        })?;
        Ok(WalletListing::Sent(page, next))
    }

    /// A person's wallet, its balance and transfers.
    pub fn wallet(&self, person_id: &Id) -> NodeResult<WalletView> {
        if self.store.get(PERSONS, person_id)?.is_none() {
            return Err(NodeError::not_found("person", person_id));
        }
        let mut view = WalletView {
            person_id: person_id.clone(),
            here: self.province,
            wallet: self.store.get(WALLETS, person_id)?,
            balance: self.store.balance(&store::wallet(person_id))?,
            sent: Vec::new(),
            received: Vec::new(),
            incoming: Vec::new(),
            credited: Vec::new(),
        };
        let prefix = key_prefix(&[person_id.as_bytes()]);
        for key in self.store.scan_keys(WALLET_FROM, &prefix) {
            let id = Id::parse("wallet transfer", &String::from_utf8_lossy(last_key_part(&key?)))?;
            view.sent.extend(self.store.get(WALLET_TRANSFERS, &id)?);
        }
        for key in self.store.scan_keys(WALLET_TO, &prefix) {
            let id = Id::parse("wallet transfer", &String::from_utf8_lossy(last_key_part(&key?)))?;
            match self.store.get(WALLET_TRANSFERS, &id)? {
                Some(transfer) => view.received.push(transfer),
                None => {
                    let credit = self.store.get(WALLET_CREDITS, &id)?;
                    match self.store.get(WALLET_INCOMING, &id)? {
                        Some(incoming) => view.incoming.push((incoming, credit)),
                        None => view.credited.extend(credit),
                    }
                }
            }
        }
        Ok(view)
    }

    /// Settles a person's unaccepted wallet transfers and closes their
    /// wallet once their insurance here ended or moved (see
    /// [`crate::domain::decide_wallet_end`]); part of the cascade, before
    /// their relationships end and their balance moves.
    pub(super) async fn end_wallet(&self, person_id: &Id) -> NodeResult<()> {
        let prefix = key_prefix(&[person_id.as_bytes()]);
        let mut ids = Vec::new();
        for table in [WALLET_FROM, WALLET_TO] {
            for key in self.store.scan_keys(table, &prefix) {
                ids.push(Id::parse("wallet transfer", &String::from_utf8_lossy(last_key_part(&key?)))?);
            }
        }
        let settled = self
            .decide(|tx, now| {
                let Some(person) = tx.get(PERSONS, person_id)? else {
                    return Err(NodeError::not_found("person", person_id));
                };
                let (mut unaccepted, mut incoming) = (Vec::new(), Vec::new());
                for id in &ids {
                    match tx.get(WALLET_TRANSFERS, id)? {
                        Some(transfer) => unaccepted.push(transfer),
                        None => incoming.extend(tx.get(WALLET_INCOMING, id)?),
                    }
                }
                Ok(decide_wallet_end(
                    &person,
                    tx.get(WALLETS, person_id)?,
                    unaccepted,
                    incoming,
                    self.province,
                    now,
                )?)
            })
            .await?;
        if settled > 0 {
            tracing::info!(person = %person_id, settled, "unaccepted wallet transfers settled with the person's insurance");
        }
        Ok(())
    }

    /// The wallet's gauges: transfers sent from here by outcome, how many
    /// are unaccepted, and how long the oldest has waited.
    pub(super) fn wallet_gauges(&self, out: &mut gongji_common::metrics::Exposition) -> NodeResult<()> {
        use crate::domain::WalletStatus as S;
        let mut by_status = [
            (S::Unaccepted, 0u64),
            (S::Accepted, 0),
            (S::Declined, 0),
            (S::Cancelled, 0),
            (S::Returned, 0),
        ];
        let mut oldest: Option<i64> = None;
        for item in self.store.scan_prefix(WALLET_TRANSFERS, b"") {
            let (_, transfer) = item?;
            if let Some((_, count)) = by_status.iter_mut().find(|(status, _)| *status == transfer.status) {
                *count += 1;
            }
            if transfer.is_unaccepted() {
                oldest = Some(oldest.map_or(transfer.sent_at, |o| o.min(transfer.sent_at)));
            }
        }
        out.gauges(
            "gongji_wallet_transfers",
            "Wallet transfers sent from this node, by outcome (unaccepted, accepted, declined, cancelled, returned).",
            by_status
                .iter()
                .map(|(status, count)| (vec![("outcome", status.as_str().to_owned())], *count as f64)),
        );
        out.gauges(
            "gongji_wallet_unaccepted",
            "Wallet transfers sent from this node and not yet accepted, declined, cancelled or returned.",
            [(vec![], by_status[0].1 as f64)],
        );
        let age = oldest.map_or(0.0, |sent| (self.now() - sent).max(0) as f64 / 1000.0);
        out.gauges(
            "gongji_wallet_unaccepted_oldest_age_seconds",
            "How long the oldest unaccepted wallet transfer has waited (0 when there is none).",
            [(vec![], age)],
        );
        Ok(())
    }

    /// Whether a person of this province may receive a wallet transfer (as
    /// on disk: answered only once what it says is durable).
    pub async fn wallet_recipient(&self, person_id: &Id) -> NodeResult<RecipientState> {
        self.store.transact(|tx| Self::recipient_state(tx, person_id)).durable().await
    }

    /// What this node says of a would-be recipient of its province.
    fn recipient_state(tx: &Tx, person_id: &Id) -> NodeResult<RecipientState> {
        let Some(person) = tx.get(PERSONS, person_id)? else {
            return Ok(RecipientState::Unknown);
        };
        if !person.is_active() {
            return Ok(RecipientState::Inactive);
        }
        Ok(match tx.get(WALLETS, person_id)? {
            Some(wallet) if wallet.is_open() => RecipientState::Open,
            _ => RecipientState::NoWallet,
        })
    }

    /// Finishes a pending acceptance of a transfer from another province (a
    /// decline is recorded and is the recipient's answer, not the pass's error).
    pub(super) async fn resolve_wallet(&self, id: &Id) -> NodeResult<()> {
        match self.resolve_acceptance(id).await {
            Ok(_) | Err(NodeError::Refused(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// The key of a transfer in a person's list.
pub(super) fn listed(person: &Id, transfer: &Id) -> Vec<u8> {
    key(&[person.as_bytes(), transfer.as_bytes()])
}

/// A page of cross-province wallet transfers held at a node, and the next
/// page's cursor (empty after the last).
pub enum WalletListing {
    Sent(Vec<WalletTransfer>, String),
    Incoming(Vec<(IncomingWallet, Option<WalletCredit>)>, String),
}
