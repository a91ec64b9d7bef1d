//! `gongji.v1.HubRouter`: the calls province nodes make to route a
//! cross-province transaction.

use std::sync::Arc;

use gongji_common::contract::{grant_answer_to_pb, CrossPayment, Decline, Grant, TxStatus};
use gongji_proto::v1::{self as pb, hub_router_server::HubRouter};
use tonic::{Request, Response, Status};

use crate::{error::HubError, service::Hub};

pub struct RouterApi {
    hub: Arc<Hub>,
}

impl RouterApi {
    pub fn new(hub: Arc<Hub>) -> RouterApi {
        RouterApi { hub }
    }
}

#[tonic::async_trait]
impl HubRouter for RouterApi {
    #[tracing::instrument(skip_all, fields(relationship = %request.get_ref().relationship_id))]
    async fn route_grant(&self, request: Request<pb::GrantNotice>) -> Result<Response<pb::GrantAnswer>, Status> {
        let grant = Grant::from_pb(request.into_inner()).map_err(HubError::from)?;
        let answer = self.hub.route_grant(grant).await?;
        Ok(Response::new(grant_answer_to_pb(&answer)))
    }

    #[tracing::instrument(skip_all, fields(payment = %request.get_ref().payment_id))]
    async fn route_payment(&self, request: Request<pb::CrossPayment>) -> Result<Response<pb::RouteAnswer>, Status> {
        let payment = CrossPayment::from_pb("", request.into_inner()).map_err(HubError::from)?;
        let outcome = self.hub.route_payment(payment).await?;
        let (decline_reason, message) = Decline::to_pb_parts(outcome.decision.as_ref().err());
        let status = if outcome.decision.is_ok() {
            TxStatus::Approved
        } else {
            TxStatus::Declined
        };
        Ok(Response::new(pb::RouteAnswer {
            status: status.to_pb() as i32,
            decline_reason,
            message,
            period: outcome.period.to_string(),
        }))
    }
}
