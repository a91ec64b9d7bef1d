//! Who may call the services between nodes. Each province node holds a
//! secret token it presents to the hub with its province code; the hub holds
//! a token it presents to the nodes. The hub-facing service of a node only
//! accepts the hub's token; the hub's router only accepts a registered
//! province's own token, and each handler then checks that the calling
//! province is the one the message must come from (a payment is routed by
//! the beneficiary's province, a grant by the donor's, …). Without tokens
//! the links are open, which a server allows only when told so explicitly
//! (`--insecure-links`), for a local test network.
//!
//! The tokens travel in plain gRPC metadata: on a network that is not
//! private they need TLS underneath (see DESIGN.md on mTLS).

use std::{collections::BTreeMap, sync::Arc};

use tonic::{metadata::MetadataValue, service::Interceptor, Request, Status};

use crate::ProvinceCode;

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

/// Who may call a server's inter-node service.
#[derive(Clone)]
pub enum Gate {
    /// Anyone (an open link, for a local test network).
    Open,
    /// Only the hub (a node's hub-facing service).
    Hub(Arc<str>),
    /// Only registered provinces, each with its own token (the hub's router).
    Provinces(Arc<BTreeMap<ProvinceCode, String>>),
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

impl Interceptor for Gate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self {
            Gate::Open => {
                request.extensions_mut().insert(Caller(None));
                Ok(request)
            }
            Gate::Hub(token) => {
                if same_secret(presented(&request)?, token.as_bytes()) {
                    request.extensions_mut().insert(Caller(None));
                    Ok(request)
                } else {
                    Err(Status::unauthenticated("the link token is not the hub's"))
                }
            }
            Gate::Provinces(tokens) => {
                let province = request
                    .metadata()
                    .get(PROVINCE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|code| ProvinceCode::parse("province", code).ok())
                    .ok_or_else(|| Status::unauthenticated(format!("name the calling province in {PROVINCE_HEADER}")))?;
                let expected = tokens
                    .get(&province)
                    .ok_or_else(|| Status::permission_denied(format!("province {province} is not registered at the hub")))?;
                if same_secret(presented(&request)?, expected.as_bytes()) {
                    request.extensions_mut().insert(Caller(Some(province)));
                    Ok(request)
                } else {
                    Err(Status::unauthenticated(format!("the link token is not province {province}'s")))
                }
            }
        }
    }
}

/// A fresh random token (for a local network whose servers start together).
pub fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut token = String::new();
    for i in 0..4u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(i ^ crate::period::now_millis() as u64);
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
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
        let mut router = Gate::Provinces(Arc::new(tokens));
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
        let mut link = Gate::Hub("hub-secret".into());
        assert!(call(&mut link, &mut Credential::hub(Some("hub-secret")).unwrap()).is_ok());
        assert!(call(&mut link, &mut Credential::province(p41, Some("t41")).unwrap()).is_err());
        assert!(call(&mut link, &mut Credential::default()).is_err());
        assert_ne!(random_token(), random_token());
    }
}
