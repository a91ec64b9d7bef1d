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
    args::{HubArg, NodeArg},
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
    /// The network the command talks to (its address file), to find a node
    /// by province and the hub.
    network: Option<crate::network::Manifest>,
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
        Ok(Connection {
            tls: Some(tls),
            network: None,
        })
    }

    /// The network's address file this connection finds addresses in.
    pub fn network(&self) -> Option<&crate::network::Manifest> {
        self.network.as_ref()
    }

    /// The same connection, finding addresses in `network`'s address file.
    pub fn in_network(self, network: Option<crate::network::Manifest>) -> Connection {
        Connection { network, ..self }
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
    check_address(address)?;
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
    endpoint_for(address, call_timeout, server_name)?.connect().await.map_err(|e| {
        let detail = with_causes(&e);
        let detail = match certificate_hint(&detail, address.trim()) {
            Some(hint) => format!("{detail}\n  {hint}"),
            None => detail,
        };
        CliError::Connect {
            address: match tls {
                Some(_) => secure_uri(address.trim()),
                None => endpoint_uri(address.trim()),
            },
            detail,
        }
    })
}

/// Refuses what cannot be an address before anything is tried: a server is
/// HOST:PORT, optionally behind http:// or https://.
fn check_address(address: &str) -> Result<(), CliError> {
    let bare = address.trim().split_once("://").map_or(address.trim(), |(_, rest)| rest);
    let port = bare.rsplit_once(':');
    match port {
        Some((host, port)) if !host.is_empty() && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ if !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit()) => Err(CliError::Usage(format!(
            "{address:?} is a port alone: a server's address is HOST:PORT (e.g. 127.0.0.1:{bare})"
        ))),
        _ => Err(CliError::Usage(format!(
            "{address:?} is not a server's address: use HOST:PORT (e.g. 127.0.0.1:50052), or http://HOST:PORT"
        ))),
    }
}

/// What to check when the TLS handshake failed: a certificate of another
/// network's CA, or another server than the one meant (the names in its
/// certificate say which it is).
fn certificate_hint(detail: &str, address: &str) -> Option<String> {
    if detail.contains("BadSignature") || detail.contains("UnknownIssuer") {
        return Some(
            "check: the server's certificate was not issued by the certificate authority of --certs (GONGJI_CERTS); \
             use the certificates directory of this network (a devnet keeps its in DATA_DIR/certs: `gongji certs` makes \
             a new authority for each network)"
                .into(),
        );
    }
    let meant = detail.split("not valid for name \"").nth(1)?.split('"').next()?;
    let holder = |name: &str| -> Option<String> {
        if name == gongji_common::tls::HUB_NAME {
            return Some("the national hub".into());
        }
        let code = name.strip_prefix("province-")?.strip_suffix(".gongji")?;
        Some(format!("province {code}'s node"))
    };
    let actual = detail
        .split("DnsName(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find_map(holder)?;
    let wanted = holder(meant)?;
    Some(format!("{address} is {actual}, not {wanted}: give {wanted}'s address"))
}

/// A devnet's first node, for a node command told neither --node nor --province.
const DEFAULT_NODE: &str = "http://127.0.0.1:50051";
/// A devnet's hub, for a hub command with no --hub and no network file.
const DEFAULT_HUB: &str = "http://127.0.0.1:50050";

/// The address of the node `at` names: --node, else --province's node in
/// the network's address file, else a devnet's first node.
pub fn node_address(at: &NodeArg) -> Result<String, CliError> {
    if let Some(address) = &at.node {
        return Ok(address.clone());
    }
    let Some(province) = at.province else {
        return Ok(DEFAULT_NODE.to_owned());
    };
    let connection = current();
    let Some(network) = &connection.network else {
        return Err(CliError::Usage(format!(
            "--province {province} needs the network's address file: give --network FILE (or GONGJI_NETWORK), or run \
             where ./gongji-data/devnet.json is (a devnet writes it); or give the node's --node ADDR"
        )));
    };
    network
        .provinces
        .iter()
        .find(|p| p.code == province.as_str())
        .map(|p| p.address.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = network.provinces.iter().map(|p| p.code.as_str()).collect();
            CliError::Usage(format!(
                "province {province} has no node in the network's address file (it has {})",
                known.join(", ")
            ))
        })
}

/// The address of the hub: --hub, else the network's hub, else a devnet's.
pub fn hub_address(at: &HubArg) -> String {
    if let Some(address) = &at.hub {
        return address.clone();
    }
    current().network.map_or_else(|| DEFAULT_HUB.to_owned(), |network| network.hub)
}

/// A client of the node `at` names; over TLS, given --province, its
/// certificate must be that province's.
pub async fn node(at: &NodeArg) -> Result<NodeClient, CliError> {
    let name = at.province.filter(|_| at.node.is_none()).map(gongji_common::tls::province_name);
    Ok(node_on(connect_to(&node_address(at)?, CALL_TIMEOUT, name.as_deref()).await?))
}

/// A node client for a reconciliation, which may take long.
pub async fn reconciling_node(at: &NodeArg) -> Result<NodeClient, CliError> {
    let name = at.province.filter(|_| at.node.is_none()).map(gongji_common::tls::province_name);
    Ok(node_on(connect_to(&node_address(at)?, RECONCILE_TIMEOUT, name.as_deref()).await?))
}

/// A client of the hub `at` names: over TLS its certificate must be the
/// hub's (`hub.gongji`), so a province node cannot pose as the hub.
pub async fn hub(at: &HubArg) -> Result<HubClient, CliError> {
    hub_at(&hub_address(at)).await
}

/// A client of the hub at `address` (see [`hub`]).
pub async fn hub_at(address: &str) -> Result<HubClient, CliError> {
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

#[cfg(test)]
mod address_tests {
    use super::*;

    #[test]
    fn an_address_is_host_and_port_and_a_port_alone_is_told_so() {
        for good in ["127.0.0.1:50052", "http://localhost:1", "https://hub.example:443"] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        let port = check_address("58302").unwrap_err().to_string();
        assert!(port.contains("port alone") && port.contains("127.0.0.1:58302"), "{port}");
        for bad in ["", "localhost", "http://host", "host:", ":80"] {
            assert!(check_address(bad).unwrap_err().to_string().contains("HOST:PORT"), "{bad}");
        }
    }

    #[test]
    fn a_failed_handshake_says_what_to_check() {
        let other_ca = "transport error: invalid peer certificate: BadSignature";
        assert!(certificate_hint(other_ca, "a:1").unwrap().contains("certificate authority"));
        let node_as_hub = r#"invalid peer certificate: certificate not valid for name "hub.gongji"; certificate is only valid for DnsName("province-13.gongji"), DnsName("localhost") or IpAddress(127.0.0.1)"#;
        assert_eq!(
            certificate_hint(node_as_hub, "127.0.0.1:51051").unwrap(),
            "127.0.0.1:51051 is province 13's node, not the national hub: give the national hub's address"
        );
        let hub_as_node = r#"certificate not valid for name "province-32.gongji"; certificate is only valid for DnsName("hub.gongji")"#;
        assert!(certificate_hint(hub_as_node, "h:1")
            .unwrap()
            .contains("is the national hub, not province 32's node"));
        assert_eq!(certificate_hint("connection refused", "a:1"), None);
    }
}
