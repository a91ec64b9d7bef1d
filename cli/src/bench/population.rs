//! Who the benchmark's requests are for, and the calls that set them up.
//!
//! Client `c` lives in province `P(c) = provinces[c mod n]` and pays in
//! `Q(c) = provinces[(c + 1) mod n]`: it has a donor in P(c), a relative in
//! Q(c) with a cross-province relationship and a relative in P(c) with a
//! same-province one, so no two clients ever touch the same relationship
//! (concurrent payments on one relationship are serialized by design, and
//! rare in life). For relationship establishment it has `establish_side`
//! donors in P(c) and as many persons in Q(c): every (donor, person) pair is
//! established at most once, enough for the fastest run expected. Every id starts with the run's tag, so runs
//! against the same network never collide.

use std::{future::Future, pin::Pin, sync::Arc};

use gongji_common::ProvinceCode;
use gongji_proto::v1 as pb;

use gongji_operator::session::NodeClient;

use super::load::Answer;
use crate::demo;

/// The most establishments a second any run is expected to reach (the
/// baseline's included); the population is sized for it.
const ESTABLISH_RATE_CEILING: u64 = 20_000;
/// Credited to every donor; covers both payment quotas.
const DONOR_CONTRIBUTION: &str = "5000000.00";
/// Quota of each payment relationship: far more than a run spends.
const PAYMENT_QUOTA: &str = "2000000.00";
/// Credited to every establishment donor, and the quota each establishes.
const ESTABLISH_CONTRIBUTION: &str = "1000.00";
const ESTABLISH_QUOTA: &str = "1.00";

/// A request on its way.
pub type Call = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// The clients of each province's node.
pub type Nodes = Arc<std::collections::BTreeMap<ProvinceCode, NodeClient>>;

/// The benchmark's people and relationships.
#[derive(Debug, Clone)]
pub struct Population {
    pub tag: String,
    pub provinces: Vec<ProvinceCode>,
    pub clients: usize,
    /// Donors (and as many relatives) per client for establishment: a
    /// client can establish `establish_side²` relationships.
    pub establish_side: usize,
}

impl Population {
    /// The population of `clients` clients over `provinces`, with enough
    /// establishment pairs for `seconds` of load at the expected ceiling.
    pub fn new(tag: String, provinces: Vec<ProvinceCode>, clients: usize, seconds: u64) -> Population {
        let per_client = (ESTABLISH_RATE_CEILING * seconds).div_ceil(clients.max(1) as u64);
        let establish_side = ((per_client as f64).sqrt().ceil() as usize).max(8);
        Population {
            tag,
            provinces,
            clients,
            establish_side,
        }
    }
    /// Where client `c` lives (its donors' province).
    pub fn home(&self, c: usize) -> ProvinceCode {
        self.provinces[c % self.provinces.len()]
    }

    /// Where client `c`'s cross-province relatives live.
    pub fn away(&self, c: usize) -> ProvinceCode {
        self.provinces[(c + 1) % self.provinces.len()]
    }

    fn donor(&self, c: usize) -> String {
        format!("{}-d{c}", self.tag)
    }
    fn cross_kin(&self, c: usize) -> String {
        format!("{}-x{c}", self.tag)
    }
    fn same_kin(&self, c: usize) -> String {
        format!("{}-s{c}", self.tag)
    }
    fn cross_relationship(&self, c: usize) -> String {
        format!("{}-rx{c}", self.tag)
    }
    fn same_relationship(&self, c: usize) -> String {
        format!("{}-rs{c}", self.tag)
    }
    fn establish_donor(&self, c: usize, k: usize) -> String {
        format!("{}-ed{c}-{k}", self.tag)
    }
    fn establish_kin(&self, c: usize, k: usize) -> String {
        format!("{}-ek{c}-{k}", self.tag)
    }

