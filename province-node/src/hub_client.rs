//! The node's client of the national hub. Every call carries a deadline. It
//! speaks domain types to the service: a definite answer (including a refusal
//! by the hub, read as a decline) or `Unanswered` when the outcome is unknown
//! and the transaction must stay pending.

pub use gongji_common::peer::Unanswered;
use gongji_common::{
    peer::{self, read_failure, Deadlines},
    Period,
};
use gongji_proto::v1::hub_router_client::HubRouterClient;
use tonic::transport::Channel;

use gongji_common::contract::{grant_answer_from_pb, CrossPayment, Decline, Grant, TxStatus};

/// The hub's decision on a cross-province payment.
#[derive(Debug, Clone)]
pub enum HubDecision {
    Approved(Period),
    Declined(Option<Period>, Decline),
}

#[derive(Clone)]
pub struct HubClient {
    client: HubRouterClient<Channel>,
    deadlines: Deadlines,
}

impl HubClient {
    pub fn new(address: &str, deadlines: Deadlines) -> Result<HubClient, String> {
        Ok(HubClient {
            client: HubRouterClient::new(peer::lazy_channel(address, deadlines)?),
            deadlines,
        })
    }

    /// Routes a grant to the beneficiary's node; `Ok(Ok(()))` when accepted.
    pub async fn route_grant(&self, grant: &Grant) -> Result<Result<(), Decline>, Unanswered> {
        let mut client = self.client.clone();
        match client.route_grant(peer::request(grant.to_pb(), self.deadlines)).await {
            Ok(answer) => Ok(grant_answer_from_pb(answer.into_inner())),
            Err(status) => Ok(Err(read_failure(status)?)),
        }
    }

    /// Routes a payment to the donor's node, which decides.
    pub async fn route_payment(&self, payment: &CrossPayment) -> Result<HubDecision, Unanswered> {
        let mut client = self.client.clone();
        match client.route_payment(peer::request(payment.to_pb(), self.deadlines)).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                let period = Period::parse("period", &answer.period).ok();
                match (TxStatus::from_pb(answer.status), period) {
                    (Some(TxStatus::Approved), Some(period)) => Ok(HubDecision::Approved(period)),
                    (Some(TxStatus::Declined), period) => Ok(HubDecision::Declined(
                        period,
                        Decline::from_pb_parts(answer.decline_reason, answer.message),
                    )),
                    _ => Err(Unanswered(format!(
                        "the hub answered without a decision (status {}, period {:?})",
                        answer.status, answer.period
                    ))),
                }
            }
            Err(status) => Ok(HubDecision::Declined(None, read_failure(status)?)),
        }
    }
}
