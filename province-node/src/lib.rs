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

use std::{future::Future, sync::Arc};

use gongji_common::{
    access::{self, guarded},
    metrics::Metrics,
    oplog::OpLog,
    outbox::Outbox,
    server::{self, observed},
};
use gongji_proto::v1::{province_link_server::ProvinceLinkServer, province_node_server::ProvinceNodeServer};
use tokio::net::TcpListener;

pub use config::NodeConfig;
pub use gongji_common::server::RunError;

/// The gRPC services a province node serves (besides health and reflection).
pub const SERVICES: &[&str] = &["gongji.v1.ProvinceNode", "gongji.v1.ProvinceLink"];

/// Runs a province node on `listener` until `shutdown` completes, then
/// drains calls, stops recovery and closes the store. Metrics are served on
/// `--metrics-listen` when it is given.
pub async fn run(config: NodeConfig, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let metrics_listener = config.serve.bind_metrics().await?;
    run_with_metrics(config, listener, metrics_listener, shutdown).await
}

/// Like [`run`], serving metrics on `metrics_listener` (bound by the caller,
/// e.g. on port 0) instead of `--metrics-listen`.
pub async fn run_with_metrics(
    config: NodeConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let links = config.links().map_err(RunError::Config)?;
    if links.tls.is_none() {
        tracing::warn!("{}", gongji_common::auth::PLAINTEXT_WARNING);
    }
    let store = config.store.open(
        &config.data_dir,
        store::TREES,
        gongji_common::store::DEFAULT_CACHE_BYTES,
        &server::holder("province-node", &listener),
    )?;
    let indexed = service::index_journal(&store).await?;
    if indexed > 0 {
        tracing::info!(
            entries = indexed,
            "indexed the journal by account (a store written before the index)"
        );
    }
    let access = config
        .access
        .access(
            &access::policy::PROVINCE_NODE,
            OpLog::new(store.clone(), store::OPLOG),
            config.tls.insecure,
        )
        .map_err(RunError::Config)?;
    let towards_hub = links.tls.as_ref().map(|tls| tls.client_config(Some(gongji_common::tls::HUB_NAME)));
    let hub = hub_client::HubClient::new(&config.hub, config.deadlines(), links.credential, towards_hub).map_err(RunError::Config)?;
    let outbox = Outbox::new(store.clone(), store::OUTBOX, config.outbox_backoff());
    let wallet_limits = config.wallet.limits().map_err(RunError::Config)?;
    let node = Arc::new(
        service::Node::new(config.province, store, hub, outbox, config.give_up_after(), config.clock.clock())
            .with_wallet_limits(wallet_limits),
    );
    let indexed = node
        .build_listings()
        .await
        .map_err(|e| RunError::Start(format!("building the payment listings' indexes: {e}")))?;
    if indexed > 0 {
        tracing::info!(
            indexed,
            "listing indexes built at start (records of an older version, or of an older index layout)"
        );
    }
    let metrics = Metrics::new("node");
    metrics.set_collector(Box::new({
        let node = node.clone();
        move |out| {
            if let Err(error) = node.gauges(out) {
                tracing::warn!(%error, "metrics: cannot read the node's gauges");
            }
        }
    }));

    let mut background = server::Background::new();
    background.spawn("outbox", {
        let node = node.clone();
        let stopped = background.stopped();
        async move { node.run_outbox(stopped).await }
    });
    background.spawn("recovery", {
        let node = node.clone();
        gongji_common::pending::every(config.recovery_interval(), background.stopped(), move || {
            let node = node.clone();
            async move {
                recovery::resolve_pending(&node).await;
            }
        })
    });
    background.spawn("wallet returns", {
        let node = node.clone();
        gongji_common::pending::every(config.recovery_interval(), background.stopped(), move || {
            let node = node.clone();
            async move {
                match node.return_due_wallet_transfers().await {
                    Ok(0) => {}
                    Ok(returned) => tracing::info!(returned, "wallet transfers not accepted in time went back to their senders"),
                    Err(error) => tracing::warn!(%error, "wallet return pass failed; it runs again"),
                }
            }
        })
    });
    background.serve_metrics(metrics_listener, &metrics);

    tracing::info!(
        province = %config.province,
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        books = %config.store.place(&config.data_dir),
        hub = %config.hub,
        "province node serving"
    );
    let this = format!("province {}'s node", config.province);
    let router = server::builder(config.serve.max_in_flight_per_peer, links.tls.as_ref())
        .map_err(RunError::Config)?
        .add_service(observed(
            guarded(ProvinceNodeServer::new(api::PublicApi::new(node.clone(), metrics.clone())), access),
            &metrics,
        ))
        .add_service(observed(
            ProvinceLinkServer::with_interceptor(api::LinkApi::new(node.clone(), metrics.clone()), links.gate),
            &metrics,
        ))
        .add_service(server::elsewhere::<server::NationalHubService>(&this, "the national hub"))
        .add_service(server::elsewhere::<server::HubRouterService>(&this, "the national hub"));
    let store = node.store().clone();
    let served = server::run_service(router, SERVICES, listener, shutdown, background, (node, metrics), store).await;
    tracing::info!(province = %config.province, "province node stopped");
    served?;
    Ok(())
}
