//! The node's client of the national hub. Every call carries a deadline. It
//! speaks domain types to the service: a definite answer (including a refusal
//! by the hub, read as a decline) or `Unanswered` when the outcome is unknown
//! and the work must stay pending.

pub use gongji_common::peer::Unanswered;

use crate::domain::HubAnswer;
use gongji_common::hubs::Hubs;
use gongji_common::{
    auth::Credential,
    contract::{acceptance_from_pb, CrossPayment, CrossRefund, CrossTransfer, Decline, Grant, Notice, ReversalOutcome, TxStatus},
    peer::{self, read_failure, Deadlines},
    Period,
};
use gongji_proto::v1::{self as pb, hub_router_client::HubRouterClient, RouteAnswer};
use tonic::transport::ClientTlsConfig;

type Authenticated = tonic::service::interceptor::InterceptedService<Hubs, Credential>;

#[derive(Clone)]
pub struct HubClient {
    client: HubRouterClient<Authenticated>,
    deadlines: Deadlines,
}

impl HubClient {
    /// A client of the hub at `addresses` (one, or several separated by
    /// commas: calls follow the active one) that presents `credential`
    /// (this province and its token) on every call, over `tls` when given.
    pub fn new(addresses: &str, deadlines: Deadlines, credential: Credential, tls: Option<ClientTlsConfig>) -> Result<HubClient, String> {
        Ok(HubClient {
            client: HubRouterClient::with_interceptor(Hubs::lazy(addresses, deadlines, tls)?, credential),
            deadlines,
        })
    }

