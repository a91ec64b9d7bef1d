//! Reversing a payment: always possible, and a reversed id is never
//! approved later. A payment the hub never saw is recorded cancelled for
//! good; a pending one is cancelled at once (no late answer can approve it
//! here any more) and its reservation freed; a declined or reversed one has
//! nothing to undo. Otherwise the reversal is recorded pending, stamped with
//! the open month, and the donor's node is asked. When it answers that it
//! had approved the payment, the payment is booked in its own month (if the
//! hub never learned the approval) and the credit back in the reversal's.

use gongji_common::{
    contract::{CrossPayment, Decline, DeclineReason, ReversalOutcome, TxStatus},
    Money, Period,
};

use super::{
    prepaid::{self, Reservation},
    HubTransaction, TxBody,
};

/// What the store holds that reversing a payment depends on.
#[derive(Debug, Clone)]
pub struct ReversalSnapshot {
    /// The payment recorded under the id, if any.
    pub original: Option<HubTransaction>,
    /// The reversal recorded under the id, if any.
    pub reversal: Option<HubTransaction>,
    /// The month new transactions are stamped with.
    pub open: Period,
    /// What the payment's payer (the donor's province) has reserved.
    pub donor_reserved: Money,
}

/// What a reversal's first step comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value decided once and applied at once, never stored: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ReversalDecision {
    /// Nothing (more) to do: this is the outcome. Nothing written.
    Done(ReversalOutcome),
    /// The id holds another payment at the hub, so this one never got past
    /// it: there is nothing of it to undo. Nothing written.
    HeldByAnother,
    /// The hub never saw the payment: recorded cancelled for good, stamped
    /// with the open month; nothing was approved.
    CancelUnknown(HubTransaction),
    /// Asked before and not yet answered: ask the donor's node again.
    AskDonor,
    /// The reversal recorded pending, after the payment was cancelled at
    /// once if it was pending (its reservation freed); then the donor's
    /// node is asked.
    Start {
        cancelled: Option<HubTransaction>,
        release: Option<Reservation>,
        reversal: HubTransaction,
    },
}

/// Decides the first step of reversing `payment` (checked to cross a border) at `now`.
pub fn decide(snapshot: &ReversalSnapshot, payment: &CrossPayment, now: i64) -> ReversalDecision {
    let Some(original) = &snapshot.original else {
        let mut cancelled = HubTransaction::pending(TxBody::Payment(payment.clone()), snapshot.open, now);
        cancelled.status = TxStatus::Reversed;
        cancelled.decided_at = Some(now);
        return ReversalDecision::CancelUnknown(cancelled);
    };
    if original.body != TxBody::Payment(payment.clone()) {
        return ReversalDecision::HeldByAnother;
    }
    if let Some(reversal) = &snapshot.reversal {
        return if reversal.is_pending() {
            ReversalDecision::AskDonor
        } else {
            ReversalDecision::Done(outcome(original, reversal))
        };
    }
    let (cancelled, release) = match original.status {
        TxStatus::Declined | TxStatus::Reversed => return ReversalDecision::Done(ReversalOutcome::NOTHING_APPROVED),
        TxStatus::Pending => {
            // Cancel at once: no answer can approve it here any more.
            let mut cancelled = original.clone();
            cancelled.status = TxStatus::Reversed;
            cancelled.decided_at = Some(now);
            (Some(cancelled), prepaid::release(snapshot.donor_reserved, &original.body))
        }
        TxStatus::Approved => (None, None),
    };
    ReversalDecision::Start {
        cancelled,
        release,
        reversal: HubTransaction::pending(TxBody::Reversal(payment.clone()), snapshot.open, now),
    }
}

/// What the donor's node's answer to a reversal comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value decided once and applied at once, never stored: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ReversalAnswerDecision {
    /// Decided meanwhile: this is the outcome, nothing changes.
    Unchanged(ReversalOutcome),
    /// The payment and the reversal as decided, with which of them to book.
    Decided {
        original: HubTransaction,
        reversal: HubTransaction,
        /// The donor's node approved the payment before the reversal reached
        /// it, and the hub never learned it: booked in the payment's month.
        book_original: bool,
        /// The credit back, booked in the reversal's month.
        book_reversal: bool,
        /// The donor's node says it approved nothing, yet the hub recorded
        /// the payment approved: to be logged as an error.
        contradicts_hub: bool,
    },
}

