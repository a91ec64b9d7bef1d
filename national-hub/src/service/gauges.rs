//! What the hub reports about itself: the gauges of a metrics scrape and
//! the counts of `GetHubInfo`, read from the store when asked. Reads only.

use gongji_common::metrics::{queue_gauges, Exposition};

use super::Hub;
use crate::{
    domain::{Level, MonthState, ProvincePrepaid},
    error::HubResult,
    store::PENDING,
};

/// The hub's description for `GetHubInfo`.
pub struct HubInfo {
    pub open_period: gongji_common::Period,
    pub provinces: u64,
    pub pending: u64,
    pub outbox: u64,
    pub outbox_oldest_age: Option<std::time::Duration>,
}

/// Reads one number of a province's prepaid funds.
type Reading = fn(&ProvincePrepaid) -> f64;

const LEVELS: [(Level, &str); 3] = [(Level::Green, "green"), (Level::Yellow, "yellow"), (Level::Red, "red")];
const STATES: [MonthState; 5] = [
    MonthState::Open,
    MonthState::Closing,
    MonthState::Closed,
    MonthState::Reconciled,
    MonthState::Settled,
];

impl Hub {
    pub fn info(&self) -> HubResult<HubInfo> {
        Ok(HubInfo {
            open_period: self.open_period()?,
            provinces: self.provinces().entries().count() as u64,
            pending: self.store().count(PENDING) as u64,
            outbox: self.outbox().len() as u64,
            outbox_oldest_age: self.outbox().oldest_age()?,
        })
    }

    /// Writes the hub's gauges: pending intents, the outbox, each province's
    /// prepaid funds and each month's state.
    pub fn gauges(&self, out: &mut Exposition) -> HubResult<()> {
        queue_gauges(out, self.store(), PENDING, self.outbox(), self.now())?;

        let prepaid = self.prepaid_status()?;
        let amounts: [(&str, &str, Reading); 5] = [
            ("gongji_prepaid_balance_yuan", "A province's prepaid funds at the hub (CNY).", |p| {
                yuan(p.balance)
            }),
            (
                "gongji_prepaid_unsettled_outflow_yuan",
                "What a province owes over unsettled months, net (CNY).",
                |p| yuan(p.unsettled_outflow),
            ),
            (
                "gongji_prepaid_reserved_yuan",
                "A province's outflow in transactions still being decided (CNY).",
                |p| yuan(p.reserved),
            ),
            (
                "gongji_prepaid_required_yuan",
                "The level a province's prepaid funds should have (CNY).",
                |p| yuan(p.required),
            ),
            (
                "gongji_prepaid_usage_percent",
                "(Unsettled outflow + reserved) / prepaid balance of a province, in percent.",
                |p| p.usage_percent.to_string().parse().unwrap_or(f64::NAN),
            ),
        ];
        for (name, help, value) in amounts {
            out.gauges(
                name,
                help,
                prepaid.iter().map(|p| (vec![("province", p.province.to_string())], value(p))),
            );
        }
        out.gauges(
            "gongji_prepaid_level",
            "1 for a province's current prepaid warning level (green, yellow at 70% usage, red at 90% by default), 0 for the others.",
            prepaid.iter().flat_map(|p| {
                LEVELS.iter().map(move |(level, word)| {
                    (
                        vec![("province", p.province.to_string()), ("level", (*word).to_owned())],
                        if p.level == *level { 1.0 } else { 0.0 },
                    )
                })
            }),
        );

        let mut months = Vec::new();
        for period in self.periods()? {
            months.push((period, self.month(period)?.state));
        }
        out.gauges(
            "gongji_month_state",
            "1 for a month's current state at the hub (open, closing, closed, reconciled, settled), 0 for the others.",
            months.iter().flat_map(|(period, state)| {
                STATES.iter().map(move |candidate| {
                    (
                        vec![("period", period.to_string()), ("state", candidate.word().to_owned())],
                        if candidate == state { 1.0 } else { 0.0 },
                    )
                })
            }),
        );
        Ok(())
    }
}

fn yuan(money: gongji_common::Money) -> f64 {
    money.to_string().parse().unwrap_or(f64::NAN)
}
