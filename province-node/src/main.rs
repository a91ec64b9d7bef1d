//! The `province-node` binary: parse the configuration, bind, run.

use clap::Parser;
use province_node::NodeConfig;

/// mimalloc instead of glibc's malloc: allocation was a fifth of the
/// samples on the payment path (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gongji_common::server::init_tracing();
    let config = NodeConfig::parse();
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("province-node: cannot listen on {}: {error}", config.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    match province_node::run(config, listener, gongji_common::server::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("province-node: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
