//! A month at the hub. Closing it stamps new transactions with the next
//! month; the close completes once nothing stamped with it is pending, and
//! the month is then cleared (清分: gross per ordered pair and kind, each
//! province's statement totals and digest, read from the sums kept as each
//! line was booked). A cleared month never changes. Each province with
//! activity confirms its statement (by digest) or disputes it; once all
//! have confirmed, the month is reconciled. A settled month is final.

use std::collections::BTreeMap;

use gongji_common::{
    contract::TxKind,
    statement::{Summer, Totals},
    FieldError, Money, Period, ProvinceCode,
};
use serde::{Deserialize, Serialize};

use super::{HubTransaction, Refusal, SettlementRecord};

/// The stage of a month at the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthState {
    Open,
    Closing,
    Closed,
    Reconciled,
    Settled,
}

impl MonthState {
    /// Cleared: nothing stamped with it can change any more.
    pub fn is_cleared(self) -> bool {
        self >= MonthState::Closed
    }

    /// Its word in messages and metrics.
    pub fn word(self) -> &'static str {
        match self {
            MonthState::Open => "open",
            MonthState::Closing => "closing",
            MonthState::Closed => "closed",
            MonthState::Reconciled => "reconciled",
            MonthState::Settled => "settled",
        }
    }
}

/// A month from its close on: its clearing, the provinces' answers, its settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRecord {
    pub period: Period,
    pub state: MonthState,
    pub closed_at: i64,
    pub cleared_at: Option<i64>,
    pub clearing: Option<ClearingResult>,
    pub confirmed: BTreeMap<ProvinceCode, String>,
    pub disputes: BTreeMap<ProvinceCode, Dispute>,
    pub settlement: Option<SettlementRecord>,
}

/// The clearing (清分) of a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingResult {
    /// Approved transactions stamped with the month.
    pub transactions: u64,
    /// Gross and count per ordered pair and kind, ordered.
    pub lines: Vec<PairLine>,
    /// Each province's statement totals (with its digest), by code.
    pub provinces: BTreeMap<ProvinceCode, Totals>,
}

/// The count and gross of one ordered pair's transactions of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairLine {
    pub payer: ProvinceCode,
    pub payee: ProvinceCode,
    pub kind: TxKind,
    pub count: u64,
    pub gross: Money,
}

/// A province's dispute of its statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub digest: String,
    pub only_at_hub: u64,
    pub only_at_node: u64,
    pub amount_differs: u64,
    pub counterpart_differs: u64,
    pub detail: String,
    pub at: i64,
}

/// "Only a month that has started can be closed."
pub fn check_started(period: Period, open: Period) -> Result<(), FieldError> {
    if period > open {
        return Err(FieldError::new(
            "period",
            format!("{period} has not started; the open month is {open}"),
        ));
    }
    Ok(())
}

/// Closing `period` at `now`: when it is the `open` month and has no record
/// yet, the record of its close (and the open month moves to the next);
/// otherwise nothing changes (it is closing or closed already, or it is not
/// the open month).
pub fn close(period: Period, open: Period, recorded: bool, now: i64) -> Option<MonthRecord> {
    if recorded || period != open {
        return None;
    }
    Some(MonthRecord {
        period,
        state: MonthState::Closing,
        closed_at: now,
        cleared_at: None,
        clearing: None,
        confirmed: BTreeMap::new(),
        disputes: BTreeMap::new(),
        settlement: None,
    })
}

/// "A month's close completes once nothing stamped with it is pending":
/// whether `pending`, a transaction still waiting for a node, holds
/// `period` open. A pending reversal also holds the month of the payment it
/// reverses (`reversed`), which its answer may still book.
pub fn holds(period: Period, pending: &HubTransaction, reversed: Option<&HubTransaction>) -> bool {
    pending.period == period || (pending.body.kind() == TxKind::Reversal && reversed.is_some_and(|payment| payment.period == period))
}

/// A month's clearing from the sums kept as its lines were booked: the
/// pairs' sums (any order) and each province's statement sums.
pub fn clearing_from_sums(pairs: Vec<PairLine>, sums: Vec<(ProvinceCode, Summer)>) -> ClearingResult {
    let mut transactions = 0;
    let mut ordered = BTreeMap::new();
    for pair in pairs {
        transactions += pair.count;
        ordered.insert((pair.payer, pair.payee, pair.kind), pair);
    }
    ClearingResult {
        transactions,
        lines: ordered.into_values().collect(),
        provinces: sums.into_iter().map(|(province, sums)| (province, sums.finish())).collect(),
    }
}

