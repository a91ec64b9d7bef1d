//! The baseline of `gongji bench`: a hub and province nodes that speak the
//! same services over the same gRPC hops as the real ones, with handlers that
//! do nothing (no storage, no checks). A payment made at a stub node goes to
//! the stub hub and on to the donor's stub node exactly as a real one would,
//! and every stub answers "approved" at once; what the real network does
//! beyond that is what the benchmark's ratio measures.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, time::Duration};

use gongji_common::{
    tls::{self, Tls, TlsFiles},
    ProvinceCode,
};
use gongji_proto::{
    stubs::{hub_router_server, province_link_server, province_node_server},
    v1::{self as pb, hub_router_client::HubRouterClient, province_link_client::ProvinceLinkClient},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    transport::{Channel, ClientTlsConfig, Endpoint, Server},
    Request, Response, Status,
};

/// Where a stub node sends the payments made at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentRoute {
    /// Answered by the node itself, like a same-province payment.
    Local,
    /// Through the hub to the province before this one in the network's
    /// list (where the benchmark's cross-province donors live).
    ViaHub,
}

/// A running stub network on loopback ports.
pub struct StubNetwork {
    nodes: BTreeMap<ProvinceCode, SocketAddr>,
    /// Whether it runs mutual TLS.
    tls: bool,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<Result<(), String>>>,
}

impl StubNetwork {
    /// Starts a stub hub and a stub node for each of `provinces` (at least
    /// two); over mutual TLS with the certificates in `certs`, when given,
    /// as the real servers (the same identities and checks of the peer's name).
    pub async fn start(provinces: &[ProvinceCode], route: PaymentRoute, certs: Option<&Path>) -> Result<StubNetwork, String> {
        let identity = |name: &str| certs.map(|dir| Tls::load(&TlsFiles::in_dir(dir, name))).transpose();
        let hub_tls = identity("hub")?;
        let hub_listener = bind().await?;
        let hub_addr = local_addr(&hub_listener)?;
        let mut listeners = Vec::new();
        for code in provinces {
            let listener = bind().await?;
            listeners.push((*code, local_addr(&listener)?, listener));
        }
        let nodes: BTreeMap<_, _> = listeners.iter().map(|(code, addr, _)| (*code, *addr)).collect();
        let mut network = StubNetwork {
            nodes: nodes.clone(),
            tls: certs.is_some(),
            stops: Vec::new(),
            tasks: Vec::new(),
        };

        let links = nodes
            .iter()
            .map(|(code, addr)| {
                let tls = hub_tls.as_ref().map(|tls| tls.client_config(Some(&tls::province_name(*code))));
                Ok((*code, ProvinceLinkClient::new(lazy(*addr, tls)?)))
            })
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        let hub = builder(hub_tls.as_ref())?.add_service(hub_router_server::HubRouterServer::new(StubHub { links }));
        network.spawn(hub, &["gongji.v1.HubRouter"], hub_listener);

        for (i, (code, _, listener)) in listeners.into_iter().enumerate() {
            let node_tls = identity(&gongji_operator::certs::province_file(code))?;
            let previous = provinces[(i + provinces.len() - 1) % provinces.len()];
            let node = StubNode {
                province: code,
                donor_province: match route {
                    PaymentRoute::Local => code,
                    PaymentRoute::ViaHub => previous,
                },
                hub: HubRouterClient::new(lazy(hub_addr, node_tls.as_ref().map(|tls| tls.client_config(Some(tls::HUB_NAME))))?),
            };
            let router = builder(node_tls.as_ref())?
                .add_service(province_node_server::ProvinceNodeServer::new(node.clone()))
                .add_service(province_link_server::ProvinceLinkServer::new(node));
            network.spawn(router, &["gongji.v1.ProvinceNode", "gongji.v1.ProvinceLink"], listener);
        }
        Ok(network)
    }

    fn spawn(&mut self, router: tonic::transport::server::Router, services: &'static [&'static str], listener: TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        self.stops.push(stop);
        self.tasks.push(tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            gongji_common::server::serve(router, services, listener, shutdown, Duration::from_secs(1), std::future::pending())
                .await
                .map_err(|e| e.to_string())
        }));
    }

    /// The address of `code`'s stub node, as `http://host:port` (`https` with TLS).
    pub fn node_url(&self, code: ProvinceCode) -> Option<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.nodes.get(&code).map(|addr| format!("{scheme}://{addr}"))
    }

    /// Stops every stub server.
    pub async fn stop(self) -> Result<(), String> {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            task.await.map_err(|e| format!("stub server task: {e}"))??;
        }
        Ok(())
    }
}

async fn bind() -> Result<TcpListener, String> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on a loopback port: {e}"))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, String> {
    listener.local_addr().map_err(|e| format!("listener address: {e}"))
}