    /// Routes a grant to the beneficiary's node; `Ok(Ok(()))` when accepted.
    pub async fn route_grant(&self, grant: &Grant) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client.clone();
        match client
            .route_grant(peer::request_for(grant.to_pb(), self.deadlines, grant.relationship_id.as_str()))
            .await
        {
            Ok(answer) => Ok(acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Whether the hub serves `province`: `Ok(Ok(()))` when it does.
    pub async fn check_province(&self, province: gongji_common::ProvinceCode) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client.clone();
        let request = gongji_proto::v1::CheckProvinceRequest {
            province: province.to_string(),
        };
        match client.check_province(peer::request(request, self.deadlines)).await {
            Ok(answer) => Ok(acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Routes a payment to the donor's node, which decides.
    pub async fn route_payment(&self, payment: &CrossPayment) -> Result<HubAnswer, Unanswered> {
        let mut client = self.client.clone();
        decision(
            client
                .route_payment(peer::request_for(payment.to_pb(), self.deadlines, payment.payment_id.as_str()))
                .await,
        )
    }

    /// Routes a refund to the donor's node, which takes the money back.
    pub async fn route_refund(&self, refund: &CrossRefund) -> Result<HubAnswer, Unanswered> {
        let mut client = self.client.clone();
        decision(
            client
                .route_refund(peer::request_for(refund.to_pb(), self.deadlines, refund.refund_id.as_str()))
                .await,
        )
    }

    /// Routes an insurance transfer to the receiving node.
    pub async fn route_transfer(&self, transfer: &CrossTransfer) -> Result<HubAnswer, Unanswered> {
        let mut client = self.client.clone();
        decision(
            client
                .route_transfer(peer::request_for(transfer.to_pb(), self.deadlines, transfer.transfer_id.as_str()))
                .await,
        )
    }

    /// Asks the recipient's node (through the hub) whether a person may
    /// receive a wallet transfer.
    pub async fn check_wallet_recipient(
        &self,
        recipient: &gongji_common::Id,
        province: gongji_common::ProvinceCode,
    ) -> Result<crate::domain::RecipientState, Unanswered> {
        use crate::domain::RecipientState as R;
        let mut client = self.client.clone();
        let query = pb::WalletRecipientQuery {
            recipient_id: recipient.to_string(),
            recipient_province: province.to_string(),
        };
        let answer = client
            .check_wallet_recipient(peer::request_for(query, self.deadlines, recipient.as_str()))
            .await
            .map_err(|status| peer::unanswered(&status))?
            .into_inner();
        match pb::WalletRecipientState::try_from(answer.state) {
            Ok(pb::WalletRecipientState::Unknown) => Ok(R::Unknown),
            Ok(pb::WalletRecipientState::Inactive) => Ok(R::Inactive),
            Ok(pb::WalletRecipientState::NoWallet) => Ok(R::NoWallet),
            Ok(pb::WalletRecipientState::Open) => Ok(R::Open),
            _ => Err(Unanswered(format!(
                "the hub answered an unknown wallet recipient state {}",
                answer.state
            ))),
        }
    }

    /// Relays a wallet transfer's decline to the sender's node; `Ok(Err)`
    /// when the sender's node refused it.
    pub async fn relay_wallet_decline(&self, wallet: &gongji_common::contract::CrossWallet) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client.clone();
        match client
            .relay_wallet_decline(peer::request_for(wallet.to_pb(), self.deadlines, wallet.transfer_id.as_str()))
            .await
        {
            Ok(answer) => Ok(gongji_common::contract::acceptance_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Routes a wallet transfer's acceptance to the sender's node.
    pub async fn route_wallet_acceptance(&self, wallet: &gongji_common::contract::CrossWallet) -> Result<HubAnswer, Unanswered> {
        let mut client = self.client.clone();
        decision(
            client
                .route_wallet_acceptance(peer::request_for(wallet.to_pb(), self.deadlines, wallet.transfer_id.as_str()))
                .await,
        )
    }

    /// Routes a reversal. A reversal is always safe, so there is no decline:
    /// any failure leaves it pending and it is asked again.
    pub async fn route_reversal(&self, payment: &CrossPayment) -> Result<ReversalOutcome, Unanswered> {
        let mut client = self.client.clone();
        match client
            .route_reversal(peer::request_for(payment.to_pb(), self.deadlines, payment.payment_id.as_str()))
            .await
        {
            Ok(answer) => ReversalOutcome::from_pb(answer.into_inner()).map_err(|e| Unanswered(format!("the hub's reversal answer: {e}"))),
            Err(status) => Err(peer::unanswered(&status)),
        }
    }

    /// This province's statement of a closed month, as a stream.
    pub async fn statement(
        &self,
        period: Period,
        province: gongji_common::ProvinceCode,
    ) -> Result<tonic::Streaming<gongji_proto::v1::StatementItem>, tonic::Status> {
        let mut client = self.client.clone();
        let request = gongji_proto::v1::StatementRequest {
            period: period.to_string(),
            province: province.to_string(),
        };
        Ok(client.stream_statement(tonic::Request::new(request)).await?.into_inner())
    }

    /// Confirms this province's statement of a month.
    pub async fn confirm_month(&self, period: Period, province: gongji_common::ProvinceCode, digest: &str) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        let request = gongji_proto::v1::MonthConfirmation {
            period: period.to_string(),
            province: province.to_string(),
            digest: digest.to_owned(),
        };
        client.confirm_month(peer::request(request, self.deadlines)).await.map(drop)
    }

    /// Disputes this province's statement of a month.
    pub async fn dispute_month(&self, dispute: gongji_proto::v1::MonthDispute) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        client.dispute_month(peer::request(dispute, self.deadlines)).await.map(drop)
    }

    /// Hands a notice to the hub, which relays it; `Ok` once the hub has it on disk.
    pub async fn relay_notice(&self, notice: &Notice) -> Result<(), Unanswered> {
        let mut client = self.client.clone();
        match client
            .relay_notice(peer::request_for(notice.to_pb(), self.deadlines, &notice.id))
            .await
        {
            Ok(_) => Ok(()),
            Err(status) => Err(peer::unanswered(&status)),
        }
    }
}

/// Reads the hub's answer to a routed transaction.
fn decision(reply: Result<tonic::Response<RouteAnswer>, tonic::Status>) -> Result<HubAnswer, Unanswered> {
    let answer = match reply {
        Ok(answer) => answer.into_inner(),
        Err(status) if status.code() == tonic::Code::AlreadyExists => return Ok(HubAnswer::Taken(status.message().to_owned())),
        Err(status) => return Ok(HubAnswer::Declined(None, read_failure(status)?)),
    };
    let period = Period::parse("period", &answer.period).ok();
    match (TxStatus::from_pb(answer.status), period) {
        (Some(TxStatus::Approved), Some(period)) => Ok(HubAnswer::Approved(period)),
        (Some(TxStatus::Declined | TxStatus::Reversed), period) => Ok(HubAnswer::Declined(
            period,
            Decline::from_pb_parts(answer.decline_reason, answer.message),
        )),
        _ => Err(Unanswered(format!(
            "the hub answered without a decision (status {}, period {:?})",
            answer.status, answer.period
        ))),
    }
}
