//! Waiting for a network that was just started (or a server that was
//! restarted): until each server answers its `grpc.health.v1` check as
//! serving. A certificate that does not fit fails at once: waiting does not
//! mend it.

use std::time::Duration;

use gongji_common::ProvinceCode;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};

use crate::{
    connection::{Connection, CALL_TIMEOUT},
    error::CliError,
    manifest::Manifest,
};

/// How long the servers have to answer after they start.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// Waits until the hub and every node of `manifest` serve.
pub async fn wait_for_network(connection: &Connection, manifest: &Manifest) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    wait_for_hub(connection, &manifest.hub, deadline).await?;
    for entry in &manifest.provinces {
        let code = ProvinceCode::parse("province", &entry.code).map_err(|e| CliError::Other(format!("the network's address file: {e}")))?;
        wait_for_node(connection, code, &entry.address, deadline).await?;
    }
    Ok(())
}

/// Waits until the hub at `address` serves (over TLS, with the hub's certificate).
pub async fn wait_for_hub(connection: &Connection, address: &str, deadline: tokio::time::Instant) -> Result<(), CliError> {
    let what = format!("the hub at {address}");
    wait_for_server(connection, address, gongji_common::tls::HUB_NAME, &what, deadline).await
}

/// Waits until province `code`'s node at `address` serves (over TLS, with
/// that province's certificate).
pub async fn wait_for_node(
    connection: &Connection,
    code: ProvinceCode,
    address: &str,
    deadline: tokio::time::Instant,
) -> Result<(), CliError> {
    let what = format!("the node of province {code} at {address}");
    wait_for_server(connection, address, &gongji_common::tls::province_name(code), &what, deadline).await
}

async fn wait_for_server(
    connection: &Connection,
    address: &str,
    server_name: &str,
    what: &str,
    deadline: tokio::time::Instant,
) -> Result<(), CliError> {
    loop {
        match serving(connection, address, server_name).await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains("certificate") => {
                return Err(CliError::Other(format!(
                    "{what} refused the TLS handshake: {e} (the certificates do not fit the servers: make new ones with gongji certs --force, or delete the certificates' directory of a devnet)"
                )))
            }
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(CliError::Other(format!(
                    "{what} did not answer within {} s: {e}",
                    READY_WITHIN.as_secs()
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Whether the server at `address` answers its health check as serving,
/// or why not; of several addresses (hubs sharing a database, one active,
/// the others standing by), whether one does.
async fn serving(connection: &Connection, address: &str, server_name: &str) -> Result<(), String> {
    let mut why = Vec::new();
    for one in address.split(',').map(str::trim) {
        match serving_one(connection, one, server_name).await {
            Ok(()) => return Ok(()),
            Err(e) => why.push(e),
        }
    }
    Err(why.join("; "))
}

async fn serving_one(connection: &Connection, address: &str, server_name: &str) -> Result<(), String> {
    let channel = connection
        .connect(address, CALL_TIMEOUT, Some(server_name))
        .await
        .map_err(|e| e.to_string())?;
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map_err(|status| status.message().to_owned())?;
    match reply.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(other.as_str_name().to_ascii_lowercase().replace('_', " ")),
    }
}