/// A stub server's builder: plain tonic, over TLS when given.
fn builder(tls: Option<&Tls>) -> Result<Server, String> {
    match tls {
        Some(tls) => Server::builder().tls_config(tls.server_config()).map_err(|e| e.to_string()),
        None => Ok(Server::builder()),
    }
}

fn lazy(addr: SocketAddr, tls: Option<ClientTlsConfig>) -> Result<Channel, String> {
    let endpoint = match tls {
        Some(tls) => Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| e.to_string())?
            .tls_config(tls)
            .map_err(|e| e.to_string())?,
        None => Endpoint::from_shared(format!("http://{addr}")).map_err(|e| e.to_string())?,
    };
    Ok(endpoint.tcp_nodelay(true).connect_lazy())
}

/// The stub hub: passes payments and grants on to the deciding node.
struct StubHub {
    links: BTreeMap<ProvinceCode, ProvinceLinkClient<Channel>>,
}

impl StubHub {
    fn link(&self, province: &str) -> Result<ProvinceLinkClient<Channel>, Status> {
        ProvinceCode::parse("province", province)
            .ok()
            .and_then(|code| self.links.get(&code).cloned())
            .ok_or_else(|| Status::not_found(format!("no stub node for province {province:?}")))
    }
}

#[tonic::async_trait]
impl hub_router_server::HubRouter for StubHub {
    async fn route_payment(&self, request: Request<pb::CrossPayment>) -> Result<Response<pb::RouteAnswer>, Status> {
        let payment = request.into_inner();
        let mut link = self.link(&payment.donor_province)?;
        let answer = link
            .authorize_debit(pb::DebitRequest {
                payment: Some(payment),
                period: String::new(),
            })
            .await?
            .into_inner();
        Ok(Response::new(pb::RouteAnswer {
            status: answer.status,
            decline_reason: answer.decline_reason,
            message: answer.message,
            period: String::new(),
        }))
    }

    async fn route_grant(&self, request: Request<pb::GrantNotice>) -> Result<Response<pb::Acceptance>, Status> {
        let grant = request.into_inner();
        let mut link = self.link(&grant.beneficiary_province)?;
        Ok(Response::new(link.receive_grant(grant).await?.into_inner()))
    }

    async fn check_wallet_recipient(
        &self,
        request: Request<pb::WalletRecipientQuery>,
    ) -> Result<Response<pb::WalletRecipientAnswer>, Status> {
        let query = request.into_inner();
        let mut link = self.link(&query.recipient_province)?;
        Ok(Response::new(link.check_wallet_recipient(query).await?.into_inner()))
    }

    async fn route_wallet_acceptance(&self, request: Request<pb::CrossWalletAcceptance>) -> Result<Response<pb::RouteAnswer>, Status> {
        let acceptance = request.into_inner();
        let mut link = self.link(&acceptance.sender_province)?;
        let answer = link
            .decide_wallet_acceptance(pb::WalletAcceptanceRequest {
                acceptance: Some(acceptance),
                period: String::new(),
            })
            .await?
            .into_inner();
        Ok(Response::new(pb::RouteAnswer {
            status: if answer.accepted {
                pb::TransactionStatus::Approved
            } else {
                pb::TransactionStatus::Declined
            } as i32,
            decline_reason: answer.decline_reason,
            message: answer.message,
            period: String::new(),
        }))
    }
}

/// A stub node: answers at once, or passes the request to the stub hub.
#[derive(Clone)]
struct StubNode {
    province: ProvinceCode,
    /// Where the donors of payments made here live.
    donor_province: ProvinceCode,
    hub: HubRouterClient<Channel>,
}

#[tonic::async_trait]
impl province_node_server::ProvinceNode for StubNode {
    async fn pay(&self, request: Request<pb::PayRequest>) -> Result<Response<pb::Payment>, Status> {
        let pay = request.into_inner();
        let mut payment = pb::Payment {
            payment_id: pay.payment_id,
            beneficiary_id: pay.beneficiary_id,
            institution_id: pay.institution_id,
            amount: pay.amount,
            purpose: pay.purpose,
            relationship_id: pay.relationship_id,
            donor_province: self.donor_province.to_string(),
            beneficiary_province: self.province.to_string(),
            status: pb::TransactionStatus::Approved as i32,
            ..Default::default()
        };
        if self.donor_province != self.province {
            let answer = self
                .hub
                .clone()
                .route_payment(pb::CrossPayment {
                    payment_id: payment.payment_id.clone(),
                    relationship_id: payment.relationship_id.clone(),
                    donor_id: String::new(),
                    donor_province: payment.donor_province.clone(),
                    beneficiary_id: payment.beneficiary_id.clone(),
                    beneficiary_province: payment.beneficiary_province.clone(),
                    institution_id: payment.institution_id.clone(),
                    amount: payment.amount.clone(),
                    purpose: payment.purpose,
                })
                .await?
                .into_inner();
            payment.status = answer.status;
            payment.period = answer.period;
        }
        Ok(Response::new(payment))
    }