/// "The statement and the positions are written together; they must
/// agree": each province's statement nets its position in the month. The
/// error (a broken invariant) says which does not.
pub fn check_positions(period: Period, clearing: &ClearingResult, positions: &[(ProvinceCode, Money)]) -> Result<(), String> {
    for (province, position) in positions {
        let net = clearing
            .provinces
            .get(province)
            .map_or(Ok(Money::ZERO), Totals::net)
            .map_err(|e| e.to_string())?;
        if net != *position {
            return Err(format!(
                "month {period}: province {province}'s statement nets {net} but its position is {position}"
            ));
        }
    }
    Ok(())
}

/// Completes a closing month's close at `now` with its clearing; `None` if it
/// is not closing (cleared meanwhile).
pub fn cleared(record: &MonthRecord, clearing: ClearingResult, now: i64) -> Option<MonthRecord> {
    if record.state != MonthState::Closing {
        return None;
    }
    let mut record = record.clone();
    record.state = MonthState::Closed;
    record.cleared_at = Some(now);
    record.clearing = Some(clearing);
    Some(record)
}

/// "A province confirms the statement it was given": the digest it names
/// must be that of its statement of `period` (a province without activity
/// has the empty statement's).
pub fn check_digest(clearing: &ClearingResult, period: Period, province: ProvinceCode, digest: &str) -> Result<(), Refusal> {
    let expected = clearing
        .provinces
        .get(&province)
        .map_or_else(|| Summer::default().finish().digest, |t| t.digest.clone());
    if digest != expected {
        return Err(Refusal::FailedPrecondition(format!(
            "province {province}'s confirmation names digest {digest}, but its statement of {period} is {expected}; reconcile again"
        )));
    }
    Ok(())
}

/// "A settled month never changes": its answers can no longer be given.
fn check_unsettled(record: &MonthRecord) -> Result<(), Refusal> {
    if record.state == MonthState::Settled {
        return Err(Refusal::FailedPrecondition(format!(
            "month {} is settled and never changes; corrections go into a later month",
            record.period
        )));
    }
    Ok(())
}

/// A province's confirmation (its digest checked by [`check_digest`]): it
/// replaces any dispute of that province, and once every province with
/// activity has confirmed, the month is reconciled.
pub fn confirm(record: &MonthRecord, province: ProvinceCode, digest: &str) -> Result<MonthRecord, Refusal> {
    check_unsettled(record)?;
    let mut record = record.clone();
    record.disputes.remove(&province);
    record.confirmed.insert(province, digest.to_owned());
    let everyone = record
        .clearing
        .as_ref()
        .is_some_and(|c| c.provinces.keys().all(|p| record.confirmed.contains_key(p)));
    if everyone {
        record.state = MonthState::Reconciled;
    }
    Ok(record)
}

