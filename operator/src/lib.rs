//! The operator's client of a Gongji network, apart from any server code:
//! the command line of `gongji` (`args`), how a command connects and what
//! it presents (`session`, with `connection`, `credentials` and the
//! network's address file, `manifest`), the everyday commands against a
//! node or the hub (`commands`, `import`), the monthly cycle and prepaid
//! funds (`cycle`, `totals`), `audit`, `status`, `oplog`, `doctor`, the
//! network's certificates (`certs`), waiting for a network to serve
//! (`ready`), how answers and errors are printed (`output`, `error`), and
//! the progress of long operations (`progress`).
//!
//! Every command takes the [`session::Session`] it runs in; nothing here
//! starts a server (that is `gongji-network`'s).

pub mod args;
pub mod audit;
pub mod certs;
pub mod commands;
pub mod connection;
pub mod credentials;
pub mod cycle;
pub mod doctor;
pub mod error;
pub mod import;
pub mod listings;
pub mod manifest;
pub mod oplog;
pub mod output;
pub mod progress;
pub mod ready;
pub mod session;
pub mod statement;
pub mod status;
pub mod totals;
pub mod wallet;