/// Decides what the donor's node's `answer` about a pending `reversal` of
/// `original` changes at `now`.
pub fn decide_answer(original: &HubTransaction, reversal: &HubTransaction, answer: &ReversalOutcome, now: i64) -> ReversalAnswerDecision {
    if !reversal.is_pending() {
        return ReversalAnswerDecision::Unchanged(outcome(original, reversal));
    }
    let mut original = original.clone();
    let mut reversal = reversal.clone();
    let (mut book_original, mut book_reversal, mut contradicts_hub) = (false, false, false);
    if answer.was_approved {
        if original.status != TxStatus::Approved {
            // The donor approved before the reversal reached it: the payment
            // happened in its month; book it there.
            book_original = true;
            original.status = TxStatus::Approved;
        }
        original.reversal_period = Some(reversal.period);
        book_reversal = true;
        reversal.status = TxStatus::Approved;
    } else {
        contradicts_hub = original.status == TxStatus::Approved;
        reversal.status = TxStatus::Declined;
        reversal.decline = Some(Decline::new(
            DeclineReason::Reversed,
            "nothing had been approved: the payment is cancelled",
        ));
    }
    reversal.decided_at = Some(now);
    ReversalAnswerDecision::Decided {
        original,
        reversal,
        book_original,
        book_reversal,
        contradicts_hub,
    }
}

