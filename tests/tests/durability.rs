//! Nothing is acted on before it is on disk, and a damaged data directory
//! never starts on half its state: real server processes whose store's log
//! stalls (a slow disk), fails (a full disk), or is damaged while stopped,
//! killed with SIGKILL at the worst moment. Afterwards the audit must find
//! nothing wrong.

use std::time::Duration;

use gongji_proto::v1::{self as pb, national_hub_client::NationalHubClient, province_node_client::ProvinceNodeClient};
use gongji_tests::{
    chaos::{settle_and_audit, setup},
    cluster::Cluster,
};
use tonic::{transport::Endpoint, Code};

const PROVINCES: [&str; 2] = ["13", "32"];

async fn cluster(dir: &std::path::Path) -> (Cluster, Vec<(String, Endpoint)>) {
    let cluster = Cluster::start(dir, &PROVINCES).await;
    let urls: Vec<(String, Endpoint)> = PROVINCES
        .iter()
        .map(|p| (p.to_string(), cluster.endpoint(&cluster.node_url(p))))
        .collect();
    setup(&urls).await;
    (cluster, urls)
}

fn node(cluster: &Cluster, province: &str) -> ProvinceNodeClient<tonic::transport::Channel> {
    ProvinceNodeClient::new(cluster.endpoint(&cluster.node_url(province)).connect_lazy())
}

fn hub(cluster: &Cluster) -> NationalHubClient<tonic::transport::Channel> {
    NationalHubClient::new(cluster.endpoint(&cluster.hub_url()).connect_lazy())
}

/// A cross-province payment at 32 from the relationship of 13's donor.
fn payment(id: &str, amount: &str) -> pb::PayRequest {
    pb::PayRequest {
        payment_id: id.into(),
        beneficiary_id: "kin-32-of-13".into(),
        institution_id: "H32010000001".into(),
        amount: amount.into(),
        purpose: pb::PaymentPurpose::Outpatient as i32,
        relationship_id: "rel-13-32".into(),
    }
}

async fn used_quota(cluster: &Cluster) -> String {
    node(cluster, "13")
        .get_relationship(pb::GetRelationshipRequest {
            relationship_id: "rel-13-32".into(),
        })
        .await
        .expect("the relationship")
        .into_inner()
        .used
}

async fn assert_audit_passes(cluster: &mut Cluster) {
    let audit = settle_and_audit(cluster).await;
    assert!(audit.passed(), "the audit found violations:\n{}", audit.violations.join("\n"));
}

