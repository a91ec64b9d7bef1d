//! `gongji.v1.NationalHub`: what operators and integrators ask the hub.

use std::sync::Arc;

use gongji_common::{access::Principal, contract::TxKind, oplog::OpLog, Id, Period, ProvinceCode};
use gongji_proto::v1::{self as pb, national_hub_server::NationalHub};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{self, transaction_to_pb};
use crate::{domain::PrepaidCommand, error::HubError, service::Hub};

pub struct OperatorApi {
    hub: Arc<Hub>,
}

impl OperatorApi {
    pub fn new(hub: Arc<Hub>) -> OperatorApi {
        OperatorApi { hub }
    }
}

#[tonic::async_trait]
impl NationalHub for OperatorApi {
    async fn get_hub_info(&self, _: Request<pb::GetHubInfoRequest>) -> Result<Response<pb::HubInfo>, Status> {
        let info = self.hub.info()?;
        Ok(Response::new(pb::HubInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            open_period: info.open_period.to_string(),
            provinces: info.provinces,
            pending: info.pending,
            outbox: info.outbox,
            outbox_oldest_age_seconds: info.outbox_oldest_age.map_or(0, |age| age.as_secs()),
        }))
    }

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
        let kind = TxKind::from_pb(request.get_ref().kind).map_err(HubError::from)?;
        let record = self.hub.find_transaction(&id, kind)?;
        Ok(Response::new(transaction_to_pb(&record)))
    }

    async fn get_wallet_transfer(&self, request: Request<pb::GetWalletTransferRequest>) -> Result<Response<pb::WalletTransfer>, Status> {
        let id = Id::parse("transfer_id", &request.get_ref().transfer_id).map_err(HubError::from)?;
        let record = self.hub.wallet_transfer(&id)?;
        Ok(Response::new(convert::wallet_transfer_to_pb(&record)))
    }

    async fn list_wallet_transfers(
        &self,
        request: Request<pb::ListWalletTransfersRequest>,
    ) -> Result<Response<pb::ListWalletTransfersResponse>, Status> {
        let r = request.get_ref();
        let (records, next_cursor) = self.hub.wallet_transfers(&r.cursor, r.limit)?;
        Ok(Response::new(pb::ListWalletTransfersResponse {
            transfers: records.iter().map(convert::wallet_transfer_to_pb).collect(),
            next_cursor,
        }))
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
        let listing = convert::transaction_listing(&request, province).map_err(HubError::from)?;
        let selection = crate::service::listings::Selection {
            province,
            counterpart: listing.pair.map(|(_, counterpart)| counterpart),
            kind: listing.kind,
            status: listing.status,
        };
        let cursor = (!request.cursor.is_empty()).then(|| request.cursor.clone());
        let hub = self.hub.clone();
        // Refuse a bad cursor before streaming.
        drop(hub.transactions_after(period, selection, cursor.as_deref())?);
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        // A blocking thread walks the index, so a large month streams with
        // flat memory and never stalls the async workers on disk reads.
        tokio::task::spawn_blocking(move || {
            let records = match hub.transactions_after(period, selection, cursor.as_deref()) {
                Ok(records) => records,
                Err(e) => {
                    let _ = sender.blocking_send(Err(Status::from(e)));
                    return;
                }
            };
            let mut sent = 0;
            for record in records {
                let item = match record {
                    Ok((cursor, record)) if selection.admits(&record) => pb::Transaction {
                        cursor,
                        ..transaction_to_pb(&record)
                    },
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = sender.blocking_send(Err(Status::from(e)));
                        return;
                    }
                };
                if sender.blocking_send(Ok(item)).is_err() {
                    return; // the client went away
                }
                sent += 1;
                if listing.limit == Some(sent) {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn get_positions(&self, request: Request<pb::GetPositionsRequest>) -> Result<Response<pb::Positions>, Status> {
        let period = convert::period_or_open(&self.hub, &request.get_ref().period)?;
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

    async fn close_month(&self, request: Request<pb::CloseMonthRequest>) -> Result<Response<pb::Month>, Status> {
        let period = match request.get_ref().period.as_str() {
            "" => None,
            text => Some(convert::period(text)?),
        };
        let view = self.hub.close_month(period).await?;
        Ok(Response::new(convert::month_to_pb(&view)))
    }

    async fn get_month(&self, request: Request<pb::GetMonthRequest>) -> Result<Response<pb::Month>, Status> {
        let period = convert::period_or_open(&self.hub, &request.get_ref().period)?;
        Ok(Response::new(convert::month_to_pb(&self.hub.month(period)?)))
    }

    async fn get_clearing(&self, request: Request<pb::GetClearingRequest>) -> Result<Response<pb::Clearing>, Status> {
        let period = convert::period(&request.get_ref().period)?;
        let clearing = self.hub.clearing(period)?;
        Ok(Response::new(convert::clearing_to_pb(period, &clearing)?))
    }

    async fn settle_month(&self, request: Request<pb::SettleMonthRequest>) -> Result<Response<pb::Settlement>, Status> {
        // Who settles: the name given, else the client's own name (an open
        // hub knows no names).
        let client = Principal::of(&request)?.clone();
        let request = request.into_inner();
        let period = convert::period(&request.period)?;
        let reason = request.override_reason.trim();
        let operator = match (request.operator.trim(), client.name.as_str()) {
            ("", "anonymous") => "unnamed operator".to_owned(),
            ("", client) => client.to_owned(),
            (name, _) => name.to_owned(),
        };
        let settlement = self
            .hub
            .settle_month(period, (!reason.is_empty()).then(|| reason.to_owned()), operator)
            .await?;
        Ok(Response::new(convert::settlement_to_pb(period, &settlement)))
    }

    async fn deposit_prepaid(&self, request: Request<pb::PrepaidOperationRequest>) -> Result<Response<pb::PrepaidOperation>, Status> {
        self.prepaid_operation(request.into_inner(), false).await
    }

    async fn withdraw_prepaid(&self, request: Request<pb::PrepaidOperationRequest>) -> Result<Response<pb::PrepaidOperation>, Status> {
        self.prepaid_operation(request.into_inner(), true).await
    }

    async fn get_prepaid(&self, _: Request<pb::GetPrepaidRequest>) -> Result<Response<pb::PrepaidStatus>, Status> {
        let provinces = self.hub.prepaid_status()?.iter().map(convert::prepaid_to_pb).collect();
        Ok(Response::new(pb::PrepaidStatus { provinces }))
    }

    async fn list_periods(&self, _: Request<pb::ListPeriodsRequest>) -> Result<Response<pb::ListPeriodsResponse>, Status> {
        let periods = self.hub.periods()?.iter().map(|p| p.to_string()).collect();
        Ok(Response::new(pb::ListPeriodsResponse { periods }))
    }

    async fn self_check(&self, _: Request<pb::SelfCheckRequest>) -> Result<Response<pb::SelfCheckReport>, Status> {
        let hub = self.hub.clone();
        let (check, waiting) = tokio::task::spawn_blocking(move || hub.self_check())
            .await
            .map_err(|e| Status::internal(format!("self-check task failed: {e}")))??;
        Ok(Response::new(check.to_pb(&waiting)))
    }

    type StreamLinesStream = ReceiverStream<Result<pb::StatementItem, Status>>;

    async fn stream_lines(&self, request: Request<pb::StatementRequest>) -> Result<Response<Self::StreamLinesStream>, Status> {
        let request = request.into_inner();
        let period = convert::period(&request.period)?;
        let province = ProvinceCode::parse("province", &request.province).map_err(HubError::from)?;
        Ok(Response::new(convert::statement_stream(self.hub.clone(), period, province)))
    }

    async fn list_operator_actions(
        &self,
        request: Request<pb::ListOperatorActionsRequest>,
    ) -> Result<Response<pb::ListOperatorActionsResponse>, Status> {
        let log = OpLog::new(self.hub.store().clone(), crate::store::OPLOG);
        Ok(Response::new(log.list_pb(request.get_ref()).await.map_err(HubError::from)?))
    }
}

impl OperatorApi {
    async fn prepaid_operation(&self, r: pb::PrepaidOperationRequest, withdrawal: bool) -> Result<Response<pb::PrepaidOperation>, Status> {
        let command = PrepaidCommand::parse(&r.operation_id, &r.province, &r.amount, &r.operator, &r.reason, withdrawal, r.force)
            .map_err(HubError::from)?;
        let op = self.hub.prepaid_operation(command.clone()).await?;
        Ok(Response::new(convert::prepaid_op_to_pb(command.operation_id.as_str(), &op)))
    }
}
