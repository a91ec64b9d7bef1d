//! The library behind the `gongji` CLI: a whole network in one process
//! (`network`), the demo population (`demo`), the devnet (`devnet`), the
//! everyday commands against any node or hub (`commands`), and the monthly
//! cycle and prepaid funds (`cycle`). `main.rs` parses the command
//! line and calls [`execute`]; tests call [`run`], the same path from a list
//! of arguments, with the output captured.

pub mod args;
pub mod audit;
pub mod bench;
pub mod certs;
pub mod client;
pub mod commands;
pub mod credentials;
pub mod cycle;
pub mod demo;
pub mod devnet;
pub mod devnet_access;
pub mod doctor;
pub mod error;
pub mod import;
pub mod network;
pub mod oplog;
pub mod output;
pub mod status;
pub mod totals;

use std::{ffi::OsString, io::Write};

use clap::Parser;

use crate::{
    args::{Cli, Command},
    error::EXIT_USAGE,
};

/// Parses `args` (the first is the program name, as in `std::env::args_os`)
/// and runs the command, writing to `out` and `err`. Returns the exit status.
pub async fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => execute(cli, out, err).await,
        Err(error) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let target: &mut dyn Write = if error.use_stderr() { err } else { out };
            let _ = write!(target, "{}", error.render());
            u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE)
        }
    }
}

/// Runs a parsed command. Returns the exit status; errors are reported on `err`.
pub async fn execute(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let settings = connection(&cli)
        .and_then(|connection| Ok((connection, credentials(&cli)?)))
        .and_then(|(connection, credentials)| {
            if connection.is_plaintext() && credentials.has_token() && !plaintext_allowed(&cli)? {
                return Err(error::CliError::Usage(
                    "refusing to send the client token in plaintext: give --certs DIR (mutual TLS), or --insecure for a network started --insecure"
                        .into(),
                ));
            }
            Ok((connection, credentials))
        });
    let (result, plaintext) = match settings {
        Ok((connection, credentials)) => {
            let plaintext = connection.is_plaintext();
            // Boxed: the commands' futures are large, and two scopes around
            // them on the stack overflowed a test thread's in debug builds.
            let work = credentials::scope(credentials, Box::pin(dispatch(cli.command, out, err)));
            (client::with_connection(connection, work).await, plaintext)
        }
        Err(error) => (Err(error), false),
    };
    let _ = out.flush();
    match result {
        Ok(code) => code,
        Err(error) => {
            error.report(err);
            if plaintext && error.is_transport_failure() {
                let _ = writeln!(
                    err,
                    "hint: a server that runs mutual TLS needs the CLI's certificates: --certs DIR (a devnet's are in DATA_DIR/certs)"
                );
            }
            let _ = err.flush();
            error.exit_code()
        }
    }
}

/// The devnet address file a command was given, if any.
fn devnet_of(command: &Command) -> Option<&std::path::Path> {
    match command {
        Command::Audit(args) => args.network.devnet.as_deref(),
        Command::Status(args) => args.devnet.as_deref(),
        Command::Bench(args) => args.devnet.as_deref(),
        _ => None,
    }
}

/// How the command connects: with --certs, or a devnet's certificates when
/// it is given --devnet, else in plaintext.
fn connection(cli: &Cli) -> Result<client::Connection, error::CliError> {
    if let Some(dir) = &cli.certs {
        return client::Connection::with_certs(dir);
    }
    match devnet_of(&cli.command) {
        Some(path) => client::Connection::for_manifest(&network::Manifest::read(path)?),
        None => Ok(client::Connection::plaintext()),
    }
}

/// Whether the command may send a token in plaintext: told --insecure, or
/// given the address file of a devnet that runs without certificates.
fn plaintext_allowed(cli: &Cli) -> Result<bool, error::CliError> {
    Ok(cli.insecure
        || match devnet_of(&cli.command) {
            Some(path) => network::Manifest::read(path)?.certs.is_empty(),
            None => false,
        })
}

/// What every call presents: --token-file or --token, and --reason; a
/// command given --devnet and no token presents the devnet's operator token.
fn credentials(cli: &Cli) -> Result<credentials::Credentials, error::CliError> {
    let given = credentials::Credentials::from_args(&cli.credentials)?;
    match devnet_of(&cli.command) {
        Some(path) if !given.has_token() => given.or_devnet_token(&network::Manifest::read(path)?),
        _ => Ok(given),
    }
}

async fn dispatch(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, error::CliError> {
    match command {
        Command::Devnet(args) => devnet::run(args, out, err).await,
        Command::Certs(args) => devnet::certs(args, out),
        Command::Register(args) => commands::register(args, out).await,
        Command::Import(args) => import::import(args, out).await,
        Command::Credit(args) => commands::credit(args, out).await,
        Command::Establish(args) => commands::establish(args, out).await,
        Command::Pay(args) => commands::pay(args, out).await,
        Command::Refund(args) => commands::refund(args, out).await,
        Command::Reverse(args) => commands::reverse(args, out).await,
        Command::ChangeQuota(args) => commands::change_quota(args, out).await,
        Command::Dissolve(args) => commands::dissolve(args, out).await,
        Command::Terminate(args) => commands::terminate(args, out).await,
        Command::Transfer(args) => commands::transfer(args, out).await,
        Command::Show(what) => commands::show(what, out).await,
        Command::Info(node) => commands::info(node, out).await,
        Command::Month(command) => cycle::month(command, out).await,
        Command::Prepaid(command) => cycle::prepaid(command, out).await,
        Command::Audit(args) => audit::command(args, out, err).await,
        Command::Status(args) => status::command(args, out).await,
        Command::Bench(args) => bench::run(args, out, err).await,
        Command::Oplog(args) => oplog::command(args, out).await,
        Command::Doctor(args) => doctor::command(args, out),
    }
}