/// Sends `payment` in the background (its answer is not awaited).
fn send(cluster: &Cluster, request: pb::PayRequest) -> tokio::task::JoinHandle<Result<tonic::Response<pb::Payment>, tonic::Status>> {
    let mut client = node(cluster, "32");
    tokio::spawn(async move { client.pay(request).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquirer_killed_while_its_log_stalls_never_had_its_unwritten_payment_decided() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut cluster, _) = cluster(dir.path()).await;
    let used_before = used_quota(&cluster).await;
    // 32's disk is slow: each log write waits 2 s; its recovery pass runs
    // every 200 ms meanwhile and would route what it sees.
    cluster.set_store_faults("32", Some("stall-ms=2000"));
    cluster.restart("32").await;
    let first = send(&cluster, payment("stalled-1", "77.00"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = send(&cluster, payment("stalled-2", "23.00"));
    tokio::time::sleep(Duration::from_millis(900)).await;
    // Neither is on disk yet, so nobody outside 32 may know of them.
    for id in ["stalled-1", "stalled-2"] {
        let known = hub(&cluster)
            .get_transaction(pb::GetTransactionRequest {
                transaction_id: id.into(),
                kind: pb::TransactionKind::Payment as i32,
            })
            .await;
        assert_eq!(
            known.map(|_| ()).unwrap_err().code(),
            Code::NotFound,
            "{id} reached the hub before it was on 32's disk"
        );
    }
    cluster.kill("32");
    assert!(
        first.await.expect("joined").is_err() && second.await.expect("joined").is_err(),
        "never answered"
    );
    cluster.set_store_faults("32", None);
    cluster.restart("32").await;
    assert_audit_passes(&mut cluster).await;
    assert_eq!(
        used_quota(&cluster).await,
        used_before,
        "the donor paid nothing for payments that never were"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_while_its_log_stalls_never_cancels_what_a_donor_approved() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut cluster, _) = cluster(dir.path()).await;
    cluster.set_store_faults("hub", Some("stall-ms=2000"));
    cluster.restart("hub").await;
    let pending = send(&cluster, payment("hub-stalled", "77.00"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let debit = node(&cluster, "13")
        .get_payment(pb::GetPaymentRequest {
            payment_id: "hub-stalled".into(),
        })
        .await;
    assert_eq!(
        debit.map(|_| ()).unwrap_err().code(),
        Code::NotFound,
        "the hub asked the donor about a payment it had not written down"
    );
    cluster.kill("hub");
    let _ = pending.await;
    cluster.set_store_faults("hub", None);
    cluster.restart("hub").await;
    assert_audit_passes(&mut cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_log_write_fails_acts_on_nothing_and_says_it_is_not_serving() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut cluster, _) = cluster(dir.path()).await;
    let used_before = used_quota(&cluster).await;
    cluster.set_store_faults("32", Some("fail-write=1"));
    cluster.restart("32").await;
    let refused = node(&cluster, "32")
        .pay(payment("disk-full", "55.00"))
        .await
        .expect_err("the disk is full");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("no space left"),
        "names the cause: {}",
        refused.message()
    );
    // Recovery passes run every 200 ms: none may route what is not on disk.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let at_hub = hub(&cluster)
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "disk-full".into(),
            kind: pb::TransactionKind::Payment as i32,
        })
        .await;
    assert_eq!(at_hub.map(|_| ()).unwrap_err().code(), Code::NotFound);
    let channel = cluster.endpoint(&cluster.node_url("32")).connect().await.expect("32 still answers");
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    let again = node(&cluster, "32")
        .pay(payment("after-failure", "1.00"))
        .await
        .expect_err("refused");
    assert_eq!(again.code(), Code::Unavailable);
    assert!(again.message().contains("restart"), "says what to do: {}", again.message());

    cluster.set_store_faults("32", None);
    cluster.restart("32").await;
    let after = node(&cluster, "32")
        .get_payment(pb::GetPaymentRequest {
            payment_id: "disk-full".into(),
        })
        .await;
    assert_eq!(
        after.map(|_| ()).unwrap_err().code(),
        Code::NotFound,
        "a restart replays only what is on disk"
    );
    assert_audit_passes(&mut cluster).await;
    assert_eq!(used_quota(&cluster).await, used_before);
}

/// The last log segment of a data directory.
fn last_segment(data_dir: &std::path::Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(data_dir.join("wal"))
        .expect("the log")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}

/// Runs `gongji doctor DIR`: its exit status and output.
fn doctor(dir: &std::path::Path) -> (i32, String) {
    let output = std::process::Command::new(gongji_tests::cluster::binary("gongji"))
        .arg("doctor")
        .arg(dir)
        .output()
        .expect("gongji runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_log_was_cut_short_refuses_to_start_and_the_doctor_says_where() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut cluster, _) = cluster(dir.path()).await;
    for i in 0..20 {
        node(&cluster, "32")
            .pay(payment(&format!("before-damage-{i}"), "1.00"))
            .await
            .expect("paid");
    }
    // Killed: its segment holds every record since it started.
    cluster.kill("32");
    let data = cluster.server_data_dir("32");
    let (status, report) = doctor(&data);
    assert_eq!(status, 0, "{report}");
    assert!(report.contains("starts"), "{report}");

    let segment = last_segment(&data);
    let bytes = std::fs::read(&segment).expect("the segment");
    let end = bytes.iter().rposition(|b| *b != 0).expect("records") + 1;
    let healthy = dir.path().join("healthy-segment");
    std::fs::write(&healthy, &bytes).expect("a copy");
    std::fs::write(&segment, &bytes[..end / 2]).expect("cut short");
    let log = cluster.start_expecting_refusal("32").await;
    assert!(
        log.contains(&segment.display().to_string()) && log.contains("at byte"),
        "names the file and offset:\n{log}"
    );
    assert!(log.contains("gongji doctor"), "says what to do:\n{log}");
    let (status, report) = doctor(&data);
    assert_eq!(status, 1, "{report}");
    assert!(report.contains("DOES NOT START") && report.contains("at byte"), "{report}");

    // Put back, it starts with every payment.
    std::fs::write(&segment, &bytes).expect("restored");
    cluster.restart("32").await;
    for i in 0..20 {
        let paid = node(&cluster, "32")
            .get_payment(pb::GetPaymentRequest {
                payment_id: format!("before-damage-{i}"),
            })
            .await
            .expect("every acknowledged payment is there")
            .into_inner();
        assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);
    }
    assert_audit_passes(&mut cluster).await;
}
