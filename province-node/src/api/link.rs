//! The hub-facing `gongji.v1.ProvinceLink` service.

use std::sync::Arc;

use gongji_common::{
    contract::{acceptance_to_pb, CrossPayment, CrossRefund, CrossTransfer, Grant, Notice},
    metrics::{Kind, Metrics},
    FieldError, Period,
};
use gongji_proto::v1::{self as pb, province_link_server::ProvinceLink};
use tonic::{Request, Response, Status};

use super::convert;
use crate::{error::NodeError, service::Node};

pub struct LinkApi {
    node: Arc<Node>,
    metrics: Arc<Metrics>,
}

impl LinkApi {
    pub fn new(node: Arc<Node>, metrics: Arc<Metrics>) -> LinkApi {
        LinkApi { node, metrics }
    }
}

/// A reversal cannot be refused: any answer means it is done.
const APPROVED: i32 = pb::TransactionStatus::Approved as i32;

/// The outcome an acceptance stands for.
fn accepted(acceptance: &pb::Acceptance) -> i32 {
    if acceptance.accepted {
        APPROVED
    } else {
        pb::TransactionStatus::Declined as i32
    }
}

#[tonic::async_trait]
impl ProvinceLink for LinkApi {
    #[tracing::instrument(skip_all, fields(relationship = %request.get_ref().relationship_id))]
    async fn receive_grant(&self, request: Request<pb::GrantNotice>) -> Result<Response<pb::Acceptance>, Status> {
        let grant = Grant::from_pb(request.into_inner()).map_err(NodeError::from)?;
        let decision = self.node.receive_grant(grant).await?;
        Ok(Response::new(acceptance_to_pb(&decision)))
    }

    #[tracing::instrument(skip_all, fields(payment = request.get_ref().payment.as_ref().map(|p| p.payment_id.as_str()).unwrap_or("")))]
    async fn authorize_debit(&self, request: Request<pb::DebitRequest>) -> Result<Response<pb::DebitAnswer>, Status> {
        let reply: Result<Response<pb::DebitAnswer>, Status> = async {
            let request = request.into_inner();
            let period = Period::parse("period", &request.period).map_err(NodeError::from)?;
            let payment = request
                .payment
                .ok_or_else(|| FieldError::new("payment", "is required"))
                .and_then(|p| CrossPayment::from_pb("payment.", p))
                .map_err(NodeError::from)?;
            let debit = self.node.authorize_debit(payment, period).await?;
            Ok(Response::new(convert::debit_answer(&debit)))
        }
        .await;
        self.metrics.answered(Kind::Payment, &reply, |a| a.status);
        reply
    }

    #[tracing::instrument(skip_all, fields(notice = %request.get_ref().notice_id))]
    async fn deliver_notice(&self, request: Request<pb::Notice>) -> Result<Response<pb::NoticeAck>, Status> {
        let notice = Notice::from_pb(request.into_inner()).map_err(NodeError::from)?;
        self.node.deliver_notice(notice).await?;
        Ok(Response::new(pb::NoticeAck {}))
    }

    #[tracing::instrument(skip_all, fields(refund = request.get_ref().refund.as_ref().map(|r| r.refund_id.as_str()).unwrap_or("")))]
    async fn apply_refund(&self, request: Request<pb::ApplyRefundRequest>) -> Result<Response<pb::DebitAnswer>, Status> {
        let reply: Result<Response<pb::DebitAnswer>, Status> = async {
            let request = request.into_inner();
            let period = Period::parse("period", &request.period).map_err(NodeError::from)?;
            let refund = request
                .refund
                .ok_or_else(|| FieldError::new("refund", "is required"))
                .and_then(|r| CrossRefund::from_pb("refund.", r))
                .map_err(NodeError::from)?;
            let record = self.node.apply_refund(refund, period).await?;
            Ok(Response::new(convert::refund_answer(&record)))
        }
        .await;
        self.metrics.answered(Kind::Refund, &reply, |a| a.status);
        reply
    }