/// What a decided reversal tells the beneficiary's node: whether money went
/// back, and the months of the payment and of its credit back.
pub fn outcome(original: &HubTransaction, reversal: &HubTransaction) -> ReversalOutcome {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{cross_payment, money, period};

    fn recorded(status: TxStatus, month: &str) -> HubTransaction {
        let mut record = HubTransaction::pending(TxBody::Payment(cross_payment("P1", "13", "41", "30.00")), period(month), 1);
        record.status = status;
        record
    }

    fn snapshot(original: Option<HubTransaction>, reversal: Option<HubTransaction>) -> ReversalSnapshot {
        ReversalSnapshot {
            original,
            reversal,
            open: period("2026-04"),
            donor_reserved: money("50.00"),
        }
    }

    #[test]
    fn a_payment_the_hub_never_saw_is_cancelled_for_good_in_the_open_month() {
        let payment = cross_payment("P1", "13", "41", "30.00");
        let ReversalDecision::CancelUnknown(cancelled) = decide(&snapshot(None, None), &payment, 7) else {
            panic!("not cancelled");
        };
        assert_eq!(
            (cancelled.status, cancelled.period, cancelled.decided_at),
            (TxStatus::Reversed, period("2026-04"), Some(7))
        );
        assert_eq!(cancelled.decision().map_err(|d| d.reason), Err(DeclineReason::Reversed));
    }

    #[test]
    fn a_pending_payment_is_cancelled_at_once_its_reservation_freed_and_the_donors_node_asked() {
        let payment = cross_payment("P1", "13", "41", "30.00");
        let decided = decide(&snapshot(Some(recorded(TxStatus::Pending, "2026-03")), None), &payment, 7);
        let ReversalDecision::Start {
            cancelled,
            release,
            reversal,
        } = decided
        else {
            panic!("{decided:?}");
        };
        assert_eq!(cancelled.map(|c| (c.status, c.decided_at)), Some((TxStatus::Reversed, Some(7))));
        assert_eq!(release.map(|r| r.reserved), Some(money("20.00")));
        assert_eq!(
            (reversal.status, reversal.period, reversal.body),
            (TxStatus::Pending, period("2026-04"), TxBody::Reversal(payment))
        );
    }

    #[test]
    fn each_state_of_the_payment_has_its_first_step() {
        let payment = cross_payment("P1", "13", "41", "30.00");
        let mut asked = HubTransaction::pending(TxBody::Reversal(payment.clone()), period("2026-04"), 2);
        let mut approved_reversal = asked.clone();
        approved_reversal.status = TxStatus::Approved;
        let other = HubTransaction::pending(TxBody::Payment(cross_payment("P1", "13", "41", "99.00")), period("2026-03"), 1);
        for (original, reversal, expected) in [
            (
                recorded(TxStatus::Declined, "2026-03"),
                None,
                ReversalDecision::Done(ReversalOutcome::NOTHING_APPROVED),
            ),
            (
                recorded(TxStatus::Reversed, "2026-03"),
                None,
                ReversalDecision::Done(ReversalOutcome::NOTHING_APPROVED),
            ),
            (other, None, ReversalDecision::HeldByAnother),
            (
                recorded(TxStatus::Approved, "2026-03"),
                Some(asked.clone()),
                ReversalDecision::AskDonor,
            ),
            (
                recorded(TxStatus::Approved, "2026-03"),
                Some(approved_reversal),
                ReversalDecision::Done(ReversalOutcome {
                    was_approved: true,
                    original_period: Some(period("2026-03")),
                    reversal_period: Some(period("2026-04")),
                }),
            ),
        ] {
            assert_eq!(
                decide(&snapshot(Some(original.clone()), reversal), &payment, 7),
                expected,
                "{original:?}"
            );
        }
        asked.recorded_at = 7;
        assert_eq!(
            decide(&snapshot(Some(recorded(TxStatus::Approved, "2026-03")), None), &payment, 7),
            ReversalDecision::Start {
                cancelled: None,
                release: None,
                reversal: asked,
            }
        );
    }

    #[test]
    fn a_reversal_after_approval_credits_back_in_the_open_month() {
        let original = recorded(TxStatus::Approved, "2026-03");
        let reversal = HubTransaction::pending(TxBody::Reversal(cross_payment("P1", "13", "41", "30.00")), period("2026-04"), 2);
        let answer = ReversalOutcome {
            was_approved: true,
            original_period: None,
            reversal_period: None,
        };
        let ReversalAnswerDecision::Decided {
            original,
            reversal,
            book_original,
            book_reversal,
            contradicts_hub,
        } = decide_answer(&original, &reversal, &answer, 9)
        else {
            panic!("unchanged");
        };
        assert_eq!((book_original, book_reversal, contradicts_hub), (false, true, false));
        assert_eq!(original.reversal_period, Some(period("2026-04")));
        assert_eq!((reversal.status, reversal.decided_at), (TxStatus::Approved, Some(9)));
        // The credit back goes the other way: the beneficiary's province pays the donor's.
        assert_eq!(
            (reversal.body.payer(), reversal.body.payee()),
            (original.body.payee(), original.body.payer())
        );
        assert_eq!(
            outcome(&original, &reversal),
            ReversalOutcome {
                was_approved: true,
                original_period: Some(period("2026-03")),
                reversal_period: Some(period("2026-04")),
            }
        );
    }

    #[test]
    fn an_approval_the_hub_never_learned_is_booked_in_the_payments_month_before_the_credit_back() {
        let original = recorded(TxStatus::Reversed, "2026-03");
        let reversal = HubTransaction::pending(TxBody::Reversal(cross_payment("P1", "13", "41", "30.00")), period("2026-04"), 2);
        let answer = ReversalOutcome {
            was_approved: true,
            original_period: None,
            reversal_period: None,
        };
        let ReversalAnswerDecision::Decided {
            original,
            book_original,
            book_reversal,
            ..
        } = decide_answer(&original, &reversal, &answer, 9)
        else {
            panic!("unchanged");
        };
        assert_eq!((book_original, book_reversal), (true, true));
        assert_eq!((original.status, original.period), (TxStatus::Approved, period("2026-03")));
    }

    #[test]
    fn nothing_approved_declines_the_reversal_and_a_contradiction_of_the_hub_is_flagged() {
        let reversal = HubTransaction::pending(TxBody::Reversal(cross_payment("P1", "13", "41", "30.00")), period("2026-04"), 2);
        for (status, contradicts) in [(TxStatus::Reversed, false), (TxStatus::Approved, true)] {
            let decided = decide_answer(&recorded(status, "2026-03"), &reversal, &ReversalOutcome::NOTHING_APPROVED, 9);
            let ReversalAnswerDecision::Decided {
                original,
                reversal,
                book_original,
                book_reversal,
                contradicts_hub,
            } = decided
            else {
                panic!("unchanged");
            };
            assert_eq!((book_original, book_reversal, contradicts_hub), (false, false, contradicts));
            assert_eq!(original.status, status, "the payment's record is left as it was");
            assert_eq!(reversal.status, TxStatus::Declined);
            assert_eq!(outcome(&original, &reversal), ReversalOutcome::NOTHING_APPROVED);
        }
        let mut done = reversal;
        done.status = TxStatus::Declined;
        assert_eq!(
            decide_answer(
                &recorded(TxStatus::Reversed, "2026-03"),
                &done,
                &ReversalOutcome::NOTHING_APPROVED,
                9
            ),
            ReversalAnswerDecision::Unchanged(ReversalOutcome::NOTHING_APPROVED)
        );
    }
}
