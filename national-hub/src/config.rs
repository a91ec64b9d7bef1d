//! How the hub is configured: flags with environment fallbacks, and the
//! province registry from flags or a JSON file. Reads only its flags and
//! files; knows nothing of the flows.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::Parser;
use gongji_common::{peer::Deadlines, ProvinceCode};
use serde::{Deserialize, Serialize};

use crate::domain::PrepaidPolicy;

/// The Gongji national hub: routes every cross-province transaction, stamps
/// its month and keeps each province's running position.
#[derive(Debug, Clone, Parser)]
#[command(name = "national-hub", version)]
pub struct HubConfig {
    /// Address to listen on for gRPC.
    #[arg(long, env = "GONGJI_LISTEN", default_value = "127.0.0.1:50050")]
    pub listen: SocketAddr,

    /// Directory of the hub's embedded database (created if missing).
    #[arg(long, env = "GONGJI_DATA_DIR", default_value = "./gongji-data/hub")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub store: gongji_common::store::StoreFlags,

    /// The address provinces and operators reach this hub at (by default
    /// http://LISTEN, or https:// with TLS). With --store on PostgreSQL,
    /// several hubs may share one database: one is active, the others stand
    /// by, answering UNAVAILABLE with this address of the active one, and
    /// take over when it stops.
    #[arg(long, env = "GONGJI_ADVERTISE", value_name = "URL")]
    pub advertise: Option<String>,

    /// A province of the registry, as CODE=NAME=ADDRESS (repeatable; or
    /// comma-separated in the environment variable), e.g.
    /// 32=Jiangsu=http://127.0.0.1:50052.
    #[arg(long = "province", env = "GONGJI_PROVINCES", value_delimiter = ',')]
    pub provinces: Vec<ProvinceEntry>,

    /// A JSON file with more provinces: [{"code":"32","name":"Jiangsu","address":"http://…"}].
    #[arg(long, env = "GONGJI_PROVINCES_FILE")]
    pub provinces_file: Option<PathBuf>,

    /// A province's secret, as CODE=TOKEN (repeatable; or comma-separated in
    /// the environment variable): the hub's router accepts a province only
    /// with its own token.
    #[arg(
        long = "province-token",
        env = "GONGJI_PROVINCE_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub province_tokens: Vec<String>,

    /// The hub's secret, presented to the province nodes on every call.
    #[arg(long, env = "GONGJI_HUB_TOKEN", hide_env_values = true)]
    pub hub_token: Option<String>,

    #[command(flatten)]
    pub tls: gongji_common::tls::TlsFlags,

    /// Deadline of every call to a province node, in milliseconds. Keep it
    /// below the nodes' deadline for calls to the hub.
    #[arg(long, env = "GONGJI_CALL_TIMEOUT_MS", default_value_t = 5000)]
    pub call_timeout_ms: u64,

    /// How often pending transactions are retried, in milliseconds.
    #[arg(long, env = "GONGJI_RECOVERY_INTERVAL_MS", default_value_t = 5000)]
    pub recovery_interval_ms: u64,

    /// Prepaid funds deposited for each province the first time the hub sees
    /// it (CNY, e.g. 1000000.00; 0 for none), recorded as an operation of
    /// "hub configuration".
    #[arg(long, env = "GONGJI_OPENING_PREPAID", default_value = "1000000.00")]
    pub opening_prepaid: String,

    /// The least any province's required prepaid level can be (CNY).
    #[arg(long, env = "GONGJI_PREPAID_FLOOR", default_value = "100000.00")]
    pub prepaid_floor: String,

    /// Usage of prepaid funds (percent) from which a province is at the
    /// yellow level and warnings are logged.
    #[arg(long, env = "GONGJI_PREPAID_YELLOW_PERCENT", default_value_t = 70)]
    pub prepaid_yellow_percent: u32,

    /// Usage of prepaid funds (percent) from which a province is at the red level.
    #[arg(long, env = "GONGJI_PREPAID_RED_PERCENT", default_value_t = 90)]
    pub prepaid_red_percent: u32,

    #[command(flatten)]
    pub serve: gongji_common::server::ServeFlags,

    #[command(flatten)]
    pub access: gongji_common::access::ClientFlags,

    #[command(flatten)]
    pub clock: gongji_common::clock::ClockFlags,
}

/// One province of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceEntry {
    pub code: ProvinceCode,
    pub name: String,
    pub address: String,
}

