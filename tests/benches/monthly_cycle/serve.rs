//! Serve mode: the benchmark binary run again as a child, as the national hub
//! or as a province node, configured by the servers' own flags. It stops on
//! SIGTERM or Ctrl-C, or when its stdin closes (the parent stopped it, or
//! died), so a child never outlives the benchmark.

use std::{io::Read, process::ExitCode};

use clap::Parser;
use gongji_common::server::{init_tracing_with_default, shutdown_signal};
use national_hub::HubConfig;
use province_node::NodeConfig;

use crate::cluster::{SERVE_HUB, SERVE_NODE};

/// Runs the server `mode` names with `args` (its flags) until told to stop.
pub fn serve(mode: &str, args: &[String]) -> ExitCode {
    init_tracing_with_default("warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{mode}: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: a runtime's blocking read of stdin would hold up its shutdown.
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = stdin_closed => {}
        }
    };
    let outcome = runtime.block_on(async move {
        match mode {
            SERVE_HUB => {
                let config = HubConfig::try_parse_from(std::iter::once("national-hub".to_owned()).chain(args.iter().cloned()))
                    .map_err(|e| e.to_string())?;
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
                national_hub::run(config, listener, shutdown).await.map_err(|e| e.to_string())
            }
            SERVE_NODE => {
                let config = NodeConfig::try_parse_from(std::iter::once("province-node".to_owned()).chain(args.iter().cloned()))
                    .map_err(|e| e.to_string())?;
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
                province_node::run(config, listener, shutdown).await.map_err(|e| e.to_string())
            }
            other => Err(format!("unknown serve mode {other}")),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{mode}: {error}");
            ExitCode::FAILURE
        }
    }
}
