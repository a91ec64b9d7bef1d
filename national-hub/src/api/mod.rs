//! gRPC adapters of the hub: the node-facing router and the operators'
//! service. Handlers take requests apart, call the hub and convert results.

mod months;
mod operator;
mod router;

pub use operator::OperatorApi;
pub use router::RouterApi;
