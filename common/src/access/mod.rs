//! Who may call the public services (`gongji.v1.ProvinceNode` at a node,
//! `gongji.v1.NationalHub` at the hub), and as what.
//!
//! Clients are listed in a JSON file (`--clients`), each with a name, a
//! [`Role`] and the SHA-256 of its bearer token; an institution's entry also
//! names the institution it is. [`guard::guarded`] wraps a public service:
//! it authenticates the token, checks the role the method needs in the
//! service's table ([`policy`]), hands the [`Principal`] to the handler in
//! the request's extensions, and writes every operator action to the audit
//! log (`crate::oplog`). A server without a clients file is open: every
//! caller is the anonymous operator and nothing is logged (a local test
//! network). The inter-server links are guarded by `crate::auth`, not here.
//!
//! This module knows no business rule beyond the table; "an institution
//! pays only as itself" is checked by the node's handlers, which read the
//! principal.

pub mod guard;
pub mod policy;

use std::{collections::BTreeSet, fmt, path::Path};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use std::path::PathBuf;

use crate::InstitutionCode;

pub use guard::{guarded, Access, Guarded};

/// A server's flags for the clients of its public service.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientFlags {
    /// A JSON file of the clients of the public service and their roles:
    /// [{"name":"alice","role":"operator","token_sha256":"<hex>"},
    /// {"name":"h32","role":"institution","institution":"H32050000001","token_sha256":"<hex>"}]
    /// (roles: operator, institution, service, viewer). Required unless
    /// --insecure or --anonymous-clients.
    #[arg(long, env = "GONGJI_CLIENTS_FILE", value_name = "FILE")]
    pub clients: Option<PathBuf>,

    /// Serve the public service without a clients file: every caller with
    /// a certificate acts as an anonymous operator, and nothing is logged.
    /// For a local test network only; logged as a warning.
    #[arg(long, env = "GONGJI_ANONYMOUS_CLIENTS", conflicts_with = "clients")]
    pub anonymous_clients: bool,
}

impl ClientFlags {
    /// The access these flags give to `policy`'s service. A server with
    /// TLS (`insecure` false) needs a clients file unless told
    /// `--anonymous-clients`.
    pub fn access(&self, policy: &'static policy::Policy, oplog: crate::oplog::OpLog, insecure: bool) -> Result<Access, String> {
        if self.clients.is_none() {
            if !insecure && !self.anonymous_clients {
                return Err("give --clients FILE (the clients of the public service and their roles), or --anonymous-clients for a local test network".into());
            }
            tracing::warn!(
                service = policy.service,
                "no clients file: every caller acts as an anonymous operator and nothing is logged (a local test network only)"
            );
        }
        Access::load(self.clients.as_deref(), policy, oplog)
    }
}

/// The metadata key of the caller's reason for an operator action, in
/// printable ASCII.
pub const REASON_HEADER: &str = "x-gongji-reason";
/// The same as binary metadata: any UTF-8 text (a reason in Chinese, say),
/// base64 on the wire as gRPC does for every `-bin` key. It wins over
/// [`REASON_HEADER`] when both are sent.
pub const REASON_BIN_HEADER: &str = "x-gongji-reason-bin";

/// What a client of a public service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Runs the network: registers persons, credits contributions, closes,
    /// reconciles and settles months, moves prepaid funds; may do anything.
    Operator,
    /// A designated medical institution or pharmacy: pays, refunds and
    /// reverses its own payments.
    Institution,
    /// The service app of insured persons: establishes, changes and
    /// dissolves their relationships.
    Service,
    /// Reads only (an auditor, a dashboard).
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::Institution, Role::Service, Role::Viewer];

    /// The role's word in a clients file and in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Institution => "institution",
            Role::Service => "service",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: put in every request's extensions by the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The institution an institution client is (none for other roles).
    pub institution: Option<InstitutionCode>,
}

