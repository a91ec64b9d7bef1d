//! How a province node is configured: flags, with environment fallbacks.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use gongji_common::{peer::Deadlines, ProvinceCode};

/// A Gongji province node: insured persons, personal accounts, mutual-aid
/// relationships and payments of one province, connected to the national hub.
#[derive(Debug, Clone, Parser)]
#[command(name = "province-node", version)]
pub struct NodeConfig {
    /// The province this node serves (two digits, e.g. 32).
    #[arg(long, env = "GONGJI_PROVINCE")]
    pub province: ProvinceCode,

    /// Address to listen on for gRPC (public and hub-facing services).
    #[arg(long, env = "GONGJI_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,

    /// Directory of the node's embedded database (created if missing).
    #[arg(long, env = "GONGJI_DATA_DIR", default_value = "./gongji-data/province")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub store: gongji_common::store::StoreFlags,

    /// Address of the national hub; several hubs sharing one database
    /// (one active, the others standing by) separated by commas: calls go
    /// to the active one and follow it when it changes.
    #[arg(long, env = "GONGJI_HUB", default_value = "http://127.0.0.1:50050")]
    pub hub: String,

    /// Deadline of every call to the hub, in milliseconds.
    #[arg(long, env = "GONGJI_CALL_TIMEOUT_MS", default_value_t = 8000)]
    pub call_timeout_ms: u64,

    /// How often pending transactions are retried, in milliseconds.
    #[arg(long, env = "GONGJI_RECOVERY_INTERVAL_MS", default_value_t = 5000)]
    pub recovery_interval_ms: u64,

    /// The secret this node presents to the hub (the hub knows it as this
    /// province's token).
    #[arg(long, env = "GONGJI_LINK_TOKEN", hide_env_values = true)]
    pub link_token: Option<String>,

    /// The hub's secret: calls to this node's hub-facing service must present it.
    #[arg(long, env = "GONGJI_HUB_TOKEN", hide_env_values = true)]
    pub hub_token: Option<String>,

    #[command(flatten)]
    pub tls: gongji_common::tls::TlsFlags,

    /// How long a payment may stay pending before the node gives up on it for
    /// its institution and reverses it (cancelling it for good), in
    /// milliseconds; 0 never gives up.
    #[arg(long, env = "GONGJI_GIVE_UP_AFTER_MS", default_value_t = 600_000)]
    pub give_up_after_ms: u64,

    #[command(flatten)]
    pub serve: gongji_common::server::ServeFlags,

    #[command(flatten)]
    pub access: gongji_common::access::ClientFlags,

    #[command(flatten)]
    pub clock: gongji_common::clock::ClockFlags,

    #[command(flatten)]
    pub wallet: WalletFlags,
}

/// The wallet's limits (docs/WALLET.md); the defaults are the pilot's.
#[derive(Debug, Clone, clap::Args)]
pub struct WalletFlags {
    /// Wallet transfers a sender may make in one day (China Standard Time).
    #[arg(long, env = "GONGJI_WALLET_DAILY_COUNT", default_value_t = 3)]
    pub wallet_daily_count: u32,

    /// The largest amount of one wallet transfer (yuan, e.g. 2000.00).
    #[arg(long, env = "GONGJI_WALLET_MAX_AMOUNT", default_value = "2000.00")]
    pub wallet_max_amount: String,

    /// No wallet transfer is sent from this hour (CST, 0-23) …
    #[arg(long, env = "GONGJI_WALLET_QUIET_FROM", default_value_t = 22, value_parser = clap::value_parser!(u8).range(0..24))]
    pub wallet_quiet_from: u8,

    /// … until this hour (CST, 0-23); the same hour twice: no quiet hours.
    #[arg(long, env = "GONGJI_WALLET_QUIET_UNTIL", default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..24))]
    pub wallet_quiet_until: u8,

