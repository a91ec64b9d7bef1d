//! Connections of the CLI to a province node or the hub: addresses given as
//! `host:port` or `http://host:port`, connected before the first call so that
//! "cannot reach the server" is never confused with an answer from it.

use std::time::Duration;

use gongji_common::peer::endpoint_uri;
use gongji_proto::v1::{national_hub_client::NationalHubClient, province_node_client::ProvinceNodeClient};
use tonic::transport::{Channel, Endpoint};

use crate::error::{with_causes, CliError};

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take. Longer than the nodes' own deadline for the
/// hub, so a node that waits for another province answers before we give up.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// An endpoint for `address`, not yet connected.
pub fn endpoint(address: &str) -> Result<Endpoint, CliError> {
    let uri = endpoint_uri(address.trim());
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| CliError::Other(format!("{address:?} is not an address (use host:port or http://host:port): {e}")))?;
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).timeout(CALL_TIMEOUT).tcp_nodelay(true))
}

/// A connected channel to `address`.
pub async fn connect(address: &str) -> Result<Channel, CliError> {
    endpoint(address)?.connect().await.map_err(|e| CliError::Connect {
        address: endpoint_uri(address.trim()),
        detail: with_causes(&e),
    })
}

pub async fn node(address: &str) -> Result<ProvinceNodeClient<Channel>, CliError> {
    Ok(ProvinceNodeClient::new(connect(address).await?))
}

pub async fn hub(address: &str) -> Result<NationalHubClient<Channel>, CliError> {
    Ok(NationalHubClient::new(connect(address).await?))
}
