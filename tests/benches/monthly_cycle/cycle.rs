//! The monthly cycle, timed step by step: close (and clearing), fetching the
//! clearing, one province's reconciliation, settlement. Each step's answer is
//! checked against what the load approved, so a fast wrong answer cannot
//! pass for a result.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use gongji_common::{Money, ProvinceCode};
use gongji_proto::v1::{self as pb, national_hub_client::NationalHubClient};
use prost::Message;
use tonic::transport::Channel;

use crate::{
    cluster::Cluster,
    failure, secs,
    workload::{self, Load, Plan},
    Failure,
};

/// How often the month is polled while it closes.
const POLL: Duration = Duration::from_millis(20);
/// How long a close may take before the benchmark gives up on it.
const CLOSE_PATIENCE: Duration = Duration::from_secs(3600);
/// The reason the benchmark settles with.
const OVERRIDE: &str = "benchmark: only one province reconciled";

/// The timings of one monthly cycle.
pub struct Cycle {
    /// CloseMonth called until GetMonth says CLOSED.
    pub close: Duration,
    /// closed_at to cleared_at, as the hub recorded them.
    pub hub_clearing: Duration,
    pub get_clearing: Duration,
    pub reconcile: Duration,
    pub settle: Duration,
}

fn hub_client(cluster: &Cluster) -> Result<NationalHubClient<Channel>, Failure> {
    Ok(NationalHubClient::new(
        Channel::from_shared(cluster.hub.url.clone())?.connect_lazy(),
    ))
}

/// Milliseconds from `closed_at` to `cleared_at` of a month.
fn clearing_millis(month: &pb::Month) -> Option<i64> {
    let cleared = month.cleared_at.as_ref().map(|t| (t.seconds, t.nanos))?;
    let closed = month.closed_at.as_ref().map(|t| (t.seconds, t.nanos))?;
    let millis = |(seconds, nanos): (i64, i32)| seconds * 1000 + i64::from(nanos) / 1_000_000;
    Some(millis(cleared) - millis(closed))
}

/// A signed amount from the wire ("-12.30"), exactly.
fn signed(field: &str, text: &str) -> Result<Money, Failure> {
    let (negative, digits) = text.strip_prefix('-').map_or((false, text), |rest| (true, rest));
    let amount = Money::parse_unsigned(field, digits)?;
    Ok(if negative { amount.negated() } else { amount })
}

/// Runs and times the cycle of the open month, which holds `load`.
pub async fn run(cluster: &Cluster, plan: &Plan, load: &Load, reconciling: ProvinceCode) -> Result<Cycle, Failure> {
    let mut hub = hub_client(cluster)?;
    let period = hub.get_open_period(pb::GetOpenPeriodRequest {}).await?.into_inner().period;
    println!("  month {period}");

    // (1) Close: stamping moves on, the hub clears once nothing is pending.
    let started = Instant::now();
    let answered = hub
        .close_month(pb::CloseMonthRequest { period: period.clone() })
        .await?
        .into_inner();
    let close_call = started.elapsed();
    let mut month = answered;
    while month.state != pb::MonthState::Closed as i32 {
        if started.elapsed() > CLOSE_PATIENCE {
            return Err(failure(format!(
                "month {period} is not closed after {}: {month:?}",
                secs(started.elapsed())
            )));
        }
        tokio::time::sleep(POLL).await;
        month = hub.get_month(pb::GetMonthRequest { period: period.clone() }).await?.into_inner();
    }
    let close = started.elapsed();
    let hub_clearing = clearing_millis(&month)
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .ok_or_else(|| failure(format!("month {period} is closed without closed_at and cleared_at: {month:?}")))?;
    println!(
        "  close:        {} (CloseMonth call {}, then CLOSED seen by polling every {POLL:?}); hub-side clearing (cleared_at − closed_at) {}",
        secs(close),
        secs(close_call),
        secs(hub_clearing)
    );
    if month.transactions != load.approved {
        return Err(failure(format!(
            "month {period} counts {} transactions but {} payments were approved",
            month.transactions, load.approved
        )));
    }

    // (2) The clearing: one line per ordered pair, nets summing to zero.
    let started = Instant::now();
    let clearing = hub
        .get_clearing(pb::GetClearingRequest { period: period.clone() })
        .await?
        .into_inner();
    let get_clearing = started.elapsed();
    let nets = check_clearing(&clearing, plan, load)?;
    println!(
        "  GetClearing:  {} ({} lines, {} provinces, {} bytes; matches the approved payments, nets sum to 0.00)",
        secs(get_clearing),
        clearing.lines.len(),
        clearing.nets.len(),
        clearing.encoded_len()
    );

    // (3) One province reconciles its statement and confirms.
    let mut node = workload::node_client(cluster, reconciling)?;
    let started = Instant::now();
    let report = node
        .reconcile_month(pb::ReconcileMonthRequest { period: period.clone() })
        .await?
        .into_inner();
    let reconcile = started.elapsed();
    if !report.confirmed {
        return Err(failure(format!(
            "province {reconciling} did not confirm {period}: matched {}, only at hub {}, only at node {}, amount differs {}, counterpart differs {}",
            report.matched, report.only_at_hub, report.only_at_node, report.amount_differs, report.counterpart_differs
        )));
    }
    let reported_net = signed("net", &report.net)?;
    if Some(&reported_net) != nets.get(&reconciling) {
        return Err(failure(format!(
            "province {reconciling} reconciled a net of {reported_net}, the clearing says {:?}",
            nets.get(&reconciling).map(Money::to_string)
        )));
    }
    println!(
        "  reconcile:    {} (province {reconciling}: confirmed, {} lines matched of {} on the statement, net {reported_net})",
        secs(reconcile),
        report.matched,
        report.statement_lines
    );

    // (4) Settlement, with an override since only one province reconciled.
    let started = Instant::now();
    let settlement = hub
        .settle_month(pb::SettleMonthRequest {
            period: period.clone(),
            override_reason: OVERRIDE.into(),
            operator: "monthly_cycle benchmark".into(),
        })
        .await?
        .into_inner();
    let settle = started.elapsed();
    let mut settled_sum = Money::ZERO;
    for line in &settlement.lines {
        settled_sum = settled_sum.checked_add(signed("net", &line.net)?)?;
    }
    if !settled_sum.is_zero() || settlement.lines.len() != plan.provinces.len() {
        return Err(failure(format!(
            "the settlement of {period} has {} lines netting {settled_sum}",
            settlement.lines.len()
        )));
    }
    println!(
        "  settle:       {} ({} provinces, override {:?})",
        secs(settle),
        settlement.lines.len(),
        settlement.override_reason
    );

    Ok(Cycle {
        close,
        hub_clearing,
        get_clearing,
        reconcile,
        settle,
    })
}

