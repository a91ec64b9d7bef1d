//! Prometheus metrics of one process: transactions answered by kind and
//! outcome, a latency histogram per RPC method and status, and gauges the
//! hub or node reads from its store at scrape time. Kept in a
//! `prometheus-client` registry, rendered in the text exposition format
//! 0.0.4 and served by hyper over plain HTTP/1.1 (`GET /metrics`) on a
//! listener of its own, off unless configured.
//!
//! Nothing here knows the business flows: the services say what they
//! answered, and hand in a collector for their gauges.

use std::{
    convert::Infallible,
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use http_body_util::Full;
use hyper::{
    body::{Bytes, Incoming},
    header::{self, HeaderValue},
    server::conn::http1,
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use prometheus_client::{
    encoding::{prometheus_text, DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{counter::Counter, family::Family, gauge::ConstGauge, gauge::Gauge, histogram::Histogram, MetricType},
    registry::Registry,
};
use tokio::net::TcpListener;
use tonic::{Code, Status};

use crate::{
    outbox::Outbox,
    pending::PendingKind,
    store::{key_prefix, Store, StoreError, Table},
};

/// Upper bounds (seconds) of the RPC latency buckets: from a same-province
/// answer (about a millisecond) to a call that runs into a deadline.
pub const LATENCY_BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Transactions counted by `gongji_transactions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Payment,
    Refund,
    Reversal,
    Transfer,
    /// A wallet transfer's acceptance across provinces.
    Wallet,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Payment, Kind::Refund, Kind::Reversal, Kind::Transfer, Kind::Wallet];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Payment => "payment",
            Kind::Refund => "refund",
            Kind::Reversal => "reversal",
            Kind::Transfer => "transfer",
            Kind::Wallet => "wallet",
        }
    }
}

/// How a transaction call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Decided and done (for a reversal: the payment is reversed).
    Approved,
    /// Refused by the deciding node, with a reason.
    Declined,
    /// Refused as a request (invalid, unknown, not allowed): nothing recorded.
    Failed,
    /// Recorded, but no definite answer yet: it finishes in the background.
    Pending,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Approved, Outcome::Declined, Outcome::Failed, Outcome::Pending];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Declined => "declined",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
        }
    }

    /// The outcome a `gongji.v1.TransactionStatus` in an answer stands for.
    pub fn of_status(kind: Kind, status: i32) -> Outcome {
        use gongji_proto::v1::TransactionStatus as S;
        match S::try_from(status) {
            Ok(S::Approved) => Outcome::Approved,
            Ok(S::Declined) => Outcome::Declined,
            Ok(S::Pending) => Outcome::Pending,
            // Reversing is what a reversal is for; any other answer about a
            // reversed id refuses it.
            Ok(S::Reversed) if kind == Kind::Reversal => Outcome::Approved,
            Ok(S::Reversed) => Outcome::Declined,
            Ok(S::Unspecified) | Err(_) => Outcome::Failed,
        }
    }

    /// The outcome of a call that failed: pending when the transaction stays
    /// recorded and is finished later (no definite answer from another node),
    /// failed otherwise.
    pub fn of_error(status: &Status) -> Outcome {
        if crate::peer::outcome_unknown(status) {
            Outcome::Pending
        } else {
            Outcome::Failed
        }
    }
}

/// Labels of `gongji_transactions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransactionLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// Labels of `gongji_rpc_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    code: &'static str,
}

/// Labels of `gongji_build_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    process: &'static str,
    version: &'static str,
}

type Latencies = Family<RpcLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Writes gauges at scrape time (the hub's or node's view of its store).
pub type Collector = Box<dyn Fn(&mut Exposition) + Send + Sync>;

/// The metrics of one process, in a `prometheus-client` registry.
pub struct Metrics {
    registry: Registry,
    transactions: Family<TransactionLabels, Counter>,
    rpcs: Latencies,
    collector: Arc<OnceLock<Collector>>,
}

impl Metrics {
    /// The metrics of a process of kind `process` ("hub" or "node", for
    /// `gongji_build_info`).
    pub fn new(process: &'static str) -> Arc<Metrics> {
        let mut registry = Registry::default();

        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                process,
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "gongji_build_info",
            help("The process's kind (hub or node) and version; always 1."),
            build,
        );

        let transactions = Family::<TransactionLabels, Counter>::default();
        // Every kind and outcome from the start, so that rates never miss a series.
        for kind in Kind::ALL {
            for outcome in Outcome::ALL {
                let _ = transactions.get_or_create(&TransactionLabels {
                    kind: kind.as_str(),
                    outcome: outcome.as_str(),
                });
            }
        }
        // The registry adds the counter's `_total`.
        registry.register(
            "gongji_transactions",
            help("Transaction calls answered by this process, by kind and outcome (a repeated call is counted again)."),
            transactions.clone(),
        );

        let rpcs: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register(
            "gongji_rpc_duration_seconds",
            help("Time from receiving a gRPC call to sending its status, by method and status code."),
            rpcs.clone(),
        );

        let collector = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(StoreGauges(collector.clone())));
        Arc::new(Metrics {
            registry,
            transactions,
            rpcs,
            collector,
        })
    }

    /// Sets the gauges' collector (once; later calls are ignored).
    pub fn set_collector(&self, collector: Collector) {
        let _ = self.collector.set(collector);
    }

    /// Counts one answered transaction call.
    pub fn transaction(&self, kind: Kind, outcome: Outcome) {
        self.transactions
            .get_or_create(&TransactionLabels {
                kind: kind.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Counts the answer to a transaction call: `status_of` reads the
    /// `TransactionStatus` of a successful answer.
    pub fn answered<T>(&self, kind: Kind, reply: &Result<tonic::Response<T>, Status>, status_of: impl Fn(&T) -> i32) {
        let outcome = match reply {
            Ok(response) => Outcome::of_status(kind, status_of(response.get_ref())),
            Err(status) => Outcome::of_error(status),
        };
        self.transaction(kind, outcome);
    }

    /// Records one finished RPC.
    pub fn rpc(&self, method: &str, code: Code, elapsed: Duration) {
        self.rpcs
            .get_or_create(&RpcLabels {
                method: method.to_owned(),
                code: code_name(code),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The exposition of every metric, in the Prometheus text format 0.0.4
    /// (the gauges read from the store now).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "could not encode the metrics");
        }
        text
    }
}

/// The registry appends a full stop to every help text.
fn help(text: &str) -> &str {
    text.strip_suffix('.').unwrap_or(text)
}

/// The gauges the hub or node writes at scrape time, as a collector of the registry.
struct StoreGauges(Arc<OnceLock<Collector>>);

impl std::fmt::Debug for StoreGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreGauges").field("set", &self.0.get().is_some()).finish()
    }
}

impl prometheus_client::collector::Collector for StoreGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(collect) = self.0.get() else {
            return Ok(());
        };
        let mut out = Exposition::default();
        collect(&mut out);
        for family in &out.families {
            let mut metric = encoder.encode_descriptor(&family.name, &family.help, None, MetricType::Gauge)?;
            for (labels, value) in &family.samples {
                ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

/// The gauges every server has: its pending intents by kind and the age of
/// the oldest of each kind (by the server's clock, `now`), and its outbox's
/// depth and the age of its oldest message.
pub fn queue_gauges(
    out: &mut Exposition,
    store: &Store,
    pending_tree: Table<[u8], crate::pending::Since>,
    outbox: &Outbox,
    now: i64,
) -> Result<(), StoreError> {
    let mut pending = Vec::new();
    let mut oldest = Vec::new();
    for kind in PendingKind::ALL {
        let prefix = key_prefix(&[kind.as_str().as_bytes()]);
        let mut count = 0u64;
        let mut first: Option<i64> = None;
        for item in store.scan_prefix(pending_tree, &prefix) {
            let (_, since) = item?;
            count += 1;
            first = match (first, since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let labels = vec![("kind", kind.as_str().to_owned())];
        pending.push((labels.clone(), count as f64));
        let age_ms = first.map_or(0, |since| now.saturating_sub(since).max(0));
        oldest.push((labels, age_ms as f64 / 1000.0));
    }
    let depth = outbox.len();
    let age = outbox.oldest_age()?.map_or(0.0, |age| age.as_secs_f64());
    out.gauges(
        "gongji_pending_intents",
        "Transactions recorded here and waiting for a definite answer from another node, by kind.",
        pending,
    );
    out.gauges(
        "gongji_pending_oldest_age_seconds",
        "How long the oldest transaction of each kind has waited for a definite answer, by the server's clock (0 when none waits).",
        oldest,
    );
    out.gauges(
        "gongji_outbox_depth",
        "Notices to other nodes waiting to be acknowledged.",
        [(vec![], depth as f64)],
    );
    out.gauges(
        "gongji_outbox_oldest_age_seconds",
        "How long the oldest notice in the outbox has waited (0 when it is empty).",
        [(vec![], age)],
    );
    Ok(())
}

/// The canonical name of a gRPC status code (`OK`, `UNAVAILABLE`, …).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Gauge families written by a [`Collector`] at scrape time.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<GaugeFamily>,
}

#[derive(Debug)]
struct GaugeFamily {
    name: String,
    help: String,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

impl Exposition {
    /// A family of gauges with its samples (each its labels and value).
    pub fn gauges<'a>(&mut self, name: &str, help: &str, samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, f64)>) {
        let samples = samples
            .into_iter()
            .map(|(labels, value)| (labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), value))
            .collect();
        self.families.push(GaugeFamily {
            name: name.to_owned(),
            help: help.to_owned(),
            samples,
        });
    }
}

/// Serves `GET /metrics` over HTTP/1.1 (hyper) on `listener` until
/// `shutdown` completes, then lets the answers in progress finish.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    let service = service_fn(move |request| answer(request, metrics.clone()));
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(5))
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "metrics connection failed");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics listener could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::debug!("metrics connections still open at shutdown");
    }
}

