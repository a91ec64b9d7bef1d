//! Serving plumbing shared by the hub and the nodes: every server publishes
//! gRPC reflection (v1 and v1alpha, so grpcurl 1.8.6 works) and the standard
//! health service, stops on a shutdown signal passed in by the caller, and
//! bounds how long it waits for open connections to drain. Each service
//! can be wrapped in [`observed`], which times every call for the metrics
//! and runs it in a span carrying the caller's transaction id.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::net::TcpListener;
use tonic::{
    body::Body,
    codegen::{http, BoxFuture, Bytes, Service},
    server::NamedService,
    transport::server::{Router, TcpIncoming},
    Code, Status,
};
use tonic_health::ServingStatus;
use tracing::Instrument;

use crate::{metrics::Metrics, peer::TX_HEADER};

/// Calls one peer may have in progress at once, by default.
pub const DEFAULT_MAX_IN_FLIGHT_PER_PEER: usize = 256;

/// A server builder with the limits every server has: at most
/// `max_in_flight_per_peer` calls in progress per connection, and a call
/// beyond it refused at once with RESOURCE_EXHAUSTED (load shedding) rather
/// than queued. (Incoming messages are limited to tonic's default of 4 MiB.)
/// With `tls`, every connection is mutual TLS: the peer must present a
/// certificate issued by the network's CA.
pub fn builder(max_in_flight_per_peer: usize, tls: Option<&crate::tls::Tls>) -> Result<tonic::transport::Server, String> {
    let builder = tonic::transport::Server::builder();
    let builder = match tls {
        Some(tls) => builder
            .tls_config(tls.server_config())
            .map_err(|e| format!("TLS: {}", crate::tls::describe(&e)))?,
        None => builder,
    };
    Ok(builder
        .concurrency_limit_per_connection(max_in_flight_per_peer.max(1))
        .load_shed(true))
}

/// The flags every server has for how it serves: its metrics listener and
/// its per-connection limit.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeFlags {
    /// Address to serve Prometheus metrics on (plain HTTP, `GET /metrics`);
    /// none unless given.
    #[arg(long, env = "GONGJI_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Calls one peer (one connection) may have in progress at once; a
    /// call beyond it is refused at once with RESOURCE_EXHAUSTED (load
    /// shedding), never queued without bound.
    #[arg(long, env = "GONGJI_MAX_IN_FLIGHT_PER_PEER", default_value_t = DEFAULT_MAX_IN_FLIGHT_PER_PEER)]
    pub max_in_flight_per_peer: usize,
}

impl Default for ServeFlags {
    fn default() -> ServeFlags {
        ServeFlags {
            metrics_listen: None,
            max_in_flight_per_peer: DEFAULT_MAX_IN_FLIGHT_PER_PEER,
        }
    }
}

impl ServeFlags {
    /// Binds the metrics listener when `--metrics-listen` is given.
    pub async fn bind_metrics(&self) -> Result<Option<TcpListener>, RunError> {
        match self.metrics_listen {
            Some(address) => TcpListener::bind(address)
                .await
                .map(Some)
                .map_err(|source| RunError::MetricsListen { address, source }),
            None => Ok(None),
        }
    }
}

/// Why a server (the hub or a node) could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The service could not set itself up on its store.
    #[error("{0}")]
    Start(String),
    #[error("cannot serve metrics on {address}: {source}")]
    MetricsListen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Waits (up to 10 s) for a stopping server's background task.
async fn wait_for_task<T>(name: &'static str, task: tokio::task::JoinHandle<T>) {
    if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
        tracing::warn!(task = name, "background task did not stop in time");
    }
}

/// Closes a stopped server's store: gives up `store`, the server's last
/// handle of its own, and waits (up to 10 s) for the handles its
/// connections still hold, so the data directory is free when the server's
/// run returns.
pub async fn release_store(store: crate::store::Store) {
    if !store.release(Duration::from_secs(10)).await {
        tracing::warn!("the store is still in use 10 s after the server stopped; the data directory stays locked until it is released");
    }
}

/// How long a stopping server waits for in-flight calls before it drops them.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The tasks a server runs beside its calls (the outbox's sender, the
/// recovery pass, the metrics endpoint), all told to stop at once when the
/// server stops serving, and waited for by [`run_service`].
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl Default for Background {
    fn default() -> Background {
        Background::new()
    }
}

