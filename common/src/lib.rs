//! Building blocks shared by the national hub, the province nodes and the
//! CLI: money, codes, ids and months (validated once, at the edge), the
//! durable store with its journal, and server/client plumbing. Nothing here
//! knows the business flows.

pub mod access;
pub mod auth;
pub mod books;
pub mod clock;
pub mod codes;
pub mod contract;
pub mod cursor;
pub mod field;
pub mod hubs;
pub mod ids;
pub mod metrics;
pub mod money;
pub mod oplog;
pub mod outbox;
pub mod peer;
pub mod pending;
pub mod period;
pub mod server;
pub mod statement;
pub mod status;
pub mod store;
pub mod testing;
pub mod text;
pub mod tls;

pub use codes::{InstitutionCode, InstitutionKind, ProvinceCode, RegionCode};
pub use field::FieldError;
pub use ids::Id;
pub use money::Money;
pub use period::Period;
