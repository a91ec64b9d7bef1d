//! Wire forms of the hub's answers (routed transactions, months,
//! clearings, settlements, prepaid funds) and of the requests that carry
//! more than a field, shared by the operators' and the nodes' services.

use std::sync::Arc;

use gongji_common::{
    contract::{Decline, TxKind, TxStatus},
    period::timestamp,
    statement::{Summer, Totals},
    FieldError, Period, ProvinceCode,
};
use gongji_proto::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::{
    domain::{
        notice::WalletRecord, ClearingResult, Dispute, HubTransaction, Level, MonthState, PrepaidOp, ProvincePrepaid, SettlementRecord,
        TxBody,
    },
    error::HubError,
    service::{Hub, MonthView, RouteOutcome},
};

/// A month named on the wire, or the open month when empty.
pub fn period_or_open(hub: &Hub, text: &str) -> Result<Period, HubError> {
    if text.is_empty() {
        hub.open_period()
    } else {
        Ok(Period::parse("period", text)?)
    }
}

pub fn period(text: &str) -> Result<Period, HubError> {
    Ok(Period::parse("period", text)?)
}

fn state_to_pb(state: MonthState) -> pb::MonthState {
    match state {
        MonthState::Open => pb::MonthState::Open,
        MonthState::Closing => pb::MonthState::Closing,
        MonthState::Closed => pb::MonthState::Closed,
        MonthState::Reconciled => pb::MonthState::Reconciled,
        MonthState::Settled => pb::MonthState::Settled,
    }
}

pub fn dispute_to_pb(period: Period, province: &str, d: &Dispute) -> pb::MonthDispute {
    pb::MonthDispute {
        period: period.to_string(),
        province: province.to_owned(),
        digest: d.digest.clone(),
        only_at_hub: d.only_at_hub,
        only_at_node: d.only_at_node,
        amount_differs: d.amount_differs,
        counterpart_differs: d.counterpart_differs,
        detail: d.detail.clone(),
    }
}

pub fn dispute_from_pb(d: &pb::MonthDispute) -> Result<Dispute, FieldError> {
    if d.detail.chars().count() > 2000 {
        return Err(FieldError::new("detail", "is longer than 2000 characters"));
    }
    Ok(Dispute {
        digest: d.digest.clone(),
        only_at_hub: d.only_at_hub,
        only_at_node: d.only_at_node,
        amount_differs: d.amount_differs,
        counterpart_differs: d.counterpart_differs,
        detail: d.detail.clone(),
        at: gongji_common::period::now_millis(),
    })
}

pub fn month_to_pb(view: &MonthView) -> pb::Month {
    let record = view.record.as_ref();
    let clearing = record.and_then(|r| r.clearing.as_ref());
    pb::Month {
        period: view.period.to_string(),
        state: state_to_pb(view.state) as i32,
        pending: view.pending,
        transactions: clearing.map_or(0, |c| c.transactions),
        provinces: clearing
            .map(|c| c.provinces.keys().map(|p| p.to_string()).collect())
            .unwrap_or_default(),
        confirmed: record
            .map(|r| r.confirmed.keys().map(|p| p.to_string()).collect())
            .unwrap_or_default(),
        disputes: record
            .map(|r| r.disputes.iter().map(|(p, d)| dispute_to_pb(view.period, p.as_str(), d)).collect())
            .unwrap_or_default(),
        closed_at: record.map(|r| timestamp(r.closed_at)),
        cleared_at: record.and_then(|r| r.cleared_at).map(timestamp),
        settled_at: record.and_then(|r| r.settlement.as_ref()).map(|s| timestamp(s.at)),
        override_reason: record
            .and_then(|r| r.settlement.as_ref())
            .and_then(|s| s.override_reason.clone())
            .unwrap_or_default(),
    }
}

