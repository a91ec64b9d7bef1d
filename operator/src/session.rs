//! What a command connects with, passed to it as a value: how it connects
//! (mutual TLS or plaintext), what it presents on every call (a client
//! token and a reason), and the network it talks to (its address file, to
//! find a node by province and the hub). Every client a command makes comes
//! from its [`Session`], so work spawned onto another task connects the
//! same way as long as it is given the session (a clone is cheap).

use std::{path::Path, time::Duration};

use gongji_proto::v1::{national_hub_client::NationalHubClient, province_node_client::ProvinceNodeClient};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::{
    args::{Cli, Command, HubArg, NodeArg},
    connection::{Connection, CALL_TIMEOUT, RECONCILE_TIMEOUT},
    credentials::Credentials,
    error::CliError,
    manifest::{Manifest, DEFAULT_NETWORK_FILE},
};

/// A channel that presents the session's credentials on every call.
pub type Authorized = InterceptedService<Channel, Credentials>;
/// A client of a province node's public service.
pub type NodeClient = ProvinceNodeClient<Authorized>;
/// A client of the hub's public service.
pub type HubClient = NationalHubClient<Authorized>;

/// A devnet's first node, for a node command told neither --node nor --province.
const DEFAULT_NODE: &str = "http://127.0.0.1:50051";
/// A devnet's hub, for a hub command with no --hub and no network file.
const DEFAULT_HUB: &str = "http://127.0.0.1:50050";

/// How a command connects, what it presents, and to which network.
/// The default: plaintext, no token, no address file.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub connection: Connection,
    pub credentials: Credentials,
    /// The network's address file, if the command has one.
    pub network: Option<Manifest>,
}

impl Session {
    /// A session towards the network of `manifest`: with its certificates
    /// (if it has them), presenting `credentials`.
    pub fn for_network(manifest: Manifest, credentials: Credentials) -> Result<Session, CliError> {
        Ok(Session {
            connection: Connection::for_manifest(&manifest)?,
            credentials,
            network: Some(manifest),
        })
    }

    /// The session of a command line: its network's address file (the
    /// command's --devnet, else --network, else ./gongji-data/devnet.json
    /// when it exists); --certs, else the network's certificates, else
    /// plaintext; --token-file or --token, else the network's operator
    /// token, and --reason. A token is never sent in plaintext unless told
    /// --insecure or the network runs without certificates.
    pub fn of_command_line(cli: &Cli) -> Result<Session, CliError> {
        let network = network_of(cli)?;
        let connection = match (&cli.certs, &network) {
            (Some(dir), _) => Connection::with_certs(dir)?,
            (None, Some(manifest)) => Connection::for_manifest(manifest)?,
            (None, None) => Connection::plaintext(),
        };
        let given = Credentials::from_args(&cli.credentials)?;
        let credentials = match &network {
            Some(manifest) if !given.has_token() => given.or_devnet_token(manifest)?,
            _ => given,
        };
        // A network whose address file names no certificates runs without them.
        let plaintext_allowed = cli.insecure || network.as_ref().is_some_and(|manifest| manifest.certs.is_empty());
        if connection.is_plaintext() && credentials.has_token() && !plaintext_allowed {
            return Err(CliError::Usage(
                "refusing to send the client token in plaintext: give --certs DIR (mutual TLS), or --insecure for a network started --insecure"
                    .into(),
            ));
        }
        Ok(Session {
            connection,
            credentials,
            network,
        })
    }

    /// The network's address file, if the session has one.
    pub fn network(&self) -> Option<&Manifest> {
        self.network.as_ref()
    }

    /// An endpoint for `address`, not yet connected (see [`Connection::endpoint`]).
    pub fn endpoint(&self, address: &str, call_timeout: Duration, server_name: Option<&str>) -> Result<Endpoint, CliError> {
        self.connection.endpoint(address, call_timeout, server_name)
    }

    /// A connected channel to `address` (see [`Connection::connect`]).
    pub async fn connect(&self, address: &str, call_timeout: Duration, server_name: Option<&str>) -> Result<Channel, CliError> {
        self.connection.connect(address, call_timeout, server_name).await
    }

