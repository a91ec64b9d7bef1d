//! Serving plumbing shared by the hub and the nodes: every server publishes
//! gRPC reflection (v1 and v1alpha, so grpcurl 1.8.6 works) and the standard
//! health service, stops on a shutdown signal passed in by the caller, and
//! bounds how long it waits for open connections to drain.

use std::{future::Future, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::server::{Router, TcpIncoming};
use tonic_health::ServingStatus;

/// How long a stopping server waits for in-flight calls before it drops them.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

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
pub async fn serve(
    router: Router,
    services: &[&'static str],
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in services.iter().copied().chain([""]) {
        reporter.set_service_status(name, ServingStatus::Serving).await;
    }
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
    tokio::select! {
        result = &mut serving => Ok(result?),
        _ = async { if stopped.await.is_ok() { tokio::time::sleep(grace).await } else { std::future::pending::<()>().await } } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "connections still open after the grace period; dropping them");
            Ok(())
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