    /// The registrations, in the order they must happen before anything else.
    pub fn registrations(&self, nodes: &Nodes, establish: bool) -> Vec<Call> {
        let mut calls = Vec::new();
        for c in 0..self.clients {
            let (home, away) = (self.home(c), self.away(c));
            calls.push(register(nodes, home, self.donor(c), pb::InsuranceType::Employee));
            calls.push(register(nodes, away, self.cross_kin(c), pb::InsuranceType::Resident));
            calls.push(register(nodes, home, self.same_kin(c), pb::InsuranceType::Resident));
            if establish {
                for k in 0..self.establish_side {
                    calls.push(register(nodes, home, self.establish_donor(c, k), pb::InsuranceType::Employee));
                    calls.push(register(nodes, away, self.establish_kin(c, k), pb::InsuranceType::Resident));
                }
            }
        }
        calls
    }

    /// The contributions that give the donors money to freeze.
    pub fn contributions(&self, nodes: &Nodes, establish: bool) -> Vec<Call> {
        let mut calls = Vec::new();
        for c in 0..self.clients {
            calls.push(credit(nodes, self.home(c), self.donor(c), DONOR_CONTRIBUTION));
            if establish {
                for k in 0..self.establish_side {
                    calls.push(credit(nodes, self.home(c), self.establish_donor(c, k), ESTABLISH_CONTRIBUTION));
                }
            }
        }
        calls
    }

    /// The relationships the payments are made from.
    pub fn payment_relationships(&self, nodes: &Nodes) -> Vec<Call> {
        (0..self.clients)
            .flat_map(|c| {
                [
                    establish(
                        nodes,
                        self.home(c),
                        self.cross_relationship(c),
                        self.donor(c),
                        self.cross_kin(c),
                        self.away(c),
                        PAYMENT_QUOTA,
                    ),
                    establish(
                        nodes,
                        self.home(c),
                        self.same_relationship(c),
                        self.donor(c),
                        self.same_kin(c),
                        self.home(c),
                        PAYMENT_QUOTA,
                    ),
                ]
            })
            .collect()
    }

    /// Client `c`'s `n`-th cross-province payment, made at its relative's node.
    pub fn cross_payment(&self, nodes: &Nodes, c: usize, n: u64) -> Call {
        let at = self.away(c);
        pay(
            nodes,
            at,
            format!("{}-px{c}-{n}", self.tag),
            self.cross_kin(c),
            self.cross_relationship(c),
            n,
        )
    }

    /// The wallets of the cross-province relatives.
    pub fn wallets(&self, nodes: &Nodes) -> Vec<Call> {
        (0..self.clients)
            .map(|c| {
                let (node, person) = (node(nodes, self.away(c)), self.cross_kin(c));
                Box::pin(async move {
                    let mut node = match node {
                        Ok(node) => node,
                        Err(answer) => return answer,
                    };
                    match node.open_wallet(pb::OpenWalletRequest { person_id: person }).await {
                        Ok(_) => Answer::Done,
                        Err(status) => failed(&status),
                    }
                }) as Call
            })
            .collect()
    }

    /// Client `c`'s `n`-th wallet transfer to its cross-province relative,
    /// sent at its home node and accepted at the relative's: one operation.
    pub fn wallet_transfer(&self, nodes: &Nodes, c: usize, n: u64) -> Call {
        let (home, away) = (self.home(c), self.away(c));
        let (sender_node, recipient_node) = (node(nodes, home), node(nodes, away));
        let (id, sender, recipient) = (format!("{}-wx{c}-{n}", self.tag), self.donor(c), self.cross_kin(c));
        let amount = amount(n);
        Box::pin(async move {
            let (mut sender_node, mut recipient_node) = match (sender_node, recipient_node) {
                (Ok(s), Ok(r)) => (s, r),
                (Err(answer), _) | (_, Err(answer)) => return answer,
            };
            let send = pb::SendToWalletRequest {
                transfer_id: id.clone(),
                sender_id: sender,
                recipient_id: recipient.clone(),
                recipient_province: away.to_string(),
                relation_kind: pb::RelationKind::Parent as i32,
                amount: amount.clone(),
            };
            if let Err(status) = sender_node.send_to_wallet(send).await {
                return failed(&status);
            }
            let accept = pb::AcceptWalletTransferRequest {
                transfer_id: id.clone(),
                recipient_id: recipient,
                sender_province: home.to_string(),
                amount,
            };
            match recipient_node.accept_wallet_transfer(accept).await {
                Ok(reply) if reply.get_ref().status == pb::WalletTransferStatus::Accepted as i32 => Answer::Done,
                Ok(_) => Answer::Refused(format!("wallet transfer {id} not accepted")),
                Err(status) => failed(&status),
            }
        })
    }

