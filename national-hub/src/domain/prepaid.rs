//! Prepaid funds (预付金): each province's advance at the hub, which must
//! cover its unsettled net outflow. A payment or account transfer that would
//! make its payer owe more than its funds is declined when it is routed;
//! what is being decided is reserved against the funds meanwhile. A
//! withdrawal takes at most what is free, and below the required level only
//! when forced. The required level is two months of the province's average
//! monthly payable over the last three settled months, at least a floor.

use gongji_common::{
    contract::{Decline, DeclineReason, TxKind},
    money::Overflow,
    FieldError, Id, Money, ProvinceCode,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Entry, HubAccount, MonthRecord, MonthState, Refusal, TxBody};

/// The largest single deposit or withdrawal: a trillion yuan.
pub const MAX_OPERATION: Money = Money::from_fen(100_000_000_000_000);

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

/// What a province's prepaid funds stand against, as the store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Funds {
    /// The prepaid balance.
    pub prepaid: Money,
    /// The province's position over all unsettled months (receivable − payable).
    pub unsettled: Money,
    /// What its transactions being decided would add to what it owes.
    pub reserved: Money,
}

impl Funds {
    /// What the province owes over unsettled months, net (nothing when it is owed).
    pub fn owed(&self) -> Money {
        if self.unsettled.is_negative() {
            self.unsettled.negated()
        } else {
            Money::ZERO
        }
    }
}

/// A province's reservation after a decision: what its transactions being
/// decided add to what it owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub province: ProvinceCode,
    pub reserved: Money,
}

/// Payments and account transfers draw on the payer's prepaid funds;
/// refunds and reversals only give back.
pub fn subject_to_prepaid(body: &TxBody) -> bool {
    matches!(body.kind(), TxKind::Payment | TxKind::AccountTransfer | TxKind::WalletTransfer)
}

/// Whether the payer's funds cover a new transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    /// Not subject to prepaid funds: nothing reserved.
    NotNeeded,
    /// Covered: the payer's reservation grows by the amount.
    Reserved(Reservation),
    /// Not covered: declined PREPAID_EXHAUSTED.
    Exhausted(Decline),
}

/// "A payment or transfer that would make its payer owe more than its
/// prepaid funds is declined": what the payer owes, plus what it has in
/// flight, plus this amount, must not exceed its funds.
pub fn cover(funds: &Funds, body: &TxBody) -> Result<Cover, Refusal> {
    if !subject_to_prepaid(body) {
        return Ok(Cover::NotNeeded);
    }
    let payer = body.payer();
    let owed = funds.owed();
    let after = owed.checked_add(funds.reserved)?.checked_add(body.amount())?;
    if after > funds.prepaid {
        return Ok(Cover::Exhausted(Decline::new(
            DeclineReason::PrepaidExhausted,
            format!(
                "province {payer} owes {owed} unsettled and {} in flight; {} more would exceed its prepaid funds {}",
                funds.reserved,
                body.amount(),
                funds.prepaid
            ),
        )));
    }
    Ok(Cover::Reserved(Reservation {
        province: payer,
        reserved: funds.reserved.checked_add(body.amount())?,
    }))
}

/// Frees what a decided (or cancelled) transaction had reserved of its
/// payer's `reserved`; `None` when it had reserved nothing. Never below zero.
pub fn release(reserved: Money, body: &TxBody) -> Option<Reservation> {
    if !subject_to_prepaid(body) {
        return None;
    }
    let left = reserved.checked_sub(body.amount()).unwrap_or(Money::ZERO);
    Some(Reservation {
        province: body.payer(),
        reserved: if left.is_negative() { Money::ZERO } else { left },
    })
}

/// A validated deposit or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepaidCommand {
    pub operation_id: Id,
    pub province: ProvinceCode,
    pub amount: Money,
    pub operator: String,
    pub reason: String,
    pub withdrawal: bool,
    /// A withdrawal may take the balance below the required level.
    pub force: bool,
}

