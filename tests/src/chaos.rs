//! The chaos run: real server processes, a seeded random workload (payments
//! in all directions, refunds, reversals, quota changes, dissolutions, an
//! insurance transfer, a month close), a random server killed with SIGKILL
//! every few hundred milliseconds and started again on its data, and proxies
//! between the hub and the nodes that delay, drop and cut. Then the faults
//! stop, the network settles, and `gongji audit` must find nothing wrong.
//!
//! The seed decides every choice the driver makes; the exact interleaving
//! with the servers also depends on timing, so a failing seed is the place
//! to start looking, run again with its duration.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use gongji_common::{testing::Rng, ProvinceCode};
use gongji_operator::{
    audit::{AuditReport, Target},
    connection::Connection,
    session::Session,
};
use gongji_proto::v1::{self as pb, national_hub_client::NationalHubClient, province_node_client::ProvinceNodeClient};
use tonic::transport::{Channel, Endpoint};

use crate::{cluster::Cluster, proxy::Fault};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub seed: u64,
    /// How long the workload and the faults last.
    pub duration: Duration,
    /// The provinces (one node each).
    pub provinces: Vec<String>,
    /// Concurrent workers issuing operations.
    pub workers: usize,
    /// Every server on PostgreSQL (a cluster of the run's own), with a
    /// standby hub; PostgreSQL itself is restarted now and then.
    pub postgres: bool,
}

