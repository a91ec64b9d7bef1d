//! The command line of `gongji`: every subcommand and option, parsed and
//! validated here (ids, amounts, codes and months become typed values), so the
//! commands behind it only see well-formed input. Nothing here does I/O.

use std::{net::IpAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use gongji_common::{Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode};
use gongji_proto::v1 as pb;

use crate::{error::CliError, output::Format};

/// The Gongji operator CLI: run a local network with demo data, or call any
/// province node or the national hub.
#[derive(Debug, Parser)]
#[command(
    name = "gongji",
    version,
    about = "The Gongji operator CLI: a local network (devnet) with demo data, and the everyday calls against any node",
    long_about = None,
    after_help = "Exit status: 0 success; 1 error (or an import with rejected rows, or a reconciliation that disputed \
                  its month); 2 bad command line; \
                  3 the payment, refund, transfer or reversal is recorded but pending: it completes in the background \
                  (run the same command again, same id, to learn its outcome).\n\
                  Money is CNY with at most two decimals (\"128.50\"); months are YYYY-MM in China Standard Time."
)]
pub struct Cli {
    /// Connect over mutual TLS with the certificates in DIR (ca.pem,
    /// client.pem, client.key, as `gongji certs` writes them; a devnet's are in
    /// DATA_DIR/certs). Without it, commands given --devnet use the devnet's
    /// certificates, and all others connect in plaintext.
    #[arg(long, global = true, value_name = "DIR", env = "GONGJI_CERTS")]
    pub certs: Option<PathBuf>,
    /// Send a client token in plaintext (to a network started --insecure):
    /// without it, a command that would present a token over a plaintext
    /// connection is refused before any call. A devnet address file of a
    /// plaintext devnet says so by itself.
    #[arg(long, global = true, env = "GONGJI_INSECURE")]
    pub insecure: bool,
    /// The network's address file (`gongji devnet` writes DATA_DIR/devnet.json):
    /// commands then take --province CODE for a node, find the hub by
    /// themselves, and present the network's certificates and operator token
    /// unless told otherwise. Without it, ./gongji-data/devnet.json is used
    /// when it exists. What the command line says wins: --node, --hub,
    /// --certs, --token-file.
    #[arg(long, global = true, value_name = "FILE", env = "GONGJI_NETWORK")]
    pub network: Option<PathBuf>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How the command prints its records. A FILE given to --csv is
    /// `month report`'s (its matrix and nets, written to FILE; the report
    /// itself stays text); any other command refuses one.
    pub fn format(&mut self) -> Result<Format, CliError> {
        let Some(file) = self.output.csv.clone().flatten() else {
            return Ok(self.output.format());
        };
        match &mut self.command {
            Command::Month(MonthCommand::Report(report)) => {
                report.csv = Some(file);
                Ok(Format::Text)
            }
            _ => Err(CliError::Usage(format!(
                "--csv takes a FILE only in `gongji month report`; here it prints CSV on standard output, so give it \
                 without a value, after the command's arguments (it took {:?} as a FILE)",
                file.display().to_string()
            ))),
        }
    }
}

/// How records are printed (options of every command that prints records:
/// `show`, `info`, `status`, `month`, `prepaid`, `oplog`, `wallet` and the
/// commands that record something).
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// One JSON object per record and line (JSON Lines), values as the
    /// text shows them, amounts as strings with their two decimals (never
    /// numbers); no titles or notes; where a command prints records of
    /// several kinds, each object names its kind first ("record":"net"). For
    /// the commands that print records
    /// (show, info, status, month, prepaid, oplog, wallet, and those that
    /// record something); the others refuse it.
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// CSV (RFC 4180) with a header row, values as the text shows them; no
    /// titles or notes; records of another shape follow after an empty line
    /// with their own header. For the same commands as --json. `month report
    /// MONTH --csv FILE` writes the month's matrix and nets to FILE instead
    /// (see its help); elsewhere give --csv last, without a value.
    #[arg(long, global = true, value_name = "FILE", num_args = 0..=1)]
    pub csv: Option<Option<PathBuf>>,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        match (self.json, &self.csv) {
            (true, _) => Format::Json,
            (false, Some(_)) => Format::Csv,
            (false, None) => Format::Text,
        }
    }
}