impl PrepaidCommand {
    pub fn parse(
        operation_id: &str,
        province: &str,
        amount: &str,
        operator: &str,
        reason: &str,
        withdrawal: bool,
        force: bool,
    ) -> Result<PrepaidCommand, FieldError> {
        let amount = Money::parse_unsigned("amount", amount)?;
        if amount.is_zero() || amount > MAX_OPERATION {
            return Err(FieldError::new(
                "amount",
                format!("must be more than 0.00 and at most {MAX_OPERATION}"),
            ));
        }
        let text = |field: &str, value: &str| {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > 200 {
                Err(FieldError::new(field, "is required (at most 200 characters)"))
            } else {
                Ok(value.to_owned())
            }
        };
        Ok(PrepaidCommand {
            operation_id: Id::parse("operation_id", operation_id)?,
            province: ProvinceCode::parse("province", province)?,
            amount,
            operator: text("operator", operator)?,
            reason: text("reason", reason)?,
            withdrawal,
            force: force && withdrawal,
        })
    }
}

/// A deposit into or a withdrawal from a province's prepaid funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepaidOp {
    pub withdrawal: bool,
    pub province: ProvinceCode,
    pub amount: Money,
    pub operator: String,
    pub reason: String,
    pub at: i64,
    pub balance_after: Money,
    /// A withdrawal below the required level, on purpose (`force`).
    #[serde(default)]
    pub forced: bool,
}

/// What the store holds that a deposit or withdrawal depends on.
#[derive(Debug, Clone)]
pub struct OperationSnapshot {
    /// The operation recorded under this id, if any.
    pub existing: Option<PrepaidOp>,
    /// The province's funds.
    pub funds: Funds,
    /// Its required level (which changes only at a settlement).
    pub required: Money,
}

/// What a deposit or withdrawal comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationDecision {
    /// Done before with this content: the recorded operation, nothing written.
    Recorded(PrepaidOp),
    /// Done now: the entry to post and the operation to record.
    Apply { entry: Entry, op: PrepaidOp },
}

/// Decides a deposit or withdrawal at `now`. Idempotent by operation id: the
/// same content gets the recorded operation (a forced one also answers a
/// repeat without force), other content is refused. A withdrawal takes at
/// most what is free (the balance less what the province owes and has in
/// flight), and leaves less than the required level only when forced.
pub fn decide(snapshot: &OperationSnapshot, command: &PrepaidCommand, now: i64) -> Result<OperationDecision, Refusal> {
    if let Some(existing) = &snapshot.existing {
        let same = existing.withdrawal == command.withdrawal
            && existing.province == command.province
            && existing.amount == command.amount
            && existing.operator == command.operator
            && existing.reason == command.reason
            && (existing.forced || !command.force);
        return if same {
            Ok(OperationDecision::Recorded(existing.clone()))
        } else {
            Err(Refusal::reused("prepaid operation", &command.operation_id))
        };
    }
    let funds = &snapshot.funds;
    let balance = funds.prepaid;
    let required = snapshot.required;
    if command.withdrawal {
        let (owed, reserved) = (funds.owed(), funds.reserved);
        let free = balance
            .checked_sub(owed)
            .and_then(|b| b.checked_sub(reserved))
            .unwrap_or(Money::ZERO);
        if command.amount > free {
            return Err(Refusal::FailedPrecondition(format!(
                "province {} can withdraw at most {free}: of its {balance}, {owed} covers unsettled obligations and {reserved} transactions in flight",
                command.province
            )));
        }
        let after = balance.checked_sub(command.amount).unwrap_or(Money::ZERO);
        if after < required && !command.force {
            return Err(Refusal::FailedPrecondition(format!(
                "withdrawing {} would leave province {} {after}, below its required level {required}: its payments \
                 would soon be declined; withdraw at most {}, or force it (--force; recorded as forced)",
                command.amount,
                command.province,
                balance.checked_sub(required).unwrap_or(Money::ZERO).max(Money::ZERO)
            )));
        }
    }
    let (from, to, memo, balance_after) = if command.withdrawal {
        (
            HubAccount::Prepaid(command.province),
            HubAccount::Deposits(command.province),
            "prepaid withdrawal",
            balance.checked_sub(command.amount)?,
        )
    } else {
        (
            HubAccount::Deposits(command.province),
            HubAccount::Prepaid(command.province),
            "prepaid deposit",
            balance.checked_add(command.amount)?,
        )
    };
    Ok(OperationDecision::Apply {
        entry: Entry::transfer(command.operation_id.as_str(), memo, from, to, command.amount, now),
        op: PrepaidOp {
            withdrawal: command.withdrawal,
            province: command.province,
            amount: command.amount,
            operator: command.operator.clone(),
            reason: command.reason.clone(),
            at: now,
            balance_after,
            forced: command.withdrawal && command.force,
        },
    })
}

