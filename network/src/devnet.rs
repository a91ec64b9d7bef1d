//! The devnet's servers: what `gongji devnet` starts in its data directory.
//! The hub and a node per province in this process, on the ports of its
//! flags; mutual TLS with the certificates in `DATA_DIR/certs` (made on the
//! first start, and again when a province has none yet or --host changed)
//! unless --insecure; only the devnet's own clients admitted
//! (`devnet_access`). Its address file names the operator's token file.

use std::{net::SocketAddr, path::PathBuf};

use gongji_operator::{
    args::{DevnetArgs, StoreEngine},
    error::CliError,
    manifest::Manifest,
    session::Session,
};

use crate::{devnet_access::DevnetAccess, network::Network, postgres::Cluster, spec::NetworkSpec};

/// A running devnet.
pub struct Devnet {
    pub network: Network,
    /// Its address file (as `devnet.json` holds it): the network's, with the
    /// operator's token file.
    pub manifest: Manifest,
    /// Its clients and their token files.
    pub access: DevnetAccess,
    /// The certificates' directory, when this start made them (a new CA).
    pub certs_made: Option<PathBuf>,
    /// The PostgreSQL cluster of `--store postgres`.
    pub postgres: Option<Cluster>,
}

impl Devnet {
    /// Starts the devnet `args` describe (its servers may not serve yet:
    /// see [`Network::wait_ready`]).
    pub async fn start(args: &DevnetArgs) -> Result<Devnet, CliError> {
        gongji_operator::args::check_provinces(&args.provinces)?;
        std::fs::create_dir_all(&args.data_dir)
            .map_err(|e| CliError::Other(format!("cannot create the data directory {}: {e}", args.data_dir.display())))?;
        let mut spec = NetworkSpec::on_ports(args.data_dir.clone(), args.host, args.base_port, &args.provinces).map_err(CliError::Other)?;
        spec.metrics_base_port = Some(args.metrics_base_port);
        let certs_made = if args.insecure {
            None
        } else {
            // The servers' certificates name the address they listen on,
            // unless that is loopback (always named) or any address.
            let mut hosts = Vec::new();
            if !args.host.is_loopback() && !args.host.is_unspecified() {
                hosts.push(args.host.to_string());
            }
            spec.run_tls(hosts).map_err(CliError::Other)?
        };
        let access = DevnetAccess::prepare(&args.data_dir)?;
        spec.clients = Some(access.clients_file.clone());
        // On PostgreSQL: two hubs on one database, each a process of this
        // program, the second standing by.
        let (postgres, standby) = match args.store {
            StoreEngine::Embedded => (None, None),
            StoreEngine::Postgres => {
                let cluster = crate::postgres::start_for(&mut spec, &args.data_dir.join("postgres"))
                    .map_err(|e| CliError::Other(format!("cannot start PostgreSQL: {e}")))?;
                spec.hub_program =
                    Some(std::env::current_exe().map_err(|e| CliError::Other(format!("cannot find this program to run the hubs: {e}")))?);
                let standby = standby_address(args)?;
                let scheme = if spec.certs.is_some() { "https" } else { "http" };
                spec.more_hubs = vec![format!("{scheme}://{standby}")];
                (Some(cluster), Some(standby))
            }
        };
        let mut network = Network::start(spec)
            .await
            .map_err(|e| CliError::Other(format!("cannot start the devnet: {e}")))?;
        if let Some(standby) = standby {
            network
                .start_standby_hub(standby)
                .map_err(|e| CliError::Other(format!("cannot start the standby hub: {e}")))?;
        }
        let mut manifest = network.manifest();
        manifest.operator_token_file = access.operator_token_file.display().to_string();
        Ok(Devnet {
            network,
            manifest,
            access,
            certs_made,
            postgres,
        })
    }

    /// What the devnet itself connects with while it seeds the demo data:
    /// its certificates and the operator's token.
    pub fn operator_session(&self) -> Result<Session, CliError> {
        Session::for_network(self.manifest.clone(), self.access.operator()?)
    }
}

/// Where the devnet's standby hub listens: the port after the provinces'.
fn standby_address(args: &DevnetArgs) -> Result<SocketAddr, CliError> {
    if args.base_port == 0 {
        let free = std::net::TcpListener::bind((args.host, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|e| CliError::Other(format!("finding a port for the standby hub: {e}")))?;
        return Ok(free);
    }
    let port = u16::try_from(usize::from(args.base_port) + args.provinces.len() + 1)
        .map_err(|_| CliError::Other(format!("base port {} leaves no room for the standby hub", args.base_port)))?;
    Ok(SocketAddr::new(args.host, port))
}
