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
    let settings = network_of(&cli)
        .and_then(|network| Ok((connection(&cli, &network)?, credentials(&cli, &network)?, plaintext_allowed(&cli, &network))))
        .and_then(|(connection, credentials, plaintext_allowed)| {
            if connection.is_plaintext() && credentials.has_token() && !plaintext_allowed {
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

/// The address file a devnet leaves in its default data directory.
pub const DEFAULT_NETWORK_FILE: &str = "gongji-data/devnet.json";

/// The network a command talks to, from its address file: the command's
/// --devnet, else --network (GONGJI_NETWORK), else ./gongji-data/devnet.json
/// when it exists. Commands that start servers or read files
/// (devnet, certs, doctor, bench without --devnet) have none.
fn network_of(cli: &Cli) -> Result<Option<network::Manifest>, error::CliError> {
    if let Some(path) = devnet_of(&cli.command) {
        return network::Manifest::read(path).map(Some);
    }
    if matches!(
        cli.command,
        Command::Devnet(_) | Command::Certs(_) | Command::Doctor(_) | Command::Bench(_)
    ) {
        return Ok(None);
    }
    if let Some(path) = &cli.network {
        return network::Manifest::read(path).map(Some);
    }
    let default = std::path::Path::new(DEFAULT_NETWORK_FILE);
    if default.is_file() {
        return network::Manifest::read(default).map(Some);
    }
    Ok(None)
}

/// How the command connects: with --certs, or its network's certificates,
/// else in plaintext; addresses are found in its network's address file.
fn connection(cli: &Cli, network: &Option<network::Manifest>) -> Result<client::Connection, error::CliError> {
    let connection = match (&cli.certs, network) {
        (Some(dir), _) => client::Connection::with_certs(dir)?,
        (None, Some(manifest)) => client::Connection::for_manifest(manifest)?,
        (None, None) => client::Connection::plaintext(),
    };
    Ok(connection.in_network(network.clone()))
}

/// Whether the command may send a token in plaintext: told --insecure, or
/// talking to a network whose address file says it runs without certificates.
fn plaintext_allowed(cli: &Cli, network: &Option<network::Manifest>) -> bool {
    cli.insecure || network.as_ref().is_some_and(|manifest| manifest.certs.is_empty())
}

/// What every call presents: --token-file or --token, and --reason; a
/// command talking to a network from its address file presents the
/// network's operator token unless given one.
fn credentials(cli: &Cli, network: &Option<network::Manifest>) -> Result<credentials::Credentials, error::CliError> {
    let given = credentials::Credentials::from_args(&cli.credentials)?;
    match network {
        Some(manifest) if !given.has_token() => given.or_devnet_token(manifest),
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
