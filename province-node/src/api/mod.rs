//! gRPC adapters: each handler takes the request apart, calls the node's
//! service, and converts the result. No business rule lives here.

mod acting;
pub mod convert;
mod link;
mod public;

pub use link::LinkApi;
pub use public::PublicApi;
