//! Who may call the services between servers. With mutual TLS (the
//! normal way), a server knows its peer by the name in its certificate (see
//! `tls`): the hub's router takes the calling node's province from its
//! certificate, and a node's hub-facing service accepts only the hub's
//! certificate. Link tokens can be required on top: each province node
//! presents its own to the hub, the hub presents its to the nodes. Each
//! router handler then checks that the calling province is the one the
//! message must come from (a payment is routed by the beneficiary's
//! province, a grant by the donor's, ...). Plaintext links, with tokens or
//! none, run only when a server is told `--insecure` (a local test network).

use std::{collections::BTreeMap, sync::Arc};

use tonic::{metadata::MetadataValue, service::Interceptor, Request, Status};

use crate::{tls, ProvinceCode};

/// The metadata key naming the calling province.
pub const PROVINCE_HEADER: &str = "x-gongji-province";
const AUTHORIZATION: &str = "authorization";

/// The province a request to the hub's router came from (none on an open link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(pub Option<ProvinceCode>);

/// What a server presents when it calls another: its province (for a node)
/// and its token.
#[derive(Clone, Default)]
pub struct Credential {
    province: Option<ProvinceCode>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Credential {
    /// A node's credential towards the hub; `None` on an open link.
    pub fn province(province: ProvinceCode, token: Option<&str>) -> Result<Credential, String> {
        Ok(Credential {
            province: Some(province),
            token: token.map(bearer).transpose()?,
        })
    }

    /// The hub's credential towards the nodes; `None` on an open link.
    pub fn hub(token: Option<&str>) -> Result<Credential, String> {
        Ok(Credential {
            province: None,
            token: token.map(bearer).transpose()?,
        })
    }
}

fn bearer(token: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, String> {
    format!("Bearer {token}")
        .parse()
        .map_err(|_| "a link token must be printable ASCII".to_owned())
}

impl Interceptor for Credential {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.token {
            request.metadata_mut().insert(AUTHORIZATION, token.clone());
        }
        if let Some(province) = self.province {
            let code = province
                .as_str()
                .parse()
                .map_err(|_| Status::internal("a province code is ASCII"))?;
            request.metadata_mut().insert(PROVINCE_HEADER, code);
        }
        Ok(request)
    }
}

/// How a server takes part in the links between servers: what it presents
/// when it calls another, who may call its own link service, and the TLS of
/// both (none on plaintext links).
pub struct Links {
    pub credential: Credential,
    pub gate: Gate,
    pub tls: Option<crate::tls::Tls>,
}

/// What a server logs when it runs without TLS.
pub const PLAINTEXT_WARNING: &str =
    "--insecure: serving and calling in plaintext, without certificates; anyone on the network can read the traffic (a local test network only)";

/// Who may call a server's inter-node service.
#[derive(Clone)]
pub enum Gate {
    /// Anyone (plaintext links without tokens, for a local test network).
    Open,
    /// Only the hub (a node's hub-facing service): by its certificate
    /// (`hub.gongji`) when `certificate` is set, and by its token when one is
    /// configured.
    Hub { token: Option<Arc<str>>, certificate: bool },
    /// Only registered provinces (the hub's router), each as itself: the
    /// province is the one its certificate names (`province-NN.gongji`)
    /// when `certificates` is set, else the one it names in
    /// `x-gongji-province`; with tokens, it must present its own.
    Provinces {
        registered: Arc<Registered>,
        tokens: Option<Arc<BTreeMap<ProvinceCode, String>>>,
        certificates: bool,
    },
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(request: &Request<()>) -> Result<&[u8], Status> {
    request
        .metadata()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .ok_or_else(|| Status::unauthenticated("this service is for the network's own servers: present a link token"))
}

/// The province a request claims in `x-gongji-province`, if any.
fn claimed(request: &Request<()>) -> Option<ProvinceCode> {
    request
        .metadata()
        .get(PROVINCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|code| ProvinceCode::parse("province", code).ok())
}

/// The provinces registered at the hub, each with the name its node's
/// certificate must carry (made once, not per call).
#[derive(Debug, Clone)]
pub struct Registered(Vec<(ProvinceCode, String)>);

impl Registered {
    pub fn new(codes: impl IntoIterator<Item = ProvinceCode>) -> Registered {
        Registered(codes.into_iter().map(|code| (code, tls::province_name(code))).collect())
    }

