//! How the monthly cycle looks on a terminal: a month at the hub, a node's
//! reconciliation report, the clearing matrix, a settlement, and prepaid
//! funds. Sums arrive computed (`crate::totals`); nothing here parses.

use std::io::{self, Write};

use gongji_proto::v1 as pb;

use super::{cst_time, province_label, word, Fields, Out, Table};
use crate::totals::{ClearingTotals, RegionSums, SettlementSums};

pub fn month_state_word(value: i32) -> String {
    word(pb::MonthState::try_from(value).ok().map(|v| v.as_str_name()), "MONTH_STATE_", value)
}

pub fn prepaid_level_word(value: i32) -> String {
    word(
        pb::PrepaidLevel::try_from(value).ok().map(|v| v.as_str_name()),
        "PREPAID_LEVEL_",
        value,
    )
}

pub fn comparison_word(value: i32) -> String {
    word(pb::Comparison::try_from(value).ok().map(|v| v.as_str_name()), "COMPARISON_", value)
}

pub fn direction_word(value: i32) -> String {
    word(pb::Direction::try_from(value).ok().map(|v| v.as_str_name()), "DIRECTION_", value)
}

fn state(m: &pb::Month) -> pb::MonthState {
    pb::MonthState::try_from(m.state).unwrap_or(pb::MonthState::Unspecified)
}

/// "1 transaction", "2 transactions".
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A month at the hub, with a table of its disputes if there are any.
pub fn month(out: &mut Out, m: &pb::Month) -> io::Result<()> {
    let stage = state(m);
    let cleared = matches!(stage, pb::MonthState::Closed | pb::MonthState::Reconciled | pb::MonthState::Settled);
    let mut fields = Fields::new()
        .record("month")
        .add("month", &m.period)
        .add("state", month_state_word(m.state))
        .add("pending", m.pending.to_string());
    if cleared {
        let confirmed_with_activity = m.provinces.iter().filter(|p| m.confirmed.contains(p)).count();
        let confirmed = if m.confirmed.is_empty() {
            "none".to_owned()
        } else {
            m.confirmed.join(", ")
        };
        let waiting: Vec<&str> = m
            .provinces
            .iter()
            .filter(|p| !m.confirmed.contains(p))
            .map(String::as_str)
            .collect();
        fields = fields
            .add("transactions", m.transactions.to_string())
            .add(
                "provinces",
                if m.provinces.is_empty() {
                    "none (no cross-province transactions)".to_owned()
                } else {
                    m.provinces.join(", ")
                },
            )
            .add(
                "confirmed",
                format!("{confirmed} ({confirmed_with_activity} of {})", m.provinces.len()),
            )
            .add_some(
                "waiting for",
                if stage == pb::MonthState::Closed {
                    waiting.join(", ")
                } else {
                    String::new()
                },
            )
            .add("disputes", m.disputes.len().to_string());
    } else {
        fields = fields.add("transactions", "counted once the month is closed");
    }
    fields
        .add_some("closed at", cst_time(m.closed_at.as_ref().map(|t| t.seconds)))
        .add_some("cleared at", cst_time(m.cleared_at.as_ref().map(|t| t.seconds)))
        .add_some("settled at", cst_time(m.settled_at.as_ref().map(|t| t.seconds)))
        .add_some("override reason", &m.override_reason)
        .write(out)?;
    if !m.disputes.is_empty() {
        writeln!(out)?;
        writeln!(out, "disputes:")?;
        let mut table = Table::new(&[
            "province",
            "only at hub",
            "only at node",
            "amount differs",
            "counterpart differs",
            "detail",
        ])
        .record("dispute")
        .right_aligned(1..=4);
        for d in &m.disputes {
            table.row(vec![
                d.province.clone(),
                d.only_at_hub.to_string(),
                d.only_at_node.to_string(),
                d.amount_differs.to_string(),
                d.counterpart_differs.to_string(),
                d.detail.clone(),
            ]);
        }
        table.write(out)?;
    }
    Ok(())
}

