//! `gongji audit`: checks the invariants of DESIGN.md across a whole
//! network, reading everything once and streaming, so it works on networks
//! with millions of records.
//!
//! - Each server's own books (`SelfCheck`): every journal entry balances and
//!   is posted once, balances equal the journal, nothing that holds money is
//!   negative, no cancelled payment was ever booked, and at the hub each
//!   month's positions sum to zero and match the statement lines.
//! - Every cross-province transaction has the same outcome, amount and month
//!   at the hub and at both nodes: for every month and province, the hub's
//!   lines and the node's own lines are merged (both sorted by kind and id).
//! - Per month the provinces' nets sum to zero, and each node's own lines net
//!   to what the hub says.
//! - Money is conserved: what came in (contributions) equals what is held
//!   (available, quotas, transfers in flight) plus what went out (paid to
//!   institutions and funds), and the provinces' claims on each other cancel.

use std::{cmp::Ordering, collections::BTreeMap, io::Write};

use gongji_common::{
    statement::{Line, Summer},
    Money, ProvinceCode,
};
use gongji_proto::v1 as pb;
use tonic::Streaming;

use crate::{
    args::NetworkArgs,
    client,
    error::{CliError, EXIT_FAILED, EXIT_OK},
    network::Manifest,
};

/// How many violations the report lists (the count is always complete).
const LISTED: usize = 1000;

/// The servers to audit.
#[derive(Debug, Clone)]
pub struct Target {
    pub hub: String,
    pub provinces: Vec<(ProvinceCode, String)>,
}

impl Target {
    /// The network named on the command line: a devnet's address file, or
    /// the hub and every node.
    pub fn from_args(args: &NetworkArgs) -> Result<Target, CliError> {
        Ok(match (&args.devnet, &args.hub) {
            (Some(path), _) => Target::from_manifest(&Manifest::read(path)?)?,
            (None, Some(hub)) if !args.nodes.is_empty() => Target {
                hub: hub.clone(),
                provinces: args
                    .nodes
                    .iter()
                    .map(|entry| {
                        let (code, address) = entry
                            .split_once('=')
                            .ok_or_else(|| CliError::Usage(format!("--node {entry:?} is not CODE=ADDR (e.g. 32=127.0.0.1:50052)")))?;
                        let code = ProvinceCode::parse("--node", code.trim()).map_err(|e| CliError::Usage(e.to_string()))?;
                        Ok((code, address.trim().to_owned()))
                    })
                    .collect::<Result<_, CliError>>()?,
            },
            _ => {
                return Err(CliError::Usage(
                    "give --devnet DATA_DIR/devnet.json, or --hub ADDR and --node CODE=ADDR for every province".into(),
                ))
            }
        })
    }

    pub fn from_manifest(manifest: &Manifest) -> Result<Target, CliError> {
        let provinces = manifest
            .provinces
            .iter()
            .map(|p| {
                ProvinceCode::parse("province", &p.code)
                    .map(|code| (code, p.address.clone()))
                    .map_err(|e| CliError::Other(format!("devnet manifest: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Target {
            hub: manifest.hub.clone(),
            provinces,
        })
    }
}

/// What the audit checked and found.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub servers: u64,
    pub journal_entries: u64,
    pub accounts: u64,
    pub months: u64,
    pub lines: u64,
    pub pending: u64,
    pub outbox: u64,
    pub inflows: Money,
    pub held: Money,
    pub outflows: Money,
    pub violation_count: u64,
    pub violations: Vec<String>,
}

impl AuditReport {
    fn violation(&mut self, text: String) {
        self.violation_count += 1;
        if self.violations.len() < LISTED {
            self.violations.push(text);
        }
    }

    pub fn passed(&self) -> bool {
        self.violation_count == 0
    }

    /// Prints the summary and the violations.
    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "audit of {} servers", self.servers)?;
        writeln!(out, "  journal entries checked: {}", self.journal_entries)?;
        writeln!(out, "  accounts checked:        {}", self.accounts)?;
        writeln!(out, "  months compared:         {}", self.months)?;
        writeln!(out, "  statement lines compared: {}", self.lines)?;
        writeln!(out, "  still pending:           {} (outbox {})", self.pending, self.outbox)?;
        writeln!(
            out,
            "  money: {} came in = {} held + {} paid out",
            self.inflows, self.held, self.outflows
        )?;
        if self.passed() {
            writeln!(out, "no violations")?;
        } else {
            writeln!(out, "{} violation(s):", self.violation_count)?;
            for v in &self.violations {
                writeln!(out, "  - {v}")?;
            }
            if self.violation_count as usize > self.violations.len() {
                writeln!(out, "  … and {} more", self.violation_count as usize - self.violations.len())?;
            }
        }
        Ok(())
    }
}

