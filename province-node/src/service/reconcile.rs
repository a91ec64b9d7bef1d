//! Reconciliation (对账) of a closed month: this node's own cross-province
//! lines against its statement from the hub. Both come sorted by kind and
//! id, so the comparison is a merge of two streams in constant memory; the
//! statement's digest proves it arrived whole. The node's totals are broken
//! down by pooling region for the provincial level of settlement
//! (省市分级清算). Everything matched: the month is confirmed to the hub;
//! otherwise it is disputed with the report.

use std::{cmp::Ordering, collections::BTreeMap};

use gongji_common::{
    statement::{self, Direction, Line, Summer, Totals},
    store::key_prefix,
    Money, Period,
};
use gongji_proto::v1 as pb;
use tokio::sync::mpsc;

use super::Node;
use crate::{
    domain::{Comparison, Refusal, Report},
    error::{NodeError, NodeResult},
    store::{CROSS_LINES, RECONCILIATIONS},
};

fn overflow(e: gongji_common::money::Overflow) -> NodeError {
    NodeError::from(e)
}

impl Node {
    /// Reconciles a closed month and confirms or disputes it at the hub.
    pub async fn reconcile(&self, period: Period) -> NodeResult<Report> {
        let mut statement = self.hub.statement(period, self.province).await.map_err(hub_refusal)?;

        // This node's own lines, sorted like the statement, from a blocking reader.
        let (sender, mut own) = mpsc::channel(256);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            for item in store.scan_prefix(CROSS_LINES, &key_prefix(&[period.to_string().as_bytes()])) {
                if sender.blocking_send(item.map(|(_, line)| line)).is_err() {
                    return;
                }
            }
        });

        let mut report = Report {
            period,
            confirmed: false,
            matched: 0,
            only_at_hub: 0,
            only_at_node: 0,
            amount_differs: 0,
            counterpart_differs: 0,
            mismatches: Vec::new(),
            regions: BTreeMap::new(),
            statement: Summer::default().finish(),
            at: self.now(),
        };
        let mut received = Summer::default();
        let mut summary = None;
        let mut at_hub = next_statement_line(&mut statement, &mut received, &mut summary).await?;
        let mut at_node = own.recv().await.transpose()?;
        loop {
            let order = match (&at_hub, &at_node) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(h), Some(n)) => h.sort_key().cmp(&n.line.sort_key()),
            };
            if order != Ordering::Less {
                if let Some(n) = &at_node {
                    let totals = report.regions.entry(n.region).or_default();
                    totals.lines += 1;
                    match n.line.direction {
                        Direction::Payable => totals.payable = totals.payable.checked_add(n.line.amount).map_err(overflow)?,
                        Direction::Receivable => totals.receivable = totals.receivable.checked_add(n.line.amount).map_err(overflow)?,
                    }
                }
            }
            match order {
                Ordering::Less => report.note(Comparison::OnlyAtHub, at_hub.take(), None),
                Ordering::Greater => report.note(Comparison::OnlyAtNode, None, at_node.take().map(|n| n.line)),
                Ordering::Equal => {
                    let (h, n) = (at_hub.take(), at_node.take().map(|n| n.line));
                    match (&h, &n) {
                        (Some(hl), Some(nl)) if hl.counterpart != nl.counterpart || hl.direction != nl.direction => {
                            report.note(Comparison::CounterpartDiffers, h, n)
                        }
                        (Some(hl), Some(nl)) if hl.amount != nl.amount => report.note(Comparison::AmountDiffers, h, n),
                        _ => report.matched += 1,
                    }
                }
            }
            if at_hub.is_none() && summary.is_none() {
                at_hub = next_statement_line(&mut statement, &mut received, &mut summary).await?;
            }
            if at_node.is_none() {
                at_node = own.recv().await.transpose()?;
            }
        }
        let received = received.finish();
        let summary = summary
            .ok_or_else(|| NodeError::Unavailable(format!("the statement of {period} ended without its summary; reconcile again")))?;
        statement::verify(&received, &summary)
            .map_err(|why| NodeError::Unavailable(format!("the statement of {period} did not arrive whole ({why}); reconcile again")))?;
        report.statement = received;

        let answer = if report.all_matched() {
            self.hub.confirm_month(period, self.province, &report.statement.digest).await
        } else {
            self.hub
                .dispute_month(pb::MonthDispute {
                    period: period.to_string(),
                    province: self.province.to_string(),
                    digest: report.statement.digest.clone(),
                    only_at_hub: report.only_at_hub,
                    only_at_node: report.only_at_node,
                    amount_differs: report.amount_differs,
                    counterpart_differs: report.counterpart_differs,
                    detail: report.detail(),
                })
                .await
        };
        answer.map_err(hub_refusal)?;
        report.confirmed = report.all_matched();
        self.store
            .transact(|tx| tx.put(RECONCILIATIONS, &period.to_string(), &report))
            .durable()
            .await?;
        tracing::info!(%period, matched = report.matched, only_at_hub = report.only_at_hub, only_at_node = report.only_at_node, amount_differs = report.amount_differs, counterpart_differs = report.counterpart_differs, confirmed = report.confirmed, "month reconciled");
        Ok(report)
    }

    /// The stored report of a month's last reconciliation.
    pub fn reconciliation(&self, period: Period) -> NodeResult<Report> {
        self.store
            .get(RECONCILIATIONS, &period.to_string())?
            .ok_or_else(|| NodeError::not_found("reconciliation of month", period))
    }
}

/// The next line of the statement, adding it to the running totals; `None`
/// once the summary (kept in `summary`) or the end of the stream arrives.
async fn next_statement_line(
    stream: &mut tonic::Streaming<pb::StatementItem>,
    received: &mut Summer,
    summary: &mut Option<Totals>,
) -> NodeResult<Option<Line>> {
    match stream.message().await.map_err(hub_refusal)? {
        Some(pb::StatementItem {
            item: Some(pb::statement_item::Item::Line(line)),
        }) => {
            let line = Line::from_pb(line).map_err(|e| NodeError::Unavailable(format!("the hub sent a malformed statement line: {e}")))?;
            received.add(&line).map_err(overflow)?;
            Ok(Some(line))
        }
        Some(pb::StatementItem {
            item: Some(pb::statement_item::Item::Summary(s)),
        }) => {
            let money = |field: &str, text: &str| {
                Money::parse_unsigned(field, text).map_err(|e| NodeError::Unavailable(format!("the hub sent a malformed summary: {e}")))
            };
            *summary = Some(Totals {
                lines: s.lines,
                payable: money("payable", &s.payable)?,
                receivable: money("receivable", &s.receivable)?,
                digest: s.digest,
            });
            Ok(None)
        }
        Some(_) | None => Ok(None),
    }
}

/// A refusal from the hub becomes the same kind of error here.
fn hub_refusal(status: tonic::Status) -> NodeError {
    match status.code() {
        tonic::Code::FailedPrecondition => NodeError::Refused(Refusal::FailedPrecondition(status.message().to_owned())),
        tonic::Code::NotFound => NodeError::Refused(Refusal::Missing(format!("the hub says: {}", status.message()))),
        tonic::Code::InvalidArgument => NodeError::Refused(Refusal::FailedPrecondition(format!("the hub refused: {}", status.message()))),
        _ => NodeError::Unavailable(format!("the hub did not answer: {}", gongji_common::peer::unanswered(&status))),
    }
}