impl Background {
    pub fn new() -> Background {
        Background {
            stop: tokio::sync::watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// Turns true when the server stops: a task ends once it sees that.
    pub fn stopped(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs `task`, named for the log if it does not stop in time.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push((name, tokio::spawn(task)));
    }

    /// Serves `metrics` at `/metrics` on `listener`, when one is given,
    /// until the server stops.
    pub fn serve_metrics(&mut self, listener: Option<TcpListener>, metrics: &Arc<Metrics>) {
        let Some(listener) = listener else {
            return;
        };
        tracing::info!(
            listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            "serving metrics at /metrics"
        );
        let mut stopped = self.stopped();
        self.spawn(
            "metrics",
            crate::metrics::serve(listener, metrics.clone(), async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }),
        );
    }

    /// Tells every task to stop and waits for them (up to 10 s each).
    async fn stop(self) {
        self.stop.send_replace(true);
        for (name, task) in self.tasks {
            wait_for_task(name, task).await;
        }
    }
}

/// A server's life once it is set up, the same for the hub and the nodes:
/// serves `router` on `listener` (see [`serve`]; health turns NOT_SERVING
/// if `store` fails) until `shutdown` completes, then stops and waits for
/// the `background` tasks, drops `state` (the server's own handles of its
/// store: its service state, its metrics) and releases `store`, so that the
/// data directory is free when this returns. Returns how serving ended.
pub async fn run_service<S>(
    router: Router,
    services: &'static [&'static str],
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    background: Background,
    state: S,
    store: crate::store::Store,
) -> Result<(), ServeError> {
    let served = serve(router, services, listener, shutdown, DEFAULT_GRACE, store.failed()).await;
    background.stop().await;
    drop(state);
    release_store(store).await;
    served
}

/// The services every server offers besides its own, listed by reflection.
const STANDARD_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Why a server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `router` on `listener` until `shutdown` completes, adding health
/// and reflection for the named services (`gongji.v1.ProvinceNode`, …).
/// Health says SERVING until `failed` completes (the store's log failed:
/// see `Store::failed`), then NOT_SERVING for every service.
pub async fn serve(
    router: Router,
    services: &[&'static str],
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    failed: impl Future<Output = String> + Send + 'static,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in services.iter().copied().chain([""]) {
        reporter.set_service_status(name, ServingStatus::Serving).await;
    }
    let names: Vec<&'static str> = services.to_vec();
    let watcher = tokio::spawn(async move {
        let why = failed.await;
        tracing::error!(error = %why, "the store failed: health says NOT_SERVING and money-moving calls are refused until a restart");
        for name in names.into_iter().chain([""]) {
            reporter.set_service_status(name, ServingStatus::NotServing).await;
        }
    });
    let listed = services.iter().copied().chain(STANDARD_SERVICES.iter().copied());
    let reflection = || {
        listed.clone().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(gongji_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
    };
    let router = router
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);

    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(());
    };
    // No Nagle: a reply's last segment would otherwise wait for the
    // client's delayed ACK (~40 ms for every small unary answer).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let serving = router.serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(serving);
    let served = tokio::select! {
        result = &mut serving => result.map_err(ServeError::from),
        _ = async { if stopped.await.is_ok() { tokio::time::sleep(grace).await } else { std::future::pending::<()>().await } } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "connections still open after the grace period; dropping them");
            Ok(())
        }
    };
    watcher.abort();
    served
}

/// The name of a gRPC service (for [`Refusing`]).
pub trait ServiceName: Send + Sync + 'static {
    const NAME: &'static str;
}

/// `gongji.v1.ProvinceNode`, a province node's public service.
pub struct ProvinceNodeService;
/// `gongji.v1.ProvinceLink`, the service a node offers the hub.
pub struct ProvinceLinkService;
/// `gongji.v1.NationalHub`, the hub's operator service.
pub struct NationalHubService;
/// `gongji.v1.HubRouter`, the service the hub offers the nodes.
pub struct HubRouterService;

impl ServiceName for ProvinceNodeService {
    const NAME: &'static str = "gongji.v1.ProvinceNode";
}
impl ServiceName for ProvinceLinkService {
    const NAME: &'static str = "gongji.v1.ProvinceLink";
}
impl ServiceName for NationalHubService {
    const NAME: &'static str = "gongji.v1.NationalHub";
}
impl ServiceName for HubRouterService {
    const NAME: &'static str = "gongji.v1.HubRouter";
}

