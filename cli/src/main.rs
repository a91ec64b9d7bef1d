//! `gongji`: parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;
use gongji_operator::{args::Cli, error::EXIT_FAILED};

/// mimalloc instead of glibc's malloc: allocation was a fifth of the
/// samples on the payment path (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Servers log through tracing to stderr; keep a devnet's terminal readable
    // unless the operator asks for more with RUST_LOG.
    gongji_common::server::init_tracing_with_default("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let display = gongji_operator::progress::Display::of_stderr();
    let code = runtime.block_on(gongji::execute(cli, display, &mut std::io::stdout(), &mut std::io::stderr()));
    ExitCode::from(code)
}