impl ChaosConfig {
    pub fn new(seed: u64, duration: Duration) -> ChaosConfig {
        ChaosConfig {
            seed,
            duration,
            provinces: vec!["13".into(), "32".into(), "41".into()],
            workers: 6,
            postgres: false,
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct ChaosReport {
    pub operations: u64,
    /// Payments approved while the chaos went on.
    pub approved: u64,
    pub unanswered: u64,
    pub kills: u64,
    pub faults: u64,
    /// Servers restarted with a slow or full disk (then killed).
    pub disk_faults: u64,
    /// Restarts of PostgreSQL (on PostgreSQL runs).
    pub database_restarts: u64,
    /// Wallet transfers sent, accepted, declined or cancelled.
    pub wallet_operations: u64,
    /// Wallet transfers accepted (answered so) while the chaos went on.
    pub wallet_accepted: u64,
    /// Times every server's clock was moved (past a 06:00 return).
    pub clock_moves: u64,
    pub audit: AuditReport,
}

#[derive(Default)]
struct Counters {
    operations: AtomicU64,
    approved: AtomicU64,
    unanswered: AtomicU64,
    kills: AtomicU64,
    faults: AtomicU64,
    disk_faults: AtomicU64,
    database_restarts: AtomicU64,
    wallet_operations: AtomicU64,
    wallet_accepted: AtomicU64,
    clock_moves: AtomicU64,
}

fn region(province: &str) -> String {
    format!("{province}0100")
}

/// A client of a node (the endpoint carries the TLS and the deadlines).
fn node(endpoint: &Endpoint) -> ProvinceNodeClient<Channel> {
    ProvinceNodeClient::new(endpoint.connect_lazy())
}

/// Runs one chaos run in `data_dir`; panics if the audit finds a violation.
pub async fn run(config: ChaosConfig, data_dir: &std::path::Path) -> ChaosReport {
    let provinces: Vec<&str> = config.provinces.iter().map(String::as_str).collect();
    let cluster = Arc::new(tokio::sync::Mutex::new(
        Cluster::start_on(data_dir, &provinces, config.postgres).await,
    ));
    let (urls, hub_url): (Vec<(String, Endpoint)>, Endpoint) = {
        let c = cluster.lock().await;
        (
            provinces.iter().map(|p| (p.to_string(), c.endpoint(&c.node_url(p)))).collect(),
            c.endpoint(&c.hub_url()),
        )
    };
    // The servers' clock: 10:00 China Standard Time tomorrow, when wallet
    // transfers may be sent; moved past 06:00 of the day after halfway, so
    // what is unaccepted then returns during the run.
    let day = gongji_common::period::cst_day_and_second(gongji_common::period::now_millis()).0 + 1;
    let offset_at = |day: i64, hour: u8| gongji_common::period::cst_day_hour_millis(day, hour) - gongji_common::period::now_millis();
    cluster.lock().await.set_clock_offset(offset_at(day, 10)).await;
    setup(&urls).await;
    let wallets: Arc<Mutex<Vec<WalletSent>>> = Arc::default();

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let payments: Arc<Mutex<Vec<(String, Endpoint)>>> = Arc::default();
    let mut tasks = Vec::new();

    // The workload.
    for worker in 0..config.workers {
        let (urls, counters, stop, payments) = (urls.clone(), counters.clone(), stop.clone(), payments.clone());
        let wallets = wallets.clone();
        let seed = config.seed;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed.wrapping_mul(1000).wrapping_add(worker as u64));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("s{seed}-w{worker}-{n}");
                if rng.chance(25) {
                    operate_wallet(&mut rng, &id, &urls, &counters, &wallets).await;
                } else {
                    operate(&mut rng, &id, &urls, &counters, &payments).await;
                }
            }
        }));
    }
    // One-off operations: a month close halfway, an insurance transfer at a quarter.
    {
        let (hub_url, urls, stop) = (hub_url.clone(), urls.clone(), stop.clone());
        let duration = config.duration;
        tasks.push(tokio::spawn(async move {
            // Each is asked again (same id) until an answer comes back:
            // the server it needs may be down at that moment.
            tokio::time::sleep(duration / 4).await;
            let mover = &urls.last().expect("a province").1;
            let transfer = pb::TransferInsuranceRequest {
                transfer_id: "chaos-move".into(),
                person_id: "chaos-mover".into(),
                to_region: region(&urls[0].0),
            };
            while !stop.load(Ordering::Relaxed) && node(mover).transfer_insurance(transfer.clone()).await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(duration / 4).await;
            // Name the month: closing it again after a lost reply is then a
            // no-op, where an unnamed close would close the next month too.
            let hub = NationalHubClient::new(hub_url.connect_lazy());
            let mut period = None;
            while period.is_none() && !stop.load(Ordering::Relaxed) {
                match hub.clone().get_open_period(pb::GetOpenPeriodRequest {}).await {
                    Ok(open) => period = Some(open.into_inner().period),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            while let (Some(period), false) = (&period, stop.load(Ordering::Relaxed)) {
                let request = pb::CloseMonthRequest { period: period.clone() };
                if hub.clone().close_month(request).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    // The clock moves past 06:00 halfway: unaccepted wallet transfers return.
    {
        let (cluster, counters, stop) = (cluster.clone(), counters.clone(), stop.clone());
        let duration = config.duration;
        let offset = offset_at(day + 1, 7);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(duration / 2).await;
            if !stop.load(Ordering::Relaxed) {
                cluster.lock().await.set_clock_offset(offset).await;
                counters.clock_moves.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // The killer.
    {
        let (cluster, counters, stop) = (cluster.clone(), counters.clone(), stop.clone());
        let seed = config.seed;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ 0x6b11);
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200 + rng.below(500))).await;
                // Now and then PostgreSQL itself crashes and restarts (every
                // server waits it out, or is deposed and restarted below).
                if rng.below(6) == 0 {
                    let c = cluster.lock().await;
                    if c.postgres.is_some() {
                        c.restart_postgres().await;
                        counters.database_restarts.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let names = cluster.lock().await.names();
                let victim = rng.pick(&names).clone();
                // The first rounds bring each disk fault once; then by chance.
                let disk = match (round, rng.below(10)) {
                    (0, _) | (_, 0 | 1) => Some(format!("stall-ms={}", 200 + rng.below(1000))),
                    (1, _) | (_, 2 | 3) => Some(format!("fail-write={}", 1 + rng.below(30))),
                    _ => None,
                };
                round += 1;
                if let Some(faults) = &disk {
                    // Its disk turns slow (a stalled sync, then a kill during
                    // one) or full (a write fails: it says NOT_SERVING until a
                    // supervisor restarts it).
                    let mut c = cluster.lock().await;
                    c.set_store_faults(&victim, Some(faults));
                    c.restart(&victim).await;
                    c.set_store_faults(&victim, None);
                    counters.disk_faults.fetch_add(1, Ordering::Relaxed);
                    drop(c);
                    tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
                }
                let mut c = cluster.lock().await;
                c.kill(&victim);
                counters.kills.fetch_add(1, Ordering::Relaxed);
                drop(c);
                tokio::time::sleep(Duration::from_millis(50 + rng.below(300))).await;
                cluster.lock().await.restart(&victim).await;
            }
        }));
    }
    // The faulty network.
    {
        let (cluster, counters, stop) = (cluster.clone(), counters.clone(), stop.clone());
        let seed = config.seed;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ 0xfa17);
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(300 + rng.below(700))).await;
                let c = cluster.lock().await;
                let proxy = &c.proxies[rng.below(c.proxies.len() as u64) as usize];
                match rng.below(4) {
                    0 => proxy.set(Fault::Delay(Duration::from_millis(20 + rng.below(400)))),
                    1 => proxy.set(Fault::DropReplies),
                    2 => proxy.set(Fault::Refuse),
                    _ => proxy.cut(),
                }
                counters.faults.fetch_add(1, Ordering::Relaxed);
                drop(c);
                tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
                let c = cluster.lock().await;
                c.proxies.iter().for_each(|p| p.heal());
            }
        }));
    }

    tokio::time::sleep(config.duration).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await
            .expect("a task of the chaos run (the workload, the faults or the killer) failed");
    }

    // Faults off, everyone up, let the network settle, then audit.
    let audit = settle_and_audit(&mut *cluster.lock().await).await;
    ChaosReport {
        operations: counters.operations.load(Ordering::Relaxed),
        approved: counters.approved.load(Ordering::Relaxed),
        unanswered: counters.unanswered.load(Ordering::Relaxed),
        kills: counters.kills.load(Ordering::Relaxed),
        faults: counters.faults.load(Ordering::Relaxed),
        disk_faults: counters.disk_faults.load(Ordering::Relaxed),
        database_restarts: counters.database_restarts.load(Ordering::Relaxed),
        wallet_operations: counters.wallet_operations.load(Ordering::Relaxed),
        wallet_accepted: counters.wallet_accepted.load(Ordering::Relaxed),
        clock_moves: counters.clock_moves.load(Ordering::Relaxed),
        audit,
    }
}

