//! `gongji.v1.HubRouter`: the calls province nodes make to route a
//! cross-province transaction or relay a notice.

use std::sync::Arc;

use gongji_common::{
    auth::Caller,
    contract::{acceptance_to_pb, CrossPayment, CrossRefund, CrossTransfer, CrossWallet, Grant, Notice},
    metrics::{Kind, Metrics},
    FieldError, ProvinceCode,
};
use gongji_proto::v1::{self as pb, hub_router_server::HubRouter};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{self, route_answer};
use crate::{domain::TxBody, error::HubError, service::Hub};

pub struct RouterApi {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
}

impl RouterApi {
    pub fn new(hub: Arc<Hub>, metrics: Arc<Metrics>) -> RouterApi {
        RouterApi { hub, metrics }
    }

    /// Routes a payment, refund or transfer, counting the answer as `kind`.
    async fn route(
        &self,
        kind: Kind,
        caller: Option<Caller>,
        body: Result<TxBody, FieldError>,
    ) -> Result<Response<pb::RouteAnswer>, Status> {
        let reply = self.route_body(caller, body).await;
        self.metrics.answered(kind, &reply, |answer| answer.status);
        reply
    }

    async fn route_body(&self, caller: Option<Caller>, body: Result<TxBody, FieldError>) -> Result<Response<pb::RouteAnswer>, Status> {
        let body = body.map_err(HubError::from)?;
        // Payments and refunds come from the beneficiary's province (where the
        // institution is); a transfer from the releasing province.
        check(caller, body.origin(), &format!("this {}", body.kind().as_str()))?;
        let outcome = self.hub.route(body).await?;
        Ok(Response::new(route_answer(&outcome)))
    }
}

/// The calling province (known from its token) must be `origin`; an open
/// link lets anyone through.
fn check(caller: Option<Caller>, origin: ProvinceCode, what: &str) -> Result<(), Status> {
    match caller {
        Some(Caller(Some(province))) if province != origin => Err(Status::permission_denied(format!(
            "province {province} may not send {what}: only province {origin} may"
        ))),
        Some(_) => Ok(()),
        None => Err(Status::internal("the link gate did not run")),
    }
}

