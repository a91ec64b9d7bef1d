//! Several national hubs, one of them active: a client channel over all of
//! them that sends each call to the hub it believes active, and moves on
//! when that one cannot be reached or answers UNAVAILABLE, to the hub the
//! answer names in `x-gongji-active-hub` (as a standby hub does) or else to
//! the next one. The call that met the unavailable hub fails as it did (the
//! caller's retry, or its recovery pass, goes to the active hub): a call is
//! never sent twice by this channel.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use tonic::{
    body::Body,
    codegen::{http, Service},
    transport::{Channel, ClientTlsConfig},
};

use crate::peer::{lazy_channel, Deadlines};

/// The metadata key a standby hub names the active hub in (its address).
pub const ACTIVE_HUB_HEADER: &str = "x-gongji-active-hub";

/// A channel to the active one of several hubs.
#[derive(Clone)]
pub struct Hubs {
    inner: Arc<Inner>,
}

struct Inner {
    addresses: Vec<String>,
    channels: Vec<Channel>,
    /// The hub calls go to.
    current: AtomicUsize,
}

/// The addresses of a comma-separated list, trimmed, none empty.
pub fn addresses(list: &str) -> Result<Vec<String>, String> {
    let addresses: Vec<String> = list.split(',').map(|a| a.trim().to_owned()).collect();
    if addresses.iter().any(String::is_empty) {
        return Err(format!(
            "{list:?} is not a list of hub addresses: give one address, or several separated by commas (host:port,host:port)"
        ));
    }
    Ok(addresses)
}

impl Hubs {
    /// Channels to every hub of `list` (`a` or `a,b,…`), connected on first
    /// use; calls go to the first until it is found unavailable.
    pub fn lazy(list: &str, deadlines: Deadlines, tls: Option<ClientTlsConfig>) -> Result<Hubs, String> {
        let addresses = addresses(list)?;
        let channels = addresses
            .iter()
            .map(|address| lazy_channel(address, deadlines, tls.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Hubs {
            inner: Arc::new(Inner {
                addresses,
                channels,
                current: AtomicUsize::new(0),
            }),
        })
    }

    /// The address calls go to now.
    pub fn current(&self) -> &str {
        &self.inner.addresses[self.inner.current.load(Ordering::SeqCst) % self.inner.addresses.len()]
    }
}

impl Inner {
    /// Hub `tried` was unavailable: calls go to the hub `named` (if it is
    /// one of ours) or the next one, unless another call moved them already.
    fn unavailable(&self, tried: usize, named: Option<&str>) {
        let count = self.addresses.len();
        if count < 2 {
            return;
        }
        let next = named
            .and_then(|named| self.addresses.iter().position(|a| same_address(a, named)))
            .filter(|n| *n != tried)
            .unwrap_or((tried + 1) % count);
        if self
            .current
            .compare_exchange(tried, next, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            tracing::warn!(from = %self.addresses[tried], to = %self.addresses[next], "the hub is unavailable; calls go to the next one");
        }
    }
}

/// Whether two addresses name the same server, whatever their scheme.
fn same_address(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.split_once("://").map_or(s, |(_, rest)| rest).trim_end_matches('/').to_owned();
    bare(a) == bare(b)
}

/// Whether a response is a gRPC UNAVAILABLE given in its headers (a
/// trailers-only answer, as a standby or an overloaded server gives).
fn unavailable_in_headers(headers: &http::HeaderMap) -> bool {
    headers.get("grpc-status").is_some_and(|code| code.as_bytes() == b"14")
}

impl Service<http::Request<Body>> for Hubs {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call readies the channel it goes to.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        let tried = inner.current.load(Ordering::SeqCst) % inner.channels.len();
        let mut channel = inner.channels[tried].clone();
        Box::pin(async move {
            let answered = match std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
                Ok(()) => channel.call(request).await,
                Err(e) => Err(e),
            };
            match &answered {
                Err(_) => inner.unavailable(tried, None),
                Ok(response) if unavailable_in_headers(response.headers()) => {
                    let named = response.headers().get(ACTIVE_HUB_HEADER).and_then(|v| v.to_str().ok());
                    inner.unavailable(tried, named);
                }
                Ok(_) => {}
            }
            answered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(addresses: &[&str]) -> Inner {
        Inner {
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            channels: Vec::new(),
            current: AtomicUsize::new(0),
        }
    }

    #[test]
    fn an_unavailable_hub_hands_over_to_the_one_it_names_or_the_next() {
        let hubs = inner(&["http://a:1", "http://b:2", "http://c:3"]);
        hubs.unavailable(0, Some("c:3"));
        assert_eq!(hubs.current.load(Ordering::SeqCst), 2, "named by the standby");
        hubs.unavailable(2, Some("http://elsewhere:9"));
        assert_eq!(hubs.current.load(Ordering::SeqCst), 0, "a name not ours: the next one");
        hubs.unavailable(1, None);
        assert_eq!(
            hubs.current.load(Ordering::SeqCst),
            0,
            "a late report about another hub changes nothing"
        );
        hubs.unavailable(0, Some("a:1"));
        assert_eq!(hubs.current.load(Ordering::SeqCst), 1, "a hub naming itself: the next one");
    }

    #[test]
    fn a_list_of_addresses_is_read_and_a_gap_is_refused() {
        assert_eq!(addresses("a:1, b:2").unwrap(), vec!["a:1", "b:2"]);
        assert!(addresses("a:1,,b:2").unwrap_err().contains("separated by commas"));
    }
}
