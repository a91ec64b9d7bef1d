//! The month's traffic: who pays whom, how much, and the calls that set the
//! population up and load the payments.
//!
//! Every province has one donor (an employee with a large balance). For every
//! ordered pair of provinces (p, q) the donor of p has `lanes` relatives
//! insured in q, each with a relationship p→q. Payment `i` goes to pair
//! `i mod pairs`, lane `(i / pairs) mod lanes`, for 1.00 to 99.99 decided by
//! `i`, at the beneficiary's node, naming the relationship. Quotas cover the
//! most any relationship is asked for, so every payment should be approved.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use gongji_common::{money::MAX_REQUEST_AMOUNT, Money, ProvinceCode};
use gongji_proto::v1::{self as pb, province_node_client::ProvinceNodeClient};
use tokio::task::JoinSet;
use tonic::{transport::Channel, Code};

use crate::{cluster::Cluster, failure, rate, secs, Failure};

/// The largest payment amount, in fen (99.99).
const LARGEST_FEN: i64 = 9_999;
/// Setup calls in flight at once.
const SETUP_CONCURRENCY: usize = 16;
/// How often one payment is retried while its node answers UNAVAILABLE.
const MAX_ATTEMPTS: u32 = 30;

/// The shape of the month's traffic.
pub struct Plan {
    pub provinces: Vec<ProvinceCode>,
    pub transactions: u64,
    /// Every ordered pair (donor's province, beneficiary's province).
    pub pairs: Vec<(ProvinceCode, ProvinceCode)>,
    /// Relationships per pair (more than one only when a pair's payments
    /// add up to more than one request may freeze).
    pub lanes: u64,
    /// The quota of every relationship.
    pub quota: Money,
}

impl Plan {
    pub fn new(provinces: Vec<ProvinceCode>, transactions: u64) -> Result<Plan, Failure> {
        let pairs: Vec<_> = provinces
            .iter()
            .flat_map(|p| provinces.iter().filter(move |q| *q != p).map(move |q| (*p, *q)))
            .collect();
        let per_pair = transactions.div_ceil(pairs.len() as u64);
        let most_fen = i64::try_from(MAX_REQUEST_AMOUNT.as_decimal().mantissa())
            .map_err(|_| failure("the largest request amount does not fit in fen"))?;
        // Leave one payment's worth of room, since a lane's count is rounded up.
        let room = u64::try_from(most_fen - LARGEST_FEN).map_err(|_| failure("the largest request amount is tiny"))?;
        let lanes = (per_pair * LARGEST_FEN as u64).div_ceil(room).max(1);
        let per_lane = per_pair.div_ceil(lanes);
        let quota = Money::from_fen(i64::try_from(per_lane).map_err(|_| failure("too many payments"))? * LARGEST_FEN);
        Ok(Plan {
            provinces,
            transactions,
            pairs,
            lanes,
            quota,
        })
    }

    /// Payment `i`: (pair index, lane, amount).
    pub fn payment(&self, i: u64) -> (usize, u64, Money) {
        let pairs = self.pairs.len() as u64;
        let pair = (i % pairs) as usize;
        let lane = (i / pairs) % self.lanes;
        let fen = 100 + (i.wrapping_mul(7_919) % 9_900) as i64;
        (pair, lane, Money::from_fen(fen))
    }

    fn relationships_per_donor(&self) -> u64 {
        (self.provinces.len() as u64 - 1) * self.lanes
    }
}

fn donor(p: ProvinceCode) -> String {
    format!("bench-donor-{p}")
}

fn relative(p: ProvinceCode, q: ProvinceCode, lane: u64) -> String {
    format!("bench-kin-{p}-{q}-{lane}")
}

fn relationship(p: ProvinceCode, q: ProvinceCode, lane: u64) -> String {
    format!("bench-rel-{p}-{q}-{lane}")
}

fn region(p: ProvinceCode) -> String {
    format!("{p}0100")
}

pub fn node_client(cluster: &Cluster, province: ProvinceCode) -> Result<ProvinceNodeClient<Channel>, Failure> {
    let url = cluster.node(province).url.clone();
    Ok(ProvinceNodeClient::new(Channel::from_shared(url)?.connect_lazy()))
}

/// Runs `calls` with at most `limit` in flight; the first failure wins.
async fn concurrently<F>(calls: Vec<F>, limit: usize) -> Result<(), Failure>
where
    F: Future<Output = Result<(), Failure>> + Send + 'static,
{
    let mut running = JoinSet::new();
    for call in calls {
        if running.len() >= limit {
            if let Some(done) = running.join_next().await {
                done.map_err(|e| failure(format!("setup task: {e}")))??;
            }
        }
        running.spawn(call);
    }
    while let Some(done) = running.join_next().await {
        done.map_err(|e| failure(format!("setup task: {e}")))??;
    }
    Ok(())
}