/// What a close did and what comes next, after the month itself.
pub fn close_note(out: &mut Out, m: &pb::Month) -> io::Result<()> {
    let period = &m.period;
    writeln!(out)?;
    match state(m) {
        pb::MonthState::Closing => writeln!(
            out,
            "{period} is still closing: {} stamped with it {} pending. New transactions are already stamped with the \
             next month; the close completes by itself once {} decided (`gongji month status {period}` shows it).",
            count(m.pending, "transaction"),
            if m.pending == 1 { "is" } else { "are" },
            if m.pending == 1 { "it is" } else { "they are" },
        ),
        pb::MonthState::Closed => writeln!(
            out,
            "{period} is closed and cleared; new transactions are stamped with the next month. Next: \
             `gongji month reconcile {period} --province CODE` (or --node ADDR) at each province with activity."
        ),
        pb::MonthState::Open => writeln!(out, "{period} is still open."),
        _ => writeln!(
            out,
            "{period} was closed before and is {} now; closing it again changed nothing.",
            month_state_word(m.state)
        ),
    }
}

/// A node's reconciliation report: the outcome, the counts, the statement,
/// every mismatched line and the totals by pooling region.
pub fn reconciliation(out: &mut Out, r: &pb::Reconciliation, regions: &RegionSums) -> io::Result<()> {
    let differing = r.only_at_hub + r.only_at_node + r.amount_differs + r.counterpart_differs;
    let outcome = if r.confirmed {
        "confirmed: every line matched, and the hub has the confirmation".to_owned()
    } else {
        format!(
            "disputed: {} {}, and the hub has the dispute with this report",
            count(differing, "line"),
            if differing == 1 { "differs" } else { "differ" }
        )
    };
    Fields::new()
        .record("reconciliation")
        .add("month", &r.period)
        .add("province", province_label(&r.province))
        .add("outcome", outcome)
        .add("matched", r.matched.to_string())
        .add("only at hub", r.only_at_hub.to_string())
        .add("only at node", r.only_at_node.to_string())
        .add("amount differs", r.amount_differs.to_string())
        .add("counterpart differs", r.counterpart_differs.to_string())
        .add("statement lines", r.statement_lines.to_string())
        .add("statement net", &r.net)
        .add_some("statement digest", &r.statement_digest)
        .add_some("reconciled at", cst_time(r.reconciled_at.as_ref().map(|t| t.seconds)))
        .write(out)?;

    writeln!(out)?;
    if r.mismatches.is_empty() {
        writeln!(out, "mismatched lines: none")?;
    } else {
        let listed = r.mismatches.len() as u64;
        if listed < differing {
            writeln!(out, "mismatched lines (the first {listed} of {differing}):")?;
        } else {
            writeln!(out, "mismatched lines:")?;
        }
        let mut table = Table::new(&["comparison", "kind", "id", "counterpart", "direction", "hub amount", "node amount"])
            .record("mismatch")
            .right_aligned([5, 6]);
        for m in &r.mismatches {
            table.row(mismatch_row(m));
        }
        table.write(out)?;
    }

    writeln!(out)?;
    if r.regions.is_empty() {
        return writeln!(out, "pooling regions: none (no cross-province lines at this node)");
    }
    writeln!(out, "pooling regions (this node's records):")?;
    let mut table = Table::new(&["region", "lines", "payable", "receivable", "net"])
        .record("region")
        .right_aligned(1..=4);
    for region in &r.regions {
        table.row(vec![
            region.region.clone(),
            region.lines.to_string(),
            region.payable.clone(),
            region.receivable.clone(),
            region.net.clone(),
        ]);
    }
    table.row(vec![
        "total".into(),
        regions.lines.to_string(),
        regions.payable.to_string(),
        regions.receivable.to_string(),
        regions.net.to_string(),
    ]);
    table.write(out)
}

/// One side's value, or both when they differ: "32", "32 (hub) / 34 (node)".
fn compared(at_hub: Option<String>, at_node: Option<String>) -> String {
    match (at_hub, at_node) {
        (Some(hub), Some(node)) if hub != node => format!("{hub} (hub) / {node} (node)"),
        (Some(one), _) | (None, Some(one)) => one,
        (None, None) => String::new(),
    }
}

