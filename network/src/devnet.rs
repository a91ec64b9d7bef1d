//! The devnet's servers: what `gongji devnet` starts in its data directory.
//! The hub and a node per province in this process, on the ports of its
//! flags; mutual TLS with the certificates in `DATA_DIR/certs` (made on the
//! first start, and again when a province has none yet or --host changed)
//! unless --insecure; only the devnet's own clients admitted
//! (`devnet_access`). Its address file names the operator's token file.

use std::path::PathBuf;

use gongji_operator::{args::DevnetArgs, error::CliError, manifest::Manifest, session::Session};

use crate::{devnet_access::DevnetAccess, network::Network, spec::NetworkSpec};

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
        let network = Network::start(spec)
            .await
            .map_err(|e| CliError::Other(format!("cannot start the devnet: {e}")))?;
        let mut manifest = network.manifest();
        manifest.operator_token_file = access.operator_token_file.display().to_string();
        Ok(Devnet {
            network,
            manifest,
            access,
            certs_made,
        })
    }

    /// What the devnet itself connects with while it seeds the demo data:
    /// its certificates and the operator's token.
    pub fn operator_session(&self) -> Result<Session, CliError> {
        Session::for_network(self.manifest.clone(), self.access.operator()?)
    }
}
