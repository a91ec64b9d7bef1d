//! What the CLI presents on every call to a node's or the hub's public
//! service: a client token (`authorization: Bearer TOKEN`, from
//! `--token-file` or `--token`) and the operator's reason
//! (`x-gongji-reason`, from `--reason`), which the servers record in their
//! operator audit log.
//!
//! A command's credentials are part of its [`crate::session::Session`]
//! (a command given a devnet's address file and no token presents the
//! devnet's operator token); every client the session makes presents them.

use std::path::Path;

use tonic::{metadata::AsciiMetadataValue, service::Interceptor, Request, Status};

use crate::{args::CredentialArgs, error::CliError, manifest::Manifest};

/// The metadata key of an operator's reason.
pub use gongji_common::access::{REASON_BIN_HEADER, REASON_HEADER};

/// A reason as metadata: printable ASCII as it is, anything else as UTF-8
/// in binary metadata (`x-gongji-reason-bin`).
#[derive(Debug, Clone)]
enum Reason {
    Ascii(AsciiMetadataValue),
    Utf8(tonic::metadata::BinaryMetadataValue),
}

/// A token and a reason to present; either may be absent.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    token: Option<AsciiMetadataValue>,
    reason: Option<Reason>,
    /// The reason as given, for commands that also send it in a message.
    reason_text: Option<String>,
}

impl Credentials {
    /// Credentials of a token and a reason. A token must be printable
    /// ASCII; a reason may be any text without control characters (one
    /// that is not ASCII travels as binary metadata).
    pub fn new(token: Option<&str>, reason: Option<&str>) -> Result<Credentials, String> {
        let token = match token.map(str::trim) {
            None => None,
            Some("") => return Err("the client token is empty".into()),
            Some(token) if !token.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err("a client token must be printable ASCII without spaces".into())
            }
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| "a client token must be printable ASCII".to_owned())?,
            ),
        };
        let reason_text = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
        if let Some(text) = reason_text.as_deref().filter(|text| text.chars().any(char::is_control)) {
            return Err(format!("--reason {text:?}: write it on one line, without control characters"));
        }
        let printable = |text: &str| text.bytes().all(|b| (b' '..=b'~').contains(&b));
        let reason = match &reason_text {
            None => None,
            Some(text) if printable(text) => Some(Reason::Ascii(
                text.parse().map_err(|_| format!("--reason {text:?} cannot travel as metadata"))?,
            )),
            Some(text) => Some(Reason::Utf8(tonic::metadata::BinaryMetadataValue::from_bytes(text.as_bytes()))),
        };
        Ok(Credentials {
            token,
            reason,
            reason_text,
        })
    }

    /// The credentials of a command line: --token-file or --token, and --reason.
    pub fn from_args(args: &CredentialArgs) -> Result<Credentials, CliError> {
        let token = match (&args.token_file, &args.token) {
            (Some(path), _) => Some(read_token(path)?),
            (None, Some(token)) => Some(token.clone()),
            (None, None) => None,
        };
        Credentials::new(token.as_deref(), args.reason.as_deref()).map_err(CliError::Usage)
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The reason given, if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason_text.as_deref()
    }

    /// These credentials with the operator token of the devnet `manifest`
    /// describes, if it names one (the reason stays).
    pub fn or_devnet_token(self, manifest: &Manifest) -> Result<Credentials, CliError> {
        match manifest.operator_token_file.as_str() {
            "" => Ok(self),
            path => {
                let token = read_token(Path::new(path))?;
                Credentials::new(Some(&token), self.reason_text.as_deref()).map_err(CliError::Usage)
            }
        }
    }
}

/// The token in `path`, without surrounding white space.
pub fn read_token(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read the token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::Usage(format!("the token file {} is empty", path.display())));
    }
    Ok(token.to_owned())
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.token {
            request.metadata_mut().insert("authorization", token.clone());
        }
        match &self.reason {
            Some(Reason::Ascii(reason)) => {
                request.metadata_mut().insert(REASON_HEADER, reason.clone());
            }
            Some(Reason::Utf8(reason)) => {
                request.metadata_mut().insert_bin(REASON_BIN_HEADER, reason.clone());
            }
            None => {}
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(credentials: &Credentials) -> (Option<String>, Option<String>) {
        let request = credentials.clone().call(Request::new(())).unwrap();
        let get = |key: &str| request.metadata().get(key).map(|v| v.to_str().unwrap().to_owned());
        (get("authorization"), get(REASON_HEADER))
    }

    #[test]
    fn the_token_and_reason_travel_as_metadata() {
        let both = Credentials::new(Some(" s3cret\n"), Some("month end")).unwrap();
        assert_eq!(presented(&both), (Some("Bearer s3cret".into()), Some("month end".into())));
        assert_eq!(presented(&Credentials::default()), (None, None));
        assert!(Credentials::new(Some(""), None).is_err());
        // A reason in Chinese travels as binary metadata.
        let chinese = Credentials::new(None, Some("月结")).unwrap();
        let request = chinese.clone().call(Request::new(())).unwrap();
        let sent = request
            .metadata()
            .get_bin(REASON_BIN_HEADER)
            .expect("binary reason")
            .to_bytes()
            .unwrap();
        assert_eq!(&sent[..], "月结".as_bytes());
        assert!(request.metadata().get(REASON_HEADER).is_none());
        assert_eq!(chinese.reason(), Some("月结"));
        let error = Credentials::new(None, Some("two\nlines")).unwrap_err();
        assert!(error.contains("control characters"), "{error}");
    }

    #[test]
    fn a_devnets_token_fills_in_and_the_reason_stays() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("operator.token");
        std::fs::write(&file, "from-file\n").unwrap();
        let manifest = Manifest {
            hub: String::new(),
            provinces: Vec::new(),
            hub_metrics: String::new(),
            certs: String::new(),
            operator_token_file: file.display().to_string(),
        };
        let devnet = Credentials::new(None, Some("why")).unwrap().or_devnet_token(&manifest).unwrap();
        assert_eq!(presented(&devnet), (Some("Bearer from-file".into()), Some("why".into())));
    }
}