fn person(id: String, province: ProvinceCode, insurance: pb::InsuranceType) -> pb::RegisterPersonRequest {
    pb::RegisterPersonRequest {
        person: Some(pb::Person {
            name: format!("Benchmark {id}"),
            person_id: id,
            insurance_type: insurance as i32,
            region_code: region(province),
            status: pb::PersonStatus::Active as i32,
            ..Default::default()
        }),
    }
}

/// Registers the donors and relatives, credits the donors and establishes
/// every relationship (each one routed through the hub to the relative's node).
pub async fn set_up(cluster: &Cluster, plan: &Plan) -> Result<(), Failure> {
    let clients: BTreeMap<ProvinceCode, ProvinceNodeClient<Channel>> = plan
        .provinces
        .iter()
        .map(|p| Ok((*p, node_client(cluster, *p)?)))
        .collect::<Result<_, Failure>>()?;
    let client = |p: ProvinceCode| clients[&p].clone();

    // Donors, with enough to freeze every quota they give, credited in
    // contributions no larger than one request may carry.
    let mut per_donor = Money::ZERO;
    for _ in 0..plan.relationships_per_donor() {
        per_donor = per_donor.checked_add(plan.quota)?;
    }
    let mut calls = Vec::new();
    for &p in &plan.provinces {
        let mut node = client(p);
        let mut left = per_donor;
        calls.push(async move {
            node.register_person(person(donor(p), p, pb::InsuranceType::Employee)).await?;
            let mut k = 0;
            while !left.is_zero() {
                let amount = left.min(MAX_REQUEST_AMOUNT);
                node.credit_contribution(pb::CreditContributionRequest {
                    contribution_id: format!("bench-credit-{p}-{k}"),
                    person_id: donor(p),
                    amount: amount.to_string(),
                })
                .await?;
                left = left.checked_sub(amount)?;
                k += 1;
            }
            Ok(())
        });
    }
    concurrently(calls, SETUP_CONCURRENCY).await?;

    let mut calls = Vec::new();
    for &(p, q) in &plan.pairs {
        for lane in 0..plan.lanes {
            let mut node = client(q);
            calls.push(async move {
                node.register_person(person(relative(p, q, lane), q, pb::InsuranceType::Resident))
                    .await?;
                Ok(())
            });
        }
    }
    concurrently(calls, SETUP_CONCURRENCY).await?;

    let mut calls = Vec::new();
    for &(p, q) in &plan.pairs {
        for lane in 0..plan.lanes {
            let mut node = client(p);
            let quota = plan.quota.to_string();
            calls.push(async move {
                let id = relationship(p, q, lane);
                let established = node
                    .establish_relationship(pb::EstablishRelationshipRequest {
                        relationship_id: id.clone(),
                        donor_id: donor(p),
                        beneficiary_id: relative(p, q, lane),
                        beneficiary_province: q.to_string(),
                        relation_kind: pb::RelationKind::Parent as i32,
                        quota,
                    })
                    .await?
                    .into_inner();
                if established.status != pb::RelationshipStatus::Active as i32 {
                    return Err(failure(format!("relationship {id} is not active: {established:?}")));
                }
                Ok(())
            });
        }
    }
    concurrently(calls, SETUP_CONCURRENCY).await
}

/// What the load did.
#[derive(Default)]
pub struct Load {
    pub approved: u64,
    pub declined: u64,
    pub failed: u64,
    /// Calls answered UNAVAILABLE (or PENDING) and sent again with the same id.
    pub retries: u64,
    /// Distinct decline reasons and errors, with how often each happened.
    pub problems: BTreeMap<String, u64>,
    /// Per pair (index into `Plan::pairs`): approved count and gross.
    pub cleared: Vec<(u64, Money)>,
    pub elapsed: Duration,
}

impl Load {
    fn merge(&mut self, other: Load) -> Result<(), Failure> {
        self.approved += other.approved;
        self.declined += other.declined;
        self.failed += other.failed;
        self.retries += other.retries;
        for (problem, count) in other.problems {
            *self.problems.entry(problem).or_default() += count;
        }
        for (mine, theirs) in self.cleared.iter_mut().zip(other.cleared) {
            mine.0 += theirs.0;
            mine.1 = mine.1.checked_add(theirs.1)?;
        }
        Ok(())
    }

    pub fn rate(&self) -> f64 {
        rate(self.approved + self.declined + self.failed, self.elapsed)
    }
}

enum Outcome {
    Approved,
    Declined(String),
    Failed(String),
}