#[tonic::async_trait]
impl HubRouter for RouterApi {
    #[tracing::instrument(skip_all, fields(relationship = %request.get_ref().relationship_id))]
    async fn route_grant(&self, request: Request<pb::GrantNotice>) -> Result<Response<pb::Acceptance>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let grant = Grant::from_pb(request.into_inner()).map_err(HubError::from)?;
        check(caller, grant.donor_province, "a grant of a donor it does not insure")?;
        let answer = self.hub.route_grant(grant).await?;
        Ok(Response::new(acceptance_to_pb(&answer)))
    }

    #[tracing::instrument(skip_all, fields(payment = %request.get_ref().payment_id))]
    async fn route_payment(&self, request: Request<pb::CrossPayment>) -> Result<Response<pb::RouteAnswer>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        self.route(
            Kind::Payment,
            caller,
            CrossPayment::from_pb("", request.into_inner()).map(TxBody::Payment),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(notice = %request.get_ref().notice_id))]
    async fn relay_notice(&self, request: Request<pb::Notice>) -> Result<Response<pb::NoticeAck>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let notice = Notice::from_pb(request.into_inner()).map_err(HubError::from)?;
        check(caller, notice.from, "a notice from another province")?;
        self.hub.relay_notice(notice).await?;
        Ok(Response::new(pb::NoticeAck {}))
    }

    #[tracing::instrument(skip_all, fields(refund = %request.get_ref().refund_id))]
    async fn route_refund(&self, request: Request<pb::CrossRefund>) -> Result<Response<pb::RouteAnswer>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        self.route(
            Kind::Refund,
            caller,
            CrossRefund::from_pb("", request.into_inner()).map(TxBody::Refund),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(payment = %request.get_ref().payment_id))]
    async fn route_reversal(&self, request: Request<pb::CrossPayment>) -> Result<Response<pb::ReversalAnswer>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let reply: Result<Response<pb::ReversalAnswer>, Status> = async {
            let payment = CrossPayment::from_pb("", request.into_inner()).map_err(HubError::from)?;
            check(caller, payment.beneficiary_province, "the reversal of a payment it did not serve")?;
            let outcome = self.hub.route_reversal(payment).await?;
            Ok(Response::new(outcome.to_pb()))
        }
        .await;
        // A reversal cannot be refused: any answer means it is done.
        self.metrics
            .answered(Kind::Reversal, &reply, |_| pb::TransactionStatus::Approved as i32);
        reply
    }

    #[tracing::instrument(skip_all, fields(transfer = %request.get_ref().transfer_id))]
    async fn route_transfer(&self, request: Request<pb::CrossTransfer>) -> Result<Response<pb::RouteAnswer>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        self.route(
            Kind::Transfer,
            caller,
            CrossTransfer::from_pb("", request.into_inner()).map(TxBody::Transfer),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(transfer = %request.get_ref().transfer_id))]
    async fn route_wallet_acceptance(&self, request: Request<pb::CrossWalletAcceptance>) -> Result<Response<pb::RouteAnswer>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        self.route(
            Kind::Wallet,
            caller,
            CrossWallet::from_pb("", request.into_inner()).map(TxBody::Wallet),
        )
        .await
    }

    async fn check_wallet_recipient(
        &self,
        request: Request<pb::WalletRecipientQuery>,
    ) -> Result<Response<pb::WalletRecipientAnswer>, Status> {
        let province = ProvinceCode::parse("recipient_province", &request.get_ref().recipient_province).map_err(HubError::from)?;
        if let Err(decline) = self.hub.check_province(province) {
            return Err(HubError::FailedPrecondition(decline.message).into());
        }
        let answer = self
            .hub
            .provinces()
            .check_wallet_recipient(request.into_inner(), province)
            .await
            .map_err(|why| HubError::Unavailable(format!("province {province} did not answer: {why}")))?;
        Ok(Response::new(answer))
    }

    async fn relay_wallet_decline(&self, request: Request<pb::CrossWalletAcceptance>) -> Result<Response<pb::Acceptance>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let wallet = CrossWallet::from_pb("", request.into_inner()).map_err(HubError::from)?;
        check(
            caller,
            wallet.recipient_province,
            "the decline of a wallet transfer to another province's person",
        )?;
        crate::domain::check_crosses("sender_province", wallet.sender_province, wallet.recipient_province).map_err(HubError::from)?;
        let answer = self
            .hub
            .provinces()
            .decide_wallet_decline(&wallet)
            .await
            .map_err(|why| HubError::Unavailable(format!("province {} did not answer: {why}", wallet.sender_province)))?;
        Ok(Response::new(acceptance_to_pb(&answer)))
    }

    async fn check_province(&self, request: Request<pb::CheckProvinceRequest>) -> Result<Response<pb::Acceptance>, Status> {
        let province = ProvinceCode::parse("province", &request.get_ref().province).map_err(HubError::from)?;
        Ok(Response::new(acceptance_to_pb(&self.hub.check_province(province))))
    }

    type StreamStatementStream = ReceiverStream<Result<pb::StatementItem, Status>>;

    async fn stream_statement(&self, request: Request<pb::StatementRequest>) -> Result<Response<Self::StreamStatementStream>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let request = request.into_inner();
        let period = convert::period(&request.period)?;
        let province = ProvinceCode::parse("province", &request.province).map_err(HubError::from)?;
        check(caller, province, "another province's statement")?;
        self.hub.clearing(period)?;
        Ok(Response::new(convert::statement_stream(self.hub.clone(), period, province)))
    }

    async fn confirm_month(&self, request: Request<pb::MonthConfirmation>) -> Result<Response<pb::Month>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let request = request.into_inner();
        let period = convert::period(&request.period)?;
        let province = ProvinceCode::parse("province", &request.province).map_err(HubError::from)?;
        check(caller, province, "another province's confirmation")?;
        let view = self.hub.confirm_month(period, province, &request.digest).await?;
        Ok(Response::new(convert::month_to_pb(&view)))
    }

    async fn dispute_month(&self, request: Request<pb::MonthDispute>) -> Result<Response<pb::Month>, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        let request = request.into_inner();
        let period = convert::period(&request.period)?;
        let province = ProvinceCode::parse("province", &request.province).map_err(HubError::from)?;
        check(caller, province, "another province's dispute")?;
        let dispute = convert::dispute_from_pb(&request).map_err(HubError::from)?;
        let view = self.hub.dispute_month(period, province, dispute).await?;
        Ok(Response::new(convert::month_to_pb(&view)))
    }
}
