//! The demo population that `gongji devnet` seeds, with fixed ids so that a
//! README can name them and a second run finds the recorded outcomes instead
//! of crediting twice. For provinces P (in the given order), q the province
//! after p (cyclically):
//!
//! - `demo-{p}-donor`: employee "Demo donor {p}" of region `{p}0100`, with
//!   contribution `demo-contribution-{p}` of 5000.00;
//! - `demo-{p}-relative`: resident "Demo relative {p}" of region `{p}0100`;
//! - `demo-rel-{p}-{q}` (only with 2+ provinces): at p's node, donor
//!   `demo-{p}-donor` → beneficiary `demo-{q}-relative`, parent, quota 1000.00;
//! - `demo-rel-{p}-{p}`: donor `demo-{p}-donor` → `demo-{p}-relative`, spouse,
//!   quota 200.00;
//! - `demo-pay-{q}` (only with 2+ provinces): at q's node, 88.00 outpatient at
//!   `H{q}010000001` for `demo-{q}-relative`, from `demo-rel-{p}-{q}`;
//! - a wallet (医保钱包) for every `demo-{p}-relative`, and (only with 2+
//!   provinces) `demo-wallet-{p}-{q}` of the last two provinces: 100.00 from
//!   `demo-{p}-donor`'s account to `demo-{q}-relative`'s wallet, accepted.
//!   Wallet transfers are not sent between 22:00 and 06:00 China Standard
//!   Time: seeded then, the transfer is left out (a note says so) and made
//!   by the next seeding in the day.
//!
//! So each donor ends with 3800.00 available and 1112.00 frozen. Seeding only
//! calls the public ProvinceNode API; a failed step is a warning, never fatal.

use std::{collections::BTreeMap, fmt};

use gongji_common::ProvinceCode;
use gongji_proto::v1 as pb;
use tonic::Status;

use gongji_operator::{
    connection::CALL_TIMEOUT,
    error::code_words,
    manifest::Manifest,
    output::{decline_word, relationship_status_word, tx_status_word},
    session::{NodeClient, Session},
};

/// Credited into every demo donor's account.
pub const CONTRIBUTION: &str = "5000.00";
/// The demo wallet transfer's amount.
pub const WALLET_AMOUNT: &str = "100.00";
/// Quota of each cross-province demo relationship.
pub const CROSS_QUOTA: &str = "1000.00";
/// Quota of each same-province demo relationship.
pub const SAME_QUOTA: &str = "200.00";
/// Amount of each demo payment.
pub const PAYMENT_AMOUNT: &str = "88.00";

pub fn donor(p: ProvinceCode) -> String {
    format!("demo-{p}-donor")
}

pub fn relative(p: ProvinceCode) -> String {
    format!("demo-{p}-relative")
}

pub fn region(p: ProvinceCode) -> String {
    format!("{p}0100")
}

pub fn contribution(p: ProvinceCode) -> String {
    format!("demo-contribution-{p}")
}

/// The demo wallet transfer from `demo-{p}-donor` to `demo-{q}-relative`.
pub fn wallet_transfer(p: ProvinceCode, q: ProvinceCode) -> String {
    format!("demo-wallet-{p}-{q}")
}

/// The relationship given by `demo-{donor}-donor` to `demo-{beneficiary}-relative`.
pub fn relationship(donor: ProvinceCode, beneficiary: ProvinceCode) -> String {
    format!("demo-rel-{donor}-{beneficiary}")
}

/// The demo payment made at `q`'s node.
pub fn payment(q: ProvinceCode) -> String {
    format!("demo-pay-{q}")
}

/// The demo hospital of `q`: region `{q}0100`, serial 00001.
pub fn institution(q: ProvinceCode) -> String {
    format!("H{q}010000001")
}

/// The province after `provinces[i]`, cyclically.
pub fn next(provinces: &[ProvinceCode], i: usize) -> ProvinceCode {
    provinces[(i + 1) % provinces.len()]
}