/// What every call presents to a server that has a clients file (options
/// of every command).
#[derive(Debug, Clone, Default, Args)]
pub struct CredentialArgs {
    /// A file holding the client token presented on every call (as
    /// `authorization: Bearer TOKEN`); commands given --devnet present the
    /// devnet's operator token unless this or --token is given.
    #[arg(long, global = true, value_name = "FILE", env = "GONGJI_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The client token itself (prefer --token-file: other users of this
    /// machine can see a command line).
    #[arg(long, global = true, value_name = "TOKEN", env = "GONGJI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Why you do this, in any language: sent with every call (metadata
    /// x-gongji-reason, or x-gongji-reason-bin for text that is not ASCII)
    /// and recorded in the server's operator audit log; for a prepaid
    /// deposit or withdrawal, also the reason recorded with it.
    #[arg(long, global = true, value_name = "TEXT", env = "GONGJI_REASON", value_parser = text)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub and province nodes in this process, seed demo data, print a
    /// grpcurl cheat sheet and serve until Ctrl-C or SIGTERM.
    ///
    /// The demo ids are fixed (demo-13-donor, demo-32-relative, demo-rel-13-32,
    /// demo-pay-32, ...), so running again on the same data directory finds the
    /// same records and credits nothing twice. The servers log to stderr at
    /// `warn` unless RUST_LOG says otherwise.
    Devnet(DevnetArgs),
    /// Run a national hub in this process, as the `national-hub` program
    /// does (same flags): the devnet runs its hubs so when they share a
    /// PostgreSQL database, so that one can be killed to see the other take
    /// over.
    #[command(hide = true, disable_help_flag = true)]
    ServeHub {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Write a development certificate authority and the certificates of a
    /// network: the hub (hub.gongji), each province node (province-NN.gongji)
    /// and clients (client.gongji), as PEM files (ca.pem, hub.pem, hub.key,
    /// province-NN.pem, ...). Private keys are readable by their owner only.
    Certs(CertsArgs),
    /// Register one insured person at their province's node.
    Register(RegisterArgs),
    /// Register the persons of a CSV file at a province node, streaming its rows.
    Import(ImportArgs),
    /// Credit a contribution into an employee's personal account.
    Credit(CreditArgs),
    /// Establish a mutual-aid relationship at the donor's node, freezing the quota.
    Establish(EstablishArgs),
    /// Pay a designated institution the beneficiary's personal share, or the
    /// beneficiary's contribution to their province fund, from a quota.
    Pay(PayArgs),
    /// Refund all or part of an approved payment made at --node; the money
    /// returns to the quota (or to the donor if the relationship has ended).
    Refund(RefundArgs),
    /// Reverse a payment whose answer the institution never got: an approved
    /// one is credited back, a pending or unknown one is cancelled for good.
    Reverse(ReverseArgs),
    /// Raise or lower the quota of a live relationship, at the donor's node.
    ChangeQuota(ChangeQuotaArgs),
    /// Dissolve a relationship: at the donor's node with --by donor, at the
    /// beneficiary's node with --by beneficiary. Unused quota returns to the donor.
    Dissolve(DissolveArgs),
    /// Terminate a person's insurance; their relationships dissolve on both sides.
    Terminate(TerminateArgs),
    /// Transfer a person's insurance to a region of another province; their
    /// relationships dissolve and their personal-account balance moves with them.
    Transfer(TransferArgs),
    /// The medical-insurance wallet (医保钱包): open one, send to a close
    /// relative's, accept, decline or cancel a transfer, show a wallet.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// A person's statement (对账单) for a month or a range of days: every
    /// movement of their personal account, wallet and quotas, with opening
    /// and closing balances.
    Statement(StatementArgs),
    /// Show records of a province node or the national hub.
    #[command(subcommand)]
    Show(Show),
    /// Describe a province node: its province, what it holds, its trial balance.
    Info(NodeArg),
    /// The monthly cycle: close a month at the hub, reconcile it (对账) at
    /// every province node, report its clearing (清分), settle it (清算).
    #[command(subcommand)]
    Month(MonthCommand),
    /// Each province's prepaid funds (预付金) at the hub: status, deposits, withdrawals.
    #[command(subcommand)]
    Prepaid(PrepaidCommand),
    /// Check every invariant of the network: each server's books, every
    /// cross-province transaction the same at the hub and both nodes, nets
    /// summing to zero, money conserved. Safe while payments flow: each
    /// server is read at one point, and a difference between servers is
    /// judged only after --settle (a transaction still pending somewhere is
    /// listed as in flight, not as a violation). Exits 1 on any violation.
    Audit(AuditArgs),
    /// The network at a glance: each server's health, version, the open
    /// month, pending transactions and outbox, and each province's prepaid
    /// usage with its warning level. Exits 1 if any server is unreachable or
    /// unhealthy.
    Status(NetworkArgs),
    /// Measure throughput and latency (p50, p95, p99, max) of cross-province
    /// payments, same-province payments and relationship establishment on a
    /// durable network, each beside a baseline: the same servers and gRPC hops
    /// with handlers that do nothing.
    Bench(BenchArgs),
    /// The operator audit log of a province node or the hub: every call
    /// made with the operator role that may change state, newest first,
    /// with who, when, why (--reason) and the outcome; --json adds what (the
    /// request), the role and when the outcome was recorded. Filter by time,
    /// client, action and outcome; --tail N for the newest N.
    Oplog(OplogArgs),
    /// Examine a stopped server's data directory without changing anything:
    /// its checkpoint, each log segment and its records, any damage (file,
    /// byte offset, what it means), and whether the server would start on
    /// it. Given a devnet's data directory, examines each server's. Exits 1
    /// if any would not start.
    Doctor(DoctorArgs),
}

/// Which data directory `gongji doctor` examines.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// A server's --data-dir, or a devnet's data directory (each server's inside).
    #[arg(value_name = "DATA_DIR")]
    pub data_dir: std::path::PathBuf,
}

/// Whose audit log `gongji oplog` reads, and how much of it.
#[derive(Debug, Clone, Args)]
pub struct OplogArgs {
    /// The province node whose log to read: host:port or http://host:port.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["hub", "province"])]
    pub node: Option<String>,
    /// The province whose node's log to read, found in the network's
    /// address file (see --network).
    #[arg(long, value_name = "CODE", value_parser = province, conflicts_with = "hub")]
    pub province: Option<ProvinceCode>,
    /// The national hub whose log to read: host:port or http://host:port
    /// (the default: the network's hub, else 127.0.0.1:50050).
    #[arg(long, value_name = "ADDR")]
    pub hub: Option<String>,
    /// Only actions after this sequence number.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub after: u64,
    /// Read at most this many actions after --after, oldest first, before
    /// the filters (default: all).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Only actions at or after TIME: RFC 3339 (2026-11-30T18:00:00+08:00,
    /// 2026-11-30T10:00:00Z), or a time or date in China Standard Time
    /// (2026-11-30 18:00, 2026-11-30: from its midnight).
    #[arg(long, value_name = "TIME", value_parser = instant_from)]
    pub since: Option<i64>,
    /// Only actions before TIME: as --since, where a date alone means up to
    /// the end of that day.
    #[arg(long, value_name = "TIME", value_parser = instant_until)]
    pub until: Option<i64>,
    /// Only actions of this client (the `who` column: the client's name in
    /// the server's clients file; `anonymous` on a server without one).
    #[arg(long, value_name = "WHO")]
    pub client: Option<String>,
    /// Only actions of this call, e.g. CloseMonth or DepositPrepaid (any case).
    #[arg(long, value_name = "NAME")]
    pub action: Option<String>,
    /// Only actions with this outcome: a word as the outcome column shows
    /// it (ok, approved, declined, pending, failed_precondition, …; any
    /// case), `failed` for any gRPC error (the call was refused or failed),
    /// or `none` for a call not answered yet.
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<String>,
    /// Only the newest N of the actions left by the filters.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub tail: Option<u32>,
}

/// What `gongji bench` loads, how hard and for how long.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Comma-separated province codes (at least two). Without --devnet a
    /// network of these provinces is started; with it, they must be some of
    /// the devnet's.
    #[arg(long, value_name = "CODES", value_delimiter = ',', default_value = "11,31", value_parser = province)]
    pub provinces: Vec<ProvinceCode>,
    /// Requests in flight at once: each client sends its next request when
    /// the last one is answered.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub clients: u16,
    /// Measured seconds of each workload.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Seconds of load before each measurement (connections, caches).
    #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,
    /// Comma-separated workloads to run, in this order.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "cross,same,establish")]
    pub workloads: Vec<BenchWorkload>,
    /// Do not run the baseline (no ratios are printed).
    #[arg(long)]
    pub no_baseline: bool,
    /// Run the started network, and the baseline, over mutual TLS with
    /// certificates made for the run (default: plaintext). With --devnet,
    /// the devnet's own setting holds.
    #[arg(long, conflicts_with = "devnet")]
    pub tls: bool,
    /// Load the running devnet of this address file (DATA_DIR/devnet.json)
    /// instead of starting a network.
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub devnet: Option<PathBuf>,
    /// Keep the started network's data in DIR (default: a temporary
    /// directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the started network's servers keep their books: their embedded
    /// stores, or a PostgreSQL cluster the benchmark starts in the data
    /// directory (the machine's PostgreSQL, fsync on).
    #[arg(long, value_enum, default_value_t = StoreEngine::Embedded, conflicts_with = "devnet")]
    pub store: StoreEngine,
}

/// Where the servers a command starts keep their books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreEngine {
    /// Each server's embedded store, in its data directory.
    Embedded,
    /// A PostgreSQL cluster started for the network, a database per server.
    Postgres,
}