    /// A node client on `channel`, presenting the session's credentials.
    pub fn node_on(&self, channel: Channel) -> NodeClient {
        ProvinceNodeClient::with_interceptor(channel, self.credentials.clone())
    }

    /// A hub client on `channel`, presenting the session's credentials.
    pub fn hub_on(&self, channel: Channel) -> HubClient {
        NationalHubClient::with_interceptor(channel, self.credentials.clone())
    }

    /// A client of the node `at` names; over TLS, given --province, its
    /// certificate must be that province's.
    pub async fn node(&self, at: &NodeArg) -> Result<NodeClient, CliError> {
        self.node_with(at, CALL_TIMEOUT).await
    }

    /// A node client for a reconciliation, which may take long.
    pub async fn reconciling_node(&self, at: &NodeArg) -> Result<NodeClient, CliError> {
        self.node_with(at, RECONCILE_TIMEOUT).await
    }

    async fn node_with(&self, at: &NodeArg, call_timeout: Duration) -> Result<NodeClient, CliError> {
        let name = at.province.filter(|_| at.node.is_none()).map(gongji_common::tls::province_name);
        let channel = self.connect(&self.node_address(at)?, call_timeout, name.as_deref()).await?;
        Ok(self.node_on(channel))
    }

    /// A client of the hub `at` names: over TLS its certificate must be the
    /// hub's (`hub.gongji`), so a province node cannot pose as the hub.
    pub async fn hub(&self, at: &HubArg) -> Result<HubClient, CliError> {
        self.hub_at(&self.hub_address(at)).await
    }

    /// A client of the hub at `address` (see [`Session::hub`]); of several
    /// (comma-separated: hubs on one database, one active), the active one.
    pub async fn hub_at(&self, address: &str) -> Result<HubClient, CliError> {
        let active = self.active_hub(address).await?;
        let channel = self.connect(&active, CALL_TIMEOUT, Some(gongji_common::tls::HUB_NAME)).await?;
        Ok(self.hub_on(channel))
    }

    /// The address of the active hub of `addresses` (one, or several
    /// separated by commas): the first whose health check says it serves.
    pub async fn active_hub(&self, addresses: &str) -> Result<String, CliError> {
        let list = gongji_common::hubs::addresses(addresses).map_err(CliError::Usage)?;
        if let [only] = list.as_slice() {
            return Ok(only.clone());
        }
        let mut said = Vec::new();
        for address in &list {
            match self.connect(address, CALL_TIMEOUT, Some(gongji_common::tls::HUB_NAME)).await {
                Ok(channel) => match crate::status::health(channel).await {
                    Ok(()) => return Ok(address.clone()),
                    Err(why) => said.push(format!("{address}: {why}")),
                },
                Err(error) => said.push(error.to_string()),
            }
        }
        Err(CliError::Other(format!("no hub of {addresses} is active: {}", said.join("; "))))
    }

    /// The address of the node `at` names: --node, else --province's node
    /// in the network's address file, else a devnet's first node.
    pub fn node_address(&self, at: &NodeArg) -> Result<String, CliError> {
        if let Some(address) = &at.node {
            return Ok(address.clone());
        }
        let Some(province) = at.province else {
            return Ok(DEFAULT_NODE.to_owned());
        };
        let Some(network) = &self.network else {
            return Err(CliError::Usage(format!(
                "--province {province} needs the network's address file: give --network FILE (or GONGJI_NETWORK), or run \
                 where ./gongji-data/devnet.json is (a devnet writes it); or give the node's --node ADDR"
            )));
        };
        network.node_address(province.as_str()).map(str::to_owned).ok_or_else(|| {
            let known: Vec<&str> = network.provinces.iter().map(|p| p.code.as_str()).collect();
            CliError::Usage(format!(
                "province {province} has no node in the network's address file (it has {})",
                known.join(", ")
            ))
        })
    }

    /// The address of the hub: --hub, else the network's hub, else a devnet's.
    pub fn hub_address(&self, at: &HubArg) -> String {
        match (&at.hub, &self.network) {
            (Some(address), _) => address.clone(),
            (None, Some(network)) => network.hub.clone(),
            (None, None) => DEFAULT_HUB.to_owned(),
        }
    }
}

