//! Settling a cleared month (清算): each net payer's prepaid funds are drawn
//! by what it owes and each net receiver is paid what it is owed, in one
//! entry. It needs every province's confirmation, or an override reason;
//! it needs each payer's funds to cover its draw. A settled month is final:
//! settling it again answers the same settlement.

use std::collections::BTreeMap;

use gongji_common::{Money, Period, ProvinceCode};
use serde::{Deserialize, Serialize};

use super::{Entry, HubAccount, Leg, MonthRecord, MonthState, Refusal};

/// The settlement (清算) of a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub lines: Vec<SettleLine>,
    pub override_reason: Option<String>,
    pub operator: String,
    pub at: i64,
}

/// One province's part of a settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleLine {
    pub province: ProvinceCode,
    pub net: Money,
    pub drawn: Money,
    pub paid: Money,
}

/// An operator's order to settle a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleCommand {
    pub period: Period,
    /// Why to settle without every confirmation, if so.
    pub override_reason: Option<String>,
    /// Who settles.
    pub operator: String,
}

/// What settling comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value decided once and applied at once, never stored: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum SettleDecision {
    /// Settled before: the same settlement, nothing written.
    Settled(SettlementRecord),
    /// Settled now: the settlement, the month's record with it, and the
    /// entry that draws and pays (none when every province nets zero).
    Settle {
        settlement: SettlementRecord,
        record: MonthRecord,
        entry: Option<Entry>,
    },
}

/// The provinces whose prepaid funds a settlement of `record` may draw:
/// those of its clearing.
pub fn provinces(record: &MonthRecord) -> Vec<ProvinceCode> {
    record
        .clearing
        .as_ref()
        .map_or_else(Vec::new, |c| c.provinces.keys().copied().collect())
}

