//! The Gongji national hub: routes every cross-province transaction, stamps
//! its month and keeps each province's running position.
//!
//! Layout, the same as a province node's (see `docs/ARCHITECTURE.md`):
//! `api` (gRPC adapters) → `service` (each flow as load → decide → apply,
//! and the recovery pass) → `domain` (the rules: records and pure
//! decisions, no I/O); `store` (trees, keys and accounts), `province_client`
//! (the only way out, to the nodes), `config`, `error`. Start-up and
//! shutdown are `gongji_common::server::run_service`'s.

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod province_client;
pub mod service;
mod standby;
pub mod store;

use std::{future::Future, sync::Arc};

use gongji_common::{
    access::{self, guarded},
    metrics::Metrics,
    oplog::OpLog,
    outbox::Outbox,
    server::{self, observed},
    store::StoreError,
};
use gongji_proto::v1::{hub_router_server::HubRouterServer, national_hub_server::NationalHubServer};
use tokio::net::TcpListener;

/// The hub's database page cache (the nodes use the store's default).
const HUB_CACHE_BYTES: u64 = 40 * 1024 * 1024;

pub use config::{HubConfig, ProvinceEntry};
pub use gongji_common::server::RunError;

/// The gRPC services the hub serves (besides health and reflection).
pub const SERVICES: &[&str] = &["gongji.v1.NationalHub", "gongji.v1.HubRouter"];

/// The `national-hub` program: binds `--listen` and runs until Ctrl-C or
/// SIGTERM; or says why it could not (also `gongji serve-hub`).
pub async fn serve(config: HubConfig) -> Result<(), String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    run(config, listener, server::shutdown_signal())
        .await
        .map_err(|error| error.to_string())
}

/// Runs the hub on `listener` until `shutdown` completes. Metrics are
/// served on `--metrics-listen` when it is given.
pub async fn run(config: HubConfig, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let metrics_listener = config.serve.bind_metrics().await?;
    run_with_metrics(config, listener, metrics_listener, shutdown).await
}

/// Like [`run`], serving metrics on `metrics_listener` (bound by the caller,
/// e.g. on port 0) instead of `--metrics-listen`.
///
/// On a PostgreSQL store the hub runs in terms: it stands by while another
/// hub holds the database's lease, serves once it holds it, and, if it is
/// deposed while serving (another hub took the lease: its writes are fenced
/// off), stops serving and stands by again on the same port.
pub async fn run_with_metrics(
    config: HubConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let registry = config.registry().map_err(RunError::Config)?;
    let links = config.links(&registry).map_err(RunError::Config)?;
    if links.tls.is_none() {
        tracing::warn!("{}", gongji_common::auth::PLAINTEXT_WARNING);
    }
    let advertised = config.advertised(&listener, links.tls.is_some());
    tokio::pin!(shutdown);
    loop {
        // A small cache: the hub holds every province's transactions, and
        // its reads on the payment path are mostly of recent ones (in the
        // memtable). At 64 MiB the hub peaked at 309 MiB in a month of a
        // million payments.
        let store = match config.store.open(&config.data_dir, store::TREES, HUB_CACHE_BYTES, &advertised) {
            Ok(store) => store,
            // Another hub is active on this database: stand by until it stops.
            Err(StoreError::LeaseHeld { holder, .. }) => {
                let url = config.store.url.clone().unwrap_or_default();
                let options = config.store.options(HUB_CACHE_BYTES).map_err(RunError::Config)?;
                let serving = server::builder(config.serve.max_in_flight_per_peer, links.tls.as_ref()).map_err(RunError::Config)?;
                match standby::until_active(&url, &advertised, options, holder, &listener, serving, shutdown.as_mut()).await? {
                    Some(store) => store,
                    None => return Ok(()),
                }
            }
            Err(error) => return Err(error.into()),
        };
        let metrics_listener = match &metrics_listener {
            Some(listener) => {
                Some(server::share_listener(listener).map_err(|e| RunError::Start(format!("sharing the metrics listener: {e}")))?)
            }
            None => None,
        };
        match serve_term(&config, store, &listener, metrics_listener, shutdown.as_mut()).await? {
            Term::Shutdown => return Ok(()),
            Term::Deposed(why) => tracing::warn!(error = %why, "this hub was deposed: another hub holds the database now; standing by"),
        }
    }
}

