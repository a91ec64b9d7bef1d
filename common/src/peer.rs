//! Clients of other nodes: lazily connected channels with a deadline on every
//! call, and the one rule for reading a failed call: did the other side give a
//! definite answer, or do we not know?

use std::time::Duration;

use tonic::{
    transport::{Channel, ClientTlsConfig},
    Code, Request, Status,
};

/// The metadata key carrying the id of the transaction a call between
/// nodes is about, so the receiving server's logs name it too.
pub const TX_HEADER: &str = "x-gongji-tx";

/// Deadlines for calls to another node.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// How long to wait for a TCP connection.
    pub connect: Duration,
    /// How long a whole call may take before the caller stops waiting.
    pub call: Duration,
}

/// Normalizes an address: `host:port` becomes `http://host:port`.
pub fn endpoint_uri(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}

/// Normalizes an address for TLS: `host:port` and `http://host:port`
/// become `https://host:port`.
pub fn secure_uri(address: &str) -> String {
    match address.split_once("://") {
        Some((_, rest)) => format!("https://{rest}"),
        None => format!("https://{address}"),
    }
}

/// A channel to `address` that connects on first use and reconnects after
/// failures, with the connect deadline applied; over TLS when `tls` is given.
pub fn lazy_channel(address: &str, deadlines: Deadlines, tls: Option<ClientTlsConfig>) -> Result<Channel, String> {
    let uri = if tls.is_some() {
        secure_uri(address)
    } else {
        endpoint_uri(address)
    };
    let mut endpoint = Channel::from_shared(uri).map_err(|e| format!("{address:?} is not a valid address: {e}"))?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS towards {address}: {e}"))?;
    }
    Ok(endpoint
        .connect_timeout(deadlines.connect)
        .timeout(deadlines.call)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Wraps a message in a request that carries the call deadline (sent to the
/// server as `grpc-timeout`, so it can give up too).
pub fn request<T>(message: T, deadlines: Deadlines) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadlines.call);
    request
}

/// Like [`request`], naming the transaction the call is about in
/// `x-gongji-tx` (an id that is not valid metadata is left out).
pub fn request_for<T>(message: T, deadlines: Deadlines, transaction: &str) -> Request<T> {
    let mut request = request(message, deadlines);
    if let Ok(value) = transaction.parse() {
        request.metadata_mut().insert(TX_HEADER, value);
    }
    request
}

/// True when a failed call leaves the outcome unknown: the other side may or
/// may not have acted, so the transaction stays pending and is retried with
/// the same id. False when the other side definitely refused the request.
pub fn outcome_unknown(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unimplemented
            | Code::DataLoss
    )
}

/// No definite answer came back: the other side may or may not have acted,
/// so the transaction stays pending and is retried with the same id.
#[derive(Debug, Clone)]
pub struct Unanswered(pub String);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Describes a call that got no definite answer, for a human: the other
/// side was unreachable, too slow, or said it could not answer (its own
/// message then says why).
pub fn unanswered(status: &Status) -> Unanswered {
    let why = if std::error::Error::source(status).is_some() {
        format!("unreachable ({})", status.message())
    } else if status.code() == Code::DeadlineExceeded {
        format!("no answer in time ({})", status.message())
    } else {
        status.message().to_owned()
    };
    Unanswered(why)
}

/// Reads a failed call: a definite refusal by the other side becomes a
/// decline (`RefusedByPeer`, with its message); anything that leaves the
/// outcome unknown becomes `Unanswered`.
pub fn read_failure(status: Status) -> Result<crate::contract::Decline, Unanswered> {
    if outcome_unknown(&status) {
        Err(unanswered(&status))
    } else {
        Ok(crate::contract::Decline::new(
            crate::contract::DeclineReason::RefusedByPeer,
            status.message(),
        ))
    }
}
