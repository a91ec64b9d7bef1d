//! Mutual TLS between the network's servers and their clients. One CA (made
//! by `gongji certs` for a development network) issues every certificate; a
//! certificate says who holds it by a DNS name in its subject alternative
//! names:
//!
//! - `hub.gongji`: the national hub;
//! - `province-NN.gongji`: the node of province NN;
//! - `client.gongji`: a client (the CLI, grpcurl, an institution's system),
//!   whose role comes from its bearer token, not from the certificate.
//!
//! Every server asks each connecting peer for a certificate issued by the CA
//! and refuses the handshake without one. Which services a peer may call is
//! then decided by the name in its certificate (see `auth::Gate`): the hub
//! takes a calling node's province from its certificate, and a node's
//! hub-facing service accepts only the hub's certificate.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls_pki_types::{CertificateDer, ServerName};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::ProvinceCode;

/// How long a peer may take over its TLS handshake before the server drops
/// the connection (a peer that connects and says nothing holds no socket).
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The name in the hub's certificate.
pub const HUB_NAME: &str = "hub.gongji";
/// The name in a client's certificate.
pub const CLIENT_NAME: &str = "client.gongji";

/// The name in the certificate of province `code`'s node.
pub fn province_name(code: ProvinceCode) -> String {
    format!("province-{code}.gongji")
}

/// Where one party's PEM files are: the CA it trusts, its certificate and
/// its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files `gongji certs` writes for `name` (`hub`, `province-32`,
    /// `client`) in `dir`: `ca.pem`, `NAME.pem`, `NAME.key`.
    pub fn in_dir(dir: &std::path::Path, name: &str) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

/// A loaded TLS identity and the CA it trusts.
#[derive(Clone)]
pub struct Tls {
    ca: Certificate,
    identity: Identity,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

fn read_pem(what: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    if !bytes.starts_with(b"-----BEGIN ") {
        return Err(format!("the {what} {} is not a PEM file", path.display()));
    }
    Ok(bytes)
}

impl Tls {
    /// Reads the three PEM files; errors name the file.
    pub fn load(files: &TlsFiles) -> Result<Tls, String> {
        let ca = read_pem("CA certificate", &files.ca)?;
        let cert = read_pem("certificate", &files.cert)?;
        let key = read_pem("private key", &files.key)?;
        Ok(Tls {
            ca: Certificate::from_pem(ca),
            identity: Identity::from_pem(cert, key),
        })
    }

    /// A server's side: present this identity and require every peer to
    /// present a certificate issued by the CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(false)
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// A client's side towards a server whose certificate must carry
    /// `server_name` (e.g. [`HUB_NAME`]); `None` checks the address's host.
    pub fn client_config(&self, server_name: Option<&str>) -> ClientTlsConfig {
        let config = ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone());
        match server_name {
            Some(name) => config.domain_name(name),
            None => config,
        }
    }
}

/// A server's TLS flags (the hub's and every node's).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsFlags {
    /// The CA certificate (PEM) that issued every certificate of the network:
    /// every peer must present one it issued (mutual TLS).
    #[arg(long = "tls-ca", env = "GONGJI_TLS_CA", value_name = "PEM")]
    pub ca: Option<PathBuf>,

    /// This server's certificate (PEM), issued by the CA and naming the
    /// server: `hub.gongji`, or `province-NN.gongji` for province NN's node
    /// (`gongji certs` writes them).
    #[arg(long = "tls-cert", env = "GONGJI_TLS_CERT", value_name = "PEM")]
    pub cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long = "tls-key", env = "GONGJI_TLS_KEY", value_name = "PEM")]
    pub key: Option<PathBuf>,

    /// Serve and call in plaintext, without certificates: for a local test
    /// network only; logged as a warning. (Link tokens, optional either
    /// way, then travel in clear.)
    #[arg(long, alias = "insecure-links", env = "GONGJI_INSECURE")]
    pub insecure: bool,
}

impl TlsFlags {
    /// The flags for the files `gongji certs` wrote for `name` in `dir`.
    pub fn in_dir(dir: &Path, name: &str) -> TlsFlags {
        let files = TlsFiles::in_dir(dir, name);
        TlsFlags {
            ca: Some(files.ca),
            cert: Some(files.cert),
            key: Some(files.key),
            insecure: false,
        }
    }

    /// The TLS the flags describe; none only with `--insecure`.
    pub fn load(&self) -> Result<Option<Tls>, String> {
        let tls = from_flags(self.ca.as_deref(), self.cert.as_deref(), self.key.as_deref())?;
        if tls.is_none() && !self.insecure {
            return Err("give --tls-ca, --tls-cert and --tls-key (mutual TLS), or --insecure for a local test network".into());
        }
        Ok(tls)
    }
}

/// Reads the TLS flags of a server (`--tls-ca`, `--tls-cert`, `--tls-key`):
/// all three or none.
fn from_flags(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<Option<Tls>, String> {
    match (ca, cert, key) {
        (None, None, None) => Ok(None),
        (Some(ca), Some(cert), Some(key)) => Tls::load(&TlsFiles {
            ca: ca.to_path_buf(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
        .map(Some),
        _ => Err("give all of --tls-ca, --tls-cert and --tls-key, or none".into()),
    }
}

/// An error with its causes, for a human (a transport error's own text is
/// often just "transport error").
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The certificate chain a peer presented on this connection (none on a
/// plaintext connection).
pub type PeerCerts = Option<Arc<Vec<CertificateDer<'static>>>>;

/// True when the peer's certificate (already verified against the CA by the
/// handshake) carries `name`.
pub fn certificate_names(certs: &PeerCerts, name: &str) -> bool {
    !names_among(certs, [name]).is_empty()
}

/// Which of `candidates` the peer's certificate carries (parsed once for
/// all of them: the hub asks this for every registered province).
pub fn names_among<'n>(certs: &PeerCerts, candidates: impl IntoIterator<Item = &'n str>) -> Vec<&'n str> {
    let Some(leaf) = certs.as_ref().and_then(|certs| certs.first()) else {
        return Vec::new();
    };
    let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
        return Vec::new();
    };
    candidates
        .into_iter()
        .filter(|name| ServerName::try_from(*name).is_ok_and(|server| cert.verify_is_valid_for_subject_name(&server).is_ok()))
        .collect()
}
