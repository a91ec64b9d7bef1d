//! A Gongji province node: insured persons, personal accounts, mutual-aid
//! relationships and payments of one province, connected to the national hub.
//!
//! Layout: `domain` (rules, no I/O), `store` (trees and key layouts),
//! `service` (the flows, step by durable step), `hub_client` (the only way
//! out), `recovery` (pending transactions), `api` (gRPC adapters), `config`.

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod hub_client;
pub mod recovery;
pub mod service;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use gongji_common::{
    outbox::Outbox,
    server::{self, ServeError},
    store::{Store, StoreError},
};
use gongji_proto::v1::{province_link_server::ProvinceLinkServer, province_node_server::ProvinceNodeServer};
use tokio::net::TcpListener;

pub use config::NodeConfig;

/// The gRPC services a province node serves (besides health and reflection).
pub const SERVICES: &[&str] = &["gongji.v1.ProvinceNode", "gongji.v1.ProvinceLink"];

/// Why a node could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Runs a province node on `listener` until `shutdown` completes, then
/// drains calls, stops recovery and closes the store.
pub async fn run(config: NodeConfig, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let store = Store::open(&config.data_dir, store::TREES)?;
    let (credential, gate) = config.links().map_err(RunError::Config)?;
    let hub = hub_client::HubClient::new(&config.hub, config.deadlines(), credential).map_err(RunError::Config)?;
    let outbox = Outbox::new(store.clone(), store::OUTBOX, config.outbox_backoff());
    let node = Arc::new(service::Node::new(config.province, store, hub, outbox, config.give_up_after()));

    let (stop_recovery, stopped) = tokio::sync::watch::channel(false);
    let sender = tokio::spawn({
        let node = node.clone();
        let stopped = stopped.clone();
        async move { node.run_outbox(stopped).await }
    });
    let recovery = tokio::spawn({
        let node = node.clone();
        gongji_common::pending::every(config.recovery_interval(), stopped, move || {
            let node = node.clone();
            async move {
                recovery::resolve_pending(&node).await;
            }
        })
    });

    tracing::info!(
        province = %config.province,
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        data_dir = %config.data_dir.display(),
        hub = %config.hub,
        "province node serving"
    );
    let router = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(256)
        .add_service(ProvinceNodeServer::new(api::PublicApi::new(node.clone())))
        .add_service(ProvinceLinkServer::with_interceptor(api::LinkApi::new(node.clone()), gate));
    let served = server::serve(router, SERVICES, listener, shutdown, server::DEFAULT_GRACE).await;

    let _ = stop_recovery.send(true);
    for (name, task) in [("recovery", recovery), ("outbox", sender)] {
        if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
            tracing::warn!(task = name, "background task did not stop in time");
        }
    }
    tracing::info!(province = %config.province, "province node stopped");
    served?;
    Ok(())
}