/// Two months of the province's average monthly payable over the last
/// three settled `months` (given oldest first), at least `floor`; the floor
/// alone before any settlement.
pub fn required_level(months: &[MonthRecord], province: ProvinceCode, floor: Money) -> Result<Money, Overflow> {
    let payables: Vec<Money> = months
        .iter()
        .rev()
        .filter(|month| month.state == MonthState::Settled)
        .map(|month| {
            month
                .clearing
                .as_ref()
                .and_then(|c| c.provinces.get(&province))
                .map_or(Money::ZERO, |t| t.payable)
        })
        .take(3)
        .collect();
    if payables.is_empty() {
        return Ok(floor);
    }
    let total = payables.iter().try_fold(Money::ZERO, |sum, p| sum.checked_add(*p))?;
    let two_months = Money::from_decimal_fen(total.as_decimal() * Decimal::TWO / Decimal::from(payables.len() as u64));
    Ok(two_months.max(floor))
}

/// How full a province's prepaid funds are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Green,
    Yellow,
    Red,
}

/// One province's prepaid funds as the operators see them.
#[derive(Debug, Clone)]
pub struct ProvincePrepaid {
    pub province: ProvinceCode,
    pub balance: Money,
    pub unsettled_outflow: Money,
    pub reserved: Money,
    /// Percent, one decimal.
    pub usage_percent: Decimal,
    pub level: Level,
    /// Why the level is what it is.
    pub level_reason: String,
    pub required: Money,
    pub top_up: Money,
}

/// A province's prepaid funds as the operators see them: usage (what it
/// owes and has in flight, against its balance), level and top-up.
pub fn status(province: ProvinceCode, funds: &Funds, required: Money, policy: &PrepaidPolicy) -> Result<ProvincePrepaid, Overflow> {
    let balance = funds.prepaid;
    let unsettled_outflow = funds.owed();
    let used = unsettled_outflow.checked_add(funds.reserved)?;
    let usage_percent = if balance.is_zero() {
        if used.is_zero() {
            Decimal::ZERO
        } else {
            Decimal::ONE_HUNDRED
        }
    } else {
        (used.as_decimal() * Decimal::ONE_HUNDRED / balance.as_decimal()).round_dp(1)
    };
    let (level, level_reason) = level_of(balance, used, required, usage_percent, policy.yellow_percent, policy.red_percent);
    let top_up = required.checked_sub(balance)?;
    Ok(ProvincePrepaid {
        province,
        balance,
        unsettled_outflow,
        reserved: funds.reserved,
        usage_percent,
        level,
        level_reason,
        required,
        top_up: if top_up.is_negative() { Money::ZERO } else { top_up },
    })
}

