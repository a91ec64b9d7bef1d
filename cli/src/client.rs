//! Connections of the CLI to a province node or the hub: addresses given as
//! `host:port` or `http://host:port`, connected before the first call so that
//! "cannot reach the server" is never confused with an answer from it.

use std::time::Duration;

use gongji_common::peer::endpoint_uri;
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

/// An endpoint for `address`, not yet connected, for calls of at most [`CALL_TIMEOUT`].
pub fn endpoint(address: &str) -> Result<Endpoint, CliError> {
    endpoint_with(address, CALL_TIMEOUT)
}

/// An endpoint for `address`, not yet connected, whose calls may take `call_timeout`.
pub fn endpoint_with(address: &str, call_timeout: Duration) -> Result<Endpoint, CliError> {
    let uri = endpoint_uri(address.trim());
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| CliError::Other(format!("{address:?} is not an address (use host:port or http://host:port): {e}")))?;
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).timeout(call_timeout).tcp_nodelay(true))
}

/// A connected channel to `address`, for calls of at most [`CALL_TIMEOUT`].
pub async fn connect(address: &str) -> Result<Channel, CliError> {
    connect_with(address, CALL_TIMEOUT).await
}

/// A connected channel to `address`, for calls of at most `call_timeout`.
pub async fn connect_with(address: &str, call_timeout: Duration) -> Result<Channel, CliError> {
    endpoint_with(address, call_timeout)?
        .connect()
        .await
        .map_err(|e| CliError::Connect {
            address: endpoint_uri(address.trim()),
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

pub async fn hub(address: &str) -> Result<HubClient, CliError> {
    Ok(hub_on(connect(address).await?))
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
