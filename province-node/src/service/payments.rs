//! Payments: served here as the acquirer (the beneficiary's province), and
//! decided here as the issuer (the donor's province).

use gongji_common::period::now_millis;
use gongji_common::{
    contract::{Payee, Purpose, TxKind, TxStatus},
    pending::PendingKind,
    statement::Direction,
    store::{Account, JournalEntry, Tx, TxFail},
    Id, Money, Period,
};

use super::{cross::CrossLine, Node};
use crate::{
    domain::{
        check_institution, check_spend, choose_relationship, AcquiredPayment, CrossPayment, Decline, DeclineReason, Event, EventKind,
        InsuranceType, IssuedDebit, PayCommand, Person, Relationship, Tombstone,
    },
    error::{NodeError, NodeResult},
    hub_client::{HubDecision, Unanswered},
    store::{self, DEBITS, PAYMENTS, PERSONS, RELATIONSHIPS, REVERSED_IDS},
};

/// Where money given back comes from: an account of this node, or another
/// province (a cross-province line).
pub(super) enum Source {
    Local(Account),
    Cross(CrossLine),
}

/// A payment as this node knows it.
pub enum PaymentView {
    /// Served here: this node is the beneficiary's.
    Acquired(AcquiredPayment),
    /// Decided here for another province: this node is the donor's.
    Issued(IssuedDebit),
    /// Reversed before this node ever saw it (by the institution the
    /// tombstone names, or an operator).
    Cancelled { payment_id: Id, tombstone: Tombstone },
}

impl Node {
    /// Pays an institution (or, for a contribution, the province fund) from a
    /// beneficiary's relationship. Same-province payments are decided here
    /// in one transaction; cross-province ones are recorded pending, then
    /// routed through the hub to the donor's node.
    pub async fn pay(&self, command: PayCommand) -> NodeResult<PaymentView> {
        if let Payee::Institution(institution) = &command.payee {
            let institution_province = institution.region().province();
            if institution_province != self.province {
                return Err(gongji_common::FieldError::new(
                    "institution_id",
                    format!(
                        "{institution} is an institution of province {institution_province}; this node serves province {}",
                        self.province
                    ),
                )
                .into());
            }
        }
        if let Some(tombstone) = self.store.get::<Tombstone>(REVERSED_IDS, command.payment_id.as_bytes())? {
            if !tombstone.cancels(&command.payee) {
                // Another institution reversed this id first: not this
                // payment's reversal, so not reported as one; nothing recorded.
                return Err(NodeError::taken(&command.payment_id));
            }
            return Ok(PaymentView::Cancelled {
                payment_id: command.payment_id,
                tombstone,
            });
        }
        if let Some(existing) = self.store.get::<AcquiredPayment>(PAYMENTS, command.payment_id.as_bytes())? {
            return self.answer_repeat(existing, &command).await.map(PaymentView::Acquired);
        }
        let beneficiary = self.person(&command.beneficiary_id)?;
        let relationship = self.pick_relationship(&command)?;

        let payment = self
            .transact(|tx| {
                if let Some(tombstone) = tx.get::<Tombstone>(REVERSED_IDS, command.payment_id.as_bytes())? {
                    return Ok(Err(if tombstone.cancels(&command.payee) {
                        NodeError::FailedPrecondition(format!("payment {} was reversed", command.payment_id))
                    } else {
                        NodeError::taken(&command.payment_id)
                    }));
                }
                if let Some(existing) = tx.get::<AcquiredPayment>(PAYMENTS, command.payment_id.as_bytes())? {
                    return Ok(Ok(existing));
                }
                let chosen = Self::check_beneficiary_may_pay(&beneficiary, command.purpose)
                    .and_then(|()| check_institution(&command.payee, command.purpose))
                    .and_then(|()| relationship.clone());
                let payment = match chosen {
                    Err(decline) => AcquiredPayment::declined(command.clone(), None, decline, now_millis()),
                    Ok(chosen) => {
                        // Re-read inside the transaction: the choice was made on a snapshot.
                        let relationship = tx
                            .get::<Relationship>(RELATIONSHIPS, chosen.id().as_bytes())?
                            .unwrap_or_else(|| chosen.clone());
                        let route = crate::domain::route(&command, &relationship);
                        if route.is_cross_province() {
                            if relationship.is_active() {
                                Self::mark_pending(tx, PendingKind::Payment, &command.payment_id)?;
                                AcquiredPayment::pending(command.clone(), route, now_millis())
                            } else {
                                AcquiredPayment::declined(command.clone(), Some(route), Self::not_active(&relationship), now_millis())
                            }
                        } else {
                            let donor = tx.get::<Person>(PERSONS, relationship.grant.donor_id.as_bytes())?;
                            match check_spend(&relationship, donor.as_ref(), command.amount) {
                                Err(decline) => AcquiredPayment::declined(command.clone(), Some(route), decline, now_millis()),
                                Ok(()) => {
                                    Self::spend_quota(
                                        tx,
                                        relationship,
                                        &command.payment_id,
                                        command.amount,
                                        &store::payee(&command.payee),
                                    )?;
                                    AcquiredPayment::approved(command.clone(), route, now_millis())
                                }
                            }
                        }
                    }
                };
                tx.put(PAYMENTS, command.payment_id.as_bytes(), &payment)?;
                Ok(Ok(payment))
            })
            .await?;
        if payment.command != command {
            return Err(NodeError::reused("payment", &command.payment_id));
        }
        if payment.is_pending() {
            return self.resolve_payment(&command.payment_id).await.map(PaymentView::Acquired);
        }
        tracing::info!(payment = %command.payment_id, status = ?payment.status, "payment decided here");
        Ok(PaymentView::Acquired(payment))
    }