/// The province before `provinces[i]`, cyclically.
pub fn previous(provinces: &[ProvinceCode], i: usize) -> ProvinceCode {
    provinces[(i + provinces.len() - 1) % provinces.len()]
}

/// What seeding left behind.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    /// One line per province, in the order given.
    pub provinces: Vec<ProvinceReport>,
    /// Every step that failed or was skipped, and why.
    pub warnings: Vec<String>,
    /// Steps left out by design (the demo wallet transfer in the quiet hours).
    pub notes: Vec<String>,
}

/// The demo records of one province as they stand after seeding.
#[derive(Debug, Clone)]
pub struct ProvinceReport {
    pub code: ProvinceCode,
    pub address: String,
    /// The donor's (available, frozen) balances, if they could be read.
    pub donor_balances: Option<(String, String)>,
    /// The relationships this province's donor gives: (id, status word).
    pub relationships: Vec<(String, String)>,
    /// The payment made at this province's node: (id, status word).
    pub payment: Option<(String, String)>,
}

impl fmt::Display for ProvinceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.code.known_name().unwrap_or("");
        write!(f, "{} {name:<9} {}  {}", self.code, self.address, donor(self.code))?;
        match &self.donor_balances {
            Some((available, frozen)) => write!(f, " {available} available, {frozen} frozen")?,
            None => write!(f, " (account unreadable)")?,
        }
        for (i, (id, status)) in self.relationships.iter().enumerate() {
            write!(f, "{} {id} {status}", if i == 0 { ";" } else { "," })?;
        }
        if let Some((id, status)) = &self.payment {
            write!(f, "; {id} {status}")?;
        }
        Ok(())
    }
}

/// Seeds the demo population into the session's network, for the
/// provinces in `provinces` (their order decides who is linked to whom),
/// connecting and presenting credentials as the session says. Safe to run
/// any number of times: every step uses a fixed id.
pub async fn seed(session: &Session, provinces: &[ProvinceCode]) -> SeedReport {
    let Some(manifest) = session.network() else {
        return SeedReport {
            provinces: Vec::new(),
            warnings: vec!["no network to seed: the session has no address file".into()],
            notes: Vec::new(),
        };
    };
    let mut seeder = Seeder::connect(session, manifest, provinces);
    let cross = provinces.len() >= 2;

    for &p in provinces {
        seeder
            .register(p, donor(p), format!("Demo donor {p}"), pb::InsuranceType::Employee)
            .await;
        seeder
            .register(p, relative(p), format!("Demo relative {p}"), pb::InsuranceType::Resident)
            .await;
        seeder.credit(p).await;
    }
    // Every beneficiary is registered before any relationship names them.
    for (i, &p) in provinces.iter().enumerate() {
        if cross {
            seeder.establish(p, next(provinces, i), pb::RelationKind::Parent, CROSS_QUOTA).await;
        }
        seeder.establish(p, p, pb::RelationKind::Spouse, SAME_QUOTA).await;
    }
    if cross {
        for (i, &q) in provinces.iter().enumerate() {
            seeder.pay(previous(provinces, i), q).await;
        }
    }
    for &p in provinces {
        seeder.open_wallet(p).await;
    }
    if let [.., p, q] = provinces {
        seeder.wallet_transfer(*p, *q).await;
    }
    seeder.report(provinces, cross).await
}