/// Decides the settlement of the month `record` (none if it never closed)
/// at `now`, with each province's prepaid balance in `funds`.
pub fn decide(
    record: Option<&MonthRecord>,
    funds: &BTreeMap<ProvinceCode, Money>,
    command: &SettleCommand,
    now: i64,
) -> Result<SettleDecision, Refusal> {
    let period = command.period;
    let Some(record) = record else {
        return Err(Refusal::FailedPrecondition(format!("month {period} is not closed")));
    };
    if let Some(done) = &record.settlement {
        return Ok(SettleDecision::Settled(done.clone()));
    }
    let Some(clearing) = &record.clearing else {
        return Err(Refusal::FailedPrecondition(format!(
            "month {period} is still closing: transactions stamped with it are pending"
        )));
    };
    let missing: Vec<String> = clearing
        .provinces
        .keys()
        .filter(|p| !record.confirmed.contains_key(p))
        .map(|p| p.to_string())
        .collect();
    if !missing.is_empty() && command.override_reason.is_none() {
        return Err(Refusal::FailedPrecondition(format!(
            "month {period} waits for the confirmation of province(s) {}; settle with an override reason to go ahead without",
            missing.join(", ")
        )));
    }
    let mut lines = Vec::new();
    let mut legs = Vec::new();
    for (province, totals) in &clearing.provinces {
        let net = totals.net()?;
        let (drawn, paid) = if net.is_negative() {
            (net.negated(), Money::ZERO)
        } else {
            (Money::ZERO, net)
        };
        if !drawn.is_zero() {
            let held = funds.get(province).copied().unwrap_or(Money::ZERO);
            if held < drawn {
                return Err(Refusal::FailedPrecondition(format!(
                    "province {province} owes {drawn} for {period} but has {held} of prepaid funds; it needs a top-up of {} first",
                    drawn.checked_sub(held).unwrap_or(drawn)
                )));
            }
        }
        if !net.is_zero() {
            legs.push(Leg {
                account: HubAccount::Unsettled(*province),
                amount: net.negated(),
            });
            if !drawn.is_zero() {
                legs.push(Leg {
                    account: HubAccount::Prepaid(*province),
                    amount: drawn.negated(),
                });
            }
            if !paid.is_zero() {
                legs.push(Leg {
                    account: HubAccount::PaidOut(*province),
                    amount: paid,
                });
            }
        }
        lines.push(SettleLine {
            province: *province,
            net,
            drawn,
            paid,
        });
    }
    let entry = (!legs.is_empty()).then(|| Entry {
        reference: format!("settlement/{period}"),
        memo: "monthly settlement".into(),
        at: now,
        legs,
    });
    let settlement = SettlementRecord {
        lines,
        override_reason: command.override_reason.clone(),
        operator: command.operator.clone(),
        at: now,
    };
    let mut settled = record.clone();
    settled.settlement = Some(settlement.clone());
    settled.state = MonthState::Settled;
    Ok(SettleDecision::Settle {
        settlement,
        record: settled,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use gongji_common::statement::Totals;

    use super::*;
    use crate::domain::{
        testing::{money, period, province},
        ClearingResult,
    };

    /// A closed March in which 13 owes 41 `owed` (and 32 had activity that netted zero).
    fn closed(owed: &str) -> MonthRecord {
        let totals = |payable: &str, receivable: &str| Totals {
            lines: 1,
            payable: money(payable),
            receivable: money(receivable),
            digest: format!("{payable}/{receivable}"),
        };
        MonthRecord {
            period: period("2026-03"),
            state: MonthState::Closed,
            closed_at: 1,
            cleared_at: Some(2),
            clearing: Some(ClearingResult {
                transactions: 2,
                lines: Vec::new(),
                provinces: BTreeMap::from([
                    (province("13"), totals(owed, "0.00")),
                    (province("32"), totals("5.00", "5.00")),
                    (province("41"), totals("0.00", owed)),
                ]),
            }),
            confirmed: BTreeMap::new(),
            disputes: BTreeMap::new(),
            settlement: None,
        }
    }

    fn confirmed_by(mut record: MonthRecord, provinces: &[&str]) -> MonthRecord {
        for p in provinces {
            record.confirmed.insert(province(p), "digest".into());
        }
        record
    }

    fn command(override_reason: Option<&str>) -> SettleCommand {
        SettleCommand {
            period: period("2026-03"),
            override_reason: override_reason.map(str::to_owned),
            operator: "alice".into(),
        }
    }

    fn funds(amount: &str) -> BTreeMap<ProvinceCode, Money> {
        BTreeMap::from([(province("13"), money(amount))])
    }

    #[test]
    fn a_settlement_without_every_confirmation_needs_an_override() {
        let record = confirmed_by(closed("100.00"), &["13", "41"]);
        let refused = decide(Some(&record), &funds("1000.00"), &command(None), 9);
        assert_eq!(
            refused,
            Err(Refusal::FailedPrecondition(
                "month 2026-03 waits for the confirmation of province(s) 32; settle with an override reason to go ahead without".into()
            ))
        );
        let SettleDecision::Settle { settlement, record, .. } =
            decide(Some(&record), &funds("1000.00"), &command(Some("32 is down")), 9).unwrap()
        else {
            panic!("not settled");
        };
        assert_eq!(record.settlement.as_ref(), Some(&settlement));
        assert_eq!(
            (settlement.override_reason.as_deref(), settlement.operator.as_str(), settlement.at),
            (Some("32 is down"), "alice", 9)
        );
    }

    #[test]
    fn a_settlement_draws_net_payers_funds_and_pays_net_receivers_in_one_balanced_entry() {
        let record = confirmed_by(closed("100.00"), &["13", "32", "41"]);
        let SettleDecision::Settle { settlement, record, entry } = decide(Some(&record), &funds("100.00"), &command(None), 9).unwrap()
        else {
            panic!("not settled");
        };
        assert_eq!(record.state, MonthState::Settled);
        let lines: Vec<(ProvinceCode, Money, Money, Money)> =
            settlement.lines.into_iter().map(|l| (l.province, l.net, l.drawn, l.paid)).collect();
        assert_eq!(
            lines,
            vec![
                (province("13"), money("-100.00"), money("100.00"), Money::ZERO),
                (province("32"), Money::ZERO, Money::ZERO, Money::ZERO),
                (province("41"), money("100.00"), Money::ZERO, money("100.00")),
            ]
        );
        let entry = entry.expect("an entry");
        assert_eq!(
            (entry.reference.as_str(), entry.memo.as_str()),
            ("settlement/2026-03", "monthly settlement")
        );
        let sum = entry
            .legs
            .iter()
            .try_fold(Money::ZERO, |sum, leg| sum.checked_add(leg.amount))
            .unwrap();
        assert_eq!(sum, Money::ZERO);
        assert!(entry.legs.contains(&Leg {
            account: HubAccount::Prepaid(province("13")),
            amount: money("-100.00"),
        }));
        assert!(entry.legs.contains(&Leg {
            account: HubAccount::PaidOut(province("41")),
            amount: money("100.00"),
        }));
    }

    #[test]
    fn a_payer_whose_funds_do_not_cover_its_draw_needs_a_top_up_first() {
        let record = confirmed_by(closed("100.00"), &["13", "32", "41"]);
        assert_eq!(
            decide(Some(&record), &funds("60.00"), &command(None), 9),
            Err(Refusal::FailedPrecondition(
                "province 13 owes 100.00 for 2026-03 but has 60.00 of prepaid funds; it needs a top-up of 40.00 first".into()
            ))
        );
    }

    #[test]
    fn a_month_not_closed_or_still_closing_is_not_settled_and_a_settled_one_answers_its_settlement() {
        assert_eq!(
            decide(None, &funds("0.00"), &command(None), 9),
            Err(Refusal::FailedPrecondition("month 2026-03 is not closed".into()))
        );
        let mut closing = closed("1.00");
        closing.clearing = None;
        closing.state = MonthState::Closing;
        assert!(
            matches!(decide(Some(&closing), &funds("0.00"), &command(None), 9), Err(Refusal::FailedPrecondition(why)) if why.contains("still closing"))
        );
        let record = confirmed_by(closed("100.00"), &["13", "32", "41"]);
        let SettleDecision::Settle {
            settlement,
            record: settled,
            ..
        } = decide(Some(&record), &funds("100.00"), &command(None), 9).unwrap()
        else {
            panic!("not settled");
        };
        // Settled again, even with funds gone: the same settlement, nothing more.
        assert_eq!(
            decide(Some(&settled), &funds("0.00"), &command(Some("again")), 10),
            Ok(SettleDecision::Settled(settlement))
        );
    }

    #[test]
    fn a_month_whose_nets_are_all_zero_settles_without_an_entry() {
        let record = confirmed_by(closed("0.00"), &["13", "32", "41"]);
        let SettleDecision::Settle { entry, .. } = decide(Some(&record), &BTreeMap::new(), &command(None), 9).unwrap() else {
            panic!("not settled");
        };
        assert_eq!(entry, None);
    }
}
