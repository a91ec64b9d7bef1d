//! What the CLI presents on every call to a node's or the hub's public
//! service: a client token (`authorization: Bearer TOKEN`, from
//! `--token-file` or `--token`) and the operator's reason
//! (`x-gongji-reason`, from `--reason`), which the servers record in their
//! operator audit log.
//!
//! [`crate::execute`] runs each command in a [`scope`] holding the
//! credentials of its command line, so the connection functions of
//! `client` find them without every command passing them along. A command
//! pointed at a devnet's address file adopts the devnet's operator token
//! when none was given ([`adopt_token_file`]). Work spawned onto other
//! tasks carries them along with [`inherit`].

use std::{cell::RefCell, future::Future, path::Path};

use tonic::{metadata::AsciiMetadataValue, service::Interceptor, Request, Status};

use crate::{args::CredentialArgs, error::CliError};

/// The metadata key of an operator's reason.
pub use gongji_common::access::REASON_HEADER;

/// A token and a reason to present; either may be absent.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    token: Option<AsciiMetadataValue>,
    reason: Option<AsciiMetadataValue>,
    /// The reason as given, for commands that also send it in a message.
    reason_text: Option<String>,
}

impl Credentials {
    /// Credentials of a token and a reason. A token must be printable
    /// ASCII; so must a reason (gRPC metadata carries nothing else).
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
        let printable = |text: &str| text.bytes().all(|b| (b' '..=b'~').contains(&b));
        if let Some(text) = reason_text.as_deref().filter(|text| !printable(text)) {
            return Err(format!(
                "--reason {text:?}: a reason travels as gRPC metadata, which is printable ASCII only; write it without other characters"
            ));
        }
        let reason = match &reason_text {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| {
                format!("--reason {text:?}: a reason travels as gRPC metadata, which is ASCII only; write it without other characters")
            })?),
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
        if let Some(reason) = &self.reason {
            request.metadata_mut().insert(REASON_HEADER, reason.clone());
        }
        Ok(request)
    }
}

tokio::task_local! {
    static CURRENT: RefCell<Credentials>;
}

/// Runs `work` with `credentials` as the current ones.
pub async fn scope<F: Future>(credentials: Credentials, work: F) -> F::Output {
    CURRENT.scope(RefCell::new(credentials), work).await
}

/// The credentials of the running command (none outside a [`scope`]).
pub fn current() -> Credentials {
    CURRENT.try_with(|cell| cell.borrow().clone()).unwrap_or_default()
}

/// `work` with the current credentials, to be spawned onto another task.
pub fn inherit<F: Future>(work: F) -> impl Future<Output = F::Output> {
    scope(current(), work)
}

/// Presents the token in `path` from now on, unless the command line gave
/// one (a devnet's operator token, named in its address file).
pub fn adopt_token_file(path: &Path) -> Result<(), CliError> {
    if current().has_token() {
        return Ok(());
    }
    let token = read_token(path)?;
    let reason = current().reason_text;
    let adopted = Credentials::new(Some(&token), reason.as_deref()).map_err(CliError::Usage)?;
    let _ = CURRENT.try_with(|cell| *cell.borrow_mut() = adopted);
    Ok(())
}

/// Presents the operator token of the devnet `manifest` describes, unless
/// the command line gave a token.
pub fn adopt_devnet(manifest: &crate::network::Manifest) -> Result<(), CliError> {
    match manifest.operator_token_file.as_str() {
        "" => Ok(()),
        path => adopt_token_file(Path::new(path)),
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
        let error = Credentials::new(None, Some("月结")).unwrap_err();
        assert!(error.contains("ASCII"), "{error}");
    }

    #[tokio::test]
    async fn a_scope_holds_the_command_lines_credentials() {
        assert!(!current().has_token());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("operator.token");
        std::fs::write(&file, "from-file\n").unwrap();
        scope(Credentials::new(None, Some("why")).unwrap(), async {
            adopt_token_file(&file).unwrap();
            assert_eq!(presented(&current()), (Some("Bearer from-file".into()), Some("why".into())));
            let spawned = tokio::spawn(inherit(async { current().has_token() }));
            assert!(spawned.await.unwrap());
        })
        .await;
        scope(Credentials::new(Some("given"), None).unwrap(), async {
            adopt_token_file(&file).unwrap();
            assert_eq!(presented(&current()).0, Some("Bearer given".into()), "a token given wins");
        })
        .await;
    }
}