    /// Client `c`'s `n`-th same-province payment.
    pub fn same_payment(&self, nodes: &Nodes, c: usize, n: u64) -> Call {
        let at = self.home(c);
        pay(
            nodes,
            at,
            format!("{}-ps{c}-{n}", self.tag),
            self.same_kin(c),
            self.same_relationship(c),
            n,
        )
    }

    /// Client `c`'s `n`-th establishment, or `None` once its pairs are used up.
    pub fn establishment(&self, nodes: &Nodes, c: usize, n: u64) -> Option<Call> {
        let n = usize::try_from(n).ok()?;
        let side = self.establish_side;
        if n >= side * side {
            return None;
        }
        let (donor, kin) = (n % side, n / side);
        Some(establish(
            nodes,
            self.home(c),
            format!("{}-re{c}-{n}", self.tag),
            self.establish_donor(c, donor),
            self.establish_kin(c, kin),
            self.away(c),
            ESTABLISH_QUOTA,
        ))
    }
}

fn node(nodes: &Nodes, province: ProvinceCode) -> Result<NodeClient, Answer> {
    nodes
        .get(&province)
        .cloned()
        .ok_or_else(|| Answer::Failed(format!("no node for province {province}")))
}

fn register(nodes: &Nodes, province: ProvinceCode, id: String, insurance: pb::InsuranceType) -> Call {
    let node = node(nodes, province);
    Box::pin(async move {
        let mut node = match node {
            Ok(node) => node,
            Err(answer) => return answer,
        };
        let person = pb::Person {
            name: format!("Bench {id}"),
            person_id: id,
            insurance_type: insurance as i32,
            region_code: demo::region(province),
            status: pb::PersonStatus::Active as i32,
            registered_at: None,
        };
        match node.register_person(pb::RegisterPersonRequest { person: Some(person) }).await {
            Ok(_) => Answer::Done,
            Err(status) => failed(&status),
        }
    })
}

fn credit(nodes: &Nodes, province: ProvinceCode, person: String, amount: &'static str) -> Call {
    let node = node(nodes, province);
    Box::pin(async move {
        let mut node = match node {
            Ok(node) => node,
            Err(answer) => return answer,
        };
        let request = pb::CreditContributionRequest {
            contribution_id: format!("{person}-c"),
            person_id: person,
            amount: amount.to_owned(),
        };
        match node.credit_contribution(request).await {
            Ok(_) => Answer::Done,
            Err(status) => failed(&status),
        }
    })
}

fn establish(
    nodes: &Nodes,
    at: ProvinceCode,
    relationship_id: String,
    donor_id: String,
    beneficiary_id: String,
    beneficiary_province: ProvinceCode,
    quota: &'static str,
) -> Call {
    let node = node(nodes, at);
    Box::pin(async move {
        let mut node = match node {
            Ok(node) => node,
            Err(answer) => return answer,
        };
        let request = pb::EstablishRelationshipRequest {
            relationship_id,
            donor_id,
            beneficiary_id,
            beneficiary_province: beneficiary_province.to_string(),
            relation_kind: pb::RelationKind::Sibling as i32,
            quota: quota.to_owned(),
        };
        match node.establish_relationship(request).await {
            Ok(reply) => {
                let relationship = reply.into_inner();
                match pb::RelationshipStatus::try_from(relationship.status) {
                    Ok(pb::RelationshipStatus::Active) => Answer::Done,
                    Ok(pb::RelationshipStatus::Pending) => {
                        Answer::Failed(format!("relationship {} left pending", relationship.relationship_id))
                    }
                    _ => Answer::Refused(format!(
                        "relationship {}: {}",
                        relationship.relationship_id, relationship.decline_message
                    )),
                }
            }
            Err(status) => failed(&status),
        }
    })
}