/// The devnet address file a command was given, if any.
fn devnet_of(command: &Command) -> Option<&Path> {
    match command {
        Command::Audit(args) => args.network.devnet.as_deref(),
        Command::Status(args) => args.devnet.as_deref(),
        Command::Bench(args) => args.devnet.as_deref(),
        _ => None,
    }
}

/// The network a command talks to, from its address file: the command's
/// --devnet, else --network (GONGJI_NETWORK), else ./gongji-data/devnet.json
/// when it exists. Commands that start servers or read files
/// (devnet, certs, doctor, bench without --devnet) have none.
fn network_of(cli: &Cli) -> Result<Option<Manifest>, CliError> {
    if let Some(path) = devnet_of(&cli.command) {
        return Manifest::read(path).map(Some);
    }
    if matches!(
        cli.command,
        Command::Devnet(_) | Command::Certs(_) | Command::Doctor(_) | Command::Bench(_)
    ) {
        return Ok(None);
    }
    if let Some(path) = &cli.network {
        return Manifest::read(path).map(Some);
    }
    let default = Path::new(DEFAULT_NETWORK_FILE);
    if default.is_file() {
        return Manifest::read(default).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestEntry;

    fn manifest() -> Manifest {
        Manifest {
            hub: "http://127.0.0.1:6000".into(),
            provinces: vec![ManifestEntry {
                code: "32".into(),
                name: "Jiangsu".into(),
                address: "http://127.0.0.1:6002".into(),
                data_dir: String::new(),
                metrics: String::new(),
            }],
            hub_metrics: String::new(),
            certs: String::new(),
            operator_token_file: String::new(),
        }
    }

    #[test]
    fn addresses_come_from_the_flags_then_the_network_then_a_devnets_defaults() {
        let province = |code: &str| NodeArg {
            node: None,
            province: Some(code.parse().unwrap()),
        };
        let alone = Session::default();
        assert_eq!(alone.hub_address(&HubArg { hub: None }), DEFAULT_HUB);
        assert_eq!(
            alone
                .node_address(&NodeArg {
                    node: None,
                    province: None
                })
                .unwrap(),
            DEFAULT_NODE
        );
        assert!(alone
            .node_address(&province("32"))
            .unwrap_err()
            .to_string()
            .contains("address file"));

        let session = Session::for_network(manifest(), Credentials::default()).unwrap();
        assert_eq!(session.hub_address(&HubArg { hub: None }), "http://127.0.0.1:6000");
        assert_eq!(session.hub_address(&HubArg { hub: Some("h:1".into()) }), "h:1");
        assert_eq!(session.node_address(&province("32")).unwrap(), "http://127.0.0.1:6002");
        let missing = session.node_address(&province("13")).unwrap_err().to_string();
        assert!(missing.contains("province 13 has no node") && missing.contains("32"), "{missing}");
    }

    #[tokio::test]
    async fn a_session_moved_into_a_spawned_task_keeps_its_certificates_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::certs::CertsSpec {
            provinces: vec!["32".parse().unwrap()],
            hosts: Vec::new(),
        };
        crate::certs::write(dir.path(), &spec).unwrap();
        let session = Session {
            connection: Connection::with_certs(dir.path()).unwrap(),
            credentials: Credentials::new(Some("s3cret"), Some("why")).unwrap(),
            network: None,
        };
        let (uri, token) = tokio::spawn(async move {
            let endpoint = session.endpoint("127.0.0.1:1", CALL_TIMEOUT, None).unwrap();
            let mut presented = session.credentials.clone();
            let request = tonic::service::Interceptor::call(&mut presented, tonic::Request::new(())).unwrap();
            let token = request.metadata().get("authorization").map(|v| v.to_str().unwrap().to_owned());
            (endpoint.uri().to_string(), token)
        })
        .await
        .unwrap();
        assert!(uri.starts_with("https://"), "{uri}");
        assert_eq!(token.as_deref(), Some("Bearer s3cret"));
    }
}