    async fn send_to_wallet(&self, request: Request<pb::SendToWalletRequest>) -> Result<Response<pb::WalletTransfer>, Status> {
        let send = request.into_inner();
        if send.recipient_province != self.province.to_string() {
            self.hub
                .clone()
                .check_wallet_recipient(pb::WalletRecipientQuery {
                    recipient_id: send.recipient_id.clone(),
                    recipient_province: send.recipient_province.clone(),
                })
                .await?;
        }
        Ok(Response::new(pb::WalletTransfer {
            transfer_id: send.transfer_id,
            sender_id: send.sender_id,
            recipient_id: send.recipient_id,
            recipient_province: send.recipient_province,
            relation_kind: send.relation_kind,
            amount: send.amount,
            status: pb::WalletTransferStatus::Unaccepted as i32,
            ..Default::default()
        }))
    }

    async fn accept_wallet_transfer(
        &self,
        request: Request<pb::AcceptWalletTransferRequest>,
    ) -> Result<Response<pb::WalletTransfer>, Status> {
        let accept = request.into_inner();
        let mut transfer = pb::WalletTransfer {
            transfer_id: accept.transfer_id.clone(),
            recipient_id: accept.recipient_id.clone(),
            recipient_province: self.province.to_string(),
            amount: accept.amount.clone(),
            status: pb::WalletTransferStatus::Accepted as i32,
            ..Default::default()
        };
        if !accept.sender_province.is_empty() {
            let answer = self
                .hub
                .clone()
                .route_wallet_acceptance(pb::CrossWalletAcceptance {
                    transfer_id: accept.transfer_id,
                    sender_province: accept.sender_province,
                    recipient_province: self.province.to_string(),
                    recipient_id: accept.recipient_id,
                    amount: accept.amount,
                })
                .await?
                .into_inner();
            if answer.status != pb::TransactionStatus::Approved as i32 {
                transfer.status = pb::WalletTransferStatus::Unaccepted as i32;
            }
        }
        Ok(Response::new(transfer))
    }

    async fn establish_relationship(
        &self,
        request: Request<pb::EstablishRelationshipRequest>,
    ) -> Result<Response<pb::Relationship>, Status> {
        let establish = request.into_inner();
        let mut relationship = pb::Relationship {
            relationship_id: establish.relationship_id,
            donor_id: establish.donor_id,
            donor_province: self.province.to_string(),
            beneficiary_id: establish.beneficiary_id,
            beneficiary_province: establish.beneficiary_province,
            relation_kind: establish.relation_kind,
            remaining: establish.quota.clone(),
            quota: establish.quota,
            used: "0.00".into(),
            status: pb::RelationshipStatus::Active as i32,
            owned_here: true,
            ..Default::default()
        };
        if relationship.beneficiary_province != relationship.donor_province {
            let acceptance = self
                .hub
                .clone()
                .route_grant(pb::GrantNotice {
                    relationship_id: relationship.relationship_id.clone(),
                    donor_id: relationship.donor_id.clone(),
                    donor_province: relationship.donor_province.clone(),
                    beneficiary_id: relationship.beneficiary_id.clone(),
                    beneficiary_province: relationship.beneficiary_province.clone(),
                    relation_kind: relationship.relation_kind,
                    quota: relationship.quota.clone(),
                })
                .await?
                .into_inner();
            if !acceptance.accepted {
                relationship.status = pb::RelationshipStatus::Declined as i32;
            }
        }
        Ok(Response::new(relationship))
    }
}

#[tonic::async_trait]
impl province_link_server::ProvinceLink for StubNode {
    async fn authorize_debit(&self, _request: Request<pb::DebitRequest>) -> Result<Response<pb::DebitAnswer>, Status> {
        Ok(Response::new(pb::DebitAnswer {
            status: pb::TransactionStatus::Approved as i32,
            decline_reason: 0,
            message: String::new(),
        }))
    }

    async fn check_wallet_recipient(
        &self,
        _request: Request<pb::WalletRecipientQuery>,
    ) -> Result<Response<pb::WalletRecipientAnswer>, Status> {
        Ok(Response::new(pb::WalletRecipientAnswer {
            state: pb::WalletRecipientState::Open as i32,
        }))
    }

    async fn decide_wallet_acceptance(&self, _request: Request<pb::WalletAcceptanceRequest>) -> Result<Response<pb::Acceptance>, Status> {
        Ok(Response::new(pb::Acceptance {
            accepted: true,
            decline_reason: 0,
            message: String::new(),
        }))
    }

    async fn receive_grant(&self, _request: Request<pb::GrantNotice>) -> Result<Response<pb::Acceptance>, Status> {
        Ok(Response::new(pb::Acceptance {
            accepted: true,
            decline_reason: 0,
            message: String::new(),
        }))
    }
}
