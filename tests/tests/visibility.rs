//! Operator visibility: every process serves Prometheus metrics, the id of a
//! transaction travels with its calls between processes (and lands in the
//! receiving server's span), and `gongji status` shows the network.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    sync::{Arc, Mutex, OnceLock},
};

use gongji_tests::{eventually, hebei_donor_henan_parent, pay, pay_request, v1 as pb, TestNetwork};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---- A small parser of the Prometheus text format ----------------------------------------

/// One sample: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: the declared families (name → type) and samples.
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut parsed = Exposition::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP has a name and a text");
                assert!(!help.trim().is_empty(), "empty HELP for {name}");
                parsed.helps.insert(name.to_owned(), help.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a type");
                assert!(
                    ["counter", "gauge", "histogram"].contains(&kind),
                    "unexpected type {kind} of {name}"
                );
                assert!(
                    parsed.types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "{name} declared twice"
                );
            } else if !line.is_empty() {
                parsed.samples.push(sample(line));
            }
        }
        for s in &parsed.samples {
            let family = family_of(&s.name, &parsed.types);
            assert!(parsed.types.contains_key(&family), "sample {} has no # TYPE", s.name);
            assert!(parsed.helps.contains_key(&family), "sample {} has no # HELP", s.name);
        }
        parsed
    }

    /// The samples of `name` whose labels include every pair of `labels`.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect()
    }

    /// The value of the one sample of `name` with `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.find(name, labels);
        assert_eq!(found.len(), 1, "expected one sample {name}{labels:?}, found {found:?}");
        found[0].value
    }

    /// One line per family: `name<TAB>type<TAB>labels<TAB>help`, the
    /// labels (but a histogram's `le`) sorted and joined by commas.
    fn inventory(&self) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in &self.samples {
            let family = family_of(&s.name, &self.types);
            let names = labels.entry(family).or_default();
            names.extend(s.labels.keys().filter(|k| *k != "le").cloned());
        }
        self.types
            .iter()
            .map(|(name, kind)| {
                let names: Vec<String> = labels.get(name).map(|n| n.iter().cloned().collect()).unwrap_or_default();
                let help = self.helps.get(name).map(String::as_str).unwrap_or_default();
                (name.clone(), format!("{kind}\t{}\t{help}", names.join(",")))
            })
            .collect()
    }

    fn assert_family(&self, name: &str, kind: &str) {
        assert_eq!(self.types.get(name).map(String::as_str), Some(kind), "family {name} of type {kind}");
    }

    /// Every histogram's buckets are cumulative and end at its count.
    fn assert_histograms_consistent(&self) {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self.find(&format!("{family}_bucket"), &[]) {
                let mut labels = s.labels.clone();
                let le = labels.remove("le").expect("a bucket has le");
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("numeric le")
                };
                series.entry(labels).or_default().push((bound, s.value));
            }
            for (labels, mut buckets) in series {
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{family}{labels:?} not cumulative");
                let last = buckets.last().expect("buckets");
                assert_eq!(last.0, f64::INFINITY, "{family}{labels:?} has a +Inf bucket");
                let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                assert_eq!(self.value(&format!("{family}_count"), &pairs), last.1, "{family}{labels:?} count");
            }
        }
    }
}

fn family_of(sample: &str, types: &BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base.to_owned();
            }
        }
    }
    sample.to_owned()
}

/// `name{a="x",b="y"} 1.5`, with escapes in label values.
fn sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').expect("a sample has a value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let (name, mut rest) = match head.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}').expect("labels end with }")),
        None => (head, ""),
    };
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && name.starts_with("gongji_"),
        "metric name {name:?}"
    );
    let mut labels = BTreeMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => match chars.next().expect("escaped char").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// `GET url` over plain HTTP/1.1 (one request, then the connection closes); the status line and the body.
async fn http_get(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http:// url");
    let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to the metrics listener");
    stream
        .write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    if status.contains("200") {
        assert!(
            head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"),
            "content type in {head:?}"
        );
    }
    (status, body.to_owned())
}