fn pay(nodes: &Nodes, at: ProvinceCode, payment_id: String, beneficiary_id: String, relationship_id: String, n: u64) -> Call {
    let node = node(nodes, at);
    Box::pin(async move {
        let mut node = match node {
            Ok(node) => node,
            Err(answer) => return answer,
        };
        let request = pb::PayRequest {
            payment_id,
            beneficiary_id,
            institution_id: demo::institution(at),
            amount: amount(n),
            purpose: pb::PaymentPurpose::Outpatient as i32,
            relationship_id,
        };
        match node.pay(request).await {
            Ok(reply) => {
                let payment = reply.into_inner();
                match pb::TransactionStatus::try_from(payment.status) {
                    Ok(pb::TransactionStatus::Approved) => Answer::Done,
                    Ok(pb::TransactionStatus::Pending) => Answer::Failed(format!("payment {} left pending", payment.payment_id)),
                    _ => Answer::Refused(format!("payment {}: {}", payment.payment_id, payment.decline_message)),
                }
            }
            Err(status) => failed(&status),
        }
    })
}

/// The `n`-th payment's amount: 1.00 to 9.99.
fn amount(n: u64) -> String {
    format!("{}.{:02}", 1 + n % 9, n % 100)
}

fn failed(status: &tonic::Status) -> Answer {
    Answer::Failed(format!("{:?}: {}", status.code(), status.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn population(provinces: &[&str], clients: usize) -> Population {
        let provinces = provinces.iter().map(|p| ProvinceCode::parse("p", p).unwrap()).collect();
        Population::new("t".into(), provinces, clients, 12)
    }

    #[test]
    fn clients_live_in_one_province_and_pay_in_the_next() {
        let p = population(&["11", "31", "44"], 4);
        let codes: Vec<_> = (0..4).map(|c| (p.home(c).to_string(), p.away(c).to_string())).collect();
        assert_eq!(
            codes,
            [("11", "31"), ("31", "44"), ("44", "11"), ("11", "31")].map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn amounts_are_valid_money_between_one_and_ten() {
        for n in 0..1000 {
            let text = amount(n);
            let money = gongji_common::Money::parse_positive("amount", &text).unwrap();
            assert!(
                money >= gongji_common::Money::from_fen(100) && money < gongji_common::Money::from_fen(1000),
                "{text}"
            );
        }
    }

    #[test]
    fn ids_are_valid_and_establishment_pairs_are_distinct() {
        let p = population(&["11", "31"], 64);
        // 20,000 a second for 12 s over 64 clients: 3,750 each, 62² ≥ 3,750.
        assert_eq!(p.establish_side, 62);
        let c = p.clients - 1;
        for id in [
            p.establish_donor(c, p.establish_side - 1),
            p.cross_relationship(c),
            format!("{}-px{c}-{}", p.tag, u64::MAX),
            format!("{}-re{c}-{}", p.tag, p.establish_side * p.establish_side),
        ] {
            gongji_common::Id::parse("id", &id).unwrap();
        }
        let nodes: Nodes = Arc::new(std::collections::BTreeMap::new());
        let side = p.establish_side as u64;
        assert!(p.establishment(&nodes, c, side * side - 1).is_some());
        assert!(
            p.establishment(&nodes, c, side * side).is_none(),
            "every pair is established at most once"
        );
    }
}