pub fn clearing_to_pb(period: Period, clearing: &ClearingResult) -> Result<pb::Clearing, HubError> {
    let nets = clearing
        .provinces
        .iter()
        .map(|(province, totals): (_, &Totals)| {
            Ok(pb::ProvinceNet {
                province: province.to_string(),
                payable: totals.payable.to_string(),
                receivable: totals.receivable.to_string(),
                net: totals.net()?.to_string(),
            })
        })
        .collect::<Result<_, HubError>>()?;
    Ok(pb::Clearing {
        period: period.to_string(),
        lines: clearing
            .lines
            .iter()
            .map(|l| pb::ClearingLine {
                payer: l.payer.to_string(),
                payee: l.payee.to_string(),
                kind: l.kind.to_pb() as i32,
                count: l.count,
                gross: l.gross.to_string(),
            })
            .collect(),
        nets,
    })
}

pub fn settlement_to_pb(period: Period, s: &SettlementRecord) -> pb::Settlement {
    pb::Settlement {
        period: period.to_string(),
        lines: s
            .lines
            .iter()
            .map(|l| pb::SettlementLine {
                province: l.province.to_string(),
                net: l.net.to_string(),
                drawn: l.drawn.to_string(),
                paid: l.paid.to_string(),
            })
            .collect(),
        override_reason: s.override_reason.clone().unwrap_or_default(),
        operator: s.operator.clone(),
        settled_at: Some(timestamp(s.at)),
    }
}

pub fn prepaid_op_to_pb(id: &str, op: &PrepaidOp) -> pb::PrepaidOperation {
    pb::PrepaidOperation {
        operation_id: id.to_owned(),
        kind: if op.withdrawal { "withdrawal" } else { "deposit" }.into(),
        province: op.province.to_string(),
        amount: op.amount.to_string(),
        operator: op.operator.clone(),
        reason: op.reason.clone(),
        at: Some(timestamp(op.at)),
        balance_after: op.balance_after.to_string(),
        forced: op.forced,
    }
}

pub fn prepaid_to_pb(p: &ProvincePrepaid) -> pb::ProvincePrepaid {
    pb::ProvincePrepaid {
        province: p.province.to_string(),
        balance: p.balance.to_string(),
        unsettled_outflow: p.unsettled_outflow.to_string(),
        reserved: p.reserved.to_string(),
        usage_percent: format!("{:.1}", p.usage_percent),
        level: match p.level {
            Level::Green => pb::PrepaidLevel::Green,
            Level::Yellow => pb::PrepaidLevel::Yellow,
            Level::Red => pb::PrepaidLevel::Red,
        } as i32,
        required: p.required.to_string(),
        top_up: p.top_up.to_string(),
        level_reason: p.level_reason.clone(),
    }
}

/// Streams a province's lines of a month, then a summary with their count,
/// totals and digest, from a blocking thread so that a statement of any size
/// streams with flat memory.
pub fn statement_stream(hub: Arc<Hub>, period: Period, province: ProvinceCode) -> ReceiverStream<Result<pb::StatementItem, Status>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(256);
    tokio::task::spawn_blocking(move || {
        let mut summer = Summer::default();
        // One consistent reading of the statement, however long it streams.
        let snapshot = match hub.store().snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                let _ = sender.blocking_send(Err(Status::from(HubError::from(e))));
                return;
            }
        };
        for line in Hub::lines(&snapshot, period, province) {
            let item = line.and_then(|line| {
                summer.add(&line)?;
                Ok(pb::StatementItem {
                    item: Some(pb::statement_item::Item::Line(line.to_pb())),
                })
            });
            let failed = item.is_err();
            if sender.blocking_send(item.map_err(Status::from)).is_err() || failed {
                return;
            }
        }
        let totals = summer.finish();
        let summary = totals.net().map(|net| pb::StatementSummary {
            period: period.to_string(),
            province: province.to_string(),
            lines: totals.lines,
            payable: totals.payable.to_string(),
            receivable: totals.receivable.to_string(),
            net: net.to_string(),
            digest: totals.digest.clone(),
        });
        let item = summary
            .map(|s| pb::StatementItem {
                item: Some(pb::statement_item::Item::Summary(s)),
            })
            .map_err(|e| Status::from(HubError::from(e)));
        let _ = sender.blocking_send(item);
    });
    ReceiverStream::new(receiver)
}