/// A service that answers every call with the same kind of refusal, made
/// by `answer` at each call: see [`elsewhere`] and [`standby`].
pub struct Refusing<M> {
    answer: Arc<dyn Fn() -> Status + Send + Sync>,
    name: std::marker::PhantomData<M>,
}

impl<M> Clone for Refusing<M> {
    fn clone(&self) -> Self {
        Refusing {
            answer: Arc::clone(&self.answer),
            name: std::marker::PhantomData,
        }
    }
}

impl<M: ServiceName> NamedService for Refusing<M> {
    const NAME: &'static str = M::NAME;
}

impl<M: ServiceName> Service<http::Request<Body>> for Refusing<M> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        std::future::ready(Ok((self.answer)().into_http()))
    }
}

/// The service `M`, which this server does not offer but another kind does:
/// every call is answered UNIMPLEMENTED with what this server is instead
/// ("this is the national hub: gongji.v1.ProvinceNode is served by each
/// province's node"), so a client or grpcurl pointed at the wrong address
/// learns where to go. Not listed by reflection.
/// `this` says what this server is ("province 32's node").
pub fn elsewhere<M: ServiceName>(this: &str, served_by: &str) -> Refusing<M> {
    let says = format!(
        "this is {this}, which does not serve {}: it is served by {served_by}; use that address",
        M::NAME
    );
    Refusing {
        answer: Arc::new(move || Status::unimplemented(says.clone())),
        name: std::marker::PhantomData,
    }
}

/// Who is active among several servers sharing one store (the hub's
/// failover): the active one's address, as a standby last read it.
pub type ActiveAddress = Arc<std::sync::RwLock<Option<String>>>;

/// The service `M` of a standby server: every call is answered UNAVAILABLE
/// naming the active server, in words and in `x-gongji-active-hub`
/// metadata (which a client of several hubs follows: see
/// `crate::hubs::Hubs`).
pub fn standby<M: ServiceName>(active: ActiveAddress) -> Refusing<M> {
    Refusing {
        answer: Arc::new(move || {
            let active = active
                .read()
                .map(|a| a.clone())
                .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
            let mut status = match &active {
                Some(address) => Status::unavailable(format!(
                    "this hub is a standby: the active hub is {address}; call it (a client given every hub's address follows it)"
                )),
                None => Status::unavailable("this hub is a standby, and no hub is active yet; try again in a moment"),
            };
            if let Some(value) = active.and_then(|address| address.parse().ok()) {
                status.metadata_mut().insert(crate::hubs::ACTIVE_HUB_HEADER, value);
            }
            status
        }),
        name: std::marker::PhantomData,
    }
}

/// A second handle on `listener`'s socket: a standby serves on one and the
/// server, once active, on the other, so the port is never closed between.
pub fn share_listener(listener: &TcpListener) -> std::io::Result<TcpListener> {
    use std::os::fd::AsFd;
    let shared = std::net::TcpListener::from(listener.as_fd().try_clone_to_owned()?);
    shared.set_nonblocking(true)?;
    TcpListener::from_std(shared)
}

/// Serves a standby on `listener` until `stop` completes: its services
/// answer UNAVAILABLE naming the active server, health says NOT_SERVING.
pub async fn serve_standby(
    router: Router,
    services: &[&'static str],
    listener: TcpListener,
    stop: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in services.iter().copied().chain([""]) {
        reporter.set_service_status(name, ServingStatus::NotServing).await;
    }
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    router.add_service(health).serve_with_incoming_shutdown(incoming, stop).await?;
    Ok(())
}

/// Wraps a gRPC service so that every call runs in a span
/// `rpc{method=… tx=…}` (the transaction id the caller sent in
/// `x-gongji-tx`, so one payment can be followed through every process's
/// logs) and its latency is recorded per method and status code.
pub fn observed<S>(service: S, metrics: &Arc<Metrics>) -> Observed<S> {
    Observed {
        inner: service,
        metrics: metrics.clone(),
    }
}

/// A gRPC service wrapped by [`observed`].
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S: NamedService> NamedService for Observed<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<Body>> for Observed<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<http::Response<Body>, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let method = request.uri().path().to_owned();
        let span = match request.headers().get(TX_HEADER).and_then(|v| v.to_str().ok()) {
            Some(tx) => tracing::info_span!("rpc", method = %method, tx = %tx),
            None => tracing::info_span!("rpc", method = %method),
        };
        let call = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        Box::pin(
            async move {
                let response = match call.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let finish = Finish { metrics, method, started };
                Ok(on_status(response, move |status| finish.record(status.code())))
            }
            .instrument(span),
        )
    }
}

