//! gRPC adapters of the hub: the node-facing router and the operators'
//! service. Handlers take requests apart (validating them into commands),
//! call the hub's flows in `service` and convert the results; they decide
//! nothing and touch no store.

mod convert;
mod operator;
mod router;

pub use operator::OperatorApi;
pub use router::RouterApi;
