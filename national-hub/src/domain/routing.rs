//! Routing a payment, refund or account transfer, in two decisions. When it
//! arrives ([`decide`]): a repeat gets what was recorded; an id holding
//! another transaction is refused; a province the hub does not serve is
//! declined with nothing recorded; otherwise it is recorded stamped with the
//! open month, and either declined at once (its payer's prepaid funds do not
//! cover it) or left pending, its amount reserved, for the deciding node.
//! When that node answers ([`decide_answer`]): the reservation is freed and
//! the answer recorded; an approval is booked (see `books`). A late answer
//! to a transaction decided meanwhile, or cancelled by a reversal, changes
//! nothing.

use std::collections::BTreeSet;

use gongji_common::{
    contract::{Decline, TxStatus},
    Money, Period, ProvinceCode,
};

use super::{
    check_connected,
    prepaid::{self, Cover, Reservation},
    Funds, HubTransaction, Refusal, TxBody,
};

/// What the store holds that routing a new transaction depends on.
#[derive(Debug, Clone)]
pub struct RouteSnapshot<'a> {
    /// The transaction recorded under this kind and id, if any.
    pub existing: Option<HubTransaction>,
    /// The month new transactions are stamped with.
    pub open: Period,
    /// The provinces the hub serves.
    pub registered: &'a BTreeSet<ProvinceCode>,
    /// The payer's prepaid funds.
    pub payer_funds: Funds,
}

/// What routing a new transaction comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// Recorded before with this content: its outcome stands (the deciding
    /// node is asked again while it is pending). Nothing written.
    Recorded(HubTransaction),
    /// A province the hub does not serve: declined, nothing recorded.
    NotConnected { period: Period, decline: Decline },
    /// New: the record to write (pending, or declined for want of prepaid
    /// cover) and, when pending, the payer's reservation.
    New {
        record: HubTransaction,
        reservation: Option<Reservation>,
    },
}

/// Decides a payment, refund or transfer (checked to cross a border) arriving at `now`.
pub fn decide(snapshot: &RouteSnapshot, body: &TxBody, now: i64) -> Result<RouteDecision, Refusal> {
    // A declined wallet acceptance holds nothing (no line, no reservation):
    // the recipient may accept again, with the transfer's true amount.
    let retried_wallet = snapshot.existing.as_ref().is_some_and(|existing| {
        matches!(existing.body, TxBody::Wallet(_)) && existing.status == TxStatus::Declined && existing.body != *body
    });
    if let Some(existing) = snapshot.existing.as_ref().filter(|_| !retried_wallet) {
        if existing.body == *body {
            return Ok(RouteDecision::Recorded(existing.clone()));
        }
        return Err(Refusal::AlreadyExists(format!(
            "{kind} id {id} is already recorded at the hub for another {kind}, served at province {origin}'s node; \
             use a new {kind} id",
            kind = body.kind().as_str(),
            id = body.id(),
            origin = existing.body.origin(),
        )));
    }
    // Only a new transaction is refused for a province the hub does not
    // know: an existing one keeps its recorded outcome.
    if let Err(decline) = check_connected(snapshot.registered, [body.payer(), body.payee()]) {
        return Ok(RouteDecision::NotConnected {
            period: snapshot.open,
            decline,
        });
    }
    let mut record = HubTransaction::pending(body.clone(), snapshot.open, now);
    let reservation = match prepaid::cover(&snapshot.payer_funds, body)? {
        Cover::NotNeeded => None,
        Cover::Reserved(reservation) => Some(reservation),
        Cover::Exhausted(decline) => {
            // The payer cannot cover it: a definite, recorded decline.
            record.status = TxStatus::Declined;
            record.decline = Some(decline);
            record.decided_at = Some(now);
            None
        }
    };
    Ok(RouteDecision::New { record, reservation })
}

/// What the deciding node's answer comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value decided once and applied at once, never stored: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum AnswerDecision {
    /// Decided meanwhile, or cancelled by a reversal: nothing changes.
    Unchanged,
    /// The answer recorded: the transaction as decided (to be booked when
    /// approved) and its payer's reservation freed.
    Decided {
        record: HubTransaction,
        book: bool,
        release: Option<Reservation>,
    },
}

/// Decides what the deciding node's `answer` about `record` changes at
/// `now`; `payer_reserved` is what its payer has reserved.
pub fn decide_answer(record: &HubTransaction, payer_reserved: Money, answer: &Result<(), Decline>, now: i64) -> AnswerDecision {
    if !record.is_pending() {
        return AnswerDecision::Unchanged;
    }
    let mut decided = record.clone();
    match answer {
        Ok(()) => decided.status = TxStatus::Approved,
        Err(decline) => {
            decided.status = TxStatus::Declined;
            decided.decline = Some(decline.clone());
        }
    }
    decided.decided_at = Some(now);
    AnswerDecision::Decided {
        book: decided.status == TxStatus::Approved,
        release: prepaid::release(payer_reserved, &record.body),
        record: decided,
    }
}

#[cfg(test)]
mod tests {
    use gongji_common::contract::{DeclineReason, TxKind};

    use super::*;
    use crate::domain::testing::{money, payment, period, province, refund, registered, transfer};