/// A workload of `gongji bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchWorkload {
    /// Cross-province payments: beneficiary's node → hub → donor's node.
    Cross,
    /// Same-province payments, decided at one node.
    Same,
    /// Cross-province relationships established: donor's node → hub → beneficiary's node.
    Establish,
    /// Cross-province wallet transfers and their acceptance: sent at the
    /// sender's node (the recipient checked through the hub), accepted at
    /// the recipient's node (hub → sender's node), one operation.
    Wallet,
}

/// What `gongji audit` checks, and how long it lets differences settle.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Seconds a difference between servers may take to settle (a
    /// transaction in flight while the audit read) before it is judged.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub settle: u64,
}

/// Which network to look at: a devnet's address file, or the hub and each
/// node. What is given on the command line wins over the environment:
/// --devnet FILE, else --hub and --node, else GONGJI_HUB with --node.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// The address file `gongji devnet` writes (DATA_DIR/devnet.json).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["hub", "nodes"])]
    pub devnet: Option<std::path::PathBuf>,
    /// The national hub: host:port or http://host:port (with --node for each
    /// province). GONGJI_HUB when neither this nor --devnet is given.
    #[arg(long, value_name = "ADDR")]
    pub hub: Option<String>,
    /// A province node as CODE=ADDR (repeat for every province), e.g. 32=127.0.0.1:50052.
    #[arg(long = "node", value_name = "CODE=ADDR")]
    pub nodes: Vec<String>,
}

/// Which province node to call: by address, or by province from the
/// network's address file (see --network).
#[derive(Debug, Clone, Args)]
pub struct NodeArg {
    /// Province node to call: host:port or http://host:port (default, with
    /// neither this nor --province: 127.0.0.1:50051, a devnet's first node).
    #[arg(long = "node", value_name = "ADDR", env = "GONGJI_NODE", conflicts_with = "province")]
    pub node: Option<String>,
    /// The province whose node to call (e.g. 32), found in the network's
    /// address file (--network, GONGJI_NETWORK or ./gongji-data/devnet.json).
    #[arg(long = "province", value_name = "CODE", value_parser = province)]
    pub province: Option<ProvinceCode>,
}

/// Where the national hub listens.
#[derive(Debug, Clone, Args)]
pub struct HubArg {
    /// National hub to call: host:port or http://host:port (default: the
    /// network's hub from its address file, else 127.0.0.1:50050); several
    /// hubs on one database separated by commas: the active one is called.
    #[arg(long = "hub", value_name = "ADDR", env = "GONGJI_HUB")]
    pub hub: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DevnetArgs {
    /// Directory of all data: hub/, province-CODE/ and devnet.json (the addresses).
    /// Running again on the same directory brings back all state.
    #[arg(long, value_name = "DIR", default_value = "./gongji-data")]
    pub data_dir: PathBuf,
    /// TCP port of the hub; the province nodes take the following ports, in the
    /// order of --provinces.
    #[arg(long, value_name = "PORT", default_value_t = 50050)]
    pub base_port: u16,
    /// TCP port of the hub's Prometheus metrics (`GET /metrics`); the
    /// province nodes take the following ports, in the order of --provinces
    /// (0: any free ports).
    #[arg(long, value_name = "PORT", default_value_t = 50150)]
    pub metrics_base_port: u16,
    /// Comma-separated 2-digit province codes, one node each. The demo data
    /// links each province to the next one in this order (the last to the first).
    #[arg(long, value_name = "CODES", value_delimiter = ',', default_value = "13,32,34,37,41", value_parser = province)]
    pub provinces: Vec<ProvinceCode>,
    /// IP address every server listens on.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Run without TLS: every link and client in plaintext, without
    /// certificates (a warning is logged). By default the devnet runs mutual
    /// TLS with the certificates in DATA_DIR/certs, made on first start.
    #[arg(long)]
    pub insecure: bool,
    /// Where the servers keep their books: their embedded stores, or a
    /// PostgreSQL cluster of the devnet's own (the machine's PostgreSQL, in
    /// DATA_DIR/postgres, as `nobody` when run as root) with two hubs on one
    /// database, each a process of its own: kill the active one and watch
    /// the other take over with `gongji status`.
    #[arg(long, value_enum, default_value_t = StoreEngine::Embedded)]
    pub store: StoreEngine,
    /// Moves every server's clock by this many milliseconds (negative: back),
    /// e.g. to try wallet transfers, refused 22:00-06:00 China Standard Time,
    /// at night: --clock-offset-ms 43200000 is twelve hours ahead.
    #[arg(long, value_name = "MS", default_value_t = 0, allow_hyphen_values = true)]
    pub clock_offset_ms: i64,
}

/// Where and for whom `gongji certs` writes certificates.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "./gongji-data/certs")]
    pub out: PathBuf,
    /// Comma-separated province codes: one node certificate each (default
    /// 13,32,34,37,41, the devnet's; with --add, required).
    #[arg(long, value_name = "CODES", value_delimiter = ',', value_parser = province)]
    pub provinces: Vec<ProvinceCode>,
    /// Another DNS name or IP address the servers are reached by (repeatable),
    /// besides localhost and 127.0.0.1.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Replace the certificates (and the CA) already in the directory.
    #[arg(long, conflicts_with = "add")]
    pub force: bool,
    /// Keep the CA already in the directory and issue certificates for the
    /// --provinces only (a province joining the network).
    #[arg(long)]
    pub add: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// National id of the person (1-64 of A-Z a-z 0-9 . _ : -).
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// Kind of insurance: only employees have a personal account.
    #[arg(long, value_enum)]
    pub insurance: Insurance,
    /// 6-digit pooling-region code; its first two digits must be the node's province.
    #[arg(long, value_name = "CODE", value_parser = region)]
    pub region: RegionCode,
    /// Where the person's insurance relationship stands.
    #[arg(long, value_enum, default_value = "active")]
    pub status: Status,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// CSV file with the header `id,name,insurance_type,region_code,status`;
    /// insurance_type is employee or resident, status is active, transferred or
    /// terminated (empty means active).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct CreditArgs {
    /// Id of the contribution; crediting the same id again changes nothing.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub contribution_id: Id,
    /// National id of an active employee of the node's province.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub person: Id,
    /// Amount in CNY, at most two decimals (e.g. 300.00). At most 10000000.00; no sign.
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true)]
    pub amount: Money,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct EstablishArgs {
    /// Id of the relationship; establishing the same id again returns its state.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// National id of the donor: an active employee insured at --node.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub donor: Id,
    /// National id of the beneficiary, a close relative of the donor.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub beneficiary: Id,
    /// 2-digit code of the beneficiary's province (the node's own for a
    /// same-province relationship).
    #[arg(long, value_name = "CODE", value_parser = province)]
    pub beneficiary_province: ProvinceCode,
    /// What the beneficiary is to the donor.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Quota in CNY frozen in the donor's account for the beneficiary (e.g. 500.00). At most 10000000.00; no sign.
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true)]
    pub quota: Money,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct PayArgs {
    /// Id of the payment, unique in the network; paying the same id again
    /// returns its outcome.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// National id of the beneficiary, insured in the node's province.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub beneficiary: Id,
    /// Code of the institution paid: H (medical institution) or P (pharmacy), a 6-digit
    /// region code of the node's province and a 5-digit serial (H32050000001).
    /// Required, except for a contribution, which is paid to the beneficiary's
    /// province fund and must name no institution.
    #[arg(long, value_name = "CODE", value_parser = institution)]
    pub institution: Option<InstitutionCode>,
    /// Personal share to pay in CNY, at most two decimals (e.g. 128.50). At most 10000000.00; no sign.
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true)]
    pub amount: Money,
    /// What the payment is for.
    #[arg(long, value_enum)]
    pub purpose: Purpose,
    /// Relationship whose quota pays; without it the node picks an active one
    /// with enough quota, same-province first.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub relationship: Option<Id>,
    /// Pay from the beneficiary's wallet (医保钱包) instead of a quota.
    #[arg(long, conflicts_with = "relationship")]
    pub from_wallet: bool,
    #[command(flatten)]
    pub node: NodeArg,
}