    /// A beneficiary may pay for care while active; a resident-insurance
    /// contribution only for a resident-insured person.
    fn check_beneficiary_may_pay(beneficiary: &Person, purpose: Purpose) -> Result<(), Decline> {
        if !beneficiary.is_active() {
            return Err(Decline::new(
                DeclineReason::PersonNotActive,
                format!("beneficiary {} is not an active insured person", beneficiary.id),
            ));
        }
        if purpose == Purpose::ResidentContribution && beneficiary.insurance != InsuranceType::Resident {
            return Err(Decline::new(
                DeclineReason::NotResidentInsured,
                format!(
                    "beneficiary {} holds employee insurance; resident-insurance contributions are for residents",
                    beneficiary.id
                ),
            ));
        }
        Ok(())
    }

    /// A repeated request: the recorded outcome, or another try at a pending one.
    async fn answer_repeat(&self, existing: AcquiredPayment, command: &PayCommand) -> NodeResult<AcquiredPayment> {
        if existing.command != *command {
            return Err(NodeError::reused("payment", &command.payment_id));
        }
        if existing.is_pending() {
            return self.resolve_payment(&command.payment_id).await;
        }
        Ok(existing)
    }

    pub(super) fn not_active(relationship: &Relationship) -> Decline {
        Decline::new(
            DeclineReason::RelationshipNotActive,
            format!("relationship {} is {}", relationship.id(), relationship.status.word()),
        )
    }

    /// Moves `amount` out of a relationship's quota to `to` and counts it as used.
    fn spend_quota(tx: &Tx, mut relationship: Relationship, payment_id: &Id, amount: Money, to: &Account) -> Result<(), TxFail> {
        tx.post(&JournalEntry::transfer(
            payment_id.as_str(),
            "payment",
            &store::quota(relationship.id()),
            to,
            amount,
        ))?;
        Self::count_use(tx, &mut relationship, payment_id, amount)
    }

    /// Counts an approved payment against a relationship and records it in its history.
    fn count_use(tx: &Tx, relationship: &mut Relationship, payment_id: &Id, amount: Money) -> Result<(), TxFail> {
        relationship
            .use_quota(amount, now_millis())
            .map_err(|e| gongji_common::store::StoreError::Invariant(e.to_string()))?;
        tx.put(RELATIONSHIPS, relationship.id().as_bytes(), relationship)?;
        Self::record_event(
            tx,
            relationship.id(),
            &Event::new(EventKind::Payment, "payment approved", now_millis())
                .amount(amount)
                .reference(payment_id),
        )
    }

