//! Connections of the CLI to a province node or the hub: addresses given as
//! `host:port`, `http://host:port` or `https://host:port`, connected before
//! the first call so that "cannot reach the server" is never confused with an
//! answer from it. How to connect (mutual TLS with which certificates) is the
//! [`Connection`] the command runs under (see [`with_connection`]).

use std::time::Duration;

use gongji_common::{
    peer::{endpoint_uri, secure_uri},
    tls::{Tls, TlsFiles},
};
use gongji_proto::v1::{national_hub_client::NationalHubClient, province_node_client::ProvinceNodeClient};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::{
    credentials::{self, Credentials},
    error::{with_causes, CliError},
};

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take. Longer than the nodes' own deadline for the
/// hub, so a node that waits for another province answers before we give up.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a node may take to reconcile a month: it streams the province's
/// whole statement from the hub and merges it with its own records.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(600);

/// How the CLI connects to servers: over mutual TLS with the client
/// certificate of a certificates directory, or in plaintext.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    tls: Option<Tls>,
}

impl Connection {
    pub fn is_plaintext(&self) -> bool {
        self.tls.is_none()
    }

    /// Plaintext connections.
    pub fn plaintext() -> Connection {
        Connection::default()
    }

    /// Mutual TLS with `DIR/ca.pem`, `DIR/client.pem` and `DIR/client.key`
    /// (as `gongji certs` writes them).
    pub fn with_certs(dir: &std::path::Path) -> Result<Connection, CliError> {
        let tls = Tls::load(&TlsFiles::in_dir(dir, "client")).map_err(CliError::Other)?;
        Ok(Connection { tls: Some(tls) })
    }

    /// How to reach a network from its manifest: with its certificates, if it has them.
    pub fn for_manifest(manifest: &crate::network::Manifest) -> Result<Connection, CliError> {
        if manifest.certs.is_empty() {
            Ok(Connection::plaintext())
        } else {
            Connection::with_certs(std::path::Path::new(&manifest.certs))
        }
    }
}

tokio::task_local! {
    static CONNECTION: Connection;
}

/// Runs `work` with every connection it makes set up as `connection` says.
pub async fn with_connection<F: std::future::Future>(connection: Connection, work: F) -> F::Output {
    CONNECTION.scope(connection, work).await
}

/// The connection settings of the running command (to carry them into a
/// spawned task with [`with_connection`]).
pub fn current() -> Connection {
    CONNECTION.try_with(Connection::clone).unwrap_or_default()
}

fn current_tls() -> Option<Tls> {
    current().tls
}

/// An endpoint for `address`, not yet connected, for calls of at most [`CALL_TIMEOUT`].
pub fn endpoint(address: &str) -> Result<Endpoint, CliError> {
    endpoint_with(address, CALL_TIMEOUT)
}

/// An endpoint for `address`, not yet connected, whose calls may take `call_timeout`.
pub fn endpoint_with(address: &str, call_timeout: Duration) -> Result<Endpoint, CliError> {
    endpoint_for(address, call_timeout, None)
}

/// Like [`endpoint_with`]; over TLS the server's certificate must name
/// `server_name` (`hub.gongji`, `province-NN.gongji`) when given, else the
/// address's host.
pub fn endpoint_for(address: &str, call_timeout: Duration, server_name: Option<&str>) -> Result<Endpoint, CliError> {
    let tls = current_tls();
    let uri = match tls {
        Some(_) => secure_uri(address.trim()),
        None => endpoint_uri(address.trim()),
    };
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|e| CliError::Other(format!("{address:?} is not an address (use host:port or http://host:port): {e}")))?;
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.client_config(server_name))
            .map_err(|e| CliError::Other(format!("TLS towards {address}: {}", gongji_common::tls::describe(&e))))?;
    }
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).timeout(call_timeout).tcp_nodelay(true))
}

/// A connected channel to `address`, for calls of at most [`CALL_TIMEOUT`].
pub async fn connect(address: &str) -> Result<Channel, CliError> {
    connect_with(address, CALL_TIMEOUT).await
}

/// A connected channel to `address`, for calls of at most `call_timeout`.
pub async fn connect_with(address: &str, call_timeout: Duration) -> Result<Channel, CliError> {
    connect_to(address, call_timeout, None).await
}

/// A connected channel to `address`, whose certificate must name
/// `server_name` when given (see [`endpoint_for`]).
pub async fn connect_to(address: &str, call_timeout: Duration, server_name: Option<&str>) -> Result<Channel, CliError> {
    let tls = current_tls();
    endpoint_for(address, call_timeout, server_name)?
        .connect()
        .await
        .map_err(|e| CliError::Connect {
            address: match tls {
                Some(_) => secure_uri(address.trim()),
                None => endpoint_uri(address.trim()),
            },
            detail: with_causes(&e),
        })
}

pub async fn node(address: &str) -> Result<NodeClient, CliError> {
    Ok(node_on(connect(address).await?))
}

/// A node client for a reconciliation, which may take long.
pub async fn reconciling_node(address: &str) -> Result<NodeClient, CliError> {
    Ok(node_on(connect_with(address, RECONCILE_TIMEOUT).await?))
}

/// A client of the hub at `address`: over TLS its certificate must be the
/// hub's (`hub.gongji`), so a province node cannot pose as the hub.
pub async fn hub(address: &str) -> Result<HubClient, CliError> {
    Ok(hub_on(connect_to(address, CALL_TIMEOUT, Some(gongji_common::tls::HUB_NAME)).await?))
}

/// A channel that presents the command's credentials on every call.
pub type Authorized = InterceptedService<Channel, Credentials>;
/// A client of a province node's public service.
pub type NodeClient = ProvinceNodeClient<Authorized>;
/// A client of the hub's public service.
pub type HubClient = NationalHubClient<Authorized>;

/// A node client on `channel`, presenting the command's credentials.
pub fn node_on(channel: Channel) -> NodeClient {
    ProvinceNodeClient::with_interceptor(channel, credentials::current())
}

/// A hub client on `channel`, presenting the command's credentials.
pub fn hub_on(channel: Channel) -> HubClient {
    NationalHubClient::with_interceptor(channel, credentials::current())
}