/// The answer to one request: the exposition for `GET /metrics`, 404 for
/// another path, 405 for another method.
async fn answer(request: Request<Incoming>, metrics: Arc<Metrics>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => match tokio::task::spawn_blocking(move || metrics.render()).await {
            Ok(body) => (StatusCode::OK, prometheus_text::CONTENT_TYPE, body),
            Err(error) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                format!("the metrics could not be rendered: {error}\n"),
            ),
        },
        (&Method::GET, _) => (StatusCode::NOT_FOUND, PLAIN, "metrics are at /metrics\n".to_owned()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, PLAIN, "only GET /metrics is served\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

const PLAIN: &str = "text/plain; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let metrics = Metrics::new("node");
        metrics.rpc("/gongji.v1.ProvinceNode/Pay", Code::Ok, Duration::from_millis(2));
        metrics.rpc("/gongji.v1.ProvinceNode/Pay", Code::Ok, Duration::from_secs(60));
        metrics.transaction(Kind::Payment, Outcome::Approved);
        metrics.set_collector(Box::new(|out| {
            out.gauges("gongji_test", "A test.", [(vec![("name", "a\"b".to_owned())], 1.5)]);
        }));
        let text = metrics.render();
        let pay = "method=\"/gongji.v1.ProvinceNode/Pay\",code=\"OK\"";
        assert!(text.contains(&format!("gongji_rpc_duration_seconds_bucket{{{pay},le=\"0.001\"}} 0\n")));
        assert!(text.contains(&format!("gongji_rpc_duration_seconds_bucket{{{pay},le=\"0.0025\"}} 1\n")));
        assert!(text.contains(&format!("gongji_rpc_duration_seconds_bucket{{{pay},le=\"10\"}} 1\n")));
        assert!(text.contains(&format!("gongji_rpc_duration_seconds_bucket{{{pay},le=\"+Inf\"}} 2\n")));
        assert!(text.contains(&format!("gongji_rpc_duration_seconds_count{{{pay}}} 2\n")));
        assert!(text.contains("gongji_transactions_total{kind=\"payment\",outcome=\"approved\"} 1\n"));
        assert!(text.contains("gongji_transactions_total{kind=\"transfer\",outcome=\"pending\"} 0\n"));
        assert!(text.contains("# TYPE gongji_test gauge\ngongji_test{name=\"a\\\"b\"} 1.5\n"));
    }
}
