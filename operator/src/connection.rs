//! How the CLI connects to a province node or the hub: over mutual TLS
//! with the client certificate of a certificates directory, or in
//! plaintext. Addresses are `host:port`, `http://host:port` or
//! `https://host:port`; a channel is connected before the first call, so
//! "cannot reach the server" is never confused with an answer from it.
//! Which connection a command uses is its [`crate::session::Session`]'s.

use std::{path::Path, time::Duration};

use gongji_common::{
    peer::{endpoint_uri, secure_uri},
    tls::{Tls, TlsFiles},
};
use tonic::transport::{Channel, Endpoint};

use crate::{
    error::{with_causes, CliError},
    manifest::Manifest,
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
/// certificate of a certificates directory, or in plaintext (the default).
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
    pub fn with_certs(dir: &Path) -> Result<Connection, CliError> {
        let tls = Tls::load(&TlsFiles::in_dir(dir, "client")).map_err(CliError::Other)?;
        Ok(Connection { tls: Some(tls) })
    }

    /// How to reach a network from its manifest: with its certificates, if it has them.
    pub fn for_manifest(manifest: &Manifest) -> Result<Connection, CliError> {
        if manifest.certs.is_empty() {
            Ok(Connection::plaintext())
        } else {
            Connection::with_certs(Path::new(&manifest.certs))
        }
    }

    /// `address` as a URI of this connection's scheme (`https` over TLS).
    fn uri(&self, address: &str) -> String {
        match self.tls {
            Some(_) => secure_uri(address.trim()),
            None => endpoint_uri(address.trim()),
        }
    }

    /// An endpoint for `address`, not yet connected, whose calls may take
    /// `call_timeout`. Over TLS the server's certificate must name
    /// `server_name` (`hub.gongji`, `province-NN.gongji`) when given, else
    /// the address's host.
    pub fn endpoint(&self, address: &str, call_timeout: Duration, server_name: Option<&str>) -> Result<Endpoint, CliError> {
        check_address(address)?;
        let mut endpoint = Endpoint::from_shared(self.uri(address))
            .map_err(|e| CliError::Other(format!("{address:?} is not an address (use host:port or http://host:port): {e}")))?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.client_config(server_name))
                .map_err(|e| CliError::Other(format!("TLS towards {address}: {}", gongji_common::tls::describe(&e))))?;
        }
        Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).timeout(call_timeout).tcp_nodelay(true))
    }

    /// A connected channel to `address` (see [`Connection::endpoint`]); a
    /// failed handshake says what to check.
    pub async fn connect(&self, address: &str, call_timeout: Duration, server_name: Option<&str>) -> Result<Channel, CliError> {
        self.endpoint(address, call_timeout, server_name)?.connect().await.map_err(|e| {
            let detail = with_causes(&e);
            let detail = match certificate_hint(&detail, address.trim()) {
                Some(hint) => format!("{detail}\n  {hint}"),
                None => detail,
            };
            CliError::Connect {
                address: self.uri(address),
                detail,
            }
        })
    }
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
