//! The command line of `gongji`: every subcommand and option, parsed and
//! validated here (ids, amounts, codes and months become typed values), so the
//! commands behind it only see well-formed input. Nothing here does I/O.

use std::{net::IpAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use gongji_common::{Id, InstitutionCode, Money, Period, ProvinceCode, RegionCode};
use gongji_proto::v1 as pb;

/// The Gongji operator CLI: run a local network with demo data, or call any
/// province node or the national hub.
#[derive(Debug, Parser)]
#[command(
    name = "gongji",
    version,
    about,
    long_about = None,
    after_help = "Exit status: 0 success; 1 error (or an import with rejected rows); 2 bad command line; \
                  3 the transaction is pending (retry with the same id to learn its outcome).\n\
                  Money is CNY with at most two decimals (\"128.50\"); months are YYYY-MM in China Standard Time."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
    /// Register one insured person at their province's node.
    Register(RegisterArgs),
    /// Register the persons of a CSV file at a province node, streaming its rows.
    Import(ImportArgs),
    /// Credit a contribution into an employee's personal account.
    Credit(CreditArgs),
    /// Establish a mutual-aid relationship at the donor's node, freezing the quota.
    Establish(EstablishArgs),
    /// Pay a designated institution the beneficiary's personal share from a quota.
    Pay(PayArgs),
    /// Show records of a province node or the national hub.
    #[command(subcommand)]
    Show(Show),
    /// Describe a province node: its province, what it holds, its trial balance.
    Info(NodeArg),
}

/// Where a province node listens.
#[derive(Debug, Clone, Args)]
pub struct NodeArg {
    /// Province node to call: host:port or http://host:port.
    #[arg(long = "node", value_name = "ADDR", env = "GONGJI_NODE", default_value = "http://127.0.0.1:50051")]
    pub node: String,
}

/// Where the national hub listens.
#[derive(Debug, Clone, Args)]
pub struct HubArg {
    /// National hub to call: host:port or http://host:port.
    #[arg(long = "hub", value_name = "ADDR", env = "GONGJI_HUB", default_value = "http://127.0.0.1:50050")]
    pub hub: String,
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
    /// Comma-separated 2-digit province codes, one node each. The demo data
    /// links each province to the next one in this order (the last to the first).
    #[arg(long, value_name = "CODES", value_delimiter = ',', default_value = "13,32,34,37,41", value_parser = province)]
    pub provinces: Vec<ProvinceCode>,
    /// IP address every server listens on.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub host: IpAddr,
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
    /// Amount in CNY, at most two decimals (e.g. 300.00).
    #[arg(long, value_name = "YUAN", value_parser = amount)]
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
    /// Quota in CNY frozen in the donor's account for the beneficiary (e.g. 500.00).
    #[arg(long, value_name = "YUAN", value_parser = amount)]
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
    #[arg(long, value_name = "CODE", value_parser = institution)]
    pub institution: InstitutionCode,
    /// Personal share to pay in CNY, at most two decimals (e.g. 128.50).
    #[arg(long, value_name = "YUAN", value_parser = amount)]
    pub amount: Money,
    /// What the payment is for.
    #[arg(long, value_enum)]
    pub purpose: Purpose,
    /// Relationship whose quota pays; without it the node picks an active one
    /// with enough quota, same-province first.
    #[arg(long, value_name = "ID", value_parser = id)]
    pub relationship: Option<Id>,
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
    /// Id of the transaction (a payment's id).
    #[arg(value_name = "ID", value_parser = id)]
    pub id: Id,
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
    #[command(flatten)]
    pub hub: HubArg,
}

#[derive(Debug, Clone, Args)]
pub struct PositionsArgs {
    /// The month, YYYY-MM (China Standard Time); the hub's open month if omitted.
    #[arg(long, value_name = "YYYY-MM", value_parser = period)]
    pub period: Option<Period>,
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
        assert!(pay("-3").is_err());
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
}