/// Heals every link, starts every server that is down (without store
/// faults), waits until the network settles, and audits it.
pub async fn settle_and_audit(c: &mut Cluster) -> AuditReport {
    c.proxies.iter().for_each(|p| p.heal());
    for name in c.names() {
        // A server started with store faults is restarted without them (one
        // whose log failed serves nothing until then).
        let faulty = c.has_store_faults(&name);
        c.set_store_faults(&name, None);
        if faulty || !c.is_running(&name) {
            c.restart(&name).await;
        }
    }
    c.wait_idle(Duration::from_secs(90)).await;
    let target = Target {
        hub: c.hubs_url(),
        provinces: c
            .node_addrs
            .iter()
            .map(|(code, addr)| (ProvinceCode::parse("province", code).expect("a code"), format!("https://{addr}")))
            .collect(),
    };
    let session = Session {
        connection: Connection::with_certs(&c.certs()).expect("the client certificate"),
        ..Session::default()
    };
    gongji_operator::audit::audit(&session, &target, &mut std::io::sink())
        .await
        .expect("the audit runs")
}

/// Donors in every province, a relative of each in every province, a
/// relationship for every ordered pair (and within each province), and a
/// person who will move. Done before any fault.
pub async fn setup(urls: &[(String, Endpoint)]) {
    for (p, url) in urls {
        let mut n = node(url);
        register(&mut n, &format!("donor-{p}"), pb::InsuranceType::Employee, &region(p)).await;
        for i in 0..3 {
            n.credit_contribution(pb::CreditContributionRequest {
                contribution_id: format!("c-{p}-{i}"),
                person_id: format!("donor-{p}"),
                amount: "9000000.00".into(),
            })
            .await
            .expect("credit");
        }
        for (q, _) in urls {
            let mut kin_node = node(&url_of(urls, q));
            register(&mut kin_node, &format!("kin-{q}-of-{p}"), pb::InsuranceType::Resident, &region(q)).await;
            kin_node
                .open_wallet(pb::OpenWalletRequest {
                    person_id: format!("kin-{q}-of-{p}"),
                })
                .await
                .expect("open a wallet");
        }
    }
    for (p, url) in urls {
        for (q, _) in urls {
            let r = node(url)
                .establish_relationship(pb::EstablishRelationshipRequest {
                    relationship_id: format!("rel-{p}-{q}"),
                    donor_id: format!("donor-{p}"),
                    beneficiary_id: format!("kin-{q}-of-{p}"),
                    beneficiary_province: q.clone(),
                    relation_kind: pb::RelationKind::Sibling as i32,
                    quota: "2000000.00".into(),
                })
                .await
                .expect("establish")
                .into_inner();
            assert_eq!(r.status, pb::RelationshipStatus::Active as i32, "rel-{p}-{q}");
        }
    }
    let mover_province = &urls.last().expect("a province").0;
    let mut mover_node = node(&url_of(urls, mover_province));
    register(&mut mover_node, "chaos-mover", pb::InsuranceType::Employee, &region(mover_province)).await;
    mover_node
        .credit_contribution(pb::CreditContributionRequest {
            contribution_id: "c-mover".into(),
            person_id: "chaos-mover".into(),
            amount: "777.77".into(),
        })
        .await
        .expect("credit the mover");
}