impl PayArgs {
    /// The institution id to send, checked against the purpose: a contribution
    /// goes to the beneficiary's province fund and names no institution (""),
    /// every other purpose pays the institution named. The error says which
    /// option to add or drop.
    pub fn institution_id(&self) -> Result<String, String> {
        let purpose = self.purpose.name();
        match (&self.institution, self.purpose.is_contribution()) {
            (None, true) => Ok(String::new()),
            (Some(code), false) => Ok(code.to_string()),
            (Some(_), true) => Err(format!(
                "--institution must be omitted with --purpose {purpose}: contributions are paid to the beneficiary's province fund, not to an institution"
            )),
            (None, false) => Err(format!(
                "--institution is required with --purpose {purpose}: the code of the designated institution paid (e.g. H32050000001)"
            )),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RefundArgs {
    /// Id of the refund, unique in the network; refunding the same id again
    /// returns its outcome.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// Id of the approved payment refunded, made at --node.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub payment: Id,
    /// Amount returned in CNY, at most what is left to refund (e.g. 30.00). At most 10000000.00; no sign.
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true)]
    pub amount: Money,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct ReverseArgs {
    /// Id of the payment to reverse, at the node where it was (or would have
    /// been) made; it need not be known there yet. Reversing again is safe.
    #[arg(value_name = "PAYMENT_ID", value_parser = id)]
    pub payment: Id,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct ChangeQuotaArgs {
    /// Id of the change; changing with the same id again returns its outcome.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// The relationship, owned by --node (the donor's node).
    #[arg(long, value_name = "ID", value_parser = id)]
    pub relationship: Id,
    /// The new quota in CNY (e.g. 800.00); not below what payments have used. At most 10000000.00; no sign.
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true)]
    pub quota: Money,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct DissolveArgs {
    /// Id of the relationship.
    #[arg(value_name = "REL_ID", value_parser = id)]
    pub relationship: Id,
    /// Who asks: the donor (at the donor's node) or the beneficiary (at the
    /// beneficiary's node).
    #[arg(long, value_enum)]
    pub by: Party,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct TerminateArgs {
    /// National id of a person insured at --node.
    #[arg(value_name = "PERSON_ID", value_parser = id)]
    pub person: Id,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// Id of the transfer; transferring with the same id again returns its outcome.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// National id of an active person insured at --node.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub person: Id,
    /// 6-digit pooling-region code of the receiving province (e.g. 340100).
    #[arg(long, value_name = "CODE", value_parser = region)]
    pub to_region: RegionCode,
    #[command(flatten)]
    pub node: NodeArg,
}

/// `gongji wallet …`: each at the node of the person who acts.
#[derive(Debug, Clone, Subcommand)]
pub enum WalletCommand {
    /// Open an insured person's wallet at their province's node (opening
    /// again shows it).
    Open(WalletPerson),
    /// Send from an employee's available balance to a close relative's open
    /// wallet, at the sender's node: at most 2,000.00 a transfer, 3 a day,
    /// none 22:00-06:00 CST; what is not accepted by 06:00 the next day returns.
    Send(WalletSendArgs),
    /// Accept a transfer, at the recipient's node (for a transfer from another
    /// province that the node does not list yet: with --from and --amount).
    Accept(WalletAcceptArgs),
    /// Decline a transfer, at the recipient's node: it goes back to the sender
    /// (for a transfer from another province that the node does not list yet:
    /// with --from and --amount).
    Decline(WalletAcceptArgs),
    /// Cancel an unaccepted transfer, at the sender's node (--by is the sender).
    Cancel(WalletSettleArgs),
    /// A person's wallet, its balance and the transfers they sent and received.
    Show(WalletPerson),
}

#[derive(Debug, Clone, Args)]
pub struct StatementArgs {
    /// National id of a person insured at --node.
    #[arg(value_name = "PERSON_ID", value_parser = id)]
    pub person: Id,
    /// A month, YYYY-MM (CST).
    #[arg(long, value_name = "YYYY-MM", value_parser = period, conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    pub month: Option<Period>,
    /// The first day, YYYY-MM-DD (CST), with --to.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "to")]
    pub from: Option<String>,
    /// The last day included, YYYY-MM-DD (CST), with --from.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
    pub to: Option<String>,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct WalletPerson {
    /// National id of a person insured at --node.
    #[arg(value_name = "PERSON_ID", value_parser = id)]
    pub person: Id,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct WalletSendArgs {
    /// Id of the transfer; sending the same id again returns it.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub id: Id,
    /// National id of the sender: an active employee insured at --node.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub from: Id,
    /// National id of the recipient, a close relative with an open wallet.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub to: Id,
    /// 2-digit code of the recipient's province (the node's own within a province).
    #[arg(long, value_name = "CODE", value_parser = province)]
    pub to_province: ProvinceCode,
    /// What the recipient is to the sender.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Amount in CNY (e.g. 200.00); no sign.
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true)]
    pub amount: Money,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct WalletAcceptArgs {
    /// Id of the transfer.
    #[arg(value_name = "TRANSFER_ID", value_parser = id)]
    pub transfer: Id,
    /// National id of the recipient who accepts (or declines).
    #[arg(long, value_name = "ID", value_parser = id)]
    pub by: Id,
    /// For a transfer from another province: the sender's province code.
    #[arg(long = "from", value_name = "CODE", value_parser = province, requires = "amount")]
    pub from_province: Option<ProvinceCode>,
    /// For a transfer from another province: the amount accepted (the transfer's).
    #[arg(long, value_name = "YUAN", value_parser = amount, allow_hyphen_values = true, requires = "from_province")]
    pub amount: Option<Money>,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct WalletSettleArgs {
    /// Id of the transfer.
    #[arg(value_name = "TRANSFER_ID", value_parser = id)]
    pub transfer: Id,
    /// National id of the sender, who cancels.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub by: Id,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Show {
    /// An insured person (node).
    Person(NodeRecord),
    /// An employee's personal account: available, frozen and total (node).
    Account(NodeRecord),
    /// A person's relationships as donor and as beneficiary (node).
    Relationships(NodeRecord),
    /// One relationship as this node knows it (node).
    Relationship(NodeRecord),
    /// One payment as this node knows it: acquired here or decided here (node).
    Payment(NodeRecord),
    /// The payments this node holds (served here or decided here), newest
    /// first, a page at a time: by person, institution, relationship, month
    /// or status (node). A page ends with the --cursor of the next one.
    Payments(PaymentsArgs),
    /// The refunds this node holds, newest first, a page at a time: by
    /// person, institution, relationship, month or status (node).
    Refunds(RefundsArgs),
    /// The insurance transfers this node released or received, newest
    /// first, a page at a time: by person, month or status (node).
    Transfers(TransfersArgs),
    /// One refund as this node knows it (node).
    Refund(NodeRecord),
    /// One insurance transfer this node released or received (node).
    Transfer(NodeRecord),
    /// What happened to a relationship, oldest first, as this node saw it (node).
    History(NodeRecord),
    /// One cross-province transaction as the hub recorded it (hub).
    Transaction(HubRecord),
    /// The cross-province transactions of a month, in recorded order (hub).
    Transactions(TransactionsArgs),
    /// Each province's net position in a month: receivable minus payable (hub).
    Positions(PositionsArgs),
    /// The provinces connected to the hub and their node addresses (hub).
    Provinces(HubArg),
}

#[derive(Debug, Clone, Args)]
pub struct NodeRecord {
    /// Id of the record.
    #[arg(value_name = "ID", value_parser = id)]
    pub id: Id,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct HubRecord {
    /// Id of the transaction: a payment, refund or transfer id (a reversal has
    /// the id of the payment it reverses).
    #[arg(value_name = "ID", value_parser = id)]
    pub id: Id,
    /// Which kind of transaction; without it the hub looks for a payment, then
    /// a refund, a reversal and a transfer with that id.
    #[arg(long, value_enum)]
    pub kind: Option<TxKind>,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Args)]
pub struct TransactionsArgs {
    /// The month, YYYY-MM (China Standard Time).
    #[arg(long, value_name = "YYYY-MM", value_parser = period)]
    pub period: Period,
    /// Only transactions in which this province pays or is paid (2-digit code).
    #[arg(long, value_name = "CODE", value_parser = province)]
    pub province: Option<ProvinceCode>,
    /// With --province: only transactions between it and this province.
    #[arg(long, value_name = "CODE", value_parser = province, requires = "province")]
    pub counterpart: Option<ProvinceCode>,
    /// Only transactions of this kind.
    #[arg(long, value_enum)]
    pub kind: Option<TxKind>,
    /// Only transactions with this status: pending, approved, declined or reversed.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// At most this many (a page, 1 to 1000), then the --cursor of the next page.
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Where to start: the cursor the previous page printed (same --period and --province).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Args)]
pub struct PaymentsArgs {
    /// Only payments of this person, as beneficiary or as donor.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub person: Option<Id>,
    /// Only payments to this institution (its code).
    #[arg(long, value_name = "CODE")]
    pub institution: Option<String>,
    /// Only payments from this relationship's quota.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub relationship: Option<Id>,
    /// Only payments made in this month, YYYY-MM (China Standard Time).
    #[arg(long, value_name = "YYYY-MM", value_parser = period)]
    pub month: Option<Period>,
    /// Only payments with this status: pending, approved, declined or reversed.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub node: NodeArg,
}

/// A page of a node's listing.
#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// Records per page, 1 to 1000.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
    /// Where to start: the cursor the previous page printed (same filters).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RefundsArgs {
    /// Only refunds of payments of this person, as beneficiary or as donor.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub person: Option<Id>,
    /// Only refunds by this institution (its code).
    #[arg(long, value_name = "CODE")]
    pub institution: Option<String>,
    /// Only refunds of payments from this relationship's quota.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub relationship: Option<Id>,
    /// Only refunds recorded in this month, YYYY-MM (China Standard Time).
    #[arg(long, value_name = "YYYY-MM", value_parser = period)]
    pub month: Option<Period>,
    /// Only refunds with this status: pending, approved or declined.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct TransfersArgs {
    /// Only transfers of this person.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub person: Option<Id>,
    /// Only transfers recorded in this month, YYYY-MM (China Standard Time).
    #[arg(long, value_name = "YYYY-MM", value_parser = period)]
    pub month: Option<Period>,
    /// Only transfers with this status: pending, approved or declined.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub node: NodeArg,
}

#[derive(Debug, Clone, Args)]
pub struct PositionsArgs {
    /// The month, YYYY-MM (China Standard Time); the hub's open month if omitted.
    #[arg(long, value_name = "YYYY-MM", value_parser = period)]
    pub period: Option<Period>,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MonthCommand {
    /// Every month the hub knows, oldest first: its stage, pending and
    /// approved transactions, provinces with activity, how many confirmed or
    /// disputed their statement, the gross amount cleared (once closed),
    /// and when it was closed and settled.
    List(HubArg),
    /// Where a month stands at the hub (the open month if none is named).
    ///
    /// Its stage (open, closing, closed, reconciled, settled), transactions
    /// still pending, the provinces with activity, which of them confirmed or
    /// disputed their statements, and when it was closed, cleared and settled.
    Status(MonthAtHub),
    /// Close the hub's open month (name it: YYYY-MM or `open`; needs --yes).
    ///
    /// New transactions are stamped with the next month at once; the close
    /// completes by itself (the month is cleared) once none of its
    /// transactions is pending. It cannot be undone: without --yes it asks
    /// on a terminal, and refuses otherwise; --dry-run shows what it would
    /// do. Closing a month that is closing or closed changes nothing.
    Close(CloseArgs),
    /// Reconcile (对账) a closed month at a province node; exit status 1 if disputed.
    ///
    /// The node streams its statement from the hub, checks the digest,
    /// compares it line by line with its own records, and confirms the month
    /// to the hub when every line matches, or disputes it with the report.
    /// Prints the report. A dispute is not an error, but the exit status is 1
    /// (0 when confirmed) so that scripts can tell.
    Reconcile(MonthAtNode),
    /// A node's stored report of its last reconciliation of a month; exit status 1 if disputed.
    Reconciliation(MonthAtNode),
    /// The clearing (清分) of a closed month at the hub, optionally as CSV.
    ///
    /// The gross amounts province by province (rows pay, columns are paid),
    /// the same per kind of transaction, and each province's payable,
    /// receivable and net, checked to sum to 0.00.
    ///
    /// `--csv FILE` also writes the matrix and the nets to FILE as CSV: two
    /// tables separated by one empty line. First the matrix, with the header
    /// `payer \ payee,<codes...>,total`: one row per paying province, one
    /// column per paid province (empty where payer and payee are the same), a
    /// last `total` row; then the nets, with the header
    /// `province,payable,receivable,net` and a last `total` row. Amounts are
    /// CNY with two decimals, nets signed. (`--csv` without FILE prints the
    /// report itself as CSV.)
    Report(ReportArgs),
    /// Settle (清算) a month at the hub against prepaid funds.
    ///
    /// Net payers' prepaid funds are drawn and net receivers paid, at once.
    /// Waits for every province with activity to confirm, unless --override
    /// gives a reason (with --operator, and --yes: an override cannot be
    /// undone). --dry-run shows what it would do. Settling again returns the
    /// same settlement and changes nothing.
    Settle(SettleArgs),
}

/// A month on the command line: YYYY-MM (China Standard Time), `open` (the
/// hub's open month) or `previous` (the month before it: the one closed last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthArg {
    At(Period),
    Open,
    Previous,
}

fn month(text: &str) -> Result<MonthArg, String> {
    match text.trim() {
        "open" => Ok(MonthArg::Open),
        "previous" => Ok(MonthArg::Previous),
        other => period(other)
            .map(MonthArg::At)
            .map_err(|e| format!("{e}; or `open` (the hub's open month), `previous` (the month before it)")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct MonthAtHub {
    /// The month: YYYY-MM (China Standard Time), `open` or `previous`; the
    /// hub's open month if omitted.
    #[arg(value_name = "MONTH", value_parser = month)]
    pub period: Option<MonthArg>,
    #[command(flatten)]
    pub hub: HubArg,
}

/// Doing something that cannot be undone.
#[derive(Debug, Clone, Args)]
pub struct Irreversible {
    /// Do it without asking (it cannot be undone).
    #[arg(long)]
    pub yes: bool,
    /// Show what it would do, and change nothing.
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CloseArgs {
    /// The month to close: YYYY-MM, or `open` (the hub's open month).
    #[arg(value_name = "MONTH", value_parser = month)]
    pub period: MonthArg,
    #[command(flatten)]
    pub guard: Irreversible,
    /// Wait (up to 10 minutes) until the close completes: until nothing
    /// stamped with the month is pending and it is cleared.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Args)]
pub struct MonthAtNode {
    /// The month, closed at the hub: YYYY-MM, or `previous` (the month
    /// before the hub's open one).
    #[arg(value_name = "MONTH", value_parser = month)]
    pub period: MonthArg,
    #[command(flatten)]
    pub node: NodeArg,
    /// The hub, asked what `open` and `previous` are (default: the
    /// network's hub, else 127.0.0.1:50050).
    #[arg(long = "hub", value_name = "ADDR", env = "GONGJI_HUB")]
    pub hub: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The month, closed at the hub: YYYY-MM, or `previous`.
    #[arg(value_name = "MONTH", value_parser = month)]
    pub period: MonthArg,
    /// The file `--csv FILE` names, to write the matrix and the nets to
    /// (the layout is in the command's help).
    #[arg(skip)]
    pub csv: Option<PathBuf>,
    /// Also write the month's clearing to FILE as one self-contained HTML
    /// page (no script, font or picture from the network): the province ×
    /// province matrix as a heat map, each province's net as a bar, each
    /// province's prepaid funds and usage, counts and amounts by kind.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Args)]
pub struct SettleArgs {
    /// The month, closed at the hub: YYYY-MM, or `previous`.
    #[arg(value_name = "MONTH", value_parser = month)]
    pub period: MonthArg,
    /// Settle before every province with activity has confirmed its
    /// statement, for this reason (recorded with the settlement); needs
    /// --operator, and --yes.
    #[arg(long = "override", value_name = "REASON", value_parser = text, requires = "operator")]
    pub override_reason: Option<String>,
    /// Who settles, recorded with the settlement.
    #[arg(long, value_name = "NAME", value_parser = text)]
    pub operator: Option<String>,
    #[command(flatten)]
    pub guard: Irreversible,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PrepaidCommand {
    /// Every province's prepaid funds, usage and warning level.
    ///
    /// Balance, unsettled net outflow, outflow reserved by transactions being
    /// decided, usage, warning level (green, yellow, red), the required level
    /// and the top-up the hub asks for.
    Status(HubArg),
    /// Deposit into a province's prepaid funds; idempotent by --id.
    Deposit(PrepaidOperationArgs),
    /// Withdraw from a province's prepaid funds; idempotent by --id; needs --yes.
    ///
    /// Refused beyond what the province's unsettled obligations and
    /// transactions in flight leave free, and below its required level
    /// unless --force. It cannot be undone but by a deposit: without --yes
    /// it asks on a terminal, and refuses otherwise; --dry-run shows the
    /// balance and level it would leave.
    Withdraw(WithdrawArgs),
}

#[derive(Debug, Clone, Args)]
pub struct WithdrawArgs {
    #[command(flatten)]
    pub operation: PrepaidOperationArgs,
    /// Take the balance below the province's required level (its payments
    /// may then be declined); recorded as forced.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub guard: Irreversible,
}

#[derive(Debug, Clone, Args)]
pub struct PrepaidOperationArgs {
    /// Id of the operation; the same id again returns the recorded operation.
    #[arg(long, value_name = "OP_ID", value_parser = id)]
    pub id: Id,
    /// 2-digit code of the province whose funds change.
    #[arg(long, value_name = "CODE", value_parser = province)]
    pub province: ProvinceCode,
    /// Amount in CNY, at most two decimals (e.g. 500000.00).
    #[arg(long, value_name = "YUAN", value_parser = prepaid_amount)]
    pub amount: Money,
    /// Who does it (an operator's name or id), recorded with the operation.
    /// Why is the global --reason, which it requires.
    #[arg(long, value_name = "NAME", value_parser = text)]
    pub operator: String,
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Insurance {
    /// Employee insurance (职工医保): has a personal account.
    Employee,
    /// Resident insurance (居民医保): no personal account.
    Resident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Status {
    Active,
    Transferred,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Spouse,
    Parent,
    Child,
    Sibling,
    PaternalGrandparent,
    MaternalGrandparent,
    PaternalGrandchild,
    MaternalGrandchild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Purpose {
    Outpatient,
    Inpatient,
    Pharmacy,
    /// The beneficiary's resident-insurance personal contribution, paid to
    /// their province fund (no --institution).
    ResidentContribution,
    /// The beneficiary's long-term-care insurance personal contribution, paid
    /// to their province fund (no --institution).
    LongTermCareContribution,
}

impl Purpose {
    /// Contributions are paid to a province fund, not to an institution.
    pub fn is_contribution(self) -> bool {
        matches!(self, Purpose::ResidentContribution | Purpose::LongTermCareContribution)
    }

    /// The word on the command line ("long-term-care-contribution").
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Party {
    /// The donor (共济人), at the donor's node.
    Donor,
    /// The beneficiary (被共济人), at the beneficiary's node.
    Beneficiary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TxKind {
    Payment,
    Refund,
    Reversal,
    /// A personal-account balance moving with an insurance transfer.
    Transfer,
}

impl From<Insurance> for pb::InsuranceType {
    fn from(value: Insurance) -> Self {
        match value {
            Insurance::Employee => pb::InsuranceType::Employee,
            Insurance::Resident => pb::InsuranceType::Resident,
        }
    }
}

impl From<Status> for pb::PersonStatus {
    fn from(value: Status) -> Self {
        match value {
            Status::Active => pb::PersonStatus::Active,
            Status::Transferred => pb::PersonStatus::Transferred,
            Status::Terminated => pb::PersonStatus::Terminated,
        }
    }
}

impl From<Kind> for pb::RelationKind {
    fn from(value: Kind) -> Self {
        match value {
            Kind::Spouse => pb::RelationKind::Spouse,
            Kind::Parent => pb::RelationKind::Parent,
            Kind::Child => pb::RelationKind::Child,
            Kind::Sibling => pb::RelationKind::Sibling,
            Kind::PaternalGrandparent => pb::RelationKind::PaternalGrandparent,
            Kind::MaternalGrandparent => pb::RelationKind::MaternalGrandparent,
            Kind::PaternalGrandchild => pb::RelationKind::PaternalGrandchild,
            Kind::MaternalGrandchild => pb::RelationKind::MaternalGrandchild,
        }
    }
}

impl From<Purpose> for pb::PaymentPurpose {
    fn from(value: Purpose) -> Self {
        match value {
            Purpose::Outpatient => pb::PaymentPurpose::Outpatient,
            Purpose::Inpatient => pb::PaymentPurpose::Inpatient,
            Purpose::Pharmacy => pb::PaymentPurpose::Pharmacy,
            Purpose::ResidentContribution => pb::PaymentPurpose::ResidentContribution,
            Purpose::LongTermCareContribution => pb::PaymentPurpose::LongTermCareContribution,
        }
    }
}

impl From<Party> for pb::Party {
    fn from(value: Party) -> Self {
        match value {
            Party::Donor => pb::Party::Donor,
            Party::Beneficiary => pb::Party::Beneficiary,
        }
    }
}

impl From<TxKind> for pb::TransactionKind {
    fn from(value: TxKind) -> Self {
        match value {
            TxKind::Payment => pb::TransactionKind::Payment,
            TxKind::Refund => pb::TransactionKind::Refund,
            TxKind::Reversal => pb::TransactionKind::Reversal,
            TxKind::Transfer => pb::TransactionKind::AccountTransfer,
        }
    }
}

// Value parsers: the shared validators of `gongji_common`, so the CLI refuses
// exactly what the servers would refuse, before any call.

fn id(text: &str) -> Result<Id, String> {
    Id::parse("id", text).map_err(|e| e.message)
}

fn amount(text: &str) -> Result<Money, String> {
    Money::parse_positive("amount", text).map_err(|e| e.message)
}

fn province(text: &str) -> Result<ProvinceCode, String> {
    ProvinceCode::parse("province", text.trim()).map_err(|e| e.message)
}

fn region(text: &str) -> Result<RegionCode, String> {
    RegionCode::parse("region", text).map_err(|e| e.message)
}

fn institution(text: &str) -> Result<InstitutionCode, String> {
    InstitutionCode::parse("institution", text).map_err(|e| e.message)
}

fn period(text: &str) -> Result<Period, String> {
    Period::parse("period", text).map_err(|e| e.message)
}

/// Prepaid funds move in amounts far above a single payment's limit, so
/// only the form is checked here; the hub enforces its own ceiling.
fn prepaid_amount(text: &str) -> Result<Money, String> {
    let amount = Money::parse_unsigned("amount", text).map_err(|e| e.message)?;
    if amount.is_zero() {
        return Err("must be greater than 0.00".into());
    }
    Ok(amount)
}

/// Free text the hub records (an operator, a reason): not blank, at most
/// 200 characters, as the hub requires.
/// A time as Unix seconds: RFC 3339, or a date and time in China Standard
/// Time (`2026-11-30 18:00`, `2026-11-30 18:00:05`), or a date (its
/// midnight, CST).
fn instant_from(text: &str) -> Result<i64, String> {
    instant(text, false)
}

/// As [`instant_from`], but a date alone means the midnight that ends it.
fn instant_until(text: &str) -> Result<i64, String> {
    instant(text, true)
}

fn instant(text: &str, end_of_day: bool) -> Result<i64, String> {
    use std::str::FromStr;
    let text = text.trim();
    let bad = || {
        format!(
            "{text:?} is not a time: give RFC 3339 (2026-11-30T18:00:00+08:00), a China Standard Time \
             (2026-11-30 18:00) or a date (2026-11-30)"
        )
    };
    let is_date = text.len() == 10 && text.as_bytes().get(4) == Some(&b'-');
    let rfc3339 = if is_date {
        format!("{text}T00:00:00+08:00")
    } else {
        let with_t = text.replacen(' ', "T", 1);
        let has_offset = with_t.ends_with('Z') || with_t.ends_with('z') || with_t.get(19..).is_some_and(|rest| rest.contains(['+', '-']));
        let seconds = if with_t.len() == 16 { ":00" } else { "" };
        if has_offset {
            with_t
        } else {
            format!("{with_t}{seconds}+08:00")
        }
    };
    let seconds = prost_types::Timestamp::from_str(&rfc3339).map_err(|_| bad())?.seconds;
    Ok(if is_date && end_of_day { seconds + 86_400 } else { seconds })
}

fn text(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    match trimmed.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > 200 => Err(format!("is {n} characters long; at most 200")),
        _ => Ok(trimmed.to_owned()),
    }
}

/// Refuses an empty --provinces, or one that lists a province twice.
pub fn check_provinces(provinces: &[ProvinceCode]) -> Result<(), CliError> {
    if provinces.is_empty() {
        return Err(CliError::Other("--provinces needs at least one province code".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = provinces.iter().find(|p| !seen.insert(**p)) {
        return Err(CliError::Other(format!("province {twice} is listed twice in --provinces")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn devnet_defaults_are_the_five_pilot_provinces() {
        let cli = Cli::try_parse_from(["gongji", "devnet"]).unwrap();
        let Command::Devnet(args) = cli.command else { panic!("not devnet") };
        let codes: Vec<String> = args.provinces.iter().map(|p| p.to_string()).collect();
        assert_eq!(codes, ["13", "32", "34", "37", "41"]);
        assert_eq!(args.base_port, 50050);
    }

    #[test]
    fn malformed_amounts_and_kinds_are_refused_before_any_call() {
        let pay = |amount: &str| {
            Cli::try_parse_from([
                "gongji",
                "pay",
                "--id",
                "p1",
                "--beneficiary",
                "b",
                "--institution",
                "H32050000001",
                "--amount",
                amount,
                "--purpose",
                "outpatient",
            ])
        };
        assert!(pay("12.50").is_ok());
        assert!(pay("12.505").is_err());
        // A negative amount is refused by the amount's own rule, not taken
        // for an unknown flag.
        let negative = pay("-5").expect_err("a negative amount").to_string();
        assert!(
            negative.contains("\"-5\" is not an amount") && negative.contains("no sign"),
            "{negative}"
        );
        let huge = pay("99999999999").expect_err("too large").to_string();
        assert!(huge.contains("larger than the largest allowed amount 10000000.00"), "{huge}");
        let establish = Cli::try_parse_from([
            "gongji",
            "establish",
            "--id",
            "r",
            "--donor",
            "d",
            "--beneficiary",
            "b",
            "--beneficiary-province",
            "32",
            "--kind",
            "paternal-grandparent",
            "--quota",
            "10",
        ]);
        assert!(establish.is_ok());
    }

    #[test]
    fn oplog_times_are_rfc_3339_or_china_standard_time() {
        // 2026-11-30 00:00 CST is 2026-11-29 16:00 UTC.
        let midnight = 1_795_968_000;
        assert_eq!(instant_from("2026-11-30"), Ok(midnight));
        assert_eq!(instant_until("2026-11-30"), Ok(midnight + 86_400), "a date alone runs to its end");
        assert_eq!(instant_from("2026-11-30 18:00"), Ok(midnight + 18 * 3600));
        assert_eq!(instant_from("2026-11-30 18:00:05"), Ok(midnight + 18 * 3600 + 5));
        assert_eq!(instant_from("2026-11-30T18:00:00+08:00"), Ok(midnight + 18 * 3600));
        assert_eq!(instant_from("2026-11-30T10:00:00Z"), Ok(midnight + 18 * 3600));
        assert_eq!(instant_until("2026-11-30T10:00:00Z"), Ok(midnight + 18 * 3600), "a time is exact");
        let refused = instant_from("yesterday").unwrap_err();
        assert!(refused.contains("is not a time") && refused.contains("2026-11-30"), "{refused}");
        assert!(instant_from("2026-13-01").is_err());
    }

    #[test]
    fn the_month_commands_take_the_month_as_an_argument() {
        let cli = Cli::try_parse_from(["gongji", "month", "status"]).unwrap();
        let Command::Month(MonthCommand::Status(status)) = cli.command else {
            panic!("not month status")
        };
        assert_eq!(status.period, None, "the hub's open month");
        assert!(Cli::try_parse_from(["gongji", "month", "close", "2026-13"]).is_err());
        assert!(
            Cli::try_parse_from(["gongji", "month", "reconcile"]).is_err(),
            "a reconciliation names its month"
        );
        let mut cli = Cli::try_parse_from(["gongji", "month", "report", "2026-11", "--csv", "out.csv"]).unwrap();
        assert_eq!(cli.format().unwrap(), Format::Text, "the report is text, its CSV goes to the file");
        let Command::Month(MonthCommand::Report(report)) = cli.command else {
            panic!("not month report")
        };
        assert_eq!(report.period, MonthArg::At(Period::parse("p", "2026-11").unwrap()));
        assert_eq!(report.csv, Some(PathBuf::from("out.csv")));
        for (word, month) in [("open", MonthArg::Open), ("previous", MonthArg::Previous)] {
            let cli = Cli::try_parse_from(["gongji", "month", "settle", word]).unwrap();
            let Command::Month(MonthCommand::Settle(settle)) = cli.command else {
                panic!("not month settle")
            };
            assert_eq!(settle.period, month);
        }
        let closing = Cli::try_parse_from(["gongji", "month", "close"]).unwrap_err().to_string();
        assert!(closing.contains("<MONTH>"), "a close names its month: {closing}");
        let bad = Cli::try_parse_from(["gongji", "month", "status", "soon"]).unwrap_err().to_string();
        assert!(bad.contains("`open`") && bad.contains("`previous`"), "{bad}");
    }

    #[test]
    fn an_override_needs_a_reason_and_an_operator() {
        let settle = |extra: &[&str]| Cli::try_parse_from(["gongji", "month", "settle", "2026-11"].iter().chain(extra));
        assert!(settle(&[]).is_ok());
        assert!(settle(&["--override", "Henan's node is down", "--operator", "wang"]).is_ok());
        assert!(settle(&["--override", "Henan's node is down"]).is_err(), "who overrode is recorded");
        assert!(
            settle(&["--override", "  ", "--operator", "wang"]).is_err(),
            "a blank reason is no reason"
        );
    }

    #[test]
    fn prepaid_amounts_may_exceed_a_payments_limit_but_not_be_zero() {
        let deposit = |amount: &str| {
            Cli::try_parse_from([
                "gongji",
                "prepaid",
                "deposit",
                "--id",
                "dep-1",
                "--province",
                "13",
                "--amount",
                amount,
                "--operator",
                "wang",
                "--reason",
                "top-up",
            ])
        };
        assert!(deposit("50000000.00").is_ok());
        assert!(deposit("0.00").is_err());
        assert!(deposit("-5").is_err());
        assert!(deposit("1.001").is_err());
    }

    fn pay_args(extra: &[&str]) -> PayArgs {
        let args = ["gongji", "pay", "--id", "p1", "--beneficiary", "b", "--amount", "10"];
        let cli = Cli::try_parse_from(args.iter().chain(extra)).unwrap();
        let Command::Pay(pay) = cli.command else { panic!("not pay") };
        pay
    }

    #[test]
    fn a_contribution_names_no_institution_and_everything_else_names_one() {
        let fund = pay_args(&["--purpose", "resident-contribution"]);
        assert_eq!(fund.institution_id(), Ok(String::new()));
        let care = pay_args(&["--purpose", "long-term-care-contribution", "--institution", "H32050000001"]);
        let message = care.institution_id().unwrap_err();
        assert!(
            message.starts_with("--institution must be omitted with --purpose long-term-care-contribution: "),
            "{message}"
        );
        let hospital = pay_args(&["--purpose", "outpatient"]);
        let message = hospital.institution_id().unwrap_err();
        assert!(
            message.starts_with("--institution is required with --purpose outpatient: "),
            "{message}"
        );
        let pharmacy = pay_args(&["--purpose", "pharmacy", "--institution", "P32050000001"]);
        assert_eq!(pharmacy.institution_id(), Ok("P32050000001".to_owned()));
    }

    #[test]
    fn a_province_listed_twice_is_refused() {
        let codes: Vec<ProvinceCode> = ["13", "32", "13"].iter().map(|c| c.parse().unwrap()).collect();
        assert!(check_provinces(&codes).unwrap_err().to_string().contains("13"));
        assert!(check_provinces(&[]).is_err());
    }
}
