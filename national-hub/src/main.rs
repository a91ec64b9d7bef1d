//! The `national-hub` binary: parse the configuration, bind, run.

use clap::Parser;
use national_hub::HubConfig;

/// mimalloc instead of glibc's malloc: allocation was a fifth of the
/// samples on the payment path (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gongji_common::server::init_tracing();
    let config = HubConfig::parse();
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("national-hub: cannot listen on {}: {error}", config.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    match national_hub::run(config, listener, gongji_common::server::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("national-hub: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