fn url_of(urls: &[(String, Endpoint)], province: &str) -> Endpoint {
    urls.iter()
        .find(|(p, _)| p == province)
        .map(|(_, u)| u.clone())
        .expect("a known province")
}

async fn register(node: &mut ProvinceNodeClient<Channel>, id: &str, insurance: pb::InsuranceType, region: &str) {
    crate::register(node, id, insurance, region).await;
}

async fn try_register(
    node: &mut ProvinceNodeClient<Channel>,
    id: &str,
    insurance: pb::InsuranceType,
    region: &str,
) -> Result<(), tonic::Status> {
    node.register_person(crate::register_request(id, insurance, region)).await.map(drop)
}

/// A wallet transfer the workload sent: (id, sender's province, recipient's province, amount).
type WalletSent = (String, String, String, String);

/// One random wallet operation: a transfer from a donor to a relative's
/// wallet, or the acceptance, decline or cancellation of one sent before
/// (racing each other, and the 06:00 return once the clock has moved).
async fn operate_wallet(rng: &mut Rng, id: &str, urls: &[(String, Endpoint)], counters: &Counters, sent: &Mutex<Vec<WalletSent>>) {
    counters.operations.fetch_add(1, Ordering::Relaxed);
    counters.wallet_operations.fetch_add(1, Ordering::Relaxed);
    let known = |rng: &mut Rng| -> Option<WalletSent> {
        let list = sent.lock().expect("wallet lock");
        (!list.is_empty()).then(|| list[rng.below(list.len() as u64) as usize].clone())
    };
    let result = match (rng.below(100), known(rng)) {
        (0..=49, _) | (_, None) => {
            let (p, p_url) = rng.pick(urls).clone();
            let (q, _) = rng.pick(urls).clone();
            let amount = format!("{}.{:02}", 1 + rng.below(300), rng.below(100));
            let transfer = format!("{id}-wallet");
            sent.lock()
                .expect("wallet lock")
                .push((transfer.clone(), p.clone(), q.clone(), amount.clone()));
            node(&p_url)
                .send_to_wallet(pb::SendToWalletRequest {
                    transfer_id: transfer,
                    sender_id: format!("donor-{p}"),
                    recipient_id: format!("kin-{q}-of-{p}"),
                    recipient_province: q,
                    relation_kind: pb::RelationKind::Sibling as i32,
                    amount,
                })
                .await
                .map(drop)
        }
        (50..=79, Some((transfer, p, q, amount))) => node(&url_of(urls, &q))
            .accept_wallet_transfer(pb::AcceptWalletTransferRequest {
                transfer_id: transfer,
                recipient_id: format!("kin-{q}-of-{p}"),
                sender_province: if p == q { String::new() } else { p.clone() },
                amount: if p == q { String::new() } else { amount },
            })
            .await
            .map(|answer| {
                if answer.into_inner().status == pb::WalletTransferStatus::Accepted as i32 {
                    counters.wallet_accepted.fetch_add(1, Ordering::Relaxed);
                }
            }),
        (80..=89, Some((transfer, p, q, amount))) => node(&url_of(urls, &q))
            .decline_wallet_transfer(pb::DeclineWalletTransferRequest {
                transfer_id: transfer,
                recipient_id: format!("kin-{q}-of-{p}"),
                sender_province: if p == q { String::new() } else { p.clone() },
                amount: if p == q { String::new() } else { amount },
            })
            .await
            .map(drop),
        (_, Some((transfer, p, _, _))) => node(&url_of(urls, &p))
            .cancel_wallet_transfer(pb::CancelWalletTransferRequest {
                transfer_id: transfer,
                sender_id: format!("donor-{p}"),
            })
            .await
            .map(drop),
    };
    // A refusal (already settled, returned, limits) is a definite answer;
    // only an unavailable server counts as unanswered.
    if let Err(status) = result {
        if matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown
        ) {
            counters.unanswered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One random operation; failures (a server down, an answer lost) are
/// counted, never fatal: the network must cope.
async fn operate(rng: &mut Rng, id: &str, urls: &[(String, Endpoint)], counters: &Counters, payments: &Mutex<Vec<(String, Endpoint)>>) {
    counters.operations.fetch_add(1, Ordering::Relaxed);
    let (p, _) = rng.pick(urls).clone();
    let (q, q_url) = rng.pick(urls).clone();
    let known = |rng: &mut Rng| -> Option<(String, Endpoint)> {
        let list = payments.lock().expect("payments lock");
        (!list.is_empty()).then(|| list[rng.below(list.len() as u64) as usize].clone())
    };
    // Ok(true): a payment approved; Ok(false): any other definite answer.
    let result: Result<bool, tonic::Status> = match rng.below(100) {
        0..=59 => {
            let amount = format!("{}.{:02}", 1 + rng.below(200), rng.below(100));
            let request = pb::PayRequest {
                payment_id: id.into(),
                beneficiary_id: format!("kin-{q}-of-{p}"),
                institution_id: format!("H{q}010000001"),
                amount,
                purpose: pb::PaymentPurpose::Outpatient as i32,
                relationship_id: format!("rel-{p}-{q}"),
            };
            payments.lock().expect("payments lock").push((id.to_owned(), q_url.clone()));
            node(&q_url)
                .pay(request)
                .await
                .map(|r| r.into_inner().status == pb::TransactionStatus::Approved as i32)
        }
        60..=71 => match known(rng) {
            Some((payment, url)) => node(&url)
                .refund_payment(pb::RefundPaymentRequest {
                    refund_id: format!("{id}-refund"),
                    payment_id: payment,
                    amount: "0.50".into(),
                })
                .await
                .map(|_| false),
            None => Ok(false),
        },
        72..=83 => {
            let (payment, url) = if rng.chance(50) {
                known(rng).unwrap_or((format!("{id}-never"), q_url.clone()))
            } else {
                (format!("{id}-never"), q_url.clone())
            };
            node(&url)
                .reverse_payment(pb::ReversePaymentRequest { payment_id: payment })
                .await
                .map(|_| false)
        }
        84..=93 => {
            let quota = format!("{}.00", 1_500_000 + rng.below(1_000_000));
            node(&url_of(urls, &p))
                .change_quota(pb::ChangeQuotaRequest {
                    change_id: format!("{id}-quota"),
                    relationship_id: format!("rel-{p}-{q}"),
                    quota,
                })
                .await
                .map(|_| false)
        }
        _ => {
            // A short-lived relationship: established, paid from at once,
            // dissolved from either side (racing the payment's answer).
            let kin = format!("{id}-kin");
            let relationship = format!("{id}-rel");
            let established = async {
                try_register(&mut node(&q_url), &kin, pb::InsuranceType::Resident, &region(&q)).await?;
                node(&url_of(urls, &p))
                    .establish_relationship(pb::EstablishRelationshipRequest {
                        relationship_id: relationship.clone(),
                        donor_id: format!("donor-{p}"),
                        beneficiary_id: kin.clone(),
                        beneficiary_province: q.clone(),
                        relation_kind: pb::RelationKind::Sibling as i32,
                        quota: "1000.00".into(),
                    })
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(5), established).await {
                Ok(Ok(_)) => {
                    let mut pay = pb::PayRequest {
                        payment_id: format!("{id}-short"),
                        beneficiary_id: kin,
                        institution_id: format!("P{q}010000002"),
                        amount: "99.99".into(),
                        purpose: pb::PaymentPurpose::Pharmacy as i32,
                        relationship_id: relationship.clone(),
                    };
                    let (party, url) = if rng.chance(50) {
                        (pb::Party::Donor, url_of(urls, &p))
                    } else {
                        (pb::Party::Beneficiary, q_url.clone())
                    };
                    let (mut ender, mut payer) = (node(&url), node(&q_url));
                    let dissolve = ender.dissolve_relationship(pb::DissolveRelationshipRequest {
                        relationship_id: relationship,
                        requested_by: party as i32,
                    });
                    let paying = payer.pay(std::mem::take(&mut pay));
                    let (_, ended) = tokio::join!(paying, dissolve);
                    ended.map(|_| false)
                }
                Ok(Err(status)) => Err(status),
                Err(_) => Err(tonic::Status::deadline_exceeded("setting up a short-lived relationship")),
            }
        }
    };
    match result {
        Ok(true) => {
            counters.approved.fetch_add(1, Ordering::Relaxed);
        }
        Ok(false) => {}
        Err(_) => {
            counters.unanswered.fetch_add(1, Ordering::Relaxed);
        }
    }
}