/// How a hub's term of serving ended.
enum Term {
    /// Ctrl-C, SIGTERM or the caller's shutdown.
    Shutdown,
    /// Another hub took the database's lease.
    Deposed(String),
}

/// Serves as the active hub on `store` until `shutdown`, or until another
/// hub takes the store's lease.
async fn serve_term(
    config: &HubConfig,
    store: gongji_common::store::Store,
    listener: &TcpListener,
    metrics_listener: Option<TcpListener>,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Term, RunError> {
    let registry = config.registry().map_err(RunError::Config)?;
    let links = config.links(&registry).map_err(RunError::Config)?;
    let access = config
        .access
        .access(
            &access::policy::NATIONAL_HUB,
            OpLog::new(store.clone(), store::OPLOG),
            config.tls.insecure,
        )
        .map_err(RunError::Config)?;
    let provinces =
        province_client::Provinces::new(registry, config.deadlines(), links.credential, links.tls.as_ref()).map_err(RunError::Config)?;
    let outbox = Outbox::new(store.clone(), store::OUTBOX, config.outbox_backoff());
    let policy = config.prepaid_policy().map_err(RunError::Config)?;
    let hub = Arc::new(
        service::Hub::new(store, provinces, outbox, policy, config.clock.clock())
            .await
            .map_err(|error| RunError::Start(error.to_string()))?,
    );
    let metrics = Metrics::new("hub");
    metrics.set_collector(Box::new({
        let hub = hub.clone();
        move |out| {
            if let Err(error) = hub.gauges(out) {
                tracing::warn!(%error, "metrics: cannot read the hub's gauges");
            }
        }
    }));

    let mut background = server::Background::new();
    background.spawn("outbox", {
        let hub = hub.clone();
        let stopped = background.stopped();
        async move { hub.run_outbox(stopped).await }
    });
    background.spawn("recovery", {
        let hub = hub.clone();
        gongji_common::pending::every(config.recovery_interval(), background.stopped(), move || {
            let hub = hub.clone();
            async move {
                service::resolve_pending(&hub).await;
            }
        })
    });
    background.serve_metrics(metrics_listener, &metrics);

    tracing::info!(
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        books = %config.store.place(&config.data_dir),
        provinces = hub.provinces().entries().count(),
        open_period = %hub.open_period().map_err(|error| RunError::Start(error.to_string()))?,
        "national hub serving"
    );
    let router = server::builder(config.serve.max_in_flight_per_peer, links.tls.as_ref())
        .map_err(RunError::Config)?
        .add_service(observed(
            HubRouterServer::with_interceptor(api::RouterApi::new(hub.clone(), metrics.clone()), links.gate),
            &metrics,
        ))
        .add_service(observed(
            guarded(NationalHubServer::new(api::OperatorApi::new(hub.clone())), access),
            &metrics,
        ))
        .add_service(server::elsewhere::<server::ProvinceNodeService>(
            "the national hub",
            "each province's node",
        ))
        .add_service(server::elsewhere::<server::ProvinceLinkService>(
            "the national hub",
            "each province's node",
        ));
    let store = hub.store().clone();
    let deposed = {
        let store = store.clone();
        async move {
            let why = store.failed().await;
            if !store.deposed() {
                // Any other failure: the server stays up saying NOT_SERVING.
                std::future::pending::<()>().await;
            }
            why
        }
    };
    let (ended, term) = tokio::sync::oneshot::channel();
    let stop = async move {
        let _ = ended.send(tokio::select! {
            _ = shutdown.as_mut() => Term::Shutdown,
            why = deposed => Term::Deposed(why),
        });
    };
    let listener = server::share_listener(listener).map_err(|e| RunError::Start(format!("sharing the listener: {e}")))?;
    let served = server::run_service(router, SERVICES, listener, stop, background, (hub, metrics), store).await;
    served?;
    match term.await {
        Ok(Term::Deposed(why)) => Ok(Term::Deposed(why)),
        _ => {
            tracing::info!("national hub stopped");
            Ok(Term::Shutdown)
        }
    }
}