/// How full a province's funds are, and why: what it can still pay, not
/// only its usage. Red when its headroom (balance less what it owes and has
/// in flight) is below 1% of its required level (below 0.01 with none
/// required): nearly every payment from it is declined; red or yellow when
/// usage reaches `red_percent` or `yellow_percent`; at least yellow when the
/// balance is below the required level.
pub fn level_of(
    balance: Money,
    used: Money,
    required: Money,
    usage_percent: Decimal,
    yellow_percent: u32,
    red_percent: u32,
) -> (Level, String) {
    let headroom = balance.checked_sub(used).unwrap_or(Money::ZERO);
    let least = Money::from_decimal_fen(required.as_decimal() / Decimal::ONE_HUNDRED).max(Money::from_fen(1));
    if headroom < least {
        return (
            Level::Red,
            format!(
                "headroom {headroom} (balance {balance} less {used} owed and in flight): payments from this province are declined; deposit"
            ),
        );
    }
    if usage_percent >= Decimal::from(red_percent) {
        return (
            Level::Red,
            format!("usage {usage_percent:.1}% is at or above the red level {red_percent}%"),
        );
    }
    let short = required.checked_sub(balance).unwrap_or(Money::ZERO);
    if !short.is_zero() && !short.is_negative() {
        return (
            Level::Yellow,
            format!("balance {balance} is below the required {required}: deposit {short}"),
        );
    }
    if usage_percent >= Decimal::from(yellow_percent) {
        return (
            Level::Yellow,
            format!("usage {usage_percent:.1}% is at or above the yellow level {yellow_percent}%"),
        );
    }
    (Level::Green, format!("usage {usage_percent:.1}%"))
}

#[cfg(test)]
mod level_tests {
    use super::*;
    use crate::domain::testing::money;

    #[test]
    fn the_level_says_what_a_province_can_still_pay() {
        let level = |balance: &str, used: &str, required: &str, usage: i64| {
            level_of(money(balance), money(used), money(required), Decimal::from(usage), 70, 90)
        };
        // The newcomer's case: 1.00 left of a required 100000.00, nothing owed.
        let (exhausted, why) = level("1.00", "0.00", "100000.00", 0);
        assert_eq!(exhausted, Level::Red, "{why}");
        assert!(why.contains("headroom 1.00") && why.contains("declined"), "{why}");
        let (below, why) = level("60000.00", "0.00", "100000.00", 0);
        assert_eq!(below, Level::Yellow);
        assert!(why.contains("below the required 100000.00: deposit 40000.00"), "{why}");
        assert_eq!(level("200000.00", "150000.00", "100000.00", 75).0, Level::Yellow);
        assert_eq!(level("200000.00", "190000.00", "100000.00", 95).0, Level::Red);
        let (green, why) = level("200000.00", "10000.00", "100000.00", 5);
        assert_eq!((green, why.as_str()), (Level::Green, "usage 5.0%"));
    }

