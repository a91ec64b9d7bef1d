//! `gongji.v1.NationalHub`: what operators and integrators ask the hub.

use std::sync::Arc;

use gongji_common::{contract::Decline, period::timestamp, FieldError, Id, Period, ProvinceCode};
use gongji_proto::v1::{self as pb, national_hub_server::NationalHub};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::{
    domain::{HubTransaction, TxBody, TxKind},
    error::HubError,
    service::Hub,
};

pub struct OperatorApi {
    hub: Arc<Hub>,
}

impl OperatorApi {
    pub fn new(hub: Arc<Hub>) -> OperatorApi {
        OperatorApi { hub }
    }
}

fn transaction_to_pb(record: &HubTransaction) -> pb::Transaction {
    let (decline_reason, message) = Decline::to_pb_parts(record.decline.as_ref());
    let body = &record.body;
    let (payment_id, person_id) = match body {
        TxBody::Payment(_) => (String::new(), String::new()),
        TxBody::Refund(r) => (r.payment.payment_id.to_string(), String::new()),
        TxBody::Reversal(p) => (p.payment_id.to_string(), String::new()),
        TxBody::Transfer(t) => (String::new(), t.person_id.to_string()),
    };
    pb::Transaction {
        transaction_id: body.id().to_string(),
        kind: kind_to_pb(body.kind()) as i32,
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
    }
}

fn kind_to_pb(kind: TxKind) -> pb::TransactionKind {
    match kind {
        TxKind::Payment => pb::TransactionKind::Payment,
        TxKind::Refund => pb::TransactionKind::Refund,
        TxKind::Reversal => pb::TransactionKind::Reversal,
        TxKind::AccountTransfer => pb::TransactionKind::AccountTransfer,
    }
}

fn kind_from_pb(value: i32) -> Result<Option<TxKind>, FieldError> {
    match pb::TransactionKind::try_from(value) {
        Ok(pb::TransactionKind::Unspecified) => Ok(None),
        Ok(pb::TransactionKind::Payment) => Ok(Some(TxKind::Payment)),
        Ok(pb::TransactionKind::Refund) => Ok(Some(TxKind::Refund)),
        Ok(pb::TransactionKind::Reversal) => Ok(Some(TxKind::Reversal)),
        Ok(pb::TransactionKind::AccountTransfer) => Ok(Some(TxKind::AccountTransfer)),
        Err(_) => Err(FieldError::new("kind", format!("{value} is not a known value"))),
    }
}

fn period_or_open(hub: &Hub, text: &str) -> Result<Period, HubError> {
    if text.is_empty() {
        hub.open_period()
    } else {
        Ok(Period::parse("period", text)?)
    }
}

#[tonic::async_trait]
impl NationalHub for OperatorApi {
    async fn list_provinces(&self, _: Request<pb::ListProvincesRequest>) -> Result<Response<pb::ListProvincesResponse>, Status> {
        let provinces = self
            .hub
            .provinces()
            .entries()
            .map(|entry| pb::Province {
                code: entry.code.to_string(),
                name: entry.name.clone(),
                address: entry.address.clone(),
            })
            .collect();
        Ok(Response::new(pb::ListProvincesResponse { provinces }))
    }

    async fn get_open_period(&self, _: Request<pb::GetOpenPeriodRequest>) -> Result<Response<pb::OpenPeriod>, Status> {
        Ok(Response::new(pb::OpenPeriod {
            period: self.hub.open_period()?.to_string(),
        }))
    }

    async fn get_transaction(&self, request: Request<pb::GetTransactionRequest>) -> Result<Response<pb::Transaction>, Status> {
        let id = Id::parse("transaction_id", &request.get_ref().transaction_id).map_err(HubError::from)?;
        let kind = kind_from_pb(request.get_ref().kind).map_err(HubError::from)?;
        let record = self.hub.find_transaction(&id, kind)?;
        Ok(Response::new(transaction_to_pb(&record)))
    }

    type ListTransactionsStream = ReceiverStream<Result<pb::Transaction, Status>>;

    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<Self::ListTransactionsStream>, Status> {
        let request = request.into_inner();
        let period = Period::parse("period", &request.period).map_err(HubError::from)?;
        let province = match request.province.as_str() {
            "" => None,
            code => Some(ProvinceCode::parse("province", code).map_err(HubError::from)?),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let hub = self.hub.clone();
        // A blocking thread walks the index, so a large month streams with
        // flat memory and never stalls the async workers on disk reads.
        tokio::task::spawn_blocking(move || {
            for record in hub.transactions(period, province) {
                let item = record.map(|record| transaction_to_pb(&record)).map_err(Status::from);
                if sender.blocking_send(item).is_err() {
                    return; // the client went away
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn get_positions(&self, request: Request<pb::GetPositionsRequest>) -> Result<Response<pb::Positions>, Status> {
        let period = period_or_open(&self.hub, &request.get_ref().period)?;
        let mut positions = Vec::new();
        for entry in self.hub.provinces().entries() {
            positions.push(pb::Position {
                province: entry.code.to_string(),
                net: self.hub.position(entry.code, period)?.to_string(),
            });
        }
        Ok(Response::new(pb::Positions {
            period: period.to_string(),
            positions,
        }))
    }
}