fn money(field: &str, text: &str) -> Result<Money, CliError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let amount = Money::parse_unsigned(field, digits).map_err(|e| CliError::Other(format!("a server sent a malformed amount: {e}")))?;
    Ok(if negative { amount.negated() } else { amount })
}

fn add(a: Money, b: Money) -> Result<Money, CliError> {
    a.checked_add(b).map_err(|e| CliError::Other(e.to_string()))
}

/// Audits the network, printing progress lines to `progress`.
pub async fn audit(target: &Target, progress: &mut dyn Write) -> Result<AuditReport, CliError> {
    let mut report = AuditReport::default();
    // A self-check or a month's lines of a large network take a while.
    let mut hub = client::hub_on(client::connect_to(&target.hub, client::RECONCILE_TIMEOUT, Some(gongji_common::tls::HUB_NAME)).await?);

    // 1. Each server's own books.
    let mut totals: BTreeMap<String, Money> = BTreeMap::new();
    let hub_check = hub.self_check(pb::SelfCheckRequest {}).await.map_err(CliError::call)?.into_inner();
    absorb(&mut report, "hub", &hub_check)?;
    let mut nodes = BTreeMap::new();
    for (code, address) in &target.provinces {
        let name = gongji_common::tls::province_name(*code);
        let mut node = client::node_on(client::connect_to(address, client::RECONCILE_TIMEOUT, Some(&name)).await?);
        let check = node.self_check(pb::SelfCheckRequest {}).await.map_err(CliError::call)?.into_inner();
        absorb(&mut report, &format!("province {code}"), &check)?;
        for total in &check.totals {
            let sum = totals.entry(total.kind.clone()).or_insert(Money::ZERO);
            *sum = add(*sum, money("total", &total.total)?)?;
        }
        nodes.insert(*code, node);
    }
    let _ = writeln!(
        progress,
        "books checked: {} journal entries, {} accounts",
        report.journal_entries, report.accounts
    );

    // 2. Every month, every province: the hub's lines against the node's.
    let periods = hub
        .list_periods(pb::ListPeriodsRequest {})
        .await
        .map_err(CliError::call)?
        .into_inner()
        .periods;
    for period in &periods {
        report.months += 1;
        let mut month_net = Money::ZERO;
        for (code, node) in nodes.iter_mut() {
            let request = pb::StatementRequest {
                period: period.clone(),
                province: code.to_string(),
            };
            let mut at_hub = hub.stream_lines(request).await.map_err(CliError::call)?.into_inner();
            let mut at_node = node
                .stream_lines(pb::ReconcileMonthRequest { period: period.clone() })
                .await
                .map_err(CliError::call)?
                .into_inner();
            let net = compare(&mut report, period, *code, &mut at_hub, &mut at_node).await?;
            month_net = add(month_net, net)?;
        }
        if !month_net.is_zero() {
            report.violation(format!("month {period}: the provinces' nets sum to {month_net}, not 0.00"));
        }
        let _ = writeln!(progress, "month {period} compared ({} lines so far)", report.lines);
    }

    // 3. Money conserved across the network.
    let total = |kind: &str| totals.get(kind).copied().unwrap_or(Money::ZERO);
    report.inflows = total("contributions").negated();
    report.held = add(add(total("available"), total("quota"))?, total("transit"))?;
    report.outflows = add(total("institution"), total("fund"))?;
    let claims = total("province");
    if !claims.is_zero() {
        report.violation(format!("the provinces' claims on each other do not cancel: they sum to {claims}"));
    }
    let accounted = add(report.held, report.outflows)?;
    if accounted != report.inflows {
        report.violation(format!(
            "money is not conserved: {} came in, but {} is held and {} was paid out",
            report.inflows, report.held, report.outflows
        ));
    }
    Ok(report)
}

fn absorb(report: &mut AuditReport, server: &str, check: &pb::SelfCheck) -> Result<(), CliError> {
    report.servers += 1;
    report.journal_entries += check.journal_entries;
    report.accounts += check.accounts;
    report.pending += check.pending;
    report.outbox += check.outbox;
    for v in &check.violations {
        report.violation(format!("{server}: {v}"));
    }
    let unlisted = check.violation_count.saturating_sub(check.violations.len() as u64);
    for _ in 0..unlisted {
        report.violation(format!("{server}: (unlisted violation)"));
    }
    Ok(())
}