impl Principal {
    /// Every caller of a server without a clients file.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            role: Role::Operator,
            institution: None,
        }
    }

    /// The principal the guard put in `request`; PERMISSION_DENIED when the
    /// service was not guarded (a wiring mistake: refuse rather than act
    /// for nobody).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Principal, tonic::Status> {
        request
            .extensions()
            .get::<Principal>()
            .ok_or_else(|| tonic::Status::permission_denied("the caller is unknown: this service is not guarded"))
    }
}

/// The SHA-256 of a token, in lowercase hex: what a clients file stores.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The clients a server knows, from its clients file.
#[derive(Debug, Clone)]
pub struct Clients {
    entries: Vec<([u8; 32], Principal)>,
}

/// One entry of a clients file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: String,
    #[serde(default)]
    institution: Option<String>,
    token_sha256: String,
}

/// One entry of a clients file, for writing one (the devnet, tests).
#[derive(Debug, Clone)]
pub struct ClientEntry {
    pub name: String,
    pub role: Role,
    pub institution: Option<InstitutionCode>,
    pub token: String,
}

/// A clients file's JSON for `entries`: names, roles, institutions and the
/// tokens' hashes (never the tokens).
pub fn clients_file(entries: &[ClientEntry]) -> String {
    let listed: Vec<serde_json::Value> = entries
        .iter()
        .map(|entry| {
            let mut value = serde_json::json!({
                "name": entry.name,
                "role": entry.role.as_str(),
                "token_sha256": token_sha256(&entry.token),
            });
            if let (Some(code), Some(object)) = (&entry.institution, value.as_object_mut()) {
                object.insert("institution".into(), code.as_str().into());
            }
            value
        })
        .collect();
    serde_json::to_string_pretty(&listed).unwrap_or_else(|_| "[]".into()) + "\n"
}

