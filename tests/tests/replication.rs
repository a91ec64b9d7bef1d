//! Every server on a PostgreSQL primary with a synchronous standby, reached
//! through a multi-host URL that finds the writable one: the primary dies
//! under load, the standby is promoted, the servers go on with it (and are
//! restarted on it), and every payment that was acknowledged is there and
//! the audit passes.
//! (A cluster of its own, from the machine's PostgreSQL binaries.)

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use gongji_network::{postgres::Cluster, Databases};
use gongji_tests::{code, eventually, hebei_donor_henan_parent, pay, pay_request, payment, v1 as pb, TestNetwork};

/// Clusters stopped (as a crash would) when the test ends, however it ends.
struct Stopping(Vec<Cluster>);

impl Drop for Stopping {
    fn drop(&mut self) {
        for cluster in &self.0 {
            let _ = cluster.stop(true);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

fn approved(payment: &pb::Payment) -> bool {
    payment.status == pb::TransactionStatus::Approved as i32
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_payment_survives_the_loss_of_the_primary() {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let (primary_port, standby_port) = (free_port(), free_port());
    let primary = Cluster::init(
        &dir.path().join("primary"),
        primary_port,
        &[("synchronous_standby_names", "standby")],
    )
    .unwrap();
    primary.start().unwrap();
    let standby = Cluster::standby_of(&primary, &dir.path().join("standby"), standby_port).unwrap();
    standby.start().unwrap();
    // Both stopped however the test ends.
    let _stop = Stopping(vec![primary.clone(), standby.clone()]);

    let provinces = ["13", "32", "41"];
    let mut names = vec!["hub".to_owned()];
    names.extend(provinces.iter().map(|p| format!("province_{p}")));
    for name in &names {
        primary.create_database(name).unwrap();
    }
    let url =
        |name: &str| format!("postgres://gongji@127.0.0.1:{primary_port},127.0.0.1:{standby_port}/{name}?target_session_attrs=read-write");
    let databases = Databases {
        hub: url("hub"),
        provinces: provinces
            .iter()
            .map(|p| (code(p), url(&format!("province_{p}"))))
            .collect::<BTreeMap<_, _>>(),
    };
    let mut net = TestNetwork::start_with(&provinces, |spec| spec.databases = Some(databases)).await;
    hebei_donor_henan_parent(&net).await;

    // Payments flow; each one acknowledged as approved is noted.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let load = {
        let (acknowledged, mut henan) = (Arc::clone(&acknowledged), net.node("41"));
        tokio::spawn(async move {
            for n in 0..400 {
                let id = format!("load-{n}");
                if let Ok(paid) = pay(&mut henan, pay_request(&id, "parent-41", "H41010000001", "0.50")).await {
                    if approved(&paid) {
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            }
        })
    };
    eventually("payments acknowledged before the primary dies", || {
        let count = acknowledged.lock().unwrap().len();
        async move { (count >= 20).then_some(()) }
    })
    .await;

    // The primary's machine dies; the standby is promoted.
    tokio::task::spawn_blocking(move || primary.stop(true)).await.unwrap().unwrap();
    let before_loss = acknowledged.lock().unwrap().clone();
    tokio::task::spawn_blocking({
        let standby = standby.clone();
        move || standby.promote()
    })
    .await
    .unwrap()
    .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(60), load).await;

    // The servers waited out the lost connection and went on with the
    // promoted standby (their lease still theirs); restarted, they read
    // everything back from it.
    net.restart_all().await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= before_loss.len() && !before_loss.is_empty());
    for id in &acknowledged {
        let at_acquirer = payment(&mut net.node("41"), id).await.unwrap_or_else(|e| panic!("{id} lost: {e}"));
        assert!(approved(&at_acquirer), "{id}: {at_acquirer:?}");
        let at_issuer = payment(&mut net.node("13"), id)
            .await
            .unwrap_or_else(|e| panic!("{id} lost at the issuer: {e}"));
        assert!(approved(&at_issuer), "{id} at the issuer: {at_issuer:?}");
    }
    println!(
        "{} payments acknowledged, {} of them before the primary died; all present",
        acknowledged.len(),
        before_loss.len()
    );

    let target = gongji_operator::audit::Target::from_manifest(&net.network().manifest()).unwrap();
    let report = eventually("the audit passes once pending work settles", || {
        let (session, target) = (net.session(), target.clone());
        async move {
            let report = gongji_operator::audit::audit(&session, &target, &mut std::io::sink()).await.ok()?;
            (report.passed() && report.in_flight.is_empty()).then_some(report)
        }
    })
    .await;
    assert!(report.passed());
    net.shutdown().await;
}