    pub fn contains(&self, province: &ProvinceCode) -> bool {
        self.0.iter().any(|(code, _)| code == province)
    }
}

/// Which registered province the peer's certificate names.
fn certified_province(request: &Request<()>, registered: &Registered) -> Result<ProvinceCode, Status> {
    let certs = request.peer_certs();
    if certs.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(Status::unauthenticated(
            "this service is for the network's own servers: connect with a province certificate (mutual TLS)",
        ));
    }
    let carried = tls::names_among(&certs, registered.0.iter().map(|(_, name)| name.as_str()));
    let named: Vec<ProvinceCode> = registered
        .0
        .iter()
        .filter(|(_, name)| carried.contains(&name.as_str()))
        .map(|(code, _)| *code)
        .collect();
    let province = match named.as_slice() {
        [one] => *one,
        [] => {
            return Err(Status::permission_denied(
                "the client certificate names no province registered at the hub",
            ))
        }
        _ => {
            return Err(Status::permission_denied(
                "the client certificate names more than one province: a node's certificate names its own only",
            ))
        }
    };
    match claimed(request) {
        Some(other) if other != province => Err(Status::permission_denied(format!(
            "the certificate is province {province}'s; it cannot act for province {other}"
        ))),
        _ => Ok(province),
    }
}

impl Interceptor for Gate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self {
            Gate::Open => {
                request.extensions_mut().insert(Caller(None));
                Ok(request)
            }
            Gate::Hub { token, certificate } => {
                if *certificate {
                    let certs = request.peer_certs();
                    if certs.as_ref().is_none_or(|c| c.is_empty()) {
                        return Err(Status::unauthenticated(
                            "this service is for the national hub: connect with the hub's certificate (mutual TLS)",
                        ));
                    }
                    if !tls::certificate_names(&certs, tls::HUB_NAME) {
                        return Err(Status::permission_denied(format!(
                            "this service is for the national hub only; the client certificate is not {}",
                            tls::HUB_NAME
                        )));
                    }
                }
                if let Some(token) = token {
                    if !same_secret(presented(&request)?, token.as_bytes()) {
                        return Err(Status::unauthenticated("the link token is not the hub's"));
                    }
                }
                request.extensions_mut().insert(Caller(None));
                Ok(request)
            }
            Gate::Provinces {
                registered,
                tokens,
                certificates,
            } => {
                let province = if *certificates {
                    certified_province(&request, registered)?
                } else {
                    let province = claimed(&request)
                        .ok_or_else(|| Status::unauthenticated(format!("name the calling province in {PROVINCE_HEADER}")))?;
                    if !registered.contains(&province) {
                        return Err(Status::permission_denied(format!(
                            "province {province} is not registered at the hub"
                        )));
                    }
                    province
                };
                if let Some(tokens) = tokens {
                    let expected = tokens
                        .get(&province)
                        .ok_or_else(|| Status::permission_denied(format!("province {province} has no link token at the hub")))?;
                    if !same_secret(presented(&request)?, expected.as_bytes()) {
                        return Err(Status::unauthenticated(format!("the link token is not province {province}'s")));
                    }
                }
                request.extensions_mut().insert(Caller(Some(province)));
                Ok(request)
            }
        }
    }
}

/// A fresh secret: 32 bytes from the operating system's cryptographic
/// random source, as 64 hex digits (`openssl rand -hex 32` makes the same).
pub fn random_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the operating system's random source failed".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(gate: &mut Gate, credential: &mut Credential) -> Result<Option<ProvinceCode>, Status> {
        let request = credential.call(Request::new(()))?;
        let request = gate.call(request)?;
        Ok(request.extensions().get::<Caller>().and_then(|c| c.0))
    }

    #[test]
    fn only_the_right_tokens_pass_and_the_caller_is_known() {
        let p13 = ProvinceCode::parse("p", "13").unwrap();
        let p41 = ProvinceCode::parse("p", "41").unwrap();
        let tokens: BTreeMap<_, _> = [(p13, "t13".to_owned()), (p41, "t41".to_owned())].into();
        let mut router = Gate::Provinces {
            registered: Arc::new(Registered::new([p13, p41])),
            tokens: Some(Arc::new(tokens)),
            certificates: false,
        };
        assert_eq!(
            call(&mut router, &mut Credential::province(p13, Some("t13")).unwrap()).unwrap(),
            Some(p13)
        );
        assert_eq!(
            call(&mut router, &mut Credential::province(p13, Some("t41")).unwrap())
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            call(&mut router, &mut Credential::hub(Some("t13")).unwrap()).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let mut link = Gate::Hub {
            token: Some("hub-secret".into()),
            certificate: false,
        };
        assert!(call(&mut link, &mut Credential::hub(Some("hub-secret")).unwrap()).is_ok());
        assert!(call(&mut link, &mut Credential::province(p41, Some("t41")).unwrap()).is_err());
        assert!(call(&mut link, &mut Credential::default()).is_err());
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert!(a.len() == 64 && a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