    #[test]
    fn usage_is_what_a_province_owes_and_has_in_flight_against_its_balance() {
        let policy = PrepaidPolicy {
            opening: Money::ZERO,
            floor: money("100.00"),
            yellow_percent: 70,
            red_percent: 90,
        };
        let province = crate::domain::testing::province("13");
        for (prepaid, unsettled, reserved, required, usage, top_up) in [
            ("1000.00", "-300.00", "100.00", "100.00", "40.0", "0.00"),
            // Owed money is not outflow.
            ("1000.00", "300.00", "0.00", "100.00", "0.0", "0.00"),
            ("0.00", "0.00", "0.00", "100.00", "0.0", "100.00"),
            ("0.00", "-1.00", "0.00", "100.00", "100.0", "100.00"),
            ("50.00", "0.00", "0.00", "80.00", "0.0", "30.00"),
        ] {
            let funds = Funds {
                prepaid: money(prepaid),
                unsettled: money(unsettled),
                reserved: money(reserved),
            };
            let seen = status(province, &funds, money(required), &policy).unwrap();
            assert_eq!(format!("{:.1}", seen.usage_percent), usage, "{funds:?}");
            assert_eq!(seen.top_up, money(top_up), "{funds:?}");
            assert_eq!(seen.unsettled_outflow, funds.owed());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use gongji_common::statement::Totals;

    use super::*;
    use crate::domain::{
        testing::{id, money, payment, period, province, refund, transfer},
        ClearingResult,
    };

    fn funds(prepaid: &str, unsettled: &str, reserved: &str) -> Funds {
        Funds {
            prepaid: money(prepaid),
            unsettled: money(unsettled),
            reserved: money(reserved),
        }
    }

    #[test]
    fn a_payment_or_transfer_is_covered_only_while_what_its_payer_owes_and_has_in_flight_stays_within_its_funds() {
        for (body, funds, covered) in [
            (
                payment("P1", "13", "41", "100.00"),
                funds("1000.00", "0.00", "0.00"),
                Some("100.00"),
            ),
            (
                payment("P1", "13", "41", "100.00"),
                funds("1000.00", "-850.00", "50.00"),
                Some("150.00"),
            ),
            (payment("P1", "13", "41", "100.01"), funds("1000.00", "-850.00", "50.00"), None),
            // What the province is owed does not add to its funds.
            (payment("P1", "13", "41", "100.01"), funds("100.00", "5000.00", "0.00"), None),
            (
                transfer("T1", "13", "41", "100.00"),
                funds("100.00", "0.00", "0.00"),
                Some("100.00"),
            ),
            (transfer("T1", "13", "41", "100.01"), funds("100.00", "0.00", "0.00"), None),
        ] {
            match cover(&funds, &body).unwrap() {
                Cover::Reserved(reservation) => {
                    assert_eq!(Some(reservation.reserved), covered.map(money), "{body:?} {funds:?}");
                    assert_eq!(reservation.province, province("13"));
                }
                Cover::Exhausted(decline) => {
                    assert_eq!(covered, None, "{body:?} {funds:?}");
                    assert_eq!(decline.reason, DeclineReason::PrepaidExhausted);
                }
                Cover::NotNeeded => panic!("{body:?} is subject to prepaid funds"),
            }
        }
    }

    #[test]
    fn a_payer_without_cover_is_told_what_it_owes_has_in_flight_and_holds() {
        let Cover::Exhausted(decline) = cover(&funds("1000.00", "-850.00", "50.00"), &payment("P1", "13", "41", "100.01")).unwrap() else {
            panic!("covered");
        };
        assert_eq!(
            decline.message,
            "province 13 owes 850.00 unsettled and 50.00 in flight; 100.01 more would exceed its prepaid funds 1000.00"
        );
    }

    #[test]
    fn refunds_need_no_cover_and_reserve_nothing() {
        assert_eq!(
            cover(&Funds::default(), &refund("R1", "P1", "13", "41", "5.00")).unwrap(),
            Cover::NotNeeded
        );
        assert_eq!(release(money("5.00"), &refund("R1", "P1", "13", "41", "5.00")), None);
    }

    #[test]
    fn a_decided_transaction_frees_its_reservation_and_never_below_zero() {
        let body = payment("P1", "13", "41", "30.00");
        assert_eq!(release(money("100.00"), &body).map(|r| r.reserved), Some(money("70.00")));
        assert_eq!(release(money("10.00"), &body).map(|r| r.reserved), Some(Money::ZERO));
    }

    fn command(withdrawal: bool, amount: &str, force: bool) -> PrepaidCommand {
        PrepaidCommand {
            operation_id: id("op-1"),
            province: province("13"),
            amount: money(amount),
            operator: "alice".into(),
            reason: "top-up".into(),
            withdrawal,
            force,
        }
    }

    fn snapshot(existing: Option<PrepaidOp>, funds: Funds, required: &str) -> OperationSnapshot {
        OperationSnapshot {
            existing,
            funds,
            required: money(required),
        }
    }

    #[test]
    fn a_deposit_moves_money_in_from_outside_and_says_the_balance_after() {
        let decided = decide(
            &snapshot(None, funds("100.00", "0.00", "0.00"), "0.00"),
            &command(false, "50.00", false),
            9,
        )
        .unwrap();
        let OperationDecision::Apply { entry, op } = decided else {
            panic!("not applied");
        };
        assert_eq!(
            entry,
            Entry::transfer(
                "op-1",
                "prepaid deposit",
                HubAccount::Deposits(province("13")),
                HubAccount::Prepaid(province("13")),
                money("50.00"),
                9
            )
        );
        assert_eq!((op.balance_after, op.at, op.forced), (money("150.00"), 9, false));
    }

    #[test]
    fn a_withdrawal_takes_at_most_what_is_free_and_below_the_required_level_only_when_forced() {
        // Balance 1000, owes 300, 100 in flight: 600 free; required 500.
        let held = funds("1000.00", "-300.00", "100.00");
        for (amount, force, outcome) in [
            ("500.00", false, Ok("500.00")),
            ("500.01", false, Err("below its required level 500.00")),
            ("600.00", true, Ok("400.00")),
            ("600.01", true, Err("can withdraw at most 600.00")),
        ] {
            let decided = decide(&snapshot(None, held, "500.00"), &command(true, amount, force), 9);
            match (decided, outcome) {
                (Ok(OperationDecision::Apply { entry, op }), Ok(after)) => {
                    assert_eq!(op.balance_after, money(after), "{amount}");
                    assert_eq!(op.forced, force);
                    assert_eq!(entry.legs[0].account, HubAccount::Prepaid(province("13")));
                }
                (Err(Refusal::FailedPrecondition(why)), Err(expected)) => assert!(why.contains(expected), "{amount}: {why}"),
                (other, expected) => panic!("{amount}: {other:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn a_repeated_operation_gets_its_record_and_other_content_under_its_id_is_refused() {
        let recorded = PrepaidOp {
            withdrawal: true,
            province: province("13"),
            amount: money("10.00"),
            operator: "alice".into(),
            reason: "top-up".into(),
            at: 1,
            balance_after: money("0.00"),
            forced: true,
        };
        let held = funds("0.00", "0.00", "0.00");
        let repeat = decide(&snapshot(Some(recorded.clone()), held, "0.00"), &command(true, "10.00", false), 9);
        assert_eq!(repeat, Ok(OperationDecision::Recorded(recorded.clone())));
        let other = decide(&snapshot(Some(recorded), held, "0.00"), &command(true, "11.00", false), 9);
        assert_eq!(
            other,
            Err(Refusal::AlreadyExists(
                "prepaid operation id op-1 was already used with different content".into()
            ))
        );
    }

    fn settled(month: &str, payable: &str) -> MonthRecord {
        let totals = Totals {
            lines: 1,
            payable: money(payable),
            receivable: Money::ZERO,
            digest: String::new(),
        };
        MonthRecord {
            period: period(month),
            state: MonthState::Settled,
            closed_at: 0,
            cleared_at: None,
            clearing: Some(ClearingResult {
                transactions: 1,
                lines: Vec::new(),
                provinces: BTreeMap::from([(province("13"), totals)]),
            }),
            confirmed: BTreeMap::new(),
            disputes: BTreeMap::new(),
            settlement: None,
        }
    }

    #[test]
    fn the_required_level_is_two_months_of_the_last_three_settled_months_average_at_least_the_floor() {
        let floor = money("100.00");
        assert_eq!(required_level(&[], province("13"), floor), Ok(floor));
        let months = [
            settled("2026-01", "9000.00"),
            settled("2026-02", "300.00"),
            settled("2026-03", "600.00"),
            settled("2026-04", "900.00"),
        ];
        // (300 + 600 + 900) / 3 * 2: January is beyond the last three.
        assert_eq!(required_level(&months, province("13"), floor), Ok(money("1200.00")));
        assert_eq!(required_level(&months, province("41"), floor), Ok(floor));
        let mut closing = settled("2026-05", "99999.00");
        closing.state = MonthState::Closed;
        let with_unsettled = [months[1].clone(), months[2].clone(), months[3].clone(), closing];
        assert_eq!(required_level(&with_unsettled, province("13"), floor), Ok(money("1200.00")));
    }
}