    fn snapshot<'a>(registered: &'a BTreeSet<ProvinceCode>, existing: Option<HubTransaction>, prepaid: &str) -> RouteSnapshot<'a> {
        RouteSnapshot {
            existing,
            open: period("2026-03"),
            registered,
            payer_funds: Funds {
                prepaid: money(prepaid),
                unsettled: Money::ZERO,
                reserved: money("10.00"),
            },
        }
    }

    #[test]
    fn a_new_payment_is_stamped_with_the_open_month_and_waits_for_the_donors_node_with_its_amount_reserved() {
        let served = registered(&["13", "41"]);
        let body = payment("P1", "13", "41", "100.00");
        let decided = decide(&snapshot(&served, None, "1000.00"), &body, 5).unwrap();
        let RouteDecision::New { record, reservation } = decided else {
            panic!("{decided:?}");
        };
        assert_eq!(
            (record.period, record.status, record.recorded_at, record.decided_at),
            (period("2026-03"), TxStatus::Pending, 5, None)
        );
        assert_eq!(
            reservation,
            Some(Reservation {
                province: province("13"),
                reserved: money("110.00"),
            })
        );
    }

    #[test]
    fn a_payer_without_prepaid_cover_is_declined_and_nothing_else_is_recorded() {
        let served = registered(&["13", "41"]);
        for body in [payment("P1", "13", "41", "100.00"), transfer("T1", "13", "41", "100.00")] {
            let decided = decide(&snapshot(&served, None, "100.00"), &body, 5).unwrap();
            let RouteDecision::New { record, reservation } = decided else {
                panic!("{decided:?}");
            };
            assert_eq!(reservation, None, "nothing reserved");
            assert_eq!((record.status, record.decided_at), (TxStatus::Declined, Some(5)));
            assert_eq!(record.decision().map_err(|d| d.reason), Err(DeclineReason::PrepaidExhausted));
        }
    }

    #[test]
    fn a_refund_needs_no_prepaid_cover() {
        let served = registered(&["13", "41"]);
        let decided = decide(&snapshot(&served, None, "0.00"), &refund("R1", "P1", "13", "41", "100.00"), 5).unwrap();
        assert!(
            matches!(decided, RouteDecision::New { ref record, reservation: None } if record.is_pending()),
            "{decided:?}"
        );
    }

    #[test]
    fn a_province_the_hub_does_not_serve_is_declined_and_nothing_is_recorded() {
        let served = registered(&["13"]);
        let decided = decide(&snapshot(&served, None, "1000.00"), &payment("P1", "13", "41", "1.00"), 5).unwrap();
        let RouteDecision::NotConnected { period: stamped, decline } = decided else {
            panic!("{decided:?}");
        };
        assert_eq!(stamped, period("2026-03"));
        assert_eq!(decline.reason, DeclineReason::ProvinceNotConnected);
        assert_eq!(decline.message, "province 41 is not connected to the national hub");
    }

    #[test]
    fn a_repeat_gets_what_was_recorded_even_once_its_province_is_gone_and_another_body_under_its_id_is_refused() {
        let body = payment("P1", "13", "41", "1.00");
        let recorded = HubTransaction::pending(body.clone(), period("2026-02"), 1);
        let none = registered(&[]);
        let repeat = decide(&snapshot(&none, Some(recorded.clone()), "0.00"), &body, 5).unwrap();
        assert_eq!(repeat, RouteDecision::Recorded(recorded.clone()));
        let other = decide(&snapshot(&none, Some(recorded), "0.00"), &payment("P1", "13", "41", "2.00"), 5);
        assert_eq!(
            other,
            Err(Refusal::AlreadyExists(
                "payment id P1 is already recorded at the hub for another payment, served at province 41's node; use a new payment id"
                    .into()
            ))
        );
    }

    #[test]
    fn the_deciding_nodes_answer_is_recorded_once_and_frees_the_reservation() {
        let pending = HubTransaction::pending(payment("P1", "13", "41", "30.00"), period("2026-03"), 1);
        let decline = Decline::new(DeclineReason::InsufficientQuota, "no quota");
        for (answer, status, book) in [
            (Ok(()), TxStatus::Approved, true),
            (Err(decline.clone()), TxStatus::Declined, false),
        ] {
            let AnswerDecision::Decided {
                record,
                book: booked,
                release,
            } = decide_answer(&pending, money("100.00"), &answer, 9)
            else {
                panic!("unchanged");
            };
            assert_eq!((record.status, record.decided_at, booked), (status, Some(9), book));
            assert_eq!(record.decision(), answer);
            assert_eq!(release.map(|r| r.reserved), Some(money("70.00")));
        }
        let mut reversed = pending.clone();
        reversed.status = TxStatus::Reversed;
        assert_eq!(
            decide_answer(&reversed, money("100.00"), &Ok(()), 9),
            AnswerDecision::Unchanged,
            "a late approval changes nothing"
        );
        let refund = HubTransaction::pending(refund("R1", "P1", "13", "41", "5.00"), period("2026-03"), 1);
        assert!(matches!(
            decide_answer(&refund, Money::ZERO, &Ok(()), 9),
            AnswerDecision::Decided { release: None, .. }
        ));
        assert_eq!(refund.body.kind(), TxKind::Refund);
    }
}
