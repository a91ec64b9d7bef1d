//! Prepaid funds (预付金): each province's advance at the hub, which must
//! cover its unsettled net outflow. Payments and account transfers that
//! would make a province owe more than its funds are declined when they are
//! routed; usage is watched against configurable thresholds; after each
//! settlement the required level is two months of the province's average
//! monthly payable over the last three settled months (at least a floor).

use std::collections::BTreeMap;

use gongji_common::{
    contract::{Decline, DeclineReason, TxKind},
    period::now_millis,
    store::{JournalEntry, Tx, TxFail},
    FieldError, Id, Money, ProvinceCode,
};
use rust_decimal::Decimal;

use crate::{
    domain::{MonthState, PrepaidOp, TxBody},
    error::{HubError, HubResult},
    service::Hub,
    store::{self, MONTHS, PREPAID_OPS, RESERVED},
};

/// The largest single deposit or withdrawal: a trillion yuan.
const MAX_OPERATION: Money = Money::from_fen(100_000_000_000_000);

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

fn subject_to_prepaid(body: &TxBody) -> bool {
    matches!(body.kind(), TxKind::Payment | TxKind::AccountTransfer)
}

impl Hub {
    /// Deposits the configured opening funds for every registered province
    /// the first time the hub sees it, as a recorded operation.
    pub(crate) fn open_prepaid_accounts(&self) -> HubResult<()> {
        if self.policy().opening.is_zero() {
            return Ok(());
        }
        for entry in self.provinces().entries() {
            let command = PrepaidCommand {
                operation_id: Id::parse("operation_id", &format!("opening-{}", entry.code))?,
                province: entry.code,
                amount: self.policy().opening,
                operator: "hub configuration".into(),
                reason: "opening prepaid funds (--opening-prepaid)".into(),
                withdrawal: false,
                force: false,
            };
            // On disk with the hub's first sync (`Hub::new` waits for it).
            self.store
                .transact::<_, TxFail>(|tx| {
                    if !tx.contains(PREPAID_OPS, &command.operation_id)? {
                        Self::apply_prepaid(tx, &command)?;
                    }
                    Ok(())
                })?
                .unconfirmed();
        }
        Ok(())
    }

    /// What a province owes over unsettled months, net, plus what its
    /// transactions being decided would add.
    fn outflow(tx: &Tx, province: ProvinceCode) -> Result<(Money, Money), TxFail> {
        let unsettled = tx.balance(&store::unsettled(province))?;
        let owed = if unsettled.is_negative() {
            unsettled.negated()
        } else {
            Money::ZERO
        };
        let reserved = tx.get(RESERVED, province.as_str())?.unwrap_or(Money::ZERO);
        Ok((owed, reserved))
    }

    /// Reserves a payment's or transfer's amount against the payer's prepaid
    /// funds, or declines it if they cannot cover it.
    pub(crate) fn reserve_outflow(&self, tx: &Tx, body: &TxBody) -> Result<Result<(), Decline>, TxFail> {
        if !subject_to_prepaid(body) {
            return Ok(Ok(()));
        }
        let payer = body.payer();
        let (owed, reserved) = Self::outflow(tx, payer)?;
        let prepaid = tx.balance(&store::prepaid(payer))?;
        let overflow = |e: gongji_common::money::Overflow| gongji_common::store::StoreError::Invariant(e.to_string());
        let after = owed
            .checked_add(reserved)
            .and_then(|o| o.checked_add(body.amount()))
            .map_err(overflow)?;
        if after > prepaid {
            return Ok(Err(Decline::new(
                DeclineReason::PrepaidExhausted,
                format!(
                    "province {payer} owes {owed} unsettled and {reserved} in flight; {} more would exceed its prepaid funds {prepaid}",
                    body.amount()
                ),
            )));
        }
        tx.put(RESERVED, payer.as_str(), &reserved.checked_add(body.amount()).map_err(overflow)?)?;
        Ok(Ok(()))
    }

    /// Frees what a decided (or cancelled) transaction had reserved.
    pub(crate) fn release_outflow(tx: &Tx, body: &TxBody) -> Result<(), TxFail> {
        if !subject_to_prepaid(body) {
            return Ok(());
        }
        let payer = body.payer();
        let reserved = tx.get(RESERVED, payer.as_str())?.unwrap_or(Money::ZERO);
        let left = reserved.checked_sub(body.amount()).unwrap_or(Money::ZERO);
        tx.put(RESERVED, payer.as_str(), &if left.is_negative() { Money::ZERO } else { left })
    }

