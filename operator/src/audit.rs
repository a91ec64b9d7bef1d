//! `gongji audit`: checks the invariants of the network, reading everything
//! once and streaming, so it works on networks with millions of records,
//! and safe to run while payments flow.
//!
//! - Each server's own books (`SelfCheck`, read from one snapshot of its
//!   store): every journal entry balances and is posted once, balances equal
//!   the journal, nothing that holds money is negative, no cancelled payment
//!   was ever booked; at the hub each month's positions sum to zero and match
//!   the statement lines; at a node what it claims on each province is the
//!   net of its own lines with it.
//! - Every cross-province transaction has the same outcome, amount and month
//!   at the hub and at both nodes: for every month and province, the hub's
//!   lines and the node's own lines are merged (both sorted by kind and id).
//!   The servers are read one after another, so a transaction completing
//!   meanwhile looks like a difference: each difference is compared again
//!   until it is gone or `--settle` is up, and one whose transaction is still
//!   pending somewhere is listed as in flight; only the rest are violations.
//! - Every cross-province relationship is the same at both its nodes: the
//!   same parties and status, and while active the same quota and used;
//!   no node that is no party holds it. Each node streams its relationships
//!   from one snapshot, merged by id like the lines; a difference is
//!   compared again like theirs, and one whose grant, end, request to end or
//!   quota change is still on its way (pending, or in an outbox) is in flight.
//! - Every cross-province wallet transfer has the same outcome (or none yet)
//!   and month at its sender's node, the hub and its recipient's node, and
//!   none is held at the hub or a recipient's node that its sender's node
//!   does not hold. Each server lists them a page at a time; a difference
//!   is compared again like the others, and one whose notice is still in an
//!   outbox (or whose acceptance is pending) is in flight.
//! - Money is conserved: what came in (contributions) equals what is held
//!   (available, quotas, transfers in flight) plus what went out (paid to
//!   institutions and funds), and the provinces' claims on each other cancel
//!   (read again while they do not; while work stays pending, what is
//!   between provinces is reported as in flight).

mod relationships;
mod wallets;

use std::{cmp::Ordering, collections::BTreeMap, io::Write};

use gongji_common::{
    statement::{Line, Summer},
    Money, ProvinceCode,
};
use gongji_proto::v1 as pb;
use tonic::Streaming;