impl FromStr for ProvinceEntry {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, '=');
        let (Some(code), Some(name), Some(address)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{text:?} is not CODE=NAME=ADDRESS (e.g. 32=Jiangsu=http://127.0.0.1:50052)"
            ));
        };
        let code = ProvinceCode::parse("province code", code.trim()).map_err(|e| e.to_string())?;
        if name.trim().is_empty() || address.trim().is_empty() {
            return Err(format!("{text:?}: name and address are required"));
        }
        Ok(ProvinceEntry {
            code,
            name: name.trim().to_owned(),
            address: address.trim().to_owned(),
        })
    }
}

impl HubConfig {
    /// The command line that configures a hub as this one is (for a hub
    /// run as a process of its own: the devnet's failover demo, the chaos
    /// test). Secrets included: keep it off shared machines' process lists.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--listen={}", self.listen),
            format!("--data-dir={}", self.data_dir.display()),
        ];
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(format!("--{name}={value}"));
            }
        };
        flag("store", self.store.url.clone());
        flag("store-faults", self.store.store_faults.clone());
        flag("advertise", self.advertise.clone());
        for entry in &self.provinces {
            flag("province", Some(format!("{}={}={}", entry.code, entry.name, entry.address)));
        }
        flag("provinces-file", self.provinces_file.as_ref().map(|p| p.display().to_string()));
        for token in &self.province_tokens {
            flag("province-token", Some(token.clone()));
        }
        flag("hub-token", self.hub_token.clone());
        flag("tls-ca", self.tls.ca.as_ref().map(|p| p.display().to_string()));
        flag("tls-cert", self.tls.cert.as_ref().map(|p| p.display().to_string()));
        flag("tls-key", self.tls.key.as_ref().map(|p| p.display().to_string()));
        flag("call-timeout-ms", Some(self.call_timeout_ms.to_string()));
        flag("recovery-interval-ms", Some(self.recovery_interval_ms.to_string()));
        flag("opening-prepaid", Some(self.opening_prepaid.clone()));
        flag("prepaid-floor", Some(self.prepaid_floor.clone()));
        flag("prepaid-yellow-percent", Some(self.prepaid_yellow_percent.to_string()));
        flag("prepaid-red-percent", Some(self.prepaid_red_percent.to_string()));
        flag("metrics-listen", self.serve.metrics_listen.map(|a| a.to_string()));
        flag("max-in-flight-per-peer", Some(self.serve.max_in_flight_per_peer.to_string()));
        flag("clients", self.access.clients.as_ref().map(|p| p.display().to_string()));
        // A clock shared in one process cannot be passed on; its offset can.
        let offset_ms = self.clock.shared.as_ref().map_or(self.clock.offset_ms, |clock| clock.offset_ms());
        if offset_ms != 0 {
            flag("clock-offset-ms", Some(offset_ms.to_string()));
        }
        if self.tls.insecure {
            args.push("--insecure".into());
        }
        if self.access.anonymous_clients {
            args.push("--anonymous-clients".into());
        }
        args
    }

    /// The address this hub names itself by to callers and in its store's
    /// lease: --advertise, else its listening address.
    pub fn advertised(&self, listener: &tokio::net::TcpListener, tls: bool) -> String {
        if let Some(address) = &self.advertise {
            return address.clone();
        }
        let addr = listener.local_addr().unwrap_or(self.listen);
        format!("{}://{addr}", if tls { "https" } else { "http" })
    }

    pub fn new(listen: SocketAddr, data_dir: PathBuf, provinces: Vec<ProvinceEntry>) -> HubConfig {
        HubConfig {
            listen,
            data_dir,
            store: gongji_common::store::StoreFlags::default(),
            advertise: None,
            provinces,
            provinces_file: None,
            call_timeout_ms: 5000,
            recovery_interval_ms: 5000,
            opening_prepaid: "1000000.00".into(),
            prepaid_floor: "100000.00".into(),
            prepaid_yellow_percent: 70,
            prepaid_red_percent: 90,
            province_tokens: Vec::new(),
            hub_token: None,
            tls: gongji_common::tls::TlsFlags::default(),
            serve: gongji_common::server::ServeFlags::default(),
            access: gongji_common::access::ClientFlags::default(),
            clock: gongji_common::clock::ClockFlags::default(),
        }
    }

    /// What the hub presents to the nodes, who may call its router, and the
    /// TLS of both. TLS is required unless `--insecure`; tokens are optional,
    /// but once the hub's is given every registered province needs its own.
    pub fn links(&self, registry: &BTreeMap<ProvinceCode, ProvinceEntry>) -> Result<gongji_common::auth::Links, String> {
        use gongji_common::auth::{Credential, Gate, Links};
        let tls = self.tls.load()?;
        let hub = self.hub_token.as_deref().filter(|t| !t.is_empty());
        let mut tokens = BTreeMap::new();
        for entry in &self.province_tokens {
            let (code, token) = entry
                .split_once('=')
                .ok_or_else(|| format!("--province-token {entry:?} is not CODE=TOKEN"))?;
            let code = ProvinceCode::parse("--province-token", code.trim()).map_err(|e| e.to_string())?;
            if token.is_empty() {
                return Err(format!("--province-token for {code} is empty"));
            }
            tokens.insert(code, token.to_owned());
        }
        let tokens = match hub {
            None if tokens.is_empty() => None,
            None => return Err("--province-token needs --hub-token too".into()),
            Some(_) => {
                if let Some(missing) = registry.keys().find(|code| !tokens.contains_key(code)) {
                    return Err(format!("province {missing} has no --province-token"));
                }
                Some(std::sync::Arc::new(tokens))
            }
        };
        let gate = match (&tls, &tokens) {
            (None, None) => Gate::Open,
            _ => Gate::Provinces {
                registered: std::sync::Arc::new(gongji_common::auth::Registered::new(registry.keys().copied())),
                tokens,
                certificates: tls.is_some(),
            },
        };
        Ok(Links {
            credential: Credential::hub(hub)?,
            gate,
            tls,
        })
    }

    /// The prepaid policy these flags describe.
    pub fn prepaid_policy(&self) -> Result<PrepaidPolicy, String> {
        let money = |flag: &str, text: &str| gongji_common::Money::parse_unsigned(flag, text).map_err(|e| e.to_string());
        if self.prepaid_yellow_percent > self.prepaid_red_percent {
            return Err("--prepaid-yellow-percent must not exceed --prepaid-red-percent".into());
        }
        Ok(PrepaidPolicy {
            opening: money("--opening-prepaid", &self.opening_prepaid)?,
            floor: money("--prepaid-floor", &self.prepaid_floor)?,
            yellow_percent: self.prepaid_yellow_percent,
            red_percent: self.prepaid_red_percent,
        })
    }

    /// Every province from the flags and the file, refusing duplicates.
    pub fn registry(&self) -> Result<BTreeMap<ProvinceCode, ProvinceEntry>, String> {
        let mut entries = self.provinces.clone();
        if let Some(path) = &self.provinces_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let listed: Vec<ProvinceEntry> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            entries.extend(listed);
        }
        let mut registry = BTreeMap::new();
        for entry in entries {
            if let Some(previous) = registry.insert(entry.code, entry.clone()) {
                return Err(format!(
                    "province {} is configured twice ({} and {})",
                    entry.code, previous.name, entry.name
                ));
            }
        }
        Ok(registry)
    }

    pub fn deadlines(&self) -> Deadlines {
        let call = Duration::from_millis(self.call_timeout_ms);
        Deadlines {
            connect: call.min(Duration::from_secs(2)),
            call,
        }
    }

    pub fn recovery_interval(&self) -> Duration {
        Duration::from_millis(self.recovery_interval_ms.max(10))
    }

    /// Notices are retried from a tenth of a second up to the recovery interval.
    pub fn outbox_backoff(&self) -> gongji_common::outbox::Backoff {
        gongji_common::outbox::Backoff::up_to(self.recovery_interval())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_survives_its_own_command_line() {
        let mut config = HubConfig::new(
            "127.0.0.1:6000".parse().unwrap(),
            "/tmp/hub".into(),
            vec![ProvinceEntry {
                code: "13".parse().unwrap(),
                name: "Hebei".into(),
                address: "http://127.0.0.1:6001".into(),
            }],
        );
        config.store.url = Some("postgres://gongji@127.0.0.1:5432/hub".into());
        config.advertise = Some("http://10.0.0.1:6000".into());
        config.province_tokens = vec!["13=secret".into()];
        config.hub_token = Some("hub-secret".into());
        config.tls.insecure = true;
        config.access.anonymous_clients = true;
        config.recovery_interval_ms = 200;
        let args = std::iter::once("national-hub".to_owned()).chain(config.to_args());
        let parsed = HubConfig::try_parse_from(args).expect("parses");
        assert_eq!(format!("{parsed:?}"), format!("{config:?}"));
    }
}
