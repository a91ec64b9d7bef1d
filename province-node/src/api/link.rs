//! The hub-facing `gongji.v1.ProvinceLink` service.

use std::sync::Arc;

use gongji_common::{
    contract::{grant_answer_to_pb, CrossPayment, Grant},
    FieldError, Period,
};
use gongji_proto::v1::{self as pb, province_link_server::ProvinceLink};
use tonic::{Request, Response, Status};

use super::convert;
use crate::{error::NodeError, service::Node};

pub struct LinkApi {
    node: Arc<Node>,
}

impl LinkApi {
    pub fn new(node: Arc<Node>) -> LinkApi {
        LinkApi { node }
    }
}

#[tonic::async_trait]
impl ProvinceLink for LinkApi {
    #[tracing::instrument(skip_all, fields(relationship = %request.get_ref().relationship_id))]
    async fn receive_grant(&self, request: Request<pb::GrantNotice>) -> Result<Response<pb::GrantAnswer>, Status> {
        let grant = Grant::from_pb(request.into_inner()).map_err(NodeError::from)?;
        let decision = self.node.receive_grant(grant).await?;
        Ok(Response::new(grant_answer_to_pb(&decision)))
    }

    #[tracing::instrument(skip_all, fields(payment = request.get_ref().payment.as_ref().map(|p| p.payment_id.as_str()).unwrap_or("")))]
    async fn authorize_debit(&self, request: Request<pb::DebitRequest>) -> Result<Response<pb::DebitAnswer>, Status> {
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
}