    #[tracing::instrument(skip_all, fields(payment = request.get_ref().payment.as_ref().map(|p| p.payment_id.as_str()).unwrap_or("")))]
    async fn reverse_debit(&self, request: Request<pb::ReverseDebitRequest>) -> Result<Response<pb::ReversalAnswer>, Status> {
        let reply: Result<Response<pb::ReversalAnswer>, Status> = async {
            let request = request.into_inner();
            let period = Period::parse("period", &request.period).map_err(NodeError::from)?;
            let payment = request
                .payment
                .ok_or_else(|| FieldError::new("payment", "is required"))
                .and_then(|p| CrossPayment::from_pb("payment.", p))
                .map_err(NodeError::from)?;
            let outcome = self.node.reverse_debit(payment, period).await?;
            Ok(Response::new(outcome.to_pb()))
        }
        .await;
        self.metrics.answered(Kind::Reversal, &reply, |_| APPROVED);
        reply
    }

    #[tracing::instrument(skip_all, fields(transfer = request.get_ref().transfer.as_ref().map(|t| t.transfer_id.as_str()).unwrap_or("")))]
    async fn receive_transfer(&self, request: Request<pb::ReceiveTransferRequest>) -> Result<Response<pb::Acceptance>, Status> {
        let reply: Result<Response<pb::Acceptance>, Status> = async {
            let request = request.into_inner();
            let period = Period::parse("period", &request.period).map_err(NodeError::from)?;
            let transfer = request
                .transfer
                .ok_or_else(|| FieldError::new("transfer", "is required"))
                .and_then(|t| CrossTransfer::from_pb("transfer.", t))
                .map_err(NodeError::from)?;
            let answer = self.node.receive_transfer(transfer, period).await?;
            Ok(Response::new(acceptance_to_pb(&answer)))
        }
        .await;
        self.metrics.answered(Kind::Transfer, &reply, accepted);
        reply
    }

    #[tracing::instrument(skip_all, fields(tx = %request.get_ref().acceptance.as_ref().map(|a| a.transfer_id.as_str()).unwrap_or("")))]
    async fn decide_wallet_acceptance(&self, request: Request<pb::WalletAcceptanceRequest>) -> Result<Response<pb::Acceptance>, Status> {
        let reply: Result<Response<pb::Acceptance>, Status> = async {
            let request = request.into_inner();
            let period = Period::parse("period", &request.period).map_err(NodeError::from)?;
            let wallet = request
                .acceptance
                .ok_or_else(|| FieldError::new("acceptance", "is required"))
                .and_then(|w| gongji_common::contract::CrossWallet::from_pb("acceptance.", w))
                .map_err(NodeError::from)?;
            let answer = self.node.decide_wallet_acceptance(wallet, period).await?;
            Ok(Response::new(acceptance_to_pb(&answer)))
        }
        .await;
        self.metrics.answered(Kind::Wallet, &reply, accepted);
        reply
    }

    async fn decide_wallet_decline(&self, request: Request<pb::CrossWalletAcceptance>) -> Result<Response<pb::Acceptance>, Status> {
        let wallet = gongji_common::contract::CrossWallet::from_pb("", request.into_inner()).map_err(NodeError::from)?;
        let answer = self.node.decide_wallet_decline(wallet).await?;
        Ok(Response::new(acceptance_to_pb(&answer)))
    }

    async fn check_wallet_recipient(
        &self,
        request: Request<pb::WalletRecipientQuery>,
    ) -> Result<Response<pb::WalletRecipientAnswer>, Status> {
        use crate::domain::RecipientState as R;
        let recipient = gongji_common::Id::parse("recipient_id", &request.get_ref().recipient_id).map_err(NodeError::from)?;
        let state = match self.node.wallet_recipient(&recipient).await? {
            R::Unknown => pb::WalletRecipientState::Unknown,
            R::Inactive => pb::WalletRecipientState::Inactive,
            R::NoWallet => pb::WalletRecipientState::NoWallet,
            R::Open => pb::WalletRecipientState::Open,
        };
        Ok(Response::new(pb::WalletRecipientAnswer { state: state as i32 }))
    }
}
