//! The library behind the `gongji` binary. Every command but two is the
//! operator's client (`gongji-operator`); the devnet (`devnet`, seeding the
//! `demo` population) and the benchmark (`bench`) start a network in this
//! process (`gongji-network`). `main.rs` parses the command line and calls
//! [`execute`]; tests call [`run`], the same path from a list of
//! arguments, with the output captured.

pub mod bench;
pub mod demo;
pub mod devnet;

use std::{ffi::OsString, io::Write};

use clap::Parser;
use gongji_operator::{
    args::{Cli, Command},
    audit, certs, commands, cycle, doctor,
    error::{CliError, EXIT_USAGE},
    import, oplog,
    output::{Format, Out},
    progress::Display,
    session::Session,
    status,
};

/// Parses `args` (the first is the program name, as in `std::env::args_os`)
/// and runs the command, writing to `out` and `err`. Returns the exit status.
pub async fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => execute(cli, Display::Lines, out, err).await,
        Err(error) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let target: &mut dyn Write = if error.use_stderr() { err } else { out };
            let _ = write!(target, "{}", error.render());
            u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE)
        }
    }
}

/// Runs a parsed command in the session its command line describes, long
/// operations showing their progress on `err` as `display` says. Returns
/// the exit status; errors are reported on `err`.
pub async fn execute(cli: Cli, display: Display, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (result, plaintext) = match Session::of_command_line(&cli) {
        // Boxed: the commands' futures are large for a test thread's stack
        // in debug builds.
        Ok(session) => (
            Box::pin(dispatch(&session, cli, display, out, err)).await,
            session.connection.is_plaintext(),
        ),
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

/// Runs `command` in `session`.
async fn dispatch(session: &Session, mut cli: Cli, display: Display, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let format = cli.format()?;
    let command = cli.command;
    if format != Format::Text && !prints_records(&command) {
        return Err(CliError::Usage(
            "--json and --csv are for commands that print records (show, info, status, month, prepaid, oplog, wallet, statement and the \
             commands that record something); this one prints text only"
                .into(),
        ));
    }
    let out = &mut Out::new(out, format);
    match command {
        Command::Devnet(args) => devnet::run(args, out, err).await,
        Command::ServeHub { args } => serve_hub(args).await,
        Command::Certs(args) => certs::command(args, out),
        Command::Register(args) => commands::register(session, args, out).await,
        Command::Import(args) => import::import(session, args, display, out, err).await,
        Command::Credit(args) => commands::credit(session, args, out).await,
        Command::Establish(args) => commands::establish(session, args, out).await,
        Command::Pay(args) => commands::pay(session, args, out).await,
        Command::Refund(args) => commands::refund(session, args, out).await,
        Command::Reverse(args) => commands::reverse(session, args, out).await,
        Command::ChangeQuota(args) => commands::change_quota(session, args, out).await,
        Command::Dissolve(args) => commands::dissolve(session, args, out).await,
        Command::Terminate(args) => commands::terminate(session, args, out).await,
        Command::Transfer(args) => commands::transfer(session, args, out).await,
        Command::Wallet(command) => gongji_operator::wallet::command(session, command, out).await,
        Command::Statement(args) => gongji_operator::statement::statement(session, args, out).await,
        Command::Show(what) => commands::show(session, what, out).await,
        Command::Info(node) => commands::info(session, node, out).await,
        Command::Month(command) => cycle::month(session, command, display, out, err).await,
        Command::Prepaid(command) => cycle::prepaid(session, command, out).await,
        Command::Audit(args) => audit::command(session, args, display, out, err).await,
        Command::Status(args) => status::command(session, args, out).await,
        Command::Bench(args) => bench::run(session, args, display, out, err).await,
        Command::Oplog(args) => oplog::command(session, args, out).await,
        Command::Doctor(args) => doctor::command(args, out),
    }
}

/// Whether `command` prints records, which --json and --csv can carry.
fn prints_records(command: &Command) -> bool {
    !matches!(
        command,
        Command::Devnet(_)
            | Command::ServeHub { .. }
            | Command::Certs(_)
            | Command::Import(_)
            | Command::Audit(_)
            | Command::Bench(_)
            | Command::Doctor(_)
    )
}

/// `gongji serve-hub FLAGS`: a national hub, as `national-hub FLAGS` runs one.
async fn serve_hub(args: Vec<String>) -> Result<u8, CliError> {
    use clap::Parser;
    let config = national_hub::HubConfig::try_parse_from(std::iter::once("national-hub".to_owned()).chain(args))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    national_hub::serve(config)
        .await
        .map_err(|e| CliError::Other(format!("national-hub: {e}")))?;
    Ok(0)
}