fn mismatch_row(m: &pb::Mismatch) -> Vec<String> {
    let (hub, node) = (m.at_hub.as_ref(), m.at_node.as_ref());
    let either = hub.or(node);
    let amount = |line: Option<&pb::StatementLine>| line.map_or_else(|| "-".to_owned(), |l| l.amount.clone());
    vec![
        comparison_word(m.comparison),
        either.map_or(String::new(), |l| super::tx_kind_word(l.kind)),
        either.map_or(String::new(), |l| l.transaction_id.clone()),
        compared(hub.map(|l| l.counterpart.clone()), node.map(|l| l.counterpart.clone())),
        compared(hub.map(|l| direction_word(l.direction)), node.map(|l| direction_word(l.direction))),
        amount(hub),
        amount(node),
    ]
}

/// The clearing of a month: the matrix, the same per kind, and the nets
/// with their sum.
pub fn clearing(out: &mut Out, c: &pb::Clearing, totals: &ClearingTotals) -> io::Result<()> {
    writeln!(
        out,
        "clearing (清分) of {}: {}",
        c.period,
        count(totals.transactions, "transaction")
    )?;
    if totals.provinces.is_empty() {
        writeln!(out, "no cross-province transactions: nothing is owed")?;
        return writeln!(out, "sum of nets: {} (balanced)", totals.nets_sum);
    }

    writeln!(out)?;
    writeln!(out, "gross owed, all kinds (rows pay, columns are paid):")?;
    let mut header = vec!["payer \\ payee".to_owned()];
    header.extend(totals.provinces.iter().cloned());
    header.push("total".into());
    let columns = header.len();
    let mut matrix = Table::with_header(header).record("matrix_row").right_aligned(1..columns);
    for payer in &totals.provinces {
        let mut row = vec![payer.clone()];
        for payee in &totals.provinces {
            row.push(if payer == payee {
                "-".to_owned()
            } else {
                totals.cell(payer, payee).to_string()
            });
        }
        row.push(totals.row_totals.get(payer).map(ToString::to_string).unwrap_or_default());
        matrix.row(row);
    }
    let mut total_row = vec!["total".to_owned()];
    total_row.extend(
        totals
            .provinces
            .iter()
            .map(|p| totals.column_totals.get(p).map(ToString::to_string).unwrap_or_default()),
    );
    total_row.push(totals.grand_total.to_string());
    matrix.row(total_row);
    matrix.write(out)?;

    writeln!(out)?;
    writeln!(out, "by kind:")?;
    let mut kinds = Table::new(&["payer", "payee", "kind", "count", "gross"])
        .record("clearing_line")
        .right_aligned([3, 4]);
    for line in &c.lines {
        kinds.row(vec![
            line.payer.clone(),
            line.payee.clone(),
            super::tx_kind_word(line.kind),
            line.count.to_string(),
            line.gross.clone(),
        ]);
    }
    kinds.write(out)?;

    writeln!(out)?;
    writeln!(out, "nets (receivable minus payable):")?;
    let mut nets = Table::new(&["province", "payable", "receivable", "net"])
        .record("net")
        .right_aligned(1..=3);
    for n in &totals.nets {
        nets.row(vec![
            n.province.clone(),
            n.payable.to_string(),
            n.receivable.to_string(),
            n.net.to_string(),
        ]);
    }
    nets.row(vec![
        "total".into(),
        totals.total_payable.to_string(),
        totals.total_receivable.to_string(),
        totals.nets_sum.to_string(),
    ]);
    nets.write(out)?;
    writeln!(
        out,
        "sum of nets: {} ({})",
        totals.nets_sum,
        if totals.nets_sum.is_zero() { "balanced" } else { "NOT balanced" }
    )
}

/// Every month the hub knows, one line each, with the gross amount of its
/// clearing once it is closed.
pub fn months(out: &mut Out, months: &[(pb::Month, Option<gongji_common::Money>)]) -> io::Result<()> {
    if months.is_empty() {
        return writeln!(out, "the hub knows no month yet");
    }
    let mut table = Table::new(&[
        "month",
        "state",
        "pending",
        "transactions",
        "provinces",
        "confirmed",
        "disputed",
        "gross",
        "closed at",
        "settled at",
    ])
    .right_aligned(2..=7);
    for (month, gross) in months {
        let closed = gross.is_some();
        let known = |n: usize| if closed { n.to_string() } else { "-".to_owned() };
        table.row(vec![
            month.period.clone(),
            month_state_word(month.state),
            month.pending.to_string(),
            if closed { month.transactions.to_string() } else { "-".to_owned() },
            known(month.provinces.len()),
            known(month.confirmed.len()),
            known(month.disputes.len()),
            gross.map_or_else(|| "-".to_owned(), |g| g.to_string()),
            cst_time(month.closed_at.as_ref().map(|t| t.seconds)),
            cst_time(month.settled_at.as_ref().map(|t| t.seconds)),
        ]);
    }
    table.write(out)
}