async fn scrape(url: &str) -> Exposition {
    let (status, body) = http_get(url).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{url}: {status}");
    Exposition::parse(&body)
}

async fn start_with_metrics(provinces: &[&str]) -> TestNetwork {
    TestNetwork::start_with(provinces, |spec| spec.metrics_base_port = Some(0)).await
}

fn metrics_url(net: &TestNetwork, province: &str) -> String {
    net.network()
        .node_metrics_url(gongji_tests::code(province))
        .expect("the node serves metrics")
}

fn hub_metrics_url(net: &TestNetwork) -> String {
    net.network().hub_metrics_url().expect("the hub serves metrics")
}

const PAYMENT_APPROVED: [(&str, &str); 2] = [("kind", "payment"), ("outcome", "approved")];

/// The families every process serves, with their types.
const COMMON_FAMILIES: [(&str, &str); 7] = [
    ("gongji_build_info", "gauge"),
    ("gongji_transactions_total", "counter"),
    ("gongji_rpc_duration_seconds", "histogram"),
    ("gongji_pending_intents", "gauge"),
    ("gongji_pending_oldest_age_seconds", "gauge"),
    ("gongji_outbox_depth", "gauge"),
    ("gongji_outbox_oldest_age_seconds", "gauge"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoints_serve_every_named_metric_and_count_a_cross_province_payment() {
    let net = start_with_metrics(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let hub_before = scrape(&hub_metrics_url(&net)).await;
    let henan_before = scrape(&metrics_url(&net, "41")).await;
    let hebei_before = scrape(&metrics_url(&net, "13")).await;

    let paid = pay(&mut net.node("41"), pay_request("vis-pay-1", "parent-41", "H41010000001", "128.50"))
        .await
        .expect("pay");
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);

    let hub = scrape(&hub_metrics_url(&net)).await;
    let henan = scrape(&metrics_url(&net, "41")).await;
    let hebei = scrape(&metrics_url(&net, "13")).await;
    for (process, exposition) in [("hub", &hub), ("node", &henan), ("node", &hebei)] {
        for (family, kind) in COMMON_FAMILIES {
            exposition.assert_family(family, kind);
        }
        exposition.assert_histograms_consistent();
        assert_eq!(exposition.value("gongji_build_info", &[("process", process)]), 1.0);
        // Every kind and outcome is there from the start, so rates never miss a series.
        for kind in ["payment", "refund", "reversal", "transfer"] {
            for outcome in ["approved", "declined", "failed", "pending"] {
                exposition.value("gongji_transactions_total", &[("kind", kind), ("outcome", outcome)]);
            }
        }
        for kind in ["grant", "payment", "refund", "reversal", "transfer", "cascade"] {
            assert_eq!(
                exposition.value("gongji_pending_intents", &[("kind", kind)]),
                0.0,
                "{process} pending {kind}"
            );
            assert_eq!(exposition.value("gongji_pending_oldest_age_seconds", &[("kind", kind)]), 0.0);
        }
        assert_eq!(exposition.value("gongji_outbox_depth", &[]), 0.0);
        assert_eq!(exposition.value("gongji_outbox_oldest_age_seconds", &[]), 0.0);
    }

    // The payment was answered once at each hop: served at Henan, routed by
    // the hub, decided at Hebei.
    let moved = |before: &Exposition, after: &Exposition| {
        after.value("gongji_transactions_total", &PAYMENT_APPROVED) - before.value("gongji_transactions_total", &PAYMENT_APPROVED)
    };
    assert_eq!(moved(&henan_before, &henan), 1.0, "Henan's Pay");
    assert_eq!(moved(&hub_before, &hub), 1.0, "the hub's RoutePayment");
    assert_eq!(moved(&hebei_before, &hebei), 1.0, "Hebei's AuthorizeDebit");

    // Latency per RPC, by method and status code.
    let calls = |exposition: &Exposition, method: &str| {
        exposition.value("gongji_rpc_duration_seconds_count", &[("method", method), ("code", "OK")])
    };
    assert_eq!(calls(&henan, "/gongji.v1.ProvinceNode/Pay"), 1.0);
    assert_eq!(calls(&hub, "/gongji.v1.HubRouter/RoutePayment"), 1.0);
    assert_eq!(calls(&hebei, "/gongji.v1.ProvinceLink/AuthorizeDebit"), 1.0);
    assert!(
        hub.value(
            "gongji_rpc_duration_seconds_sum",
            &[("method", "/gongji.v1.HubRouter/RoutePayment"), ("code", "OK")]
        ) > 0.0
    );

    // A refused call is counted under its status code.
    let refused = pay(&mut net.node("41"), pay_request("vis-pay-2", "parent-41", "H41010000001", "12.345")).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::InvalidArgument);
    let henan = scrape(&metrics_url(&net, "41")).await;
    assert_eq!(
        henan.value(
            "gongji_rpc_duration_seconds_count",
            &[("method", "/gongji.v1.ProvinceNode/Pay"), ("code", "INVALID_ARGUMENT")]
        ),
        1.0
    );
    assert_eq!(
        henan.value("gongji_transactions_total", &[("kind", "payment"), ("outcome", "failed")]),
        1.0
    );

    // Calls to methods no service has are counted under one label, not one
    // label per path a caller makes up.
    for made_up in ["/gongji.v1.ProvinceNode/NoSuchMethod1", "/gongji.v1.ProvinceNode/NoSuchMethod2"] {
        let mut grpc = tonic::client::Grpc::new(net.channel_as(&net.network().node_url(gongji_tests::code("41")), "client"));
        grpc.ready().await.expect("ready");
        let answered: Result<tonic::Response<pb::NodeInfo>, _> = grpc
            .unary(
                tonic::Request::new(pb::GetNodeInfoRequest {}),
                made_up.parse().expect("a path"),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        assert_eq!(answered.unwrap_err().code(), tonic::Code::Unimplemented);
    }
    let henan = scrape(&metrics_url(&net, "41")).await;
    assert_eq!(
        henan.value(
            "gongji_rpc_duration_seconds_count",
            &[("method", "(unknown method)"), ("code", "UNIMPLEMENTED")]
        ),
        2.0
    );
    assert!(
        !henan.samples.iter().any(|s| s.labels.values().any(|v| v.contains("NoSuchMethod"))),
        "a made-up path became a label"
    );

    // The hub: prepaid funds per province and the month's state.
    for (family, kind) in [
        ("gongji_prepaid_balance_yuan", "gauge"),
        ("gongji_prepaid_unsettled_outflow_yuan", "gauge"),
        ("gongji_prepaid_reserved_yuan", "gauge"),
        ("gongji_prepaid_required_yuan", "gauge"),
        ("gongji_prepaid_usage_percent", "gauge"),
        ("gongji_prepaid_level", "gauge"),
        ("gongji_month_state", "gauge"),
    ] {
        hub.assert_family(family, kind);
    }
    assert_eq!(hub.value("gongji_prepaid_balance_yuan", &[("province", "13")]), 1_000_000.0);
    assert_eq!(hub.value("gongji_prepaid_unsettled_outflow_yuan", &[("province", "13")]), 128.5);
    // 128.50 of 1,000,000.00 is 0.0% to one decimal (the yellow test sees more).
    assert_eq!(hub.value("gongji_prepaid_usage_percent", &[("province", "13")]), 0.0);
    assert!(hub.value("gongji_prepaid_required_yuan", &[("province", "13")]) > 0.0);
    assert_eq!(hub.value("gongji_prepaid_level", &[("province", "13"), ("level", "green")]), 1.0);
    assert_eq!(hub.value("gongji_prepaid_level", &[("province", "13"), ("level", "red")]), 0.0);
    let open = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .expect("open period")
        .into_inner()
        .period;
    assert_eq!(hub.value("gongji_month_state", &[("period", &open), ("state", "open")]), 1.0);
    assert_eq!(hub.value("gongji_month_state", &[("period", &open), ("state", "closing")]), 0.0);

    // Anything but GET /metrics is refused.
    let (status, _) = http_get(&hub_metrics_url(&net).replace("/metrics", "/other")).await;
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    net.shutdown().await;
}

/// The list of every metric family a server serves, kept in `deploy/metrics.txt`
/// (the dashboard and the alert rules are checked against it).
const INVENTORY: &str = include_str!("../../deploy/metrics.txt");

/// The inventory of what a running hub and node serve, in the format of `deploy/metrics.txt`.
fn served_inventory(hub: &Exposition, node: &Exposition) -> String {
    let mut families: BTreeMap<String, (Vec<&str>, String)> = BTreeMap::new();
    for (process, exposition) in [("hub", hub), ("node", node)] {
        for (name, line) in exposition.inventory() {
            let entry = families.entry(name).or_insert_with(|| (Vec::new(), line.clone()));
            assert_eq!(entry.1, line, "the hub and the node describe a family alike");
            entry.0.push(process);
        }
    }
    let mut text = String::new();
    for (name, (processes, line)) in families {
        let (kind, rest) = line.split_once('\t').expect("type, labels, help");
        let _ = writeln!(text, "{name}\t{kind}\t{}\t{rest}", processes.join(","));
    }
    text
}

/// A payment is sent once at each hop while it is answered slowly: the
/// recovery passes of the node and the hub (every 200 ms here) leave a
/// pending payment to the call that is still sending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_payment_is_sent_once_by_each_hop_whatever_the_recovery_passes_meanwhile() {
    let mut net = start_with_metrics(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let hebei_link = net.proxy_hub_to("13").await;
    hebei_link.set(gongji_tests::proxy::Fault::Delay(std::time::Duration::from_millis(300)));
    let hub_before = scrape(&hub_metrics_url(&net)).await;
    let hebei_before = scrape(&metrics_url(&net, "13")).await;

    let started = std::time::Instant::now();
    let paid = pay(&mut net.node("41"), pay_request("vis-slow-1", "parent-41", "H41010000001", "20.00"))
        .await
        .expect("pay");
    let took = started.elapsed();
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);
    assert!(
        took > std::time::Duration::from_millis(600),
        "the payment took {took:?}: too fast for a recovery pass to have run meanwhile"
    );

    let hub = scrape(&hub_metrics_url(&net)).await;
    let hebei = scrape(&metrics_url(&net, "13")).await;
    let answered = |before: &Exposition, after: &Exposition, method: &str| {
        // No sample yet before the first call of a method.
        let count = |e: &Exposition| {
            let found = e.find("gongji_rpc_duration_seconds_count", &[("method", method), ("code", "OK")]);
            found.first().map_or(0.0, |sample| sample.value)
        };
        count(after) - count(before)
    };
    assert_eq!(
        answered(&hub_before, &hub, "/gongji.v1.HubRouter/RoutePayment"),
        1.0,
        "the hub was asked to route it once (Henan's recovery pass left it to the call)"
    );
    assert_eq!(
        answered(&hebei_before, &hebei, "/gongji.v1.ProvinceLink/AuthorizeDebit"),
        1.0,
        "Hebei was asked to decide it once (the hub's recovery pass left it to the call)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_keeps_its_name_type_help_and_labels() {
    let net = start_with_metrics(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    pay(&mut net.node("41"), pay_request("inv-pay-1", "parent-41", "H41010000001", "10.00"))
        .await
        .expect("pay");
    let hub = scrape(&hub_metrics_url(&net)).await;
    let node = scrape(&metrics_url(&net, "41")).await;
    let served = served_inventory(&hub, &node);
    let listed: String = INVENTORY
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        served, listed,
        "the servers' metrics differ from deploy/metrics.txt; what they serve:\n{served}"
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_pending_payment_shows_its_age_by_the_servers_clock_at_the_node_and_the_hub() {
    let mut net = start_with_metrics(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    net.stop_node("13").await;
    let stuck = pay(&mut net.node("41"), pay_request("vis-stuck", "parent-41", "H41010000001", "70.00")).await;
    assert_eq!(stuck.unwrap_err().code(), tonic::Code::Unavailable);
    // Five minutes later by the network's clock: short of the give-up time.
    net.network().clock().advance(300_000);
    for (server, url) in [("Henan", metrics_url(&net, "41")), ("the hub", hub_metrics_url(&net))] {
        let exposition = scrape(&url).await;
        assert_eq!(exposition.value("gongji_pending_intents", &[("kind", "payment")]), 1.0, "{server}");
        let age = exposition.value("gongji_pending_oldest_age_seconds", &[("kind", "payment")]);
        assert!((300.0..360.0).contains(&age), "{server}: the payment has waited {age} s");
        assert_eq!(exposition.value("gongji_pending_oldest_age_seconds", &[("kind", "refund")]), 0.0);
    }
    net.start_node("13").await;
    eventually("the payment is finished and nothing waits", || {
        let url = metrics_url(&net, "41");
        async move {
            let exposition = scrape(&url).await;
            (exposition.value("gongji_pending_oldest_age_seconds", &[("kind", "payment")]) == 0.0).then_some(())
        }
    })
    .await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_survive_a_node_restart_on_the_same_address() {
    let mut net = start_with_metrics(&["13", "41"]).await;
    let url = metrics_url(&net, "13");
    scrape(&url).await;
    net.stop_node("13").await;
    assert!(
        tokio::net::TcpStream::connect(url.trim_start_matches("http://").trim_end_matches("/metrics"))
            .await
            .is_err()
    );
    net.start_node("13").await;
    scrape(&url).await.assert_family("gongji_outbox_depth", "gauge");
    net.shutdown().await;
}

// ---- The transaction id across hops -----------------------------------------------------

/// The `rpc` spans every server opened: (method, tx).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

struct RpcSpans(Seen);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RpcSpans {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        if attrs.metadata().name() != "rpc" {
            return;
        }
        #[derive(Default)]
        struct Fields {
            method: String,
            tx: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "method" => self.method = format!("{value:?}"),
                    "tx" => self.tx = format!("{value:?}"),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        self.0.lock().expect("span log").push((fields.method, fields.tx));
    }
}

/// Installs (once for this test binary) a subscriber that records every `rpc` span.
fn rpc_spans() -> Seen {
    static SEEN: OnceLock<Seen> = OnceLock::new();
    SEEN.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let seen: Seen = Arc::default();
        let subscriber = tracing_subscriber::registry().with(RpcSpans(seen.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this test binary");
        seen
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_id_travels_with_it_to_the_hub_and_the_donors_node() {
    let seen = rpc_spans();
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    pay(
        &mut net.node("41"),
        pay_request("vis-traced-1", "parent-41", "H41010000001", "10.00"),
    )
    .await
    .expect("pay");
    // The answer came back only after the hub asked Hebei, so both spans exist.
    let spans = seen.lock().expect("span log").clone();
    let of = |method: &str| -> Vec<String> { spans.iter().filter(|(m, _)| m == method).map(|(_, tx)| tx.clone()).collect() };
    assert!(
        of("/gongji.v1.HubRouter/RoutePayment").contains(&"vis-traced-1".to_owned()),
        "the hub's span: {spans:?}"
    );
    assert!(
        of("/gongji.v1.ProvinceLink/AuthorizeDebit").contains(&"vis-traced-1".to_owned()),
        "Hebei's span: {spans:?}"
    );
    // The grant before it carried the relationship's id the same way.
    assert!(
        of("/gongji.v1.ProvinceLink/ReceiveGrant").contains(&"rel-13-41".to_owned()),
        "{spans:?}"
    );
    net.shutdown().await;
}

// ---- gongji status ----------------------------------------------------------------------

async fn status(net: &TestNetwork) -> (u8, String, String) {
    let mut args = vec!["gongji".to_owned(), "status".into(), "--hub".into(), net.network().hub_url()];
    for code in net.network().provinces() {
        args.push("--node".into());
        args.push(format!("{code}={}", net.network().node_url(code)));
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(args, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).expect("utf-8 output"),
        String::from_utf8(err).expect("utf-8 errors"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_server_and_exits_1_when_a_node_is_down() {
    let mut net = TestNetwork::start(&["13", "32", "41"]).await;
    hebei_donor_henan_parent(&net).await;

    let (code, out, err) = status(&net).await;
    assert_eq!(code, 0, "{out}{err}");
    let version = env!("CARGO_PKG_VERSION");
    let open = net
        .hub()
        .get_open_period(pb::GetOpenPeriodRequest {})
        .await
        .expect("open period")
        .into_inner()
        .period;
    let row = |name: &str| -> Vec<String> {
        out.lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let hub = row("hub");
    assert_eq!(
        &hub[1..7],
        [
            net.network().hub_url(),
            "serving".into(),
            version.into(),
            open.clone(),
            "0".into(),
            "0".into()
        ]
    );
    for province in ["13", "32", "41"] {
        let node = row(province);
        assert_eq!(node[2], "serving", "{out}");
        assert_eq!(node[3], version, "{out}");
        assert!(node[7].ends_with('%') && node[8] == "green", "prepaid usage of {province}: {out}");
    }
    assert!(out.contains("all 4 servers are serving"), "{out}");

    net.stop_node("32").await;
    let (code, out, _) = status(&net).await;
    assert_eq!(code, 1, "{out}");
    let jiangsu = out.lines().find(|l| l.starts_with("32")).expect("a row for 32");
    assert!(jiangsu.contains("unreachable"), "{out}");
    assert!(out.contains("not serving: 32"), "{out}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_warns_of_a_province_whose_prepaid_usage_is_yellow() {
    // 600.00 of prepaid funds (500.00 required): a payment of 450.00 from
    // Hebei uses 75% of them.
    let net = TestNetwork::start_with(&["13", "41"], |spec| {
        spec.opening_prepaid = "600.00".into();
        spec.prepaid_floor = "500.00".into();
    })
    .await;
    hebei_donor_henan_parent(&net).await;
    let paid = pay(
        &mut net.node("41"),
        pay_request("vis-yellow-1", "parent-41", "H41010000001", "450.00"),
    )
    .await
    .expect("pay");
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{paid:?}");

    let (code, out, err) = status(&net).await;
    assert_eq!(code, 0, "a warning is not a failure: {out}{err}");
    let hebei = out.lines().find(|l| l.starts_with("13")).expect("a row for 13");
    assert!(hebei.contains("75.0% yellow"), "{out}");
    assert!(
        out.contains("warning: province 13's prepaid funds are yellow: usage 75.0% is at or above the yellow level 70%"),
        "{out}"
    );
    assert!(!out.contains("warning: province 41"), "{out}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_left_with_almost_nothing_is_red_everywhere_and_only_a_forced_withdrawal_leaves_it_so() {
    let net = start_with_metrics(&["13", "41"]).await;
    let hub = net.network().hub_url();
    let withdraw = |id: &'static str, force: bool| {
        let mut args = vec![
            "prepaid",
            "withdraw",
            "--id",
            id,
            "--province",
            "41",
            "--amount",
            "999999.00",
            "--operator",
            "wang",
            "--reason",
            "a newcomer tries",
            "--yes",
            "--hub",
        ];
        args.push(Box::leak(hub.clone().into_boxed_str()));
        if force {
            args.push("--force");
        }
        async move {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = gongji::run(std::iter::once("gongji").chain(args), &mut out, &mut err).await;
            (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
        }
    };
    // Opening funds 1000000.00, required 100000.00: leaving 1.00 needs --force.
    let (code, _, err) = withdraw("wd-1", false).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("below its required level 100000.00") && err.contains("--force"),
        "{err}"
    );
    let (code, out, err) = withdraw("wd-2", true).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("forced") && out.contains("1.00"), "{out}");

    // GetPrepaid, prepaid status, gongji status and the metrics all say red, and why.
    let funds = net.hub().get_prepaid(pb::GetPrepaidRequest {}).await.unwrap().into_inner();
    let henan = funds.provinces.iter().find(|p| p.province == "41").unwrap();
    assert_eq!(henan.level, pb::PrepaidLevel::Red as i32, "{henan:?}");
    assert!(henan.level_reason.contains("headroom 1.00"), "{henan:?}");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        gongji::run(["gongji", "prepaid", "status", "--hub", &hub], &mut out, &mut err).await,
        0
    );
    let shown = String::from_utf8(out).unwrap();
    assert!(shown.contains("41 red: headroom 1.00"), "{shown}");
    let (_, out, _) = status(&net).await;
    assert!(out.contains("warning: province 41's prepaid funds are red: headroom 1.00"), "{out}");
    let metrics = scrape(&hub_metrics_url(&net)).await;
    assert_eq!(metrics.value("gongji_prepaid_level", &[("province", "41"), ("level", "red")]), 1.0);
    assert_eq!(
        metrics.value("gongji_prepaid_level", &[("province", "41"), ("level", "green")]),
        0.0
    );

    // The operator audit log is not kept by an open network; the operation records it.
    let op = net
        .hub()
        .withdraw_prepaid(pb::PrepaidOperationRequest {
            operation_id: "wd-2".into(),
            province: "41".into(),
            amount: "999999.00".into(),
            operator: "wang".into(),
            reason: "a newcomer tries".into(),
            force: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(op.forced, "recorded as forced: {op:?}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_metrics_count_transfers_by_outcome_and_the_age_of_the_oldest_unaccepted() {
    use gongji_common::period::{cst_day_and_second, cst_day_hour_millis};
    let net = start_with_metrics(&["41"]).await;
    let mut henan = net.node("41");
    gongji_tests::employee_with_balance(&mut henan, "son-41", "410100", "1000.00").await;
    for parent in ["mother-41", "father-41"] {
        gongji_tests::register(&mut henan, parent, pb::InsuranceType::Resident, "410100").await;
        henan
            .open_wallet(pb::OpenWalletRequest { person_id: parent.into() })
            .await
            .expect("open");
    }
    let clock = net.network().clock();
    let day = cst_day_and_second(clock.now_millis()).0 + 1;
    clock.set(cst_day_hour_millis(day, 10));
    for (id, to) in [("w-1", "mother-41"), ("w-2", "father-41")] {
        henan
            .send_to_wallet(pb::SendToWalletRequest {
                transfer_id: id.into(),
                sender_id: "son-41".into(),
                recipient_id: to.into(),
                recipient_province: "41".into(),
                relation_kind: pb::RelationKind::Parent as i32,
                amount: "10.00".into(),
            })
            .await
            .expect("send");
    }
    henan
        .accept_wallet_transfer(pb::AcceptWalletTransferRequest {
            transfer_id: "w-1".into(),
            recipient_id: "mother-41".into(),
            ..Default::default()
        })
        .await
        .expect("accept");
    // An hour later, w-2 has waited an hour unaccepted.
    clock.set(cst_day_hour_millis(day, 11));
    let node = scrape(&metrics_url(&net, "41")).await;
    node.assert_family("gongji_wallet_transfers", "gauge");
    assert_eq!(node.value("gongji_wallet_transfers", &[("outcome", "accepted")]), 1.0);
    assert_eq!(node.value("gongji_wallet_transfers", &[("outcome", "unaccepted")]), 1.0);
    assert_eq!(node.value("gongji_wallet_transfers", &[("outcome", "returned")]), 0.0);
    assert_eq!(node.value("gongji_wallet_unaccepted", &[]), 1.0);
    let age = node.value("gongji_wallet_unaccepted_oldest_age_seconds", &[]);
    assert!((3540.0..3660.0).contains(&age), "about an hour: {age}");
    net.shutdown().await;
}