/// Sends every payment of the plan, `concurrency` at a time, printing
/// progress at each tenth.
pub async fn load(cluster: &Cluster, plan: Arc<Plan>, concurrency: usize) -> Result<Load, Failure> {
    let clients: Arc<BTreeMap<ProvinceCode, ProvinceNodeClient<Channel>>> = Arc::new(
        plan.provinces
            .iter()
            .map(|p| Ok((*p, node_client(cluster, *p)?)))
            .collect::<Result<_, Failure>>()?,
    );
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let first_problems = Arc::new(Mutex::new(0u32));
    let started = Instant::now();

    let monitor = tokio::spawn(progress(plan.transactions, done.clone(), started));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (plan, clients, next, done, first_problems) =
            (plan.clone(), clients.clone(), next.clone(), done.clone(), first_problems.clone());
        workers.spawn(async move {
            let mut mine = Load {
                cleared: vec![(0, Money::ZERO); plan.pairs.len()],
                ..Load::default()
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.transactions {
                    break;
                }
                let (pair, lane, amount) = plan.payment(i);
                let (p, q) = plan.pairs[pair];
                let request = pb::PayRequest {
                    payment_id: format!("bench-pay-{i}"),
                    beneficiary_id: relative(p, q, lane),
                    institution_id: format!("H{}00001", region(q)),
                    amount: amount.to_string(),
                    purpose: pb::PaymentPurpose::Outpatient as i32,
                    relationship_id: relationship(p, q, lane),
                };
                let (outcome, retries) = pay(clients[&q].clone(), request).await;
                mine.retries += u64::from(retries);
                let problem = match outcome {
                    Outcome::Approved => {
                        mine.approved += 1;
                        mine.cleared[pair].0 += 1;
                        mine.cleared[pair].1 = mine.cleared[pair].1.checked_add(amount)?;
                        None
                    }
                    Outcome::Declined(why) => {
                        mine.declined += 1;
                        Some(why)
                    }
                    Outcome::Failed(why) => {
                        mine.failed += 1;
                        Some(why)
                    }
                };
                if let Some(why) = problem {
                    if note_first(&first_problems) {
                        println!("  problem: bench-pay-{i} ({p}→{q}, {amount}): {why}");
                    }
                    *mine.problems.entry(why).or_default() += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<Load, Failure>(mine)
        });
    }
    let mut total = Load {
        cleared: vec![(0, Money::ZERO); plan.pairs.len()],
        ..Load::default()
    };
    while let Some(worker) = workers.join_next().await {
        total.merge(worker.map_err(|e| failure(format!("load worker: {e}")))??)?;
    }
    total.elapsed = started.elapsed();
    monitor.abort();
    Ok(total)
}

/// Whether this is one of the first few problems (printed as they happen).
fn note_first(printed: &Mutex<u32>) -> bool {
    let mut printed = printed.lock().expect("the problem counter is never poisoned");
    *printed += 1;
    *printed <= 5
}

/// One payment, retried with the same id while the node answers
/// UNAVAILABLE (or the payment is still pending). Returns the outcome and
/// how many retries it took.
async fn pay(mut node: ProvinceNodeClient<Channel>, request: pb::PayRequest) -> (Outcome, u32) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let again = match node.pay(request.clone()).await {
            Ok(reply) => {
                let payment = reply.into_inner();
                match pb::TransactionStatus::try_from(payment.status) {
                    Ok(pb::TransactionStatus::Approved) => return (Outcome::Approved, attempt - 1),
                    Ok(pb::TransactionStatus::Declined) => {
                        let reason = pb::DeclineReason::try_from(payment.decline_reason)
                            .map_or_else(|_| payment.decline_reason.to_string(), |r| r.as_str_name().to_owned());
                        return (
                            Outcome::Declined(format!("declined {reason}: {}", payment.decline_message)),
                            attempt - 1,
                        );
                    }
                    Ok(pb::TransactionStatus::Pending) => "still PENDING".to_owned(),
                    other => return (Outcome::Failed(format!("unexpected status {other:?}")), attempt - 1),
                }
            }
            Err(status) if status.code() == Code::Unavailable => format!("UNAVAILABLE: {}", status.message()),
            Err(status) => return (Outcome::Failed(format!("{:?}: {}", status.code(), status.message())), attempt - 1),
        };
        if attempt >= MAX_ATTEMPTS {
            return (
                Outcome::Failed(format!("gave up after {attempt} attempts, last: {again}")),
                attempt - 1,
            );
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(10)))).await;
    }
}

/// Prints a line at each tenth of the load, and one whenever a minute goes
/// by without one (saying whether payments still complete).
async fn progress(total: u64, done: Arc<AtomicU64>, started: Instant) {
    let mut next_tenth = 1;
    let mut last_print = Instant::now();
    let mut last_done = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = done.load(Ordering::Relaxed);
        let mut printed = false;
        while next_tenth <= 10 && now * 10 >= total * next_tenth {
            println!(
                "  load {:>3}%: {now}/{total} in {}, {:.0} payments/s",
                next_tenth * 10,
                secs(started.elapsed()),
                rate(now, started.elapsed())
            );
            next_tenth += 1;
            printed = true;
        }
        if printed {
            last_print = Instant::now();
            last_done = now;
        } else if last_print.elapsed() >= Duration::from_secs(60) {
            let note = if now == last_done {
                " — NO payment completed in the last minute"
            } else {
                ""
            };
            println!(
                "  load: {now}/{total} in {}, {:.0} payments/s{note}",
                secs(started.elapsed()),
                rate(now, started.elapsed())
            );
            last_print = Instant::now();
            last_done = now;
        }
    }
}