struct Seeder {
    nodes: BTreeMap<ProvinceCode, (String, NodeClient)>,
    relationships: BTreeMap<String, pb::Relationship>,
    payments: BTreeMap<String, pb::Payment>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl Seeder {
    fn connect(session: &Session, manifest: &Manifest, provinces: &[ProvinceCode]) -> Seeder {
        let mut seeder = Seeder {
            nodes: BTreeMap::new(),
            relationships: BTreeMap::new(),
            payments: BTreeMap::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
        };
        for &p in provinces {
            let Some(entry) = manifest.provinces.iter().find(|e| e.code == p.as_str()) else {
                seeder
                    .warnings
                    .push(format!("province {p} is not in the network; its demo data is skipped"));
                continue;
            };
            match session.endpoint(&entry.address, CALL_TIMEOUT, None) {
                Ok(endpoint) => {
                    let node = session.node_on(endpoint.connect_lazy());
                    seeder.nodes.insert(p, (entry.address.clone(), node));
                }
                Err(e) => seeder.warnings.push(format!("province {p}: {e}; its demo data is skipped")),
            }
        }
        seeder
    }

    /// A client of `p`'s node (cheap to clone: it shares the channel).
    fn node(&self, p: ProvinceCode) -> Option<NodeClient> {
        self.nodes.get(&p).map(|(_, node)| node.clone())
    }

    fn check<T>(&mut self, what: &str, result: Result<tonic::Response<T>, Status>) -> Option<T> {
        match result {
            Ok(response) => Some(response.into_inner()),
            Err(status) => {
                self.warnings
                    .push(format!("{what} failed: {}: {}", code_words(status.code()), status.message()));
                None
            }
        }
    }

    async fn register(&mut self, p: ProvinceCode, id: String, name: String, insurance: pb::InsuranceType) {
        let Some(mut node) = self.node(p) else { return };
        // Seeded before (and perhaps moved or ended since): nothing to do.
        if node.get_person(pb::GetPersonRequest { person_id: id.clone() }).await.is_ok() {
            return;
        }
        let person = pb::Person {
            person_id: id.clone(),
            name,
            insurance_type: insurance as i32,
            region_code: region(p),
            status: pb::PersonStatus::Active as i32,
            registered_at: None,
        };
        let result = node.register_person(pb::RegisterPersonRequest { person: Some(person) }).await;
        self.check(&format!("registering {id}"), result);
    }

    async fn open_wallet(&mut self, p: ProvinceCode) {
        let Some(mut node) = self.node(p) else { return };
        let result = node.open_wallet(pb::OpenWalletRequest { person_id: relative(p) }).await;
        self.check(&format!("opening the wallet of {}", relative(p)), result);
    }

    /// `demo-wallet-{p}-{q}`: sent from p's donor to q's relative, accepted at q.
    async fn wallet_transfer(&mut self, p: ProvinceCode, q: ProvinceCode) {
        let (Some(mut sender), Some(mut recipient)) = (self.node(p), self.node(q)) else {
            return;
        };
        let id = wallet_transfer(p, q);
        let sent = sender
            .send_to_wallet(pb::SendToWalletRequest {
                transfer_id: id.clone(),
                sender_id: donor(p),
                recipient_id: relative(q),
                recipient_province: q.to_string(),
                relation_kind: pb::RelationKind::Parent as i32,
                amount: WALLET_AMOUNT.to_owned(),
            })
            .await;
        match sent {
            Err(status) if status.message().contains("China Standard Time") => {
                self.notes.push(format!("{id} not sent: {}", status.message()));
                return;
            }
            other => {
                if self.check(&format!("sending {id}"), other).is_none() {
                    return;
                }
            }
        }
        let result = recipient
            .accept_wallet_transfer(pb::AcceptWalletTransferRequest {
                transfer_id: id.clone(),
                recipient_id: relative(q),
                sender_province: p.to_string(),
                amount: WALLET_AMOUNT.to_owned(),
            })
            .await;
        self.check(&format!("accepting {id}"), result);
    }

    async fn credit(&mut self, p: ProvinceCode) {
        let Some(mut node) = self.node(p) else { return };
        let result = node
            .credit_contribution(pb::CreditContributionRequest {
                contribution_id: contribution(p),
                person_id: donor(p),
                amount: CONTRIBUTION.to_owned(),
            })
            .await;
        self.check(&format!("crediting {}", contribution(p)), result);
    }

    async fn establish(&mut self, p: ProvinceCode, q: ProvinceCode, kind: pb::RelationKind, quota: &str) {
        let Some(mut node) = self.node(p) else { return };
        let id = relationship(p, q);
        // Seeded before (and perhaps dissolved since): nothing to do or say.
        if let Ok(existing) = node
            .get_relationship(pb::GetRelationshipRequest {
                relationship_id: id.clone(),
            })
            .await
        {
            self.relationships.insert(id, existing.into_inner());
            return;
        }
        let result = node
            .establish_relationship(pb::EstablishRelationshipRequest {
                relationship_id: id.clone(),
                donor_id: donor(p),
                beneficiary_id: relative(q),
                beneficiary_province: q.to_string(),
                relation_kind: kind as i32,
                quota: quota.to_owned(),
            })
            .await;
        if let Some(relationship) = self.check(&format!("establishing {id}"), result) {
            if relationship.status != pb::RelationshipStatus::Active as i32 {
                self.warnings.push(format!(
                    "{id} is {}{}",
                    relationship_status_word(relationship.status),
                    because(relationship.decline_reason, &relationship.decline_message)
                ));
            }
            self.relationships.insert(id, relationship);
        }
    }

    /// Pays at `q` from `p`'s relationship, only once that relationship is
    /// active: a payment id is spent for good, even on a decline.
    async fn pay(&mut self, p: ProvinceCode, q: ProvinceCode) {
        let Some(mut node) = self.node(q) else { return };
        let id = payment(q);
        let relationship_id = relationship(p, q);
        // Paid before: nothing to do or say, whatever became of the relationship.
        if let Ok(paid) = node.get_payment(pb::GetPaymentRequest { payment_id: id.clone() }).await {
            self.payments.insert(id, paid.into_inner());
            return;
        }
        let active = self
            .relationships
            .get(&relationship_id)
            .is_some_and(|r| r.status == pb::RelationshipStatus::Active as i32);
        if !active {
            self.warnings.push(format!(
                "{id} skipped: {relationship_id} is not active yet; run the seeding again to retry"
            ));
            return;
        }
        let result = node
            .pay(pb::PayRequest {
                payment_id: id.clone(),
                beneficiary_id: relative(q),
                institution_id: institution(q),
                amount: PAYMENT_AMOUNT.to_owned(),
                purpose: pb::PaymentPurpose::Outpatient as i32,
                relationship_id,
            })
            .await;
        if let Some(payment) = self.check(&format!("paying {id}"), result) {
            if payment.status != pb::TransactionStatus::Approved as i32 {
                self.warnings.push(format!(
                    "{id} is {}{}",
                    tx_status_word(payment.status),
                    because(payment.decline_reason, &payment.decline_message)
                ));
            }
            self.payments.insert(id, payment);
        }
    }

    async fn report(mut self, provinces: &[ProvinceCode], cross: bool) -> SeedReport {
        let mut lines = Vec::new();
        for (i, &p) in provinces.iter().enumerate() {
            let Some(mut node) = self.node(p) else { continue };
            let result = node.get_account(pb::GetAccountRequest { person_id: donor(p) }).await;
            let donor_balances = self
                .check(&format!("reading the account of {}", donor(p)), result)
                .map(|a| (a.available, a.frozen));
            let mut owned = Vec::new();
            if cross {
                owned.push(relationship(p, next(provinces, i)));
            }
            owned.push(relationship(p, p));
            let relationships = owned
                .into_iter()
                .map(|id| {
                    let status = self
                        .relationships
                        .get(&id)
                        .map_or_else(|| "unknown".to_owned(), |r| relationship_status_word(r.status));
                    (id, status)
                })
                .collect();
            let payment = cross.then(|| {
                let id = payment(p);
                let status = self
                    .payments
                    .get(&id)
                    .map_or_else(|| "not made".to_owned(), |r| tx_status_word(r.status));
                (id, status)
            });
            lines.push(ProvinceReport {
                code: p,
                address: self.nodes.get(&p).map(|(address, _)| address.clone()).unwrap_or_default(),
                donor_balances,
                relationships,
                payment,
            });
        }
        SeedReport {
            provinces: lines,
            warnings: self.warnings,
            notes: self.notes,
        }
    }
}

/// " (reason: message)" of a decline, or "" without one.
fn because(reason: i32, message: &str) -> String {
    match (decline_word(reason), message) {
        (reason, "") if reason.is_empty() => String::new(),
        (reason, message) => format!(" ({reason}: {message})"),
    }
}