use crate::{
    args::{AuditArgs, NetworkArgs},
    connection::RECONCILE_TIMEOUT,
    error::{CliError, EXIT_FAILED, EXIT_OK},
    manifest::Manifest,
    progress::{Display, Progress},
    session::{HubClient, NodeClient, Session},
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
    /// the hub and every node, else the session's network.
    pub fn from_args(session: &Session, args: &NetworkArgs) -> Result<Target, CliError> {
        // The environment only fills in what the command line did not say.
        let hub = args.hub.clone().or_else(|| match &args.devnet {
            None => std::env::var("GONGJI_HUB").ok().filter(|hub| !hub.trim().is_empty()),
            Some(_) => None,
        });
        Ok(match (&args.devnet, &hub) {
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
            (None, None) if args.nodes.is_empty() => match session.network() {
                // The network's address file (--network, or ./gongji-data/devnet.json).
                Some(manifest) => Target::from_manifest(manifest)?,
                None => {
                    return Err(CliError::Usage(
                        "give --devnet DATA_DIR/devnet.json (or --network FILE), or --hub ADDR and --node CODE=ADDR for every \
                         province; run where ./gongji-data/devnet.json is to use that devnet"
                            .into(),
                    ))
                }
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
    /// Relationships read at the nodes (each once, however many hold it).
    pub relationships: u64,
    /// Cross-province wallet transfers read (each once, however many hold it).
    pub wallet_transfers: u64,
    pub pending: u64,
    pub outbox: u64,
    pub inflows: Money,
    pub held: Money,
    pub outflows: Money,
    /// Money the provinces' claims on each other add up to (zero once
    /// nothing is between two provinces).
    pub between_provinces: Money,
    /// Differences between servers that settled while the audit ran
    /// (transactions in flight then).
    pub settled_during: u64,
    /// What is still in flight: transactions pending somewhere, which the
    /// audit does not judge.
    pub in_flight: Vec<String>,
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
        writeln!(out, "  relationships compared:  {}", self.relationships)?;
        writeln!(out, "  wallet transfers compared: {}", self.wallet_transfers)?;
        writeln!(out, "  still pending:           {} (outbox {})", self.pending, self.outbox)?;
        writeln!(
            out,
            "  money: {} came in = {} held + {} paid out",
            self.inflows, self.held, self.outflows
        )?;
        if self.settled_during > 0 {
            writeln!(
                out,
                "  differences that settled while the audit ran (transactions in flight): {}",
                self.settled_during
            )?;
        }
        if !self.in_flight.is_empty() {
            writeln!(out, "  still in flight ({}), not judged:", self.in_flight.len())?;
            for item in self.in_flight.iter().take(LISTED) {
                writeln!(out, "    - {item}")?;
            }
        }
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

/// How long the audit waits for differences between servers to settle
/// (transactions in flight while it read) before it judges them.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The clients of every server of the network.
struct Servers {
    hub: HubClient,
    nodes: BTreeMap<ProvinceCode, NodeClient>,
}

impl Servers {
    async fn connect(session: &Session, target: &Target) -> Result<Servers, CliError> {
        // A self-check or a month's lines of a large network take a while.
        let active = session.active_hub(&target.hub).await?;
        let hub = session.hub_on(
            session
                .connect(&active, RECONCILE_TIMEOUT, Some(gongji_common::tls::HUB_NAME))
                .await?,
        );
        let mut nodes = BTreeMap::new();
        for (code, address) in &target.provinces {
            let name = gongji_common::tls::province_name(*code);
            nodes.insert(
                *code,
                session.node_on(session.connect(address, RECONCILE_TIMEOUT, Some(&name)).await?),
            );
        }
        Ok(Servers { hub, nodes })
    }

    /// Every server's self-check: each reads its own store at one point.
    async fn self_checks(&mut self) -> Result<Vec<(String, pb::SelfCheckReport)>, CliError> {
        let mut checks = vec![(
            "hub".to_owned(),
            self.hub
                .self_check(pb::SelfCheckRequest {})
                .await
                .map_err(CliError::call)?
                .into_inner(),
        )];
        for (code, node) in self.nodes.iter_mut() {
            let check = node.self_check(pb::SelfCheckRequest {}).await.map_err(CliError::call)?.into_inner();
            checks.push((format!("province {code}"), check));
        }
        Ok(checks)
    }

    /// One province's lines of a month at the hub and at its node, compared.
    async fn compare(&mut self, period: &str, province: ProvinceCode) -> Result<Pair, CliError> {
        let request = pb::StatementRequest {
            period: period.to_owned(),
            province: province.to_string(),
        };
        let mut at_hub = self.hub.stream_lines(request).await.map_err(CliError::call)?.into_inner();
        let node = self
            .nodes
            .get_mut(&province)
            .ok_or_else(|| CliError::Other(format!("no address for province {province}")))?;
        let mut at_node = node
            .stream_lines(pb::ReconcileMonthRequest { period: period.to_owned() })
            .await
            .map_err(CliError::call)?
            .into_inner();
        compare(&mut at_hub, &mut at_node).await
    }
}

/// Money summed by account kind over every node.
fn totals(checks: &[(String, pb::SelfCheckReport)]) -> Result<BTreeMap<String, Money>, CliError> {
    let mut totals: BTreeMap<String, Money> = BTreeMap::new();
    for (server, check) in checks {
        if server == "hub" {
            continue;
        }
        for total in &check.totals {
            let sum = totals.entry(total.kind.clone()).or_insert(Money::ZERO);
            *sum = add(*sum, money("total", &total.total)?)?;
        }
    }
    Ok(totals)
}

/// Where money is, over every node: what came in, what is held, what went
/// out, and what the provinces claim on each other (zero once nothing is
/// between two provinces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MoneyCheck {
    inflows: Money,
    held: Money,
    outflows: Money,
    claims: Money,
}

impl MoneyCheck {
    fn of(checks: &[(String, pb::SelfCheckReport)]) -> Result<MoneyCheck, CliError> {
        let totals = totals(checks)?;
        let total = |kind: &str| totals.get(kind).copied().unwrap_or(Money::ZERO);
        Ok(MoneyCheck {
            inflows: total("contributions").negated(),
            held: add(add(total("available"), total("quota"))?, total("transit"))?,
            outflows: add(total("institution"), total("fund"))?,
            claims: total("province"),
        })
    }

    fn conserved(&self) -> Result<bool, CliError> {
        Ok(self.claims.is_zero() && add(self.held, self.outflows)? == self.inflows)
    }
}

/// The ids of the work pending at any server ("kind/id" → the id).
fn pending_ids(checks: &[(String, pb::SelfCheckReport)]) -> std::collections::BTreeSet<String> {
    checks
        .iter()
        .flat_map(|(_, check)| check.pending_ids.iter())
        .map(|entry| entry.split_once('/').map_or(entry.as_str(), |(_, id)| id).to_owned())
        .collect()
}

/// Audits the network, printing progress lines to `progress`. Each server
/// is read at one consistent point; a difference between servers is judged
/// only once it has had `SETTLE` to settle: one that settles was a
/// transaction in flight while the audit read, one whose transaction is
/// still pending somewhere is reported in flight, and only the others are
/// violations.
pub async fn audit(session: &Session, target: &Target, progress: &mut dyn Write) -> Result<AuditReport, CliError> {
    audit_settling(session, target, progress, SETTLE).await
}

/// [`audit`] waiting up to `settle` for differences to settle.
pub async fn audit_settling(
    session: &Session,
    target: &Target,
    progress: &mut dyn Write,
    settle: std::time::Duration,
) -> Result<AuditReport, CliError> {
    audit_showing(session, target, progress, settle, Display::Lines).await
}

/// [`audit_settling`], its progress on `err` as `display` says: what each
/// step found, and the month × province comparisons counted.
pub async fn audit_showing(
    session: &Session,
    target: &Target,
    err: &mut dyn Write,
    settle: std::time::Duration,
    display: Display,
) -> Result<AuditReport, CliError> {
    let mut report = AuditReport::default();
    let deadline = tokio::time::Instant::now() + settle;
    let mut servers = Servers::connect(session, target).await?;

    // 1. Each server's own books, each read at one point.
    let checks = servers.self_checks().await?;
    for (server, check) in &checks {
        absorb(&mut report, server, check)?;
    }
    let _ = writeln!(
        err,
        "books checked: {} journal entries, {} accounts",
        report.journal_entries, report.accounts
    );

    // 2. Every month, every province: the hub's lines against the node's.
    let periods = servers
        .hub
        .list_periods(pb::ListPeriodsRequest {})
        .await
        .map_err(CliError::call)?
        .into_inner()
        .periods;
    let mut pairs: BTreeMap<(String, ProvinceCode), Pair> = BTreeMap::new();
    let provinces: Vec<ProvinceCode> = servers.nodes.keys().copied().collect();
    let statements = (periods.len() * provinces.len()) as u64;
    let mut progress = Progress::start(
        display,
        "comparing the hub's statements with the nodes'",
        Some("statements"),
        Some(statements),
    );
    for period in &periods {
        report.months += 1;
        for province in &provinces {
            let pair = servers.compare(period, *province).await?;
            report.lines += pair.lines;
            pairs.insert((period.clone(), *province), pair);
            progress.update(pairs.len() as u64, err);
        }
        progress.note(err, &format!("month {period} compared ({} lines so far)", report.lines));
    }
    progress.finish(err);

    // 2b. Every relationship at both its nodes.
    let compared = relationships::compare(&mut servers.nodes).await?;
    report.relationships = compared.relationships;
    let mut unsettled_relationships = compared.unsettled;
    let _ = writeln!(err, "relationships compared: {}", report.relationships);

    // 2c. Every cross-province wallet transfer at the hub and both its nodes.
    let compared = wallets::compare(&servers.hub, &servers.nodes).await?;
    report.wallet_transfers = compared.transfers;
    let mut unsettled_wallets = compared.differences;
    let _ = writeln!(err, "wallet transfers compared: {}", report.wallet_transfers);

    // 3. Differences get time to settle: each is compared again until it
    // is gone or the time is up. Only the transactions and relationships
    // first found differing are judged (new ones in flight are not the
    // audit's concern).
    let mut unsettled = unsettled_months(&pairs);
    let first_found: usize =
        pairs.values().map(|p| p.mismatches.len()).sum::<usize>() + unsettled_relationships.len() + unsettled_wallets.len();
    while (!unsettled.is_empty() || !unsettled_relationships.is_empty() || !unsettled_wallets.is_empty())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        for period in &unsettled {
            for province in &provinces {
                let key = (period.clone(), *province);
                let again = servers.compare(period, *province).await?;
                let before = pairs.remove(&key).unwrap_or_default();
                pairs.insert(key, before.narrowed_to(again));
            }
        }
        unsettled = unsettled_months(&pairs);
        let mut still = BTreeMap::new();
        for (id, before) in &unsettled_relationships {
            if let Some(again) = relationships::read_again(&mut servers.nodes, id, before).await? {
                still.insert(id.clone(), again);
            }
        }
        unsettled_relationships = still;
        if !unsettled_wallets.is_empty() {
            let again = wallets::compare(&servers.hub, &servers.nodes).await?.differences;
            unsettled_wallets = again.into_iter().filter(|(id, _)| unsettled_wallets.contains_key(id)).collect();
        }
    }
    let left: usize = pairs.values().map(|p| p.mismatches.len()).sum::<usize>() + unsettled_relationships.len() + unsettled_wallets.len();
    report.settled_during = first_found.saturating_sub(left) as u64;

    // 4. What is left is in flight if its transaction is pending somewhere.
    // (Each province's net and each month's sum need no comparison here:
    // the hub checks its positions against its lines in one snapshot, and
    // each node its claims against its own lines; matching lines one by one
    // makes the nets agree.)
    let latest = servers.self_checks().await?;
    let pending = pending_ids(&latest);
    for ((period, province), pair) in &pairs {
        for (line, what) in &pair.mismatches {
            if pending.contains(&line.id) {
                report
                    .in_flight
                    .push(format!("month {period}, province {province}: {what} (pending)"));
            } else {
                report.violation(format!("month {period}, province {province}: {what}"));
            }
        }
        if let Some(problem) = &pair.summary_problem {
            report.violation(format!("month {period}, province {province}: {problem}"));
        }
    }
    let notices: std::collections::BTreeSet<String> = latest
        .iter()
        .flat_map(|(_, check)| check.outbox_ids.iter())
        .map(|entry| entry.split_once('/').map_or(entry.as_str(), |(_, id)| id).to_owned())
        .collect();
    for (id, text) in &unsettled_wallets {
        if pending.contains(id) || notices.contains(id) {
            report.in_flight.push(format!("{text} (pending)"));
        } else {
            report.violation(text.clone());
        }
    }
    let waiting = relationships::Waiting::of(&latest);
    for (id, unsettled) in &unsettled_relationships {
        match waiting.in_flight(id, unsettled) {
            Some(why) => report.in_flight.push(format!("{} ({why})", unsettled.difference.text)),
            None => report.violation(unsettled.difference.text.clone()),
        }
    }

    // 5. Money conserved across the network: read again while the
    // provinces' claims do not cancel, as long as anything is in flight.
    // Three readings in a row with work pending are enough to call it in
    // flight; with nothing pending, it is read again until `settle` is up.
    let mut money_check = MoneyCheck::of(&checks)?;
    let mut latest = latest;
    let mut busy_readings = 0;
    while !money_check.conserved()? {
        money_check = MoneyCheck::of(&latest)?;
        busy_readings = if latest.iter().any(|(_, check)| check.pending > 0) {
            busy_readings + 1
        } else {
            0
        };
        if money_check.conserved()? || busy_readings >= 3 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        latest = servers.self_checks().await?;
    }
    report.inflows = money_check.inflows;
    report.held = money_check.held;
    report.outflows = money_check.outflows;
    report.between_provinces = money_check.claims;
    if !money_check.conserved()? {
        let anything_pending = latest.iter().any(|(_, check)| check.pending > 0);
        if anything_pending {
            report.in_flight.push(format!(
                "{} between provinces while transactions were pending (not checked to the fen: run the audit again when the network is quiet)",
                money_check.claims
            ));
        } else {
            if !money_check.claims.is_zero() {
                report.violation(format!(
                    "the provinces' claims on each other do not cancel: they sum to {}",
                    money_check.claims
                ));
            }
            let accounted = add(money_check.held, money_check.outflows)?;
            if accounted != money_check.inflows {
                report.violation(format!(
                    "money is not conserved: {} came in, but {} is held and {} was paid out",
                    money_check.inflows, money_check.held, money_check.outflows
                ));
            }
        }
    }
    Ok(report)
}

/// The months some of whose pairs still differ.
fn unsettled_months(pairs: &BTreeMap<(String, ProvinceCode), Pair>) -> Vec<String> {
    let mut months: Vec<String> = pairs
        .iter()
        .filter(|(_, pair)| !pair.mismatches.is_empty() || pair.summary_problem.is_some())
        .map(|((period, _), _)| period.clone())
        .collect();
    months.dedup();
    months
}

fn absorb(report: &mut AuditReport, server: &str, check: &pb::SelfCheckReport) -> Result<(), CliError> {
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

/// One province's lines of a month at the hub and at its node, compared.
#[derive(Debug, Clone, Default)]
struct Pair {
    lines: u64,
    /// Each transaction whose lines differ, and how.
    mismatches: Vec<(Line, String)>,
    /// The hub's lines did not arrive whole.
    summary_problem: Option<String>,
}

impl Pair {
    /// This comparison, with only the differences `again` still finds
    /// among those this one found.
    fn narrowed_to(self, again: Pair) -> Pair {
        let still = |line: &Line| again.mismatches.iter().any(|(l, _)| l.kind == line.kind && l.id == line.id);
        Pair {
            lines: self.lines,
            mismatches: self.mismatches.into_iter().filter(|(line, _)| still(line)).collect(),
            summary_problem: again.summary_problem,
        }
    }
}

/// Merges a province's lines of a month at the hub and at its node.
async fn compare(at_hub: &mut Streaming<pb::StatementItem>, at_node: &mut Streaming<pb::StatementLine>) -> Result<Pair, CliError> {
    let mut pair = Pair::default();
    let mut received = Summer::default();
    let mut summary = None;
    let mut hub_line = next_hub_line(at_hub, &mut received, &mut summary).await?;
    let mut node_line = next_node_line(at_node).await?;
    loop {
        let order = match (&hub_line, &node_line) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(h), Some(n)) => h.sort_key().cmp(&n.sort_key()),
        };
        pair.lines += 1;
        let what = |l: &Line| format!("{} {}", l.kind.as_str(), l.id);
        match order {
            Ordering::Less => {
                if let Some(h) = hub_line.take() {
                    let text = format!("{}: approved at the hub, not booked by the node", what(&h));
                    pair.mismatches.push((h, text));
                }
            }
            Ordering::Greater => {
                if let Some(n) = node_line.take() {
                    let text = format!("{}: booked by the node, not approved at the hub in this month", what(&n));
                    pair.mismatches.push((n, text));
                }
            }
            Ordering::Equal => {
                if let (Some(h), Some(n)) = (hub_line.take(), node_line.take()) {
                    if h.amount != n.amount {
                        let text = format!("{}: {} at the hub, {} at the node", what(&h), h.amount, n.amount);
                        pair.mismatches.push((h, text));
                    } else if h.counterpart != n.counterpart || h.direction != n.direction {
                        let text = format!(
                            "{}: {} {} at the hub, {} {} at the node",
                            what(&h),
                            h.direction.as_str(),
                            h.counterpart,
                            n.direction.as_str(),
                            n.counterpart
                        );
                        pair.mismatches.push((h, text));
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
        pair.summary_problem = Some("the hub's lines ended without a summary".into());
        return Ok(pair);
    };
    if let Err(why) = gongji_common::statement::verify(&received, &claimed) {
        pair.summary_problem = Some(format!("the hub's lines did not arrive whole: {why}"));
    }
    Ok(pair)
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
pub async fn command(
    session: &Session,
    args: AuditArgs,
    display: Display,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    let target = Target::from_args(session, &args.network)?;
    let started = std::time::Instant::now();
    let report = audit_showing(session, &target, err, std::time::Duration::from_secs(args.settle), display).await?;
    let _ = writeln!(
        err,
        "audit: {} months, {} lines, {} relationships in {:.1} s",
        report.months,
        report.lines,
        report.relationships,
        started.elapsed().as_secs_f64()
    );
    report.print(out).map_err(CliError::from)?;
    Ok(if report.passed() { EXIT_OK } else { EXIT_FAILED })
}
