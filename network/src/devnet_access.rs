//! The devnet's clients: on its first start `gongji devnet` writes
//! `DATA_DIR/clients.json` with an operator ("devnet-operator") and a
//! viewer ("devnet-viewer"), each with a fresh token, and the tokens to
//! `DATA_DIR/operator.token` and `DATA_DIR/viewer.token` (mode 0600). Later
//! starts reuse them. The hub and every node get the clients file; the
//! devnet's manifest names the operator's token file, so commands given
//! `--devnet FILE` present it.

use std::path::{Path, PathBuf};

use gongji_common::access::{clients_file, ClientEntry, Role};

use gongji_operator::{credentials::Credentials, error::CliError};

/// Where the devnet's clients and tokens are.
#[derive(Debug, Clone)]
pub struct DevnetAccess {
    pub clients_file: PathBuf,
    pub operator_token_file: PathBuf,
    pub viewer_token_file: PathBuf,
}

impl DevnetAccess {
    /// The devnet's clients in `data_dir`, written on its first start.
    pub fn prepare(data_dir: &Path) -> Result<DevnetAccess, CliError> {
        let absolute = std::fs::canonicalize(data_dir).map_err(|e| CliError::Other(format!("{}: {e}", data_dir.display())))?;
        let access = DevnetAccess {
            clients_file: absolute.join("clients.json"),
            operator_token_file: absolute.join("operator.token"),
            viewer_token_file: absolute.join("viewer.token"),
        };
        if access.clients_file.exists() {
            for token in [&access.operator_token_file, &access.viewer_token_file] {
                if !token.exists() {
                    return Err(CliError::Other(format!(
                        "{} is missing while {} lists its client: restore it, or delete {} to make new clients",
                        token.display(),
                        access.clients_file.display(),
                        access.clients_file.display()
                    )));
                }
            }
            return Ok(access);
        }
        let operator = gongji_common::auth::random_token().map_err(CliError::Other)?;
        let viewer = gongji_common::auth::random_token().map_err(CliError::Other)?;
        write_secret(&access.operator_token_file, &operator)?;
        write_secret(&access.viewer_token_file, &viewer)?;
        let entry = |name: &str, role, token: &str| ClientEntry {
            name: name.into(),
            role,
            institution: None,
            token: token.into(),
        };
        let json = clients_file(&[
            entry("devnet-operator", Role::Operator, &operator),
            entry("devnet-viewer", Role::Viewer, &viewer),
        ]);
        // Written last: its presence means the tokens are there too.
        std::fs::write(&access.clients_file, json)
            .map_err(|e| CliError::Other(format!("cannot write {}: {e}", access.clients_file.display())))?;
        Ok(access)
    }

    /// What the devnet itself presents while it seeds the demo data.
    pub fn operator(&self) -> Result<Credentials, CliError> {
        let token = gongji_operator::credentials::read_token(&self.operator_token_file)?;
        Credentials::new(Some(&token), Some("gongji devnet: demo data")).map_err(CliError::Other)
    }
}

/// Writes a token readable by its owner only.
fn write_secret(path: &Path, token: &str) -> Result<(), CliError> {
    gongji_operator::certs::write_file(path, &format!("{token}\n"), true)
        .map(drop)
        .map_err(CliError::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_makes_clients_and_later_ones_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let first = DevnetAccess::prepare(dir.path()).unwrap();
        let clients = gongji_common::access::Clients::load(&first.clients_file).unwrap();
        let token = gongji_operator::credentials::read_token(&first.operator_token_file).unwrap();
        assert_eq!(clients.authenticate(token.as_bytes()).unwrap().role, Role::Operator);
        let viewer = gongji_operator::credentials::read_token(&first.viewer_token_file).unwrap();
        assert_eq!(clients.authenticate(viewer.as_bytes()).unwrap().name, "devnet-viewer");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.operator_token_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        DevnetAccess::prepare(dir.path()).unwrap();
        assert_eq!(
            gongji_operator::credentials::read_token(&first.operator_token_file).unwrap(),
            token,
            "kept"
        );
        std::fs::remove_file(&first.viewer_token_file).unwrap();
        assert!(DevnetAccess::prepare(dir.path())
            .unwrap_err()
            .to_string()
            .contains("viewer.token is missing"));
    }
}