impl Clients {
    /// Reads and checks a clients file; the error names the file, the
    /// entry and the field.
    pub fn load(path: &Path) -> Result<Clients, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the clients file {}: {e}", path.display()))?;
        Clients::parse(&text).map_err(|e| format!("clients file {}: {e}", path.display()))
    }

    /// Checks a clients file's text: a JSON array of entries
    /// `{"name", "role", "institution"?, "token_sha256"}`.
    pub fn parse(text: &str) -> Result<Clients, String> {
        let listed: Vec<Entry> = serde_json::from_str(text).map_err(|e| format!("not a JSON list of clients: {e}"))?;
        if listed.is_empty() {
            return Err("lists no client (without clients, give no --clients file)".into());
        }
        let mut names = BTreeSet::new();
        let mut hashes = BTreeSet::new();
        let mut entries = Vec::with_capacity(listed.len());
        for (i, entry) in listed.into_iter().enumerate() {
            let at = format!("entry {} ({:?})", i + 1, entry.name);
            let name = entry.name.trim();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(format!("{at}: name must be 1 to 64 printable characters"));
            }
            if !names.insert(name.to_owned()) {
                return Err(format!("{at}: name {name:?} is listed twice"));
            }
            let role = Role::parse(&entry.role)
                .ok_or_else(|| format!("{at}: role {:?} is not one of operator, institution, service, viewer", entry.role))?;
            let institution = match (role, entry.institution) {
                (Role::Institution, Some(code)) => {
                    Some(InstitutionCode::parse("institution", &code).map_err(|e| format!("{at}: institution: {}", e.message))?)
                }
                (Role::Institution, None) => return Err(format!("{at}: role institution needs an \"institution\" (e.g. H32050000001)")),
                (_, Some(_)) => return Err(format!("{at}: only role institution names an \"institution\"")),
                (_, None) => None,
            };
            let hash = parse_hash(&entry.token_sha256)
                .ok_or_else(|| format!("{at}: token_sha256 must be 64 hex digits (the SHA-256 of the token)"))?;
            if !hashes.insert(hash) {
                return Err(format!(
                    "{at}: token_sha256 is the same as another client's: every client needs its own token"
                ));
            }
            entries.push((
                hash,
                Principal {
                    name: name.to_owned(),
                    role,
                    institution,
                },
            ));
        }
        Ok(Clients { entries })
    }

    /// The client whose token this is. Every entry is compared, each in
    /// constant time, so the answer's timing says nothing of the tokens.
    pub fn authenticate(&self, token: &[u8]) -> Option<&Principal> {
        let presented: [u8; 32] = Sha256::digest(token).into();
        let mut found = None;
        for (hash, principal) in &self.entries {
            if same_secret(hash, &presented) {
                found = Some(principal);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: &str, institution: Option<&str>, token: &str) -> serde_json::Value {
        let mut value = serde_json::json!({"name": name, "role": role, "token_sha256": token_sha256(token)});
        if let Some(code) = institution {
            value["institution"] = code.into();
        }
        value
    }

    fn parse(entries: &[serde_json::Value]) -> Result<Clients, String> {
        Clients::parse(&serde_json::Value::from(entries.to_vec()).to_string())
    }

    #[test]
    fn a_valid_file_authenticates_each_client_by_its_own_token() {
        let clients = parse(&[
            entry("alice", "operator", None, "alice-token"),
            entry("h32", "institution", Some("H32050000001"), "h32-token"),
            entry("app", "service", None, "app-token"),
            entry("audit", "viewer", None, "audit-token"),
        ])
        .unwrap();
        assert_eq!(clients.len(), 4);
        let h32 = clients.authenticate(b"h32-token").unwrap();
        assert_eq!((h32.name.as_str(), h32.role), ("h32", Role::Institution));
        assert_eq!(h32.institution.as_ref().map(|c| c.as_str()), Some("H32050000001"));
        assert_eq!(clients.authenticate(b"alice-token").unwrap().role, Role::Operator);
        assert!(clients.authenticate(b"alice-token ").is_none());
        assert!(clients.authenticate(b"").is_none());
    }

    #[test]
    fn the_written_form_reads_back() {
        let written = clients_file(&[
            ClientEntry {
                name: "op".into(),
                role: Role::Operator,
                institution: None,
                token: "t1".into(),
            },
            ClientEntry {
                name: "h".into(),
                role: Role::Institution,
                institution: Some(InstitutionCode::parse("i", "H32050000001").unwrap()),
                token: "t2".into(),
            },
        ]);
        assert!(!written.contains("t1\""), "tokens are never written: {written}");
        let clients = Clients::parse(&written).unwrap();
        assert_eq!(clients.authenticate(b"t2").unwrap().name, "h");
    }

    #[test]
    fn mistakes_are_refused_naming_the_entry_and_field() {
        let refused = |entries: &[serde_json::Value], needle: &str| {
            let error = parse(entries).unwrap_err();
            assert!(error.contains(needle), "{error:?} does not mention {needle:?}");
        };
        let op = entry("alice", "operator", None, "a");
        refused(
            &[op.clone(), entry("h32", "institution", None, "b")],
            "entry 2 (\"h32\"): role institution needs an \"institution\"",
        );
        refused(
            &[entry("bob", "viewer", Some("H32050000001"), "b")],
            "entry 1 (\"bob\"): only role institution names an \"institution\"",
        );
        refused(&[entry("h", "institution", Some("X1"), "b")], "entry 1 (\"h\"): institution: ");
        refused(
            &[op.clone(), entry("alice", "viewer", None, "b")],
            "entry 2 (\"alice\"): name \"alice\" is listed twice",
        );
        refused(
            &[op.clone(), entry("bob", "viewer", None, "a")],
            "entry 2 (\"bob\"): token_sha256 is the same",
        );
        refused(&[entry("root", "admin", None, "a")], "role \"admin\" is not one of");
        refused(
            &[serde_json::json!({"name": "x", "role": "viewer", "token_sha256": "abc"})],
            "token_sha256 must be 64 hex digits",
        );
        refused(
            &[serde_json::json!({"name": "x", "role": "viewer", "token": "plain"})],
            "unknown field `token`",
        );
        refused(&[entry(" ", "viewer", None, "a")], "name must be");
        refused(&[], "lists no client");
        assert!(Clients::parse("{}").unwrap_err().contains("not a JSON list"));
    }
}