    /// An unaccepted wallet transfer returns at this hour (CST, 0-23) of the
    /// day after it was sent.
    #[arg(long, env = "GONGJI_WALLET_RETURN_AT", default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..24))]
    pub wallet_return_at: u8,
}

impl Default for WalletFlags {
    fn default() -> WalletFlags {
        let published = crate::domain::WalletLimits::PUBLISHED;
        WalletFlags {
            wallet_daily_count: published.daily_count,
            wallet_max_amount: published.max_amount.to_string(),
            wallet_quiet_from: published.quiet_from,
            wallet_quiet_until: published.quiet_until,
            wallet_return_at: published.return_at,
        }
    }
}

impl WalletFlags {
    /// The limits the flags give.
    pub fn limits(&self) -> Result<crate::domain::WalletLimits, String> {
        let max_amount = gongji_common::Money::parse_positive("--wallet-max-amount", &self.wallet_max_amount).map_err(|e| e.to_string())?;
        Ok(crate::domain::WalletLimits {
            daily_count: self.wallet_daily_count,
            max_amount,
            quiet_from: self.wallet_quiet_from,
            quiet_until: self.wallet_quiet_until,
            return_at: self.wallet_return_at,
        })
    }
}

impl NodeConfig {
    /// A configuration with the defaults for everything but the essentials.
    pub fn new(province: ProvinceCode, listen: SocketAddr, data_dir: PathBuf, hub: String) -> NodeConfig {
        NodeConfig {
            province,
            listen,
            data_dir,
            store: gongji_common::store::StoreFlags::default(),
            hub,
            call_timeout_ms: 8000,
            recovery_interval_ms: 5000,
            give_up_after_ms: 600_000,
            serve: gongji_common::server::ServeFlags::default(),
            link_token: None,
            hub_token: None,
            tls: gongji_common::tls::TlsFlags::default(),
            access: gongji_common::access::ClientFlags::default(),
            clock: gongji_common::clock::ClockFlags::default(),
            wallet: WalletFlags::default(),
        }
    }

    /// What this node presents to the hub, who may call its hub-facing
    /// service, and the TLS of both. TLS is required unless `--insecure`;
    /// tokens are optional, but come in pairs (--link-token and --hub-token).
    pub fn links(&self) -> Result<gongji_common::auth::Links, String> {
        use gongji_common::auth::{Credential, Gate, Links};
        let tls = self.tls.load()?;
        let given = |token: &Option<String>| token.clone().filter(|t| !t.is_empty());
        let (mine, hubs) = match (given(&self.link_token), given(&self.hub_token)) {
            (Some(mine), Some(hubs)) => (Some(mine), Some(hubs)),
            (None, None) => (None, None),
            _ => return Err("give both --link-token and --hub-token, or neither".into()),
        };
        let gate = match (&tls, &hubs) {
            (None, None) => Gate::Open,
            _ => Gate::Hub {
                token: hubs.map(|t| t.as_str().into()),
                certificate: tls.is_some(),
            },
        };
        Ok(Links {
            credential: Credential::province(self.province, mine.as_deref())?,
            gate,
            tls,
        })
    }

    pub fn deadlines(&self) -> Deadlines {
        let call = Duration::from_millis(self.call_timeout_ms);
        Deadlines {
            connect: call.min(Duration::from_secs(2)),
            call,
        }
    }

    /// How long a payment may stay pending; `None` never gives up.
    pub fn give_up_after(&self) -> Option<Duration> {
        (self.give_up_after_ms > 0).then(|| Duration::from_millis(self.give_up_after_ms))
    }

    pub fn recovery_interval(&self) -> Duration {
        Duration::from_millis(self.recovery_interval_ms.max(10))
    }

    /// Notices are retried from a tenth of a second up to the recovery interval.
    pub fn outbox_backoff(&self) -> gongji_common::outbox::Backoff {
        gongji_common::outbox::Backoff::up_to(self.recovery_interval())
    }
}
