//! Serve mode: the benchmark binary run again as a child, as the national hub
//! or as a province node, configured by the servers' own flags and run as
//! `gongji-network` runs every server. It stops on SIGTERM or Ctrl-C, or
//! when its stdin closes (the parent stopped it, or died), so a child never
//! outlives the benchmark.

use std::{io::Read, process::ExitCode};

use gongji_common::server::{init_tracing_with_default, shutdown_signal};
use gongji_network::server::Server;

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
    let server = match mode {
        SERVE_HUB => Server::hub_from_flags(args),
        SERVE_NODE => Server::node_from_flags(args),
        other => Err(format!("unknown serve mode {other}")),
    };
    let outcome = match server {
        Ok(server) => runtime.block_on(server.run_as_configured(shutdown)),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{mode}: {error}");
            ExitCode::FAILURE
        }
    }
}