/// What to record once a call's status is known.
struct Finish {
    metrics: Arc<Metrics>,
    method: String,
    started: Instant,
}

impl Finish {
    fn record(self, code: Code) {
        // A path no service has would otherwise add a label of the
        // caller's choosing with every call.
        let method = if code == Code::Unimplemented {
            "(unknown method)"
        } else {
            &self.method
        };
        self.metrics.rpc(method, code, self.started.elapsed());
    }
}

/// `response` as it is, with `report` told the call's status once it is
/// known: at once for an error (a trailers-only answer, the status in the
/// headers), else when the body's trailers pass; as UNKNOWN or INTERNAL if
/// the body ends or fails without them, as CANCELLED if it is dropped first.
pub fn on_status<B, F>(response: http::Response<B>, report: F) -> http::Response<Body>
where
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
    F: FnOnce(Status) + Send + Unpin + 'static,
{
    on_answer(response, 0, move |status, _| report(status))
}

/// Like [`on_status`], also handing `report` the first `keep` bytes of the
/// answer's body (the answer of a unary call, framed as gRPC sends it).
pub fn on_answer<B, F>(response: http::Response<B>, keep: usize, report: F) -> http::Response<Body>
where
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
    F: FnOnce(Status, &[u8]) + Send + Unpin + 'static,
{
    let (parts, body) = response.into_parts();
    let body = match Status::from_header_map(&parts.headers) {
        Some(status) => {
            report(status, &[]);
            Body::new(body)
        }
        None => Body::new(StatusBody {
            inner: body,
            keep,
            kept: Vec::new(),
            report: Some(report),
        }),
    };
    http::Response::from_parts(parts, body)
}

/// A response body that tells its call's status (and its first bytes) when
/// the trailers pass.
struct StatusBody<B, F: FnOnce(Status, &[u8])> {
    inner: B,
    keep: usize,
    kept: Vec<u8>,
    report: Option<F>,
}

impl<B: http_body::Body<Data = Bytes> + Unpin, F: FnOnce(Status, &[u8]) + Unpin> http_body::Body for StatusBody<B, F> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let status = match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let room = self.keep.saturating_sub(self.kept.len());
                    let take = data.len().min(room);
                    self.kept.extend_from_slice(&data[..take]);
                }
                frame
                    .trailers_ref()
                    .map(|trailers| Status::from_header_map(trailers).unwrap_or_else(|| Status::unknown("no status in the trailers")))
            }
            Poll::Ready(Some(Err(_))) => Some(Status::internal("the answer could not be sent")),
            Poll::Ready(None) => Some(Status::unknown("the answer ended without a status")),
            Poll::Pending => None,
        };
        if let Some(status) = status {
            if let Some(report) = self.report.take() {
                let kept = std::mem::take(&mut self.kept);
                report(status, &kept);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B, F: FnOnce(Status, &[u8])> Drop for StatusBody<B, F> {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            report(Status::cancelled("the call ended before it was answered"), &[]);
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        _ = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    init_tracing_with_default("info");
}

/// Logs to stderr, filtered by `RUST_LOG`, or by `default` when it is unset.
pub fn init_tracing_with_default(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .try_init();
}

/// How a server names itself as the holder of its store's lease: its
/// program, host and address, for whoever finds the store taken.
pub fn holder(program: &str, listener: &tokio::net::TcpListener) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    match listener.local_addr() {
        Ok(addr) => format!("{program} on {host} at {addr}"),
        Err(_) => format!("{program} on {host}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_service_stops_its_background_tasks_drops_its_state_and_frees_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path(), &[]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let router = tonic::transport::Server::builder().add_service(elsewhere::<NationalHubService>("a test", "nobody"));
        let stopped = Arc::new(AtomicBool::new(false));
        let mut background = Background::new();
        background.spawn("waiter", {
            let stopped = stopped.clone();
            let mut stop = background.stopped();
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
                stopped.store(true, Ordering::SeqCst);
            }
        });
        // The state holds a handle of the store, as a server's does.
        let state = store.clone();
        run_service(router, &["gongji.v1.NationalHub"], listener, async {}, background, state, store)
            .await
            .unwrap();
        assert!(
            stopped.load(Ordering::SeqCst),
            "the background task was told to stop and waited for"
        );
        // Released: the data directory opens again at once.
        crate::store::Store::open(dir.path(), &[]).expect("the store was released");
    }
}