/// Merges a province's lines of a month at the hub and at its node; returns
/// the hub's net for the province.
async fn compare(
    report: &mut AuditReport,
    period: &str,
    province: ProvinceCode,
    at_hub: &mut Streaming<pb::StatementItem>,
    at_node: &mut Streaming<pb::StatementLine>,
) -> Result<Money, CliError> {
    let mut received = Summer::default();
    let mut summary = None;
    let mut hub_line = next_hub_line(at_hub, &mut received, &mut summary).await?;
    let mut node_line = next_node_line(at_node).await?;
    let mut node_net = Money::ZERO;
    loop {
        let order = match (&hub_line, &node_line) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(h), Some(n)) => h.sort_key().cmp(&n.sort_key()),
        };
        report.lines += 1;
        if order != Ordering::Less {
            if let Some(n) = &node_line {
                node_net = match n.direction {
                    gongji_common::statement::Direction::Payable => node_net.checked_sub(n.amount),
                    gongji_common::statement::Direction::Receivable => node_net.checked_add(n.amount),
                }
                .map_err(|e| CliError::Other(e.to_string()))?;
            }
        }
        let where_ = |l: &Line| format!("month {period}, province {province}: {} {}", l.kind.as_str(), l.id);
        match order {
            Ordering::Less => {
                if let Some(h) = hub_line.take() {
                    report.violation(format!("{}: approved at the hub, not booked by the node", where_(&h)));
                }
            }
            Ordering::Greater => {
                if let Some(n) = node_line.take() {
                    report.violation(format!("{}: booked by the node, not approved at the hub in this month", where_(&n)));
                }
            }
            Ordering::Equal => {
                if let (Some(h), Some(n)) = (hub_line.take(), node_line.take()) {
                    if h.amount != n.amount {
                        report.violation(format!("{}: {} at the hub, {} at the node", where_(&h), h.amount, n.amount));
                    } else if h.counterpart != n.counterpart || h.direction != n.direction {
                        report.violation(format!(
                            "{}: {} {} at the hub, {} {} at the node",
                            where_(&h),
                            h.direction.as_str(),
                            h.counterpart,
                            n.direction.as_str(),
                            n.counterpart
                        ));
                    }
                }
            }
        }
        if hub_line.is_none() && summary.is_none() {
            hub_line = next_hub_line(at_hub, &mut received, &mut summary).await?;
        }
        if node_line.is_none() {
            node_line = next_node_line(at_node).await?;
        }
    }
    let received = received.finish();
    let Some(claimed) = summary else {
        report.violation(format!(
            "month {period}, province {province}: the hub's lines ended without a summary"
        ));
        return Ok(Money::ZERO);
    };
    if let Err(why) = gongji_common::statement::verify(&received, &claimed) {
        report.violation(format!(
            "month {period}, province {province}: the hub's lines did not arrive whole: {why}"
        ));
    }
    let hub_net = received.net().map_err(|e| CliError::Other(e.to_string()))?;
    if hub_net != node_net {
        report.violation(format!(
            "month {period}, province {province}: the hub nets {hub_net}, the node's own lines {node_net}"
        ));
    }
    Ok(hub_net)
}

async fn next_hub_line(
    stream: &mut Streaming<pb::StatementItem>,
    received: &mut Summer,
    summary: &mut Option<gongji_common::statement::Totals>,
) -> Result<Option<Line>, CliError> {
    match stream.message().await.map_err(CliError::call)? {
        Some(pb::StatementItem {
            item: Some(pb::statement_item::Item::Line(line)),
        }) => {
            let line = Line::from_pb(line).map_err(|e| CliError::Other(format!("the hub sent a malformed line: {e}")))?;
            received.add(&line).map_err(|e| CliError::Other(e.to_string()))?;
            Ok(Some(line))
        }
        Some(pb::StatementItem {
            item: Some(pb::statement_item::Item::Summary(s)),
        }) => {
            *summary = Some(gongji_common::statement::Totals {
                lines: s.lines,
                payable: money("payable", &s.payable)?,
                receivable: money("receivable", &s.receivable)?,
                digest: s.digest,
            });
            Ok(None)
        }
        _ => Ok(None),
    }
}

async fn next_node_line(stream: &mut Streaming<pb::StatementLine>) -> Result<Option<Line>, CliError> {
    match stream.message().await.map_err(CliError::call)? {
        Some(line) => Line::from_pb(line)
            .map(Some)
            .map_err(|e| CliError::Other(format!("a node sent a malformed line: {e}"))),
        None => Ok(None),
    }
}

/// `gongji audit`: the network from the arguments, the report on `out`,
/// progress on `err`; exit 1 on any violation.
pub async fn command(args: NetworkArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let target = Target::from_args(&args)?;
    let report = audit(&target, err).await?;
    report.print(out).map_err(|e| CliError::Other(e.to_string()))?;
    Ok(if report.passed() { EXIT_OK } else { EXIT_FAILED })
}
