//! One server of a network, run in this process: the national hub or a
//! province node, from its configuration (or its own command-line flags),
//! served until a shutdown signal. The in-process [`crate::Network`] starts
//! each of its servers this way, and so does the monthly-cycle benchmark's
//! serve mode (each server in a process of its own).

use std::{future::Future, net::SocketAddr};

use clap::Parser;
use national_hub::HubConfig;
use province_node::NodeConfig;
use tokio::net::TcpListener;

/// A configured server, not yet running.
#[derive(Debug, Clone)]
pub enum Server {
    Hub(Box<HubConfig>),
    Node(Box<NodeConfig>),
}

impl Server {
    /// A hub configured by the flags of the `national-hub` binary (`args`
    /// without the program's name).
    pub fn hub_from_flags(args: &[String]) -> Result<Server, String> {
        let program = std::iter::once("national-hub".to_owned());
        let config = HubConfig::try_parse_from(program.chain(args.iter().cloned())).map_err(|e| e.to_string())?;
        Ok(Server::Hub(Box::new(config)))
    }

    /// A province node configured by the flags of the `province-node`
    /// binary (`args` without the program's name).
    pub fn node_from_flags(args: &[String]) -> Result<Server, String> {
        let program = std::iter::once("province-node".to_owned());
        let config = NodeConfig::try_parse_from(program.chain(args.iter().cloned())).map_err(|e| e.to_string())?;
        Ok(Server::Node(Box::new(config)))
    }

    /// Where it is configured to listen (--listen).
    pub fn listen(&self) -> SocketAddr {
        match self {
            Server::Hub(config) => config.listen,
            Server::Node(config) => config.listen,
        }
    }

    /// Serves on `listener`, and metrics on `metrics` when given, until
    /// `shutdown` completes; returns once its data directory is released.
    pub async fn run(self, listener: TcpListener, metrics: Option<TcpListener>, shutdown: impl Future<Output = ()>) -> Result<(), String> {
        match self {
            Server::Hub(config) => national_hub::run_with_metrics(*config, listener, metrics, shutdown)
                .await
                .map_err(|e| e.to_string()),
            Server::Node(config) => province_node::run_with_metrics(*config, listener, metrics, shutdown)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// As its own binary runs it: binds --listen (and --metrics-listen, if
    /// given) and serves until `shutdown` completes.
    pub async fn run_as_configured(self, shutdown: impl Future<Output = ()>) -> Result<(), String> {
        let listen = self.listen();
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        match self {
            Server::Hub(config) => national_hub::run(*config, listener, shutdown).await.map_err(|e| e.to_string()),
            Server::Node(config) => province_node::run(*config, listener, shutdown).await.map_err(|e| e.to_string()),
        }
    }
}