    /// Gives money back to where a relationship's money came from: its
    /// quota while it is active (used goes down), else the donor's available
    /// balance, from which it follows the donor if they have moved away.
    /// `reference` names the cause, once per cause. Returns how, for history.
    pub(super) fn give_back(
        tx: &Tx,
        relationship: Option<Relationship>,
        donor: &Id,
        amount: Money,
        from: Source,
        reference: &str,
        memo: &str,
    ) -> Result<&'static str, TxFail> {
        let (to, how) = match relationship {
            Some(mut r) if r.is_active() => {
                r.return_quota(amount, now_millis())
                    .map_err(|e| gongji_common::store::StoreError::Invariant(e.to_string()))?;
                tx.put(RELATIONSHIPS, r.id().as_bytes(), &r)?;
                (store::quota(r.id()), "returned to the quota")
            }
            _ => (
                store::available(donor),
                "returned to the donor's available balance (the relationship has ended)",
            ),
        };
        match &from {
            Source::Local(from) if !amount.is_zero() => tx.post(&JournalEntry::transfer(reference, memo, from, &to, amount)).map(drop)?,
            Source::Local(_) => {}
            Source::Cross(line) => Self::post_cross(tx, line, &to, memo)?,
        }
        if amount.is_zero() {
            return Ok(how);
        }
        if to == store::available(donor) && Self::follow_person(tx, donor, amount, reference)? {
            return Ok("returned to the donor, and sent on to the province they moved to");
        }
        Ok(how)
    }

    /// The relationship a payment should use, or why there is none.
    fn pick_relationship(&self, command: &PayCommand) -> NodeResult<Result<Relationship, Decline>> {
        let candidates = self.beneficiary_relationships(&command.beneficiary_id)?;
        match &command.relationship_id {
            Some(id) => match candidates.into_iter().find(|r| r.id() == id) {
                Some(relationship) => Ok(Ok(relationship)),
                None => Err(NodeError::NotFound {
                    what: "relationship",
                    id: format!("{id} for beneficiary {}", command.beneficiary_id),
                }),
            },
            None => Ok(choose_relationship(&candidates, self.province, command.amount).cloned()),
        }
    }

    /// Asks the hub for the decision on a pending cross-province payment and
    /// records it. Safe to repeat: every hop answers a repeated id with its
    /// recorded outcome.
    pub async fn resolve_payment(&self, id: &Id) -> NodeResult<AcquiredPayment> {
        let payment = self.acquired(id)?;
        let Some(route) = payment.route.clone().filter(|_| payment.is_pending()) else {
            return Ok(payment);
        };
        let decision = match self.hub.route_payment(&route).await {
            Ok(decision) => decision,
            Err(Unanswered(why)) => {
                tracing::info!(payment = %id, %why, "payment left pending: no decision from the hub");
                return Err(NodeError::Unavailable(format!(
                    "payment {id} is pending: {why}; it is retried in the background, or retry with the same payment_id"
                )));
            }
        };
        let payment = self
            .transact(|tx| {
                let Some(mut payment) = tx.get::<AcquiredPayment>(PAYMENTS, id.as_bytes())? else {
                    return Ok(Err(super::vanished("payment", id)));
                };
                // Decided meanwhile, or reversed: a late answer changes nothing.
                if !payment.is_pending() {
                    return Ok(Ok(payment));
                }
                match &decision {
                    HubDecision::Approved(period) => {
                        self.record_acquired_approval(tx, &route, *period)?;
                        payment.approve(Some(*period), now_millis());
                    }
                    HubDecision::Declined(period, decline) => payment.decline(*period, decline.clone(), now_millis()),
                    HubDecision::Taken(why) => {
                        // Another node's payment holds the id: this one was
                        // never routed, so it leaves no trace here either.
                        tx.remove(PAYMENTS, id.as_bytes())?;
                        Self::clear_pending(tx, PendingKind::Payment, id)?;
                        return Ok(Err(NodeError::AlreadyExists(format!("{why}; nothing was recorded at this node"))));
                    }
                }
                tx.put(PAYMENTS, id.as_bytes(), &payment)?;
                Self::clear_pending(tx, PendingKind::Payment, id)?;
                Ok(Ok(payment))
            })
            .await?;
        tracing::info!(payment = %id, status = ?payment.status, period = ?payment.period, "cross-province payment resolved");
        Ok(payment)
    }

    /// The acquirer's books for an approved cross-province payment: the
    /// donor's province owes what this node owes the payee, and the grant
    /// record counts the use.
    pub(super) fn record_acquired_approval(&self, tx: &Tx, route: &CrossPayment, period: Period) -> Result<(), TxFail> {
        if let Some(mut relationship) = tx.get::<Relationship>(RELATIONSHIPS, route.relationship_id.as_bytes())? {
            Self::count_use(tx, &mut relationship, &route.payment_id, route.amount)?;
        }
        let region = self.payee_region(tx, &route.payee, &route.beneficiary_id)?;
        let line = CrossLine::new(
            period,
            TxKind::Payment,
            &route.payment_id,
            route.donor_province,
            Direction::Receivable,
            route.amount,
            region,
        );
        Self::post_cross(tx, &line, &store::payee(&route.payee), "cross-province payment")
    }

    /// The issuer's decision on a cross-province payment routed by the hub:
    /// approve by debiting the quota (never beyond what remains), or decline.
    /// Idempotent by payment id; a reversed id is always declined.
    pub async fn authorize_debit(&self, payment: CrossPayment, period: Period) -> NodeResult<IssuedDebit> {
        if payment.donor_province != self.province {
            return Err(gongji_common::FieldError::new(
                "payment.donor_province",
                format!("this node serves province {}, not {}", self.province, payment.donor_province),
            )
            .into());
        }
        let debit = self
            .transact(|tx| {
                if let Some(existing) = tx.get::<IssuedDebit>(DEBITS, payment.payment_id.as_bytes())? {
                    let same = existing.payment == payment && (existing.period == period || existing.status == TxStatus::Reversed);
                    return Ok(if same {
                        Ok(existing)
                    } else {
                        Err(NodeError::reused("payment", &payment.payment_id))
                    });
                }
                let relationship = tx
                    .get::<Relationship>(RELATIONSHIPS, payment.relationship_id.as_bytes())?
                    .filter(|r| {
                        r.owned_by(self.province)
                            && r.grant.donor_id == payment.donor_id
                            && r.grant.beneficiary_id == payment.beneficiary_id
                            && r.grant.beneficiary_province == payment.beneficiary_province
                    });
                let decision = match &relationship {
                    None => Err(Decline::new(
                        DeclineReason::RelationshipNotFound,
                        format!(
                            "relationship {} from donor {} to beneficiary {} is not known here",
                            payment.relationship_id, payment.donor_id, payment.beneficiary_id
                        ),
                    )),
                    Some(relationship) => {
                        let donor = tx.get::<Person>(PERSONS, relationship.grant.donor_id.as_bytes())?;
                        check_spend(relationship, donor.as_ref(), payment.amount)
                    }
                };
                if let (Ok(()), Some(mut relationship)) = (&decision, relationship) {
                    let region = self.region_of(tx, &payment.donor_id)?;
                    let line = CrossLine::new(
                        period,
                        TxKind::Payment,
                        &payment.payment_id,
                        payment.beneficiary_province,
                        Direction::Payable,
                        payment.amount,
                        region,
                    );
                    Self::post_cross(tx, &line, &store::quota(relationship.id()), "cross-province payment")?;
                    Self::count_use(tx, &mut relationship, &payment.payment_id, payment.amount)?;
                }
                let debit = IssuedDebit::decided(payment.clone(), period, decision, now_millis());
                tx.put(DEBITS, payment.payment_id.as_bytes(), &debit)?;
                Ok(Ok(debit))
            })
            .await?;
        tracing::info!(payment = %payment.payment_id, status = ?debit.status, %period, "cross-province debit decided");
        Ok(debit)
    }

    /// A payment served here; one served elsewhere whose donor is insured
    /// here is named with the node it belongs to.
    pub(super) fn acquired(&self, id: &Id) -> NodeResult<AcquiredPayment> {
        if let Some(payment) = self.store.get::<AcquiredPayment>(PAYMENTS, id.as_bytes())? {
            return Ok(payment);
        }
        match self.store.get::<IssuedDebit>(DEBITS, id.as_bytes())? {
            Some(debit) => Err(NodeError::Missing(format!(
                "payment {id} was served at province {served}'s node; this is province {here}'s, which holds its donor's quota: \
                 refunds and reversals of it go to province {served}'s node",
                served = debit.payment.beneficiary_province,
                here = self.province,
            ))),
            None => Err(NodeError::not_found("payment", id)),
        }
    }

    /// A payment this node has seen, as acquirer or issuer.
    pub fn payment(&self, id: &Id) -> NodeResult<PaymentView> {
        if let Some(acquired) = self.store.get::<AcquiredPayment>(PAYMENTS, id.as_bytes())? {
            return Ok(PaymentView::Acquired(acquired));
        }
        if let Some(issued) = self.store.get::<IssuedDebit>(DEBITS, id.as_bytes())? {
            return Ok(PaymentView::Issued(issued));
        }
        match self.store.get::<Tombstone>(REVERSED_IDS, id.as_bytes())? {
            Some(tombstone) => Ok(PaymentView::Cancelled {
                payment_id: id.clone(),
                tombstone,
            }),
            None => Err(NodeError::not_found("payment", id)),
        }
    }
}
