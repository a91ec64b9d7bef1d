//! `gongji month report MONTH --html FILE`: a month's clearing as one
//! self-contained HTML page. Everything is inline (CSS, SVG); nothing is
//! loaded from the network and no script runs, so the page opens anywhere,
//! offline, and prints as it shows.
//!
//! The page has four parts: the province × province matrix as a heat map
//! (the darker, the more owed), each province's net as a bar left (pays) or
//! right (is paid) of zero, each province's prepaid funds with their usage,
//! and counts and amounts by kind. Every figure is the clearing's own
//! amount as the hub sent it; proportions (colour, bar length) are whole
//! percents computed on the amounts, never floats. Cells and bars carry
//! `data-` attributes with their figures so a program can read the page.

use std::fmt::Write as _;

use gongji_common::Money;
use gongji_proto::v1 as pb;
use rust_decimal::{prelude::ToPrimitive, Decimal};

use super::{cycle::month_state_word, cycle::prepaid_level_word, tx_kind_word};
use crate::totals::ClearingTotals;

/// What the page shows: the month, its clearing summed, and the prepaid
/// funds as the hub reports them now.
pub struct MonthReport<'a> {
    pub month: &'a pb::Month,
    pub clearing: &'a pb::Clearing,
    pub totals: &'a ClearingTotals,
    pub prepaid: &'a pb::PrepaidStatus,
}

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border: 1px solid #ddd; }
td.amount, td.count { text-align: right; font-variant-numeric: tabular-nums; }
td.self { background: #f4f4f4; color: #999; text-align: center; }
tr.total td, td.total { font-weight: bold; }
.summary td:first-child { color: #555; }
.level-green { color: #1a7f37; } .level-yellow { color: #9a6700; } .level-red { color: #cf222e; }
.usage { display: inline-block; height: 10px; background: #eee; width: 120px; vertical-align: middle; }
.usage span { display: block; height: 10px; }
.usage .level-green { background: #2da44e; } .usage .level-yellow { background: #d4a72c; } .usage .level-red { background: #cf222e; }
.balanced { color: #1a7f37; } .unbalanced { color: #cf222e; font-weight: bold; }
svg text { font: 12px system-ui, sans-serif; }
";

/// The page.
pub fn month_report(report: &MonthReport) -> String {
    let MonthReport {
        month,
        clearing,
        totals,
        prepaid,
    } = report;
    let mut page = String::new();
    let period = escape(&clearing.period);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Gongji clearing of {period}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Clearing (清分) of {period}</h1>\n"
    );
    summary(&mut page, month, totals);
    matrix(&mut page, totals);
    nets(&mut page, totals);
    prepaid_funds(&mut page, prepaid);
    kinds(&mut page, clearing);
    page.push_str("</body>\n</html>\n");
    page
}

fn summary(page: &mut String, month: &pb::Month, totals: &ClearingTotals) {
    let balanced = if totals.nets_sum.is_zero() {
        "<span class=\"balanced\">balanced</span>"
    } else {
        "<span class=\"unbalanced\">NOT balanced</span>"
    };
    let _ = write!(
        page,
        "<table class=\"summary\" id=\"summary\">\n\
         <tr><td>month</td><td>{}</td></tr>\n\
         <tr><td>state</td><td id=\"state\">{}</td></tr>\n\
         <tr><td>transactions</td><td id=\"transactions\" class=\"count\">{}</td></tr>\n\
         <tr><td>provinces</td><td class=\"count\">{}</td></tr>\n\
         <tr><td>gross owed</td><td id=\"gross\" class=\"amount\">{}</td></tr>\n\
         <tr><td>sum of nets</td><td id=\"nets-sum\" class=\"amount\">{} {balanced}</td></tr>\n\
         </table>\n",
        escape(&month.period),
        escape(&month_state_word(month.state)),
        totals.transactions,
        totals.provinces.len(),
        totals.grand_total,
        totals.nets_sum,
    );
}

/// The matrix as a heat map: a cell's red is its share of the largest cell.
fn matrix(page: &mut String, totals: &ClearingTotals) {
    page.push_str("<h2>Gross owed, all kinds (rows pay, columns are paid)</h2>\n");
    if totals.provinces.is_empty() {
        page.push_str("<p id=\"matrix\">No cross-province transactions: nothing is owed.</p>\n");
        return;
    }
    let largest = totals
        .provinces
        .iter()
        .flat_map(|payer| totals.provinces.iter().map(move |payee| (payer, payee)))
        .filter(|(payer, payee)| payer != payee)
        .map(|(payer, payee)| totals.cell(payer, payee))
        .max()
        .unwrap_or(Money::ZERO);
    page.push_str("<table id=\"matrix\">\n<tr><th>payer \\ payee</th>");
    for payee in &totals.provinces {
        let _ = write!(page, "<th>{}</th>", escape(payee));
    }
    page.push_str("<th>total</th></tr>\n");
    for payer in &totals.provinces {
        let _ = write!(page, "<tr><th>{}</th>", escape(payer));
        for payee in &totals.provinces {
            if payer == payee {
                page.push_str("<td class=\"self\">-</td>");
                continue;
            }
            let cell = totals.cell(payer, payee);
            let share = percent(cell, largest);
            // 0 stays white; the smallest non-zero share is still visible.
            let alpha = if cell.is_zero() { 0 } else { 10 + share * 75 / 100 };
            let ink = if alpha > 55 { "; color: #fff" } else { "" };
            let _ = write!(
                page,
                "<td class=\"amount cell\" data-payer=\"{}\" data-payee=\"{}\" data-amount=\"{cell}\" \
                 style=\"background: rgba(207, 34, 46, 0.{alpha:02}){ink}\">{cell}</td>",
                escape(payer),
                escape(payee),
            );
        }
        let row = totals.row_totals.get(payer).copied().unwrap_or(Money::ZERO);
        let _ = writeln!(page, "<td class=\"amount total\">{row}</td></tr>");
    }
    page.push_str("<tr class=\"total\"><th>total</th>");
    for payee in &totals.provinces {
        let column = totals.column_totals.get(payee).copied().unwrap_or(Money::ZERO);
        let _ = write!(page, "<td class=\"amount\">{column}</td>");
    }
    let _ = writeln!(page, "<td class=\"amount\">{}</td></tr>\n</table>", totals.grand_total);
}

/// Each province's net as a bar: left of zero it pays, right of it it is paid.
fn nets(page: &mut String, totals: &ClearingTotals) {
    page.push_str("<h2>Nets (receivable minus payable)</h2>\n");
    if totals.nets.is_empty() {
        page.push_str("<p id=\"nets\">No province has a net.</p>\n");
        return;
    }
    // The province's code, room for a paying net's amount, the bars.
    const ROW: usize = 26;
    const LABEL: usize = 40 + 100;
    const HALF: usize = 220;
    let height = ROW * totals.nets.len() + 10;
    let width = LABEL + 2 * HALF + 100;
    let largest = totals.nets.iter().map(|n| abs(n.net)).max().unwrap_or(Money::ZERO);
    let zero = LABEL + HALF;
    let _ = writeln!(
        page,
        "<svg id=\"nets\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         role=\"img\" aria-label=\"each province's net\">"
    );
    for (i, net) in totals.nets.iter().enumerate() {
        let y = i * ROW + 5;
        let length = percent(abs(net.net), largest) as usize * HALF / 100;
        let (x, colour, anchor, text_x) = if net.net.is_negative() {
            (zero - length, "#cf222e", "end", zero - length - 6)
        } else {
            (zero, "#2da44e", "start", zero + length + 6)
        };
        let _ = writeln!(
            page,
            "<g class=\"net\" data-province=\"{province}\" data-net=\"{amount}\">\
             <text x=\"{label_x}\" y=\"{text_y}\">{province}</text>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{length}\" height=\"{bar}\" fill=\"{colour}\"/>\
             <text x=\"{text_x}\" y=\"{text_y}\" text-anchor=\"{anchor}\">{amount}</text></g>",
            province = escape(&net.province),
            amount = net.net,
            label_x = 4,
            text_y = y + 15,
            bar = ROW - 8,
        );
    }
    let _ = writeln!(
        page,
        "<line x1=\"{zero}\" y1=\"0\" x2=\"{zero}\" y2=\"{height}\" stroke=\"#555\"/>\n</svg>"
    );
}

fn prepaid_funds(page: &mut String, status: &pb::PrepaidStatus) {
    page.push_str("<h2>Prepaid funds (预付金), as the hub reports them now</h2>\n");
    if status.provinces.is_empty() {
        page.push_str("<p id=\"prepaid\">No provinces are connected to the hub.</p>\n");
        return;
    }
    page.push_str(
        "<table id=\"prepaid\">\n<tr><th>province</th><th>balance</th><th>unsettled outflow</th><th>reserved</th>\
         <th>usage %</th><th></th><th>level</th><th>required</th><th>top-up</th></tr>\n",
    );
    for p in &status.provinces {
        let level = escape(&prepaid_level_word(p.level));
        // The bar stops at 100%: a province past it is red anyway.
        let filled = whole_percent(&p.usage_percent).min(100);
        let _ = writeln!(
            page,
            "<tr data-province=\"{province}\" data-usage=\"{usage}\"><th>{province}</th>\
             <td class=\"amount\">{}</td><td class=\"amount\">{}</td><td class=\"amount\">{}</td>\
             <td class=\"amount\">{usage}</td>\
             <td><span class=\"usage\"><span class=\"level-{level}\" style=\"width: {filled}%\"></span></span></td>\
             <td class=\"level-{level}\">{level}</td><td class=\"amount\">{}</td><td class=\"amount\">{}</td></tr>",
            escape(&p.balance),
            escape(&p.unsettled_outflow),
            escape(&p.reserved),
            escape(&p.required),
            escape(&p.top_up),
            province = escape(&p.province),
            usage = escape(&p.usage_percent),
        );
    }
    page.push_str("</table>\n");
}

/// Counts and amounts by kind, over all pairs, then each pair's lines.
fn kinds(page: &mut String, clearing: &pb::Clearing) {
    page.push_str("<h2>By kind</h2>\n");
    if clearing.lines.is_empty() {
        page.push_str("<p id=\"kinds\">No transactions.</p>\n");
        return;
    }
    let mut by_kind: std::collections::BTreeMap<String, (u64, Money)> = std::collections::BTreeMap::new();
    for line in &clearing.lines {
        let gross = Money::parse_unsigned("gross", &line.gross).unwrap_or(Money::ZERO);
        let entry = by_kind.entry(tx_kind_word(line.kind)).or_insert((0, Money::ZERO));
        entry.0 += line.count;
        entry.1 = entry.1.checked_add(gross).unwrap_or(entry.1);
    }
    page.push_str("<table id=\"kinds\">\n<tr><th>kind</th><th>count</th><th>gross</th></tr>\n");
    for (kind, (count, gross)) in &by_kind {
        let _ = writeln!(
            page,
            "<tr data-kind=\"{kind}\" data-count=\"{count}\" data-gross=\"{gross}\"><td>{kind}</td>\
             <td class=\"count\">{count}</td><td class=\"amount\">{gross}</td></tr>",
            kind = escape(kind),
        );
    }
    page.push_str("</table>\n<h3>Each pair</h3>\n<table id=\"lines\">\n");
    page.push_str("<tr><th>payer</th><th>payee</th><th>kind</th><th>count</th><th>gross</th></tr>\n");
    for line in &clearing.lines {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"count\">{}</td><td class=\"amount\">{}</td></tr>",
            escape(&line.payer),
            escape(&line.payee),
            escape(&tx_kind_word(line.kind)),
            line.count,
            escape(&line.gross),
        );
    }
    page.push_str("</table>\n");
}

fn abs(amount: Money) -> Money {
    if amount.is_negative() {
        amount.negated()
    } else {
        amount
    }
}

/// `part` as a whole percent of `whole` (0 when `whole` is 0), 0 to 100.
fn percent(part: Money, whole: Money) -> u32 {
    if whole.is_zero() {
        return 0;
    }
    (part.as_decimal() * Decimal::ONE_HUNDRED / whole.as_decimal())
        .round()
        .to_u32()
        .unwrap_or(0)
        .min(100)
}

/// "87.50" → 88; anything unreadable → 0.
fn whole_percent(text: &str) -> u32 {
    text.parse::<Decimal>().ok().and_then(|d| d.round().to_u32()).unwrap_or(0)
}

/// Text made safe for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totals::tests::clearing;

    #[test]
    fn the_page_carries_the_clearings_figures_and_nothing_from_the_network() {
        let clearing = clearing();
        let totals = ClearingTotals::from_pb(&clearing).unwrap();
        let month = pb::Month {
            period: "2026-11".into(),
            state: pb::MonthState::Closed as i32,
            ..Default::default()
        };
        let prepaid = pb::PrepaidStatus {
            provinces: vec![pb::ProvincePrepaid {
                province: "13".into(),
                balance: "100000.00".into(),
                usage_percent: "0.05".into(),
                level: pb::PrepaidLevel::Green as i32,
                ..Default::default()
            }],
        };
        let page = month_report(&MonthReport {
            month: &month,
            clearing: &clearing,
            totals: &totals,
            prepaid: &prepaid,
        });
        assert!(page.contains(r#"data-payer="13" data-payee="41" data-amount="123.45""#), "{page}");
        // The largest cell is the darkest; an empty one is white.
        assert!(
            page.contains(r#"data-amount="123.45" style="background: rgba(207, 34, 46, 0.85); color: #fff""#),
            "{page}"
        );
        assert!(
            page.contains(r#"data-payer="32" data-payee="41" data-amount="0.00" style="background: rgba(207, 34, 46, 0.00)""#),
            "{page}"
        );
        assert!(page.contains(r#"<g class="net" data-province="41" data-net="101.01">"#), "{page}");
        assert!(page.contains(r#"data-kind="payment" data-count="4" data-gross="202.39""#), "{page}");
        assert!(
            page.contains(r#"data-kind="account_transfer" data-count="1" data-gross="0.10""#),
            "{page}"
        );
        assert!(page.contains(r#"<td id="gross" class="amount">212.49</td>"#), "{page}");
        assert!(
            page.contains(r#"<td id="nets-sum" class="amount">0.00 <span class="balanced">"#),
            "{page}"
        );
        assert!(page.contains(r#"<tr data-province="13" data-usage="0.05">"#), "{page}");
        for remote in ["http://", "https://", "<script", "src=", "@import", "url("] {
            let outside = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!outside.contains(remote), "{remote} in the page");
        }
    }

    #[test]
    fn text_from_a_server_cannot_become_markup() {
        assert_eq!(escape(r#"<b a="1">&'"#), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn proportions_are_whole_percents() {
        let m = |s: &str| Money::parse_unsigned("m", s).unwrap();
        assert_eq!(percent(m("1.00"), m("3.00")), 33);
        assert_eq!(percent(m("2.00"), m("3.00")), 67);
        assert_eq!(percent(m("5.00"), Money::ZERO), 0);
        assert_eq!(whole_percent("87.50"), 88);
        assert_eq!(whole_percent("n/a"), 0);
    }
}
