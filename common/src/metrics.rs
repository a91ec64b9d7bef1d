//! Prometheus metrics of one process: transactions answered by kind and
//! outcome, a latency histogram per RPC method and status, and gauges the
//! hub or node reads from its store at scrape time. Rendered in the text
//! exposition format 0.0.4 and served over plain HTTP/1.1 (`GET /metrics`)
//! on a listener of its own, off unless configured.
//!
//! Nothing here knows the business flows: the services say what they
//! answered, and hand in a collector for their gauges.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    future::Future,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
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

/// A fixed-bucket histogram.
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations at most each bound of [`LATENCY_BUCKETS`] (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Writes gauges at scrape time (the hub's or node's view of its store).
pub type Collector = Box<dyn Fn(&mut Exposition) + Send + Sync>;

/// The metrics of one process.
pub struct Metrics {
    /// "hub" or "node", for `gongji_build_info`.
    process: &'static str,
    transactions: Mutex<BTreeMap<(Kind, Outcome), u64>>,
    rpcs: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    collector: OnceLock<Collector>,
}

impl Metrics {
    pub fn new(process: &'static str) -> Arc<Metrics> {
        let transactions = Kind::ALL
            .iter()
            .flat_map(|kind| Outcome::ALL.iter().map(move |outcome| ((*kind, *outcome), 0)))
            .collect();
        Arc::new(Metrics {
            process,
            transactions: Mutex::new(transactions),
            rpcs: Mutex::new(BTreeMap::new()),
            collector: OnceLock::new(),
        })
    }

    /// Sets the gauges' collector (once; later calls are ignored).
    pub fn set_collector(&self, collector: Collector) {
        let _ = self.collector.set(collector);
    }

    /// Counts one answered transaction call.
    pub fn transaction(&self, kind: Kind, outcome: Outcome) {
        let mut counts = self.transactions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry((kind, outcome)).or_default() += 1;
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
        let mut rpcs = self.rpcs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rpcs.entry((method.to_owned(), code_name(code)))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// The exposition of every metric, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        out.family(
            "gongji_build_info",
            "The process's kind (hub or node) and version; always 1.",
            "gauge",
        );
        out.sample(
            "gongji_build_info",
            &[("process", self.process), ("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );

        out.family(
            "gongji_transactions_total",
            "Transaction calls answered by this process, by kind and outcome (a repeated call is counted again).",
            "counter",
        );
        let counts = self.transactions.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        for ((kind, outcome), count) in counts {
            out.sample(
                "gongji_transactions_total",
                &[("kind", kind.as_str()), ("outcome", outcome.as_str())],
                count as f64,
            );
        }

        out.family(
            "gongji_rpc_duration_seconds",
            "Time from receiving a gRPC call to sending its status, by method and status code.",
            "histogram",
        );
        let rpcs = self.rpcs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        for ((method, code), histogram) in &rpcs {
            let labels = [("method", method.as_str()), ("code", code)];
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
                cumulative += count;
                let le = bound.to_string();
                out.sample(
                    "gongji_rpc_duration_seconds_bucket",
                    &[labels[0], labels[1], ("le", &le)],
                    cumulative as f64,
                );
            }
            out.sample(
                "gongji_rpc_duration_seconds_bucket",
                &[labels[0], labels[1], ("le", "+Inf")],
                histogram.count as f64,
            );
            out.sample("gongji_rpc_duration_seconds_sum", &labels, histogram.sum);
            out.sample("gongji_rpc_duration_seconds_count", &labels, histogram.count as f64);
        }

        if let Some(collector) = self.collector.get() {
            collector(&mut out);
        }
        out.text
    }
}

/// The gauges every server has: its pending intents by kind, and its
/// outbox's depth and the age of its oldest message.
pub fn queue_gauges(out: &mut Exposition, store: &Store, pending_tree: Table<[u8], ()>, outbox: &Outbox) -> Result<(), StoreError> {
    let mut pending = Vec::new();
    for kind in PendingKind::ALL {
        let prefix = key_prefix(&[kind.as_str().as_bytes()]);
        let mut count = 0u64;
        for key in store.scan_keys(pending_tree, &prefix) {
            key?;
            count += 1;
        }
        pending.push((vec![("kind", kind.as_str().to_owned())], count as f64));
    }
    let depth = outbox.len();
    let age = outbox.oldest_age()?.map_or(0.0, |age| age.as_secs_f64());
    out.gauges(
        "gongji_pending_intents",
        "Transactions recorded here and waiting for a definite answer from another node, by kind.",
        pending,
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

/// Text being written in the exposition format.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a metric family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.text, "{label}=\"{escaped}\"");
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A family of gauges with its samples.
    pub fn gauges<'a>(&mut self, name: &str, help: &str, samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, f64)>) {
        self.family(name, help, "gauge");
        for (labels, value) in samples {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.sample(name, &labels, value);
        }
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes. Each
/// connection gets one answer and is closed.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    tokio::spawn(async move {
                        if let Err(error) = answer(stream, metrics).await {
                            tracing::debug!(%error, "metrics request failed");
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
}

/// The largest request head read; a scraper sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

async fn answer(mut stream: TcpStream, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let body = tokio::task::spawn_blocking(move || metrics.render())
                .await
                .map_err(std::io::Error::other)?;
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        ("GET", _) => ("404 Not Found", "text/plain; charset=utf-8", "metrics are at /metrics\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET /metrics is served\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

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
