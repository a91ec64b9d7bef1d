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
    match national_hub::serve(HubConfig::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("national-hub: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
