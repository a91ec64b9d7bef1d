//! The network's address file (`devnet.json`, written by `gongji devnet`):
//! where the hub and each province's node listen, where the network's
//! certificates and the operator's token are. Commands given it find a node
//! by `--province` and the hub by themselves.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The address file a devnet leaves in its default data directory.
pub const DEFAULT_NETWORK_FILE: &str = "gongji-data/devnet.json";

/// The addresses of a running network, as written to `devnet.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub hub: String,
    pub provinces: Vec<ManifestEntry>,
    /// The hub's metrics URL (none when metrics are off).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hub_metrics: String,
    /// The directory of the network's certificates (none: plaintext).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certs: String,
    /// The file holding the operator's client token, which commands given
    /// this manifest present (none when the network is open).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator_token_file: String,
}

impl Manifest {
    /// Reads a devnet's address file; errors name the file.
    pub fn read(path: &Path) -> Result<Manifest, CliError> {
        let fail = |e: String| CliError::Other(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
    }

    /// The address of province `code`'s node, if the network has one.
    pub fn node_address(&self, code: &str) -> Option<&str> {
        self.provinces.iter().find(|p| p.code == code).map(|p| p.address.as_str())
    }
}

/// One province node of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub code: String,
    pub name: String,
    pub address: String,
    pub data_dir: String,
    /// The node's metrics URL (none when metrics are off).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metrics: String,
}