/// A settlement: what each province's net drew or was paid.
pub fn settlement(out: &mut Out, s: &pb::Settlement, sums: &SettlementSums) -> io::Result<()> {
    Fields::new()
        .record("settlement")
        .add("month", &s.period)
        .add("state", "settled")
        .add_some("settled at", cst_time(s.settled_at.as_ref().map(|t| t.seconds)))
        .add_some("operator", &s.operator)
        .add_some("override reason", &s.override_reason)
        .write(out)?;
    writeln!(out)?;
    if s.lines.is_empty() {
        return writeln!(out, "no province had cross-province activity: nothing was drawn or paid");
    }
    writeln!(
        out,
        "drawn from the net payers' prepaid funds, paid out to the net receivers (settling again changes nothing):"
    )?;
    let mut table = Table::new(&["province", "net", "drawn", "paid"])
        .record("settlement_line")
        .right_aligned(1..=3);
    for line in &s.lines {
        table.row(vec![line.province.clone(), line.net.clone(), line.drawn.clone(), line.paid.clone()]);
    }
    table.row(vec![
        "total".into(),
        sums.net.to_string(),
        sums.drawn.to_string(),
        sums.paid.to_string(),
    ]);
    table.write(out)
}

/// Every province's prepaid funds, one line each.
pub fn prepaid_status(out: &mut Out, status: &pb::PrepaidStatus) -> io::Result<()> {
    if status.provinces.is_empty() {
        return writeln!(out, "no provinces are connected to the hub");
    }
    let mut table = Table::new(&[
        "province",
        "balance",
        "unsettled outflow",
        "reserved",
        "usage %",
        "level",
        "required",
        "top-up",
    ])
    .right_aligned([1, 2, 3, 4, 6, 7]);
    for p in &status.provinces {
        table.row(vec![
            p.province.clone(),
            p.balance.clone(),
            p.unsettled_outflow.clone(),
            p.reserved.clone(),
            p.usage_percent.clone(),
            prepaid_level_word(p.level),
            p.required.clone(),
            p.top_up.clone(),
        ]);
    }
    table.write(out)?;
    // Why a province is not green: what it can still pay.
    for p in &status.provinces {
        let level = pb::PrepaidLevel::try_from(p.level).unwrap_or(pb::PrepaidLevel::Unspecified);
        if matches!(level, pb::PrepaidLevel::Yellow | pb::PrepaidLevel::Red) {
            writeln!(out, "{} {}: {}", p.province, prepaid_level_word(p.level), p.level_reason)?;
        }
    }
    Ok(())
}