/// A province's dispute: it replaces its confirmation, and the month is no
/// longer reconciled.
pub fn dispute(record: &MonthRecord, province: ProvinceCode, dispute: Dispute) -> Result<MonthRecord, Refusal> {
    check_unsettled(record)?;
    let mut record = record.clone();
    record.confirmed.remove(&province);
    record.disputes.insert(province, dispute);
    record.state = MonthState::Closed;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use gongji_common::statement::{Direction, Line};

    use super::*;
    use crate::domain::testing::{money, period, province};

    #[test]
    fn only_the_open_month_closes_once_and_a_month_not_started_is_bad_input() {
        let open = period("2026-03");
        assert!(check_started(period("2026-04"), open)
            .is_err_and(|e| e.to_string().contains("2026-04 has not started; the open month is 2026-03")));
        assert!(check_started(open, open).is_ok());
        let record = close(open, open, false, 5).expect("the open month closes");
        assert_eq!((record.state, record.closed_at, record.clearing), (MonthState::Closing, 5, None));
        assert_eq!(close(open, open, true, 5), None, "closing twice changes nothing");
        assert_eq!(close(period("2026-02"), open, false, 5), None, "a past month never open here");
    }

    fn clearing() -> ClearingResult {
        let line = |counterpart: &str, direction, amount: &str| Line {
            kind: TxKind::Payment,
            id: "P1".into(),
            counterpart: province(counterpart),
            direction,
            amount: money(amount),
        };
        let mut payer = Summer::default();
        payer.add(&line("41", Direction::Payable, "10.00")).unwrap();
        let mut payee = Summer::default();
        payee.add(&line("13", Direction::Receivable, "10.00")).unwrap();
        let pair = PairLine {
            payer: province("13"),
            payee: province("41"),
            kind: TxKind::Payment,
            count: 1,
            gross: money("10.00"),
        };
        clearing_from_sums(vec![pair], vec![(province("13"), payer), (province("41"), payee)])
    }

    #[test]
    fn a_pending_transaction_holds_its_month_open_and_a_pending_reversal_its_payments_too() {
        use crate::domain::{testing::cross_payment, TxBody};
        let (march, april, may) = (period("2026-03"), period("2026-04"), period("2026-05"));
        let payment = HubTransaction::pending(TxBody::Payment(cross_payment("P1", "13", "41", "1.00")), march, 1);
        let reversal = HubTransaction::pending(TxBody::Reversal(cross_payment("P1", "13", "41", "1.00")), april, 2);
        assert!(holds(march, &payment, None));
        assert!(!holds(april, &payment, None));
        assert!(holds(april, &reversal, Some(&payment)));
        assert!(
            holds(march, &reversal, Some(&payment)),
            "the payment's month waits for its reversal"
        );
        assert!(!holds(may, &reversal, Some(&payment)));
    }

    #[test]
    fn the_clearing_counts_the_pairs_transactions_and_each_statement_nets_its_position() {
        let cleared = clearing();
        assert_eq!(cleared.transactions, 1);
        let march = period("2026-03");
        assert_eq!(
            check_positions(
                march,
                &cleared,
                &[(province("13"), money("-10.00")), (province("41"), money("10.00"))]
            ),
            Ok(())
        );
        // A province without lines has position zero.
        assert_eq!(check_positions(march, &cleared, &[(province("32"), Money::ZERO)]), Ok(()));
        assert_eq!(
            check_positions(march, &cleared, &[(province("13"), money("-9.00"))]),
            Err("month 2026-03: province 13's statement nets -10.00 but its position is -9.00".into())
        );
    }

    fn closed() -> MonthRecord {
        let record = close(period("2026-03"), period("2026-03"), false, 1).unwrap();
        cleared(&record, clearing(), 2).expect("a closing month is cleared")
    }

    #[test]
    fn a_month_is_cleared_once() {
        let record = closed();
        assert_eq!((record.state, record.cleared_at), (MonthState::Closed, Some(2)));
        assert_eq!(cleared(&record, clearing(), 3), None);
    }

    #[test]
    fn a_month_is_reconciled_once_every_province_with_activity_has_confirmed_its_digest() {
        let record = closed();
        let clearing = record.clearing.clone().unwrap();
        let digest = |p: &str| clearing.provinces[&province(p)].digest.clone();
        let march = period("2026-03");
        assert!(
            matches!(check_digest(&clearing, march, province("13"), "wrong"), Err(Refusal::FailedPrecondition(why)) if why.contains("reconcile again"))
        );
        assert_eq!(check_digest(&clearing, march, province("13"), &digest("13")), Ok(()));
        assert_eq!(
            check_digest(&clearing, march, province("32"), &Summer::default().finish().digest),
            Ok(())
        );
        let one = confirm(&record, province("13"), &digest("13")).unwrap();
        assert_eq!(one.state, MonthState::Closed);
        let both = confirm(&one, province("41"), &digest("41")).unwrap();
        assert_eq!(both.state, MonthState::Reconciled);
    }

    #[test]
    fn a_dispute_replaces_a_confirmation_and_a_settled_month_takes_neither() {
        let record = closed();
        let digest = record.clearing.as_ref().unwrap().provinces[&province("13")].digest.clone();
        let confirmed = confirm(&record, province("13"), &digest).unwrap();
        let doubt = Dispute {
            digest: digest.clone(),
            only_at_hub: 1,
            only_at_node: 0,
            amount_differs: 0,
            counterpart_differs: 0,
            detail: "P9".into(),
            at: 3,
        };
        let disputed = dispute(&confirmed, province("13"), doubt.clone()).unwrap();
        assert!(!disputed.confirmed.contains_key(&province("13")));
        assert_eq!(disputed.disputes.get(&province("13")), Some(&doubt));
        assert_eq!(disputed.state, MonthState::Closed);
        let mut settled = disputed;
        settled.state = MonthState::Settled;
        let refused = Refusal::FailedPrecondition("month 2026-03 is settled and never changes; corrections go into a later month".into());
        assert_eq!(confirm(&settled, province("13"), &digest), Err(refused.clone()));
        assert_eq!(dispute(&settled, province("13"), doubt), Err(refused));
    }
}