/// A routed transaction's answer to the node that routed it.
pub fn route_answer(outcome: &RouteOutcome) -> pb::RouteAnswer {
    let (decline_reason, message) = Decline::to_pb_parts(outcome.decision.as_ref().err());
    let status = if outcome.decision.is_ok() {
        TxStatus::Approved
    } else {
        TxStatus::Declined
    };
    pb::RouteAnswer {
        status: status.to_pb() as i32,
        decline_reason,
        message,
        period: outcome.period.to_string(),
    }
}

/// A transaction as the operators see it.
pub fn transaction_to_pb(record: &HubTransaction) -> pb::Transaction {
    let (decline_reason, message) = Decline::to_pb_parts(record.decline.as_ref());
    let body = &record.body;
    let (payment_id, person_id) = match body {
        TxBody::Payment(_) => (String::new(), String::new()),
        TxBody::Refund(r) => (r.payment.payment_id.to_string(), String::new()),
        TxBody::Reversal(p) => (p.payment_id.to_string(), String::new()),
        TxBody::Transfer(t) => (String::new(), t.person_id.to_string()),
        TxBody::Wallet(w) => (String::new(), w.recipient_id.to_string()),
    };
    pb::Transaction {
        transaction_id: body.id().to_string(),
        kind: body.kind().to_pb() as i32,
        payer_province: body.payer().to_string(),
        payee_province: body.payee().to_string(),
        amount: body.amount().to_string(),
        period: record.period.to_string(),
        status: record.status.to_pb() as i32,
        decline_reason,
        message,
        relationship_id: body.relationship_id().map(|r| r.to_string()).unwrap_or_default(),
        payer_position: record.payer_position.map(|m| m.to_string()).unwrap_or_default(),
        payee_position: record.payee_position.map(|m| m.to_string()).unwrap_or_default(),
        recorded_at: Some(timestamp(record.recorded_at)),
        decided_at: record.decided_at.map(timestamp),
        payment_id,
        person_id,
        reversal_period: record.reversal_period.map(|p| p.to_string()).unwrap_or_default(),
        cursor: String::new(),
    }
}

/// A cross-province wallet transfer as the hub recorded it.
pub fn wallet_transfer_to_pb(record: &WalletRecord) -> pb::WalletTransfer {
    let note = record.note.to_pb();
    pb::WalletTransfer {
        transfer_id: note.transfer_id,
        sender_id: note.sender_id,
        recipient_id: note.recipient_id,
        recipient_province: record.recipient_province.to_string(),
        relation_kind: 0,
        amount: note.amount,
        status: note.status,
        sent_at: note.sent_at,
        return_at: note.return_at,
        settled_at: note.settled_at,
        sender_province: record.sender_province.to_string(),
        period: note.period,
    }
}

/// What a transaction listing asks for besides its month and province: a
/// kind, a status, a counterpart; and how many.
pub struct TransactionListing {
    pub kind: Option<TxKind>,
    pub status: Option<TxStatus>,
    pub pair: Option<(ProvinceCode, ProvinceCode)>,
    /// At most this many; `None`: all of them.
    pub limit: Option<usize>,
}

pub fn transaction_listing(
    request: &pb::ListTransactionsRequest,
    province: Option<ProvinceCode>,
) -> Result<TransactionListing, FieldError> {
    use gongji_common::cursor::{check_limit, parse_status};
    let pair = match (province, request.counterpart.as_str()) {
        (_, "") => None,
        (Some(province), code) => Some((province, ProvinceCode::parse("counterpart", code)?)),
        (None, _) => {
            return Err(FieldError::new(
                "counterpart",
                "needs province: the pair is province and counterpart",
            ))
        }
    };
    Ok(TransactionListing {
        kind: TxKind::from_pb(request.kind)?,
        status: match request.status.trim() {
            "" => None,
            text => Some(parse_status("status", text)?),
        },
        pair,
        limit: match request.limit {
            0 => None,
            limit => Some(check_limit("limit", limit)?),
        },
    })
}