/// A recorded deposit or withdrawal.
pub fn prepaid_operation(out: &mut Out, op: &pb::PrepaidOperation) -> io::Result<()> {
    Fields::new()
        .add("operation", &op.operation_id)
        .add("kind", &op.kind)
        .add("province", province_label(&op.province))
        .add("amount", &op.amount)
        .add("balance after", &op.balance_after)
        .add_some(
            "forced",
            if op.forced {
                "yes: below the required level, on purpose"
            } else {
                ""
            },
        )
        .add("operator", &op.operator)
        .add("reason", &op.reason)
        .add_some("at", cst_time(op.at.as_ref().map(|t| t.seconds)))
        .write(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Out) -> io::Result<()>) -> String {
        let mut bytes = Vec::new();
        write(&mut Out::text(&mut bytes)).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn line(kind: pb::TransactionKind, id: &str, counterpart: &str, direction: pb::Direction, amount: &str) -> pb::StatementLine {
        pb::StatementLine {
            kind: kind as i32,
            transaction_id: id.into(),
            counterpart: counterpart.into(),
            direction: direction as i32,
            amount: amount.into(),
        }
    }

    #[test]
    fn a_disputed_reconciliation_lists_each_mismatch_with_both_sides() {
        let report = pb::Reconciliation {
            period: "2026-11".into(),
            province: "41".into(),
            confirmed: false,
            matched: 3,
            only_at_hub: 1,
            amount_differs: 1,
            counterpart_differs: 1,
            mismatches: vec![
                pb::Mismatch {
                    comparison: pb::Comparison::OnlyAtHub as i32,
                    at_hub: Some(line(pb::TransactionKind::Payment, "p-9", "13", pb::Direction::Receivable, "9.00")),
                    at_node: None,
                },
                pb::Mismatch {
                    comparison: pb::Comparison::AmountDiffers as i32,
                    at_hub: Some(line(pb::TransactionKind::Refund, "r-1", "13", pb::Direction::Payable, "10.00")),
                    at_node: Some(line(pb::TransactionKind::Refund, "r-1", "13", pb::Direction::Payable, "1.00")),
                },
                pb::Mismatch {
                    comparison: pb::Comparison::CounterpartDiffers as i32,
                    at_hub: Some(line(pb::TransactionKind::Payment, "p-2", "13", pb::Direction::Receivable, "5.00")),
                    at_node: Some(line(pb::TransactionKind::Payment, "p-2", "32", pb::Direction::Receivable, "5.00")),
                },
            ],
            net: "4.00".into(),
            ..Default::default()
        };
        let sums = RegionSums::of(&report.regions).unwrap();
        let shown = text(|out| reconciliation(out, &report, &sums));
        assert!(
            shown.contains("outcome:             disputed: 3 lines differ, and the hub has the dispute with this report\n"),
            "{shown}"
        );
        let rows: Vec<&str> = shown.lines().skip_while(|l| !l.starts_with("mismatched lines:")).collect();
        assert_eq!(
            rows[1..5],
            [
                "comparison           kind     id   counterpart           direction   hub amount  node amount",
                "only_at_hub          payment  p-9  13                    receivable        9.00            -",
                "amount_differs       refund   r-1  13                    payable          10.00         1.00",
                "counterpart_differs  payment  p-2  13 (hub) / 32 (node)  receivable        5.00         5.00",
            ],
            "{shown}"
        );
        assert!(
            shown.ends_with("pooling regions: none (no cross-province lines at this node)\n"),
            "{shown}"
        );
    }

    #[test]
    fn a_closing_month_says_what_it_waits_for_and_that_the_close_completes_by_itself() {
        let closing = pb::Month {
            period: "2026-11".into(),
            state: pb::MonthState::Closing as i32,
            pending: 1,
            ..Default::default()
        };
        let shown = text(|out| {
            month(out, &closing)?;
            close_note(out, &closing)
        });
        assert!(shown.contains("state:        closing\n"), "{shown}");
        assert!(shown.contains("transactions: counted once the month is closed\n"), "{shown}");
        assert!(
            shown.contains("2026-11 is still closing: 1 transaction stamped with it is pending."),
            "{shown}"
        );
        assert!(shown.contains("the close completes by itself once it is decided"), "{shown}");
    }

    #[test]
    fn a_closed_month_names_who_confirmed_who_is_awaited_and_each_dispute() {
        let closed = pb::Month {
            period: "2026-11".into(),
            state: pb::MonthState::Closed as i32,
            transactions: 5,
            provinces: vec!["13".into(), "32".into(), "41".into()],
            confirmed: vec!["13".into()],
            disputes: vec![pb::MonthDispute {
                province: "41".into(),
                only_at_hub: 2,
                detail: "payment p-9: onlyathub".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let shown = text(|out| month(out, &closed));
        assert!(shown.contains("confirmed:    13 (1 of 3)\n"), "{shown}");
        assert!(shown.contains("waiting for:  32, 41\n"), "{shown}");
        assert!(shown.contains("disputes:     1\n"), "{shown}");
        assert!(
            shown.ends_with(
                "disputes:\n\
                 province  only at hub  only at node  amount differs  counterpart differs  detail\n\
                 41                  2             0               0                    0  payment p-9: onlyathub\n"
            ),
            "{shown}"
        );
    }
}