/// Checks the clearing against the approved payments, exactly (no floats),
/// and returns each province's net.
fn check_clearing(clearing: &pb::Clearing, plan: &Plan, load: &Load) -> Result<BTreeMap<ProvinceCode, Money>, Failure> {
    let mut expected: BTreeMap<(String, String), (u64, Money)> = BTreeMap::new();
    let mut expected_nets: BTreeMap<ProvinceCode, Money> = plan.provinces.iter().map(|p| (*p, Money::ZERO)).collect();
    for (&(payer, payee), &(count, gross)) in plan.pairs.iter().zip(&load.cleared) {
        if count > 0 {
            expected.insert((payer.to_string(), payee.to_string()), (count, gross));
            let owes = expected_nets.get_mut(&payer).expect("every pair's provinces are in the plan");
            *owes = owes.checked_sub(gross)?;
            let owed = expected_nets.get_mut(&payee).expect("every pair's provinces are in the plan");
            *owed = owed.checked_add(gross)?;
        }
    }
    let mut cleared = BTreeMap::new();
    for line in &clearing.lines {
        if line.kind != pb::TransactionKind::Payment as i32 {
            return Err(failure(format!("the clearing has a line of another kind: {line:?}")));
        }
        let gross = Money::parse_unsigned("gross", &line.gross)?;
        cleared.insert((line.payer.clone(), line.payee.clone()), (line.count, gross));
    }
    if cleared != expected {
        let differing = expected.iter().find(|(pair, want)| cleared.get(*pair) != Some(want));
        return Err(failure(format!(
            "the clearing differs from the approved payments ({} lines, expected {}); first difference: {differing:?} vs {:?}",
            cleared.len(),
            expected.len(),
            differing.and_then(|(pair, _)| cleared.get(pair))
        )));
    }
    let mut nets = BTreeMap::new();
    let mut sum = Money::ZERO;
    for net in &clearing.nets {
        let code: ProvinceCode = net.province.parse()?;
        let amount = signed("net", &net.net)?;
        sum = sum.checked_add(amount)?;
        nets.insert(code, amount);
    }
    if !sum.is_zero() {
        return Err(failure(format!("the nets of the clearing sum to {sum}, not 0.00")));
    }
    for (province, want) in &expected_nets {
        let got = nets.get(province).copied().unwrap_or(Money::ZERO);
        if got != *want {
            return Err(failure(format!("province {province} nets {got} in the clearing, expected {want}")));
        }
    }
    Ok(nets)
}
