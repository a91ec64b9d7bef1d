//! Hubs sharing one PostgreSQL database: one is active, another stands by,
//! answering UNAVAILABLE with the active hub's address, and takes over when
//! the active one stops; the nodes, given both addresses, follow. (These
//! tests run on PostgreSQL whatever GONGJI_TEST_STORE says: failover needs
//! it.)

use std::time::{Duration, Instant};

use gongji_common::hubs::ACTIVE_HUB_HEADER;
use gongji_tests::{code, eventually, fresh_databases, hebei_donor_henan_parent, pay, pay_request, payment, v1 as pb, TestNetwork};
use pb::national_hub_client::NationalHubClient;
use tokio::net::TcpListener;
use tonic::Code;

fn approved(payment: &pb::Payment) -> bool {
    payment.status == pb::TransactionStatus::Approved as i32
}

/// Pays "after" at Henan's node until it is approved (the node follows the
/// hub that took over; a call that met the old one is retried).
async fn approved_after_failover(net: &TestNetwork) -> pb::Payment {
    approved_payment(net, "after", "20.00").await
}

/// Pays `id` at Henan's node until it is approved, asking again (the same
/// id) after a call that met a hub that is no longer active.
async fn approved_payment(net: &TestNetwork, id: &str, amount: &str) -> pb::Payment {
    eventually("a payment approved through the active hub", || {
        let mut henan = net.node("41");
        async move {
            let paid = match pay(&mut henan, pay_request(id, "parent-41", "H41010000001", amount)).await {
                Ok(paid) => paid,
                Err(_) => payment(&mut henan, id).await.ok()?,
            };
            approved(&paid).then_some(paid)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_hub_names_the_active_one_and_takes_over_when_it_stops() {
    // The standby's address first, so that the nodes are given both.
    let standby_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standby_url = format!("http://{}", standby_listener.local_addr().unwrap());
    let provinces = ["13", "32", "41"];
    let mut net = TestNetwork::start_with(&provinces, |spec| {
        spec.databases = Some(fresh_databases(&provinces.map(code)));
        spec.more_hubs = vec![standby_url.clone()];
    })
    .await;
    let active_url = net.network().hub_url();
    hebei_donor_henan_parent(&net).await;

    let mut config = net.network().hub_config();
    config.listen = standby_listener.local_addr().unwrap();
    let (stop_standby, standby_stopped) = tokio::sync::oneshot::channel::<()>();
    let standby = tokio::spawn(national_hub::run(config, standby_listener, async {
        let _ = standby_stopped.await;
    }));

    // The standby refuses every call, naming the active hub.
    let mut at_standby = NationalHubClient::new(net.channel_as(&standby_url, "client"));
    let refused = eventually("the standby answers", || {
        let mut at_standby = at_standby.clone();
        async move { at_standby.get_open_period(pb::GetOpenPeriodRequest {}).await.err() }
    })
    .await;
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("standby") && refused.message().contains(&active_url),
        "{}",
        refused.message()
    );
    let named = refused
        .metadata()
        .get(ACTIVE_HUB_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(named.as_deref(), Some(active_url.as_str()));

    // `gongji status`, given both hubs, says which is active.
    let target = gongji_operator::audit::Target {
        hub: format!("{active_url},{standby_url}"),
        provinces: Vec::new(),
    };
    let status = gongji_operator::status::probe(&net.session(), &target).await;
    assert!(status.hub.healthy && status.hub.address == active_url, "{:?}", status.hub);
    assert_eq!(status.hub.name, "hub (active)");
    let standing: Vec<(&str, &str)> = status
        .standby_hubs
        .iter()
        .map(|s| (s.address.as_str(), s.health.as_str()))
        .collect();
    assert_eq!(
        standing,
        vec![(standby_url.as_str(), format!("standing by (active: {active_url})").as_str())]
    );

    let paid = pay(&mut net.node("41"), pay_request("before", "parent-41", "H41010000001", "10.00"))
        .await
        .expect("paid through the active hub");
    assert!(approved(&paid), "{paid:?}");

    // The active hub stops; the standby takes over, and the nodes follow it.
    net.stop_hub().await;
    let stopped = Instant::now();
    let paid = approved_after_failover(&net).await;
    println!(
        "failover gap (the active hub stopped → the first payment approved): {:?}",
        stopped.elapsed()
    );
    assert_eq!(paid.donor_province, "13");

    // The hub that took over knows both payments, and the month's books.
    let open = eventually("the new active hub serves", || {
        let mut at_standby = at_standby.clone();
        async move { at_standby.get_open_period(pb::GetOpenPeriodRequest {}).await.ok() }
    })
    .await
    .into_inner()
    .period;
    // The CLI, given both hubs, calls the one that is active now.
    let mut at_active = net
        .session()
        .hub_at(&format!("{active_url},{standby_url}"))
        .await
        .expect("the active hub of the two");
    assert_eq!(
        at_active
            .get_open_period(pb::GetOpenPeriodRequest {})
            .await
            .unwrap()
            .into_inner()
            .period,
        open
    );
    for id in ["before", "after"] {
        let record = at_standby
            .get_transaction(pb::GetTransactionRequest {
                transaction_id: id.into(),
                kind: 0,
            })
            .await
            .unwrap_or_else(|e| panic!("{id} at the new active hub: {e}"))
            .into_inner();
        assert_eq!(record.period, open, "{id}");
    }
    let _ = stop_standby.send(());
    tokio::time::timeout(Duration::from_secs(15), standby)
        .await
        .expect("the standby stops")
        .expect("its task")
        .expect("it ran cleanly");
}

/// The hubs as processes of their own (the `gongji` binary's `serve-hub`,
/// as the devnet runs them on PostgreSQL): the active one is SIGKILLed, and
/// the standby takes over.
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_hub_process_takes_over_when_the_active_one_is_killed() {
    let standby_addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let provinces = ["13", "32", "41"];
    let mut net = TestNetwork::start_with(&provinces, |spec| {
        spec.databases = Some(fresh_databases(&provinces.map(code)));
        spec.hub_program = Some(gongji_tests::cluster::binary("gongji"));
        spec.more_hubs = vec![format!("http://{standby_addr}")];
    })
    .await;
    hebei_donor_henan_parent(&net).await;
    let standby_pid = net.network_mut().start_standby_hub(standby_addr).unwrap();
    let pids = net.network().hub_pids();
    assert_eq!(pids.len(), 2);
    assert_eq!(pids[1], standby_pid);

    let paid = pay(&mut net.node("41"), pay_request("before", "parent-41", "H41010000001", "10.00"))
        .await
        .expect("paid through the active hub");
    assert!(approved(&paid), "{paid:?}");

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pids[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopped = Instant::now();
    let paid = approved_after_failover(&net).await;
    println!(
        "failover gap (SIGKILL of the active hub → the first payment approved): {:?}",
        stopped.elapsed()
    );
    assert_eq!(paid.donor_province, "13");
    net.shutdown().await;
}

/// A hub deposed while it serves (its session with the database ended, as
/// when its network to the database fails for a while, and the standby
/// took the lease) learns it at its next write: the fence refuses the
/// write, and the hub stops serving and stands by, naming the hub that is
/// active now; when that one stops, it takes over again.
#[tokio::test(flavor = "multi_thread")]
async fn a_hub_deposed_while_serving_stands_by_and_takes_over_again() {
    let standby_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standby_url = format!("http://{}", standby_listener.local_addr().unwrap());
    let provinces = ["13", "32", "41"];
    let net = TestNetwork::start_with(&provinces, |spec| {
        spec.databases = Some(fresh_databases(&provinces.map(code)));
        spec.more_hubs = vec![standby_url.clone()];
    })
    .await;
    let first_url = net.network().hub_url();
    hebei_donor_henan_parent(&net).await;
    let mut config = net.network().hub_config();
    let database = config.store.url.clone().expect("the hubs' database");
    config.listen = standby_listener.local_addr().unwrap();
    let (stop_second, second_stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(national_hub::run(config, standby_listener, async {
        let _ = second_stopped.await;
    }));
    let at_first = NationalHubClient::new(net.channel_as(&first_url, "client"));
    let mut at_second = NationalHubClient::new(net.channel_as(&standby_url, "client"));
    let standing_by = |mut hub: NationalHubClient<tonic::transport::Channel>, active: String| async move {
        let refused = hub.get_open_period(pb::GetOpenPeriodRequest {}).await.err()?;
        let named = refused.metadata().get(ACTIVE_HUB_HEADER)?.to_str().ok()?.to_owned();
        (refused.code() == Code::Unavailable && named == active).then_some(())
    };
    eventually("the second hub stands by", || standing_by(at_second.clone(), first_url.clone())).await;

    // The first hub's lease session ends; the second takes the lease.
    gongji_common::testing::administer_postgres(
        &database,
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    eventually("the second hub serves", || {
        let mut at_second = at_second.clone();
        async move { at_second.get_open_period(pb::GetOpenPeriodRequest {}).await.ok() }
    })
    .await;

    // A payment: the first hub's write is fenced off; it stands by, and the
    // payment is approved through the second.
    let paid = approved_after_failover(&net).await;
    assert_eq!(paid.donor_province, "13");
    eventually("the deposed hub stands by, naming the active one", || {
        standing_by(at_first.clone(), standby_url.clone())
    })
    .await;
    let record = at_second
        .get_transaction(pb::GetTransactionRequest {
            transaction_id: "after".into(),
            kind: 0,
        })
        .await
        .expect("the payment at the active hub")
        .into_inner();
    assert_eq!(record.status, pb::TransactionStatus::Approved as i32);

    // The second hub stops: the first takes over again and knows the payment.
    let _ = stop_second.send(());
    tokio::time::timeout(Duration::from_secs(15), second)
        .await
        .expect("the second hub stops")
        .expect("its task")
        .expect("it ran cleanly");
    let record = eventually("the first hub serves again", || {
        let mut at_first = at_first.clone();
        async move {
            at_first
                .get_transaction(pb::GetTransactionRequest {
                    transaction_id: "after".into(),
                    kind: 0,
                })
                .await
                .ok()
        }
    })
    .await
    .into_inner();
    assert_eq!(record.status, pb::TransactionStatus::Approved as i32);
    let again = approved_payment(&net, "again", "5.00").await;
    assert_eq!(again.donor_province, "13");
    net.shutdown().await;
}