    /// Logs a warning when a province's usage reaches the yellow or red level.
    pub(crate) fn warn_on_usage(&self, province: ProvinceCode) {
        match self.province_prepaid(province) {
            Ok(p) if p.level >= Level::Yellow => tracing::warn!(
                province = %province,
                usage_percent = %p.usage_percent,
                level = ?p.level,
                balance = %p.balance,
                "prepaid funds running short: deposit before payments are declined"
            ),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "cannot read prepaid funds"),
        }
    }

    /// Deposits into or withdraws from a province's prepaid funds. Idempotent by operation id.
    pub async fn prepaid_operation(&self, command: PrepaidCommand) -> HubResult<PrepaidOp> {
        if !self.provinces().contains(command.province) {
            return Err(FieldError::new(
                "province",
                format!("province {} is not connected to the national hub", command.province),
            )
            .into());
        }
        // Changes only at a settlement, which a withdrawal need not wait for.
        let required = self.required_level(command.province)?;
        let op = self.store.transact::<_, TxFail>(|tx| {
            if let Some(existing) = tx.get(PREPAID_OPS, &command.operation_id)? {
                let same = existing.withdrawal == command.withdrawal
                    && existing.province == command.province
                    && existing.amount == command.amount
                    && existing.operator == command.operator
                    && existing.reason == command.reason
                    && (existing.forced || !command.force);
                return Ok(if same { Ok(existing) } else { Err(HubError::reused("prepaid operation", &command.operation_id)) });
            }
            if command.withdrawal {
                let (owed, reserved) = Self::outflow(tx, command.province)?;
                let balance = tx.balance(&store::prepaid(command.province))?;
                let free = balance.checked_sub(owed).and_then(|b| b.checked_sub(reserved)).unwrap_or(Money::ZERO);
                if command.amount > free {
                    return Ok(Err(HubError::FailedPrecondition(format!(
                        "province {} can withdraw at most {free}: of its {balance}, {owed} covers unsettled obligations and {reserved} transactions in flight",
                        command.province
                    ))));
                }
                let after = balance.checked_sub(command.amount).unwrap_or(Money::ZERO);
                if after < required && !command.force {
                    return Ok(Err(HubError::FailedPrecondition(format!(
                        "withdrawing {} would leave province {} {after}, below its required level {required}: its payments \
                         would soon be declined; withdraw at most {}, or force it (--force; recorded as forced)",
                        command.amount,
                        command.province,
                        balance.checked_sub(required).unwrap_or(Money::ZERO).max(Money::ZERO)
                    ))));
                }
            }
            Ok(Ok(Self::apply_prepaid(tx, &command)?))
        })?
        .durable()
        .await??;
        tracing::info!(province = %op.province, amount = %op.amount, withdrawal = op.withdrawal, forced = op.forced, operator = %op.operator, reason = %op.reason, "prepaid funds changed");
        Ok(op)
    }

    fn apply_prepaid(tx: &Tx, command: &PrepaidCommand) -> Result<PrepaidOp, TxFail> {
        let (from, to) = if command.withdrawal {
            (store::prepaid(command.province), store::deposits(command.province))
        } else {
            (store::deposits(command.province), store::prepaid(command.province))
        };
        tx.post(&JournalEntry::transfer(
            command.operation_id.as_str(),
            if command.withdrawal {
                "prepaid withdrawal"
            } else {
                "prepaid deposit"
            },
            &from,
            &to,
            command.amount,
        ))?;
        let op = PrepaidOp {
            withdrawal: command.withdrawal,
            province: command.province,
            amount: command.amount,
            operator: command.operator.clone(),
            reason: command.reason.clone(),
            at: now_millis(),
            balance_after: tx.balance(&store::prepaid(command.province))?,
            forced: command.withdrawal && command.force,
        };
        tx.put(PREPAID_OPS, &command.operation_id, &op)?;
        Ok(op)
    }

    /// Every registered province's prepaid funds.
    pub fn prepaid_status(&self) -> HubResult<Vec<ProvincePrepaid>> {
        self.provinces().entries().map(|e| self.province_prepaid(e.code)).collect()
    }

    pub fn province_prepaid(&self, province: ProvinceCode) -> HubResult<ProvincePrepaid> {
        let balance = self.store.balance(&store::prepaid(province))?;
        let unsettled = self.store.balance(&store::unsettled(province))?;
        let unsettled_outflow = if unsettled.is_negative() {
            unsettled.negated()
        } else {
            Money::ZERO
        };
        let reserved = self.store.get(RESERVED, province.as_str())?.unwrap_or(Money::ZERO);
        let used = unsettled_outflow.checked_add(reserved)?;
        let usage_percent = if balance.is_zero() {
            if used.is_zero() {
                Decimal::ZERO
            } else {
                Decimal::ONE_HUNDRED
            }
        } else {
            (used.as_decimal() * Decimal::ONE_HUNDRED / balance.as_decimal()).round_dp(1)
        };
        let required = self.required_level(province)?;
        let (level, level_reason) = level_of(
            balance,
            used,
            required,
            usage_percent,
            self.policy().yellow_percent,
            self.policy().red_percent,
        );
        let top_up = required.checked_sub(balance)?;
        Ok(ProvincePrepaid {
            province,
            balance,
            unsettled_outflow,
            reserved,
            usage_percent,
            level,
            level_reason,
            required,
            top_up: if top_up.is_negative() { Money::ZERO } else { top_up },
        })
    }

    /// Two months of the province's average monthly payable over the last
    /// three settled months, at least the floor.
    pub fn required_level(&self, province: ProvinceCode) -> HubResult<Money> {
        let mut payables = Vec::new();
        for item in self.store.scan_prefix(MONTHS, b"").collect::<Vec<_>>().into_iter().rev() {
            let (_, month) = item?;
            if month.state != MonthState::Settled {
                continue;
            }
            let payable = month
                .clearing
                .as_ref()
                .and_then(|c| c.provinces.get(&province))
                .map_or(Money::ZERO, |t| t.payable);
            payables.push(payable);
            if payables.len() == 3 {
                break;
            }
        }
        if payables.is_empty() {
            return Ok(self.policy().floor);
        }
        let total = payables.iter().try_fold(Money::ZERO, |sum, p| sum.checked_add(*p))?;
        let two_months = Money::from_decimal_fen(total.as_decimal() * Decimal::TWO / Decimal::from(payables.len() as u64));
        Ok(two_months.max(self.policy().floor))
    }

    /// The required levels and top-ups right after a settlement, for the log.
    pub(crate) fn top_up_requests(&self) -> HubResult<BTreeMap<ProvinceCode, Money>> {
        Ok(self
            .prepaid_status()?
            .into_iter()
            .filter(|p| !p.top_up.is_zero())
            .map(|p| (p.province, p.top_up))
            .collect())
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;

    fn money(text: &str) -> Money {
        Money::parse_unsigned("m", text).unwrap()
    }

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
}
