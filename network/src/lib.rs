//! A whole Gongji network in one process, the one way the workspace starts
//! one: the hub and a node per province, each with its own data directory
//! and listener (`Network`, described by a `NetworkSpec`). `gongji devnet`
//! runs one (`devnet`, with its clients in `devnet_access`), `gongji bench`
//! runs one beside its no-op `baseline`, and the multi-node tests run many
//! (on port 0). Each server is run as [`server::Server`] says, which the
//! monthly-cycle benchmark also uses to run a server in a process of its own.
//!
//! Clients of the network (the devnet's seeding, the benchmark's load, the
//! tests) connect through `gongji-operator`'s session; its address file is
//! [`gongji_operator::manifest::Manifest`].

pub mod baseline;
pub mod devnet;
pub mod devnet_access;
pub mod network;
pub mod postgres;
pub mod server;
pub mod spec;

pub use network::{Network, Tokens};
pub use spec::{Databases, NetworkSpec};
