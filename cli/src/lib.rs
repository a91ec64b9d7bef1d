//! The library behind the `gongji` CLI: a whole network in one process
//! (`network`), used by `gongji devnet` and by the integration tests, and the
//! building blocks of the operator commands.

pub mod client;
pub mod error;
pub mod network;
pub mod output;
