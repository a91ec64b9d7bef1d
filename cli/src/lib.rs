//! The library behind the `gongji` CLI: a whole network in one process
//! (`network`), used by `gongji devnet` and by the integration tests.

pub mod network;
