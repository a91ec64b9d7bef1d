//! The harness of the multi-node tests: a real hub and real province nodes
//! in this process (started by `gongji-network`, as the devnet and the
//! benchmark start theirs), on loopback port 0, each with a temporary data
//! directory, talked to with the real gRPC clients or the CLI's session.
//! Servers can be stopped and started again on the same address and data,
//! to take a node down and bring it back.

pub mod chaos;
pub mod cluster;
pub mod command_line;
pub mod proxy;

use std::{future::Future, time::Duration};

use gongji_common::store::StoreFlags;
use gongji_common::ProvinceCode;
use gongji_network::{Databases, Network, NetworkSpec};
use gongji_operator::{credentials::Credentials, session::Session};
use gongji_proto::v1::{self as pb, national_hub_client::NationalHubClient, province_node_client::ProvinceNodeClient};
use tonic::{transport::Channel, Code, Status};

pub use gongji_proto::v1;

use gongji_common::auth::Credential;

/// A channel that presents a link credential on every call.
pub type Authenticated = tonic::service::interceptor::InterceptedService<Channel, Credential>;

/// Makes certificates for the network of `spec` (in DATA_DIR/certs, as
/// `gongji certs` writes them) and has its servers run mutual TLS.
fn with_certs(spec: &mut NetworkSpec) {
    spec.run_tls(Vec::new()).expect("certificates");
}

/// A network of a hub and province nodes for one test.
pub struct TestNetwork {
    network: Network,
    dir: tempfile::TempDir,
    /// The clients' tokens, when the network has a clients file.
    clients: Option<TestClients>,
}

pub fn code(text: &str) -> ProvinceCode {
    ProvinceCode::parse("province", text).expect("tests use valid province codes")
}

impl TestNetwork {
    /// Starts the hub and one node per province, quick to retry so that
    /// recovery shows within a test's patience.
    pub async fn start(provinces: &[&str]) -> TestNetwork {
        TestNetwork::start_with(provinces, |_| {}).await
    }

    /// Starts a network after `adjust` has changed its spec (prepaid funds, say).
    pub async fn start_with(provinces: &[&str], adjust: impl FnOnce(&mut NetworkSpec)) -> TestNetwork {
        let dir = tempfile::tempdir().expect("temporary directory");
        let codes: Vec<ProvinceCode> = provinces.iter().map(|p| code(p)).collect();
        let mut spec =
            NetworkSpec::on_ports(dir.path().to_path_buf(), "127.0.0.1".parse().expect("loopback"), 0, &codes).expect("port-0 spec");
        spec.recovery_interval = Duration::from_millis(200);
        spec.hub_call_timeout = Duration::from_secs(2);
        spec.node_call_timeout = Duration::from_secs(4);
        if on_postgres() {
            spec.databases = Some(Databases {
                hub: gongji_common::testing::fresh_postgres_database(),
                provinces: codes
                    .iter()
                    .map(|code| (*code, gongji_common::testing::fresh_postgres_database()))
                    .collect(),
            });
        }
        adjust(&mut spec);
        let network = Network::start(spec).await.expect("network starts");
        let test_network = TestNetwork {
            network,
            dir,
            clients: None,
        };
        test_network.wait_ready().await;
        test_network
    }

    /// Starts a network whose servers run mutual TLS with certificates made
    /// for it (in DATA_DIR/certs, as `gongji certs` writes them).
    pub async fn start_tls(provinces: &[&str]) -> TestNetwork {
        TestNetwork::start_with(provinces, with_certs).await
    }

    /// Waits until every server answers its health check.
    pub async fn wait_ready(&self) {
        self.network.wait_ready().await.expect("every server serves");
    }

    /// A channel to `url` presenting the certificate `name` of the network's
    /// certificates (`client`, `hub`, `province-13`), or a plaintext one when
    /// the network has none.
    pub fn channel_as(&self, url: &str, name: &str) -> Channel {
        let endpoint = Channel::from_shared(url.to_owned()).expect("a server url");
        let endpoint = match self.network.certs() {
            Some(dir) => {
                let tls = gongji_common::tls::Tls::load(&gongji_common::tls::TlsFiles::in_dir(dir, name)).expect("the certificate");
                endpoint.tls_config(tls.client_config(None)).expect("TLS configuration")
            }
            None => endpoint,
        };
        endpoint.connect_lazy()
    }

    fn channel(&self, url: &str) -> Channel {
        self.channel_as(url, "client")
    }

    /// The session of a client of this network, as the CLI has it: the
    /// network's certificates (when it runs TLS) and address file,
    /// presenting `client`'s token (none: no token) and `reason`.
    pub fn session_as(&self, client: Option<&str>, reason: Option<&str>) -> Session {
        Session::for_network(self.network.manifest(), self.credentials(client, reason)).expect("the network's client certificate")
    }

    /// [`TestNetwork::session_as`] without a token or a reason.
    pub fn session(&self) -> Session {
        self.session_as(None, None)
    }

    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A client of a province node's public service.
    pub fn node(&self, province: &str) -> ProvinceNodeClient<Channel> {
        ProvinceNodeClient::new(self.channel(&self.network.node_url(code(province))))
    }

    /// A client of the hub's operator service.
    pub fn hub(&self) -> NationalHubClient<Channel> {
        NationalHubClient::new(self.channel(&self.network.hub_url()))
    }

    pub async fn stop_node(&mut self, province: &str) {
        self.network.stop_node(code(province)).await.expect("node stops");
    }

    pub async fn start_node(&mut self, province: &str) {
        self.network.start_node(code(province)).await.expect("node starts");
        self.network.wait_node_ready(code(province)).await.expect("the node serves");
    }

    pub async fn stop_hub(&mut self) {
        self.network.stop_hub().await.expect("hub stops");
    }

    /// Starts the stopped hub again. Connection tasks of the stopped hub
    /// may hold its store a moment after `stop_hub` returns: a start that
    /// finds the store locked is tried again (for up to 10 s).
    pub async fn start_hub(&mut self) {
        self.network.start_hub().await.expect("hub starts");
        self.network.wait_hub_ready().await.expect("the hub serves");
    }

    /// Puts a fault-injecting proxy between the hub and a province's node
    /// (the hub restarts to take the new route).
    pub async fn proxy_hub_to(&mut self, province: &str) -> proxy::FaultProxy {
        let node = self.network.node_addr(code(province)).expect("province is part of the network");
        let proxy = proxy::FaultProxy::start(node).await;
        self.network.route_hub_via(code(province), proxy.addr());
        self.stop_hub().await;
        self.start_hub().await;
        proxy
    }

    /// A client of a province node's hub-facing service presenting the
    /// hub's certificate (on a TLS network) or token, to play a late,
    /// repeated or forged message from the hub.
    pub fn link(&self, province: &str) -> gongji_proto::v1::province_link_client::ProvinceLinkClient<Authenticated> {
        let url = self.network.node_url(code(province));
        let (channel, credential) = match self.network.certs() {
            Some(_) => (self.channel_as(&url, "hub"), Credential::hub(None)),
            None => (
                Channel::from_shared(url).expect("node url").connect_lazy(),
                Credential::hub(Some(&self.network.tokens().hub)),
            ),
        };
        gongji_proto::v1::province_link_client::ProvinceLinkClient::with_interceptor(channel, credential.expect("a token"))
    }

    /// A client of the hub's router presenting `province`'s own certificate
    /// (on a TLS network) or token, to play a late, repeated or forged
    /// message from that province's node.
    pub fn router(&self, province: &str) -> gongji_proto::v1::hub_router_client::HubRouterClient<Authenticated> {
        let url = self.network.hub_url();
        let (channel, token) = match self.network.certs() {
            Some(_) => (self.channel_as(&url, &gongji_operator::certs::province_file(code(province))), None),
            None => {
                let token = self
                    .network
                    .tokens()
                    .provinces
                    .get(&code(province))
                    .expect("a province of the network");
                (Channel::from_shared(url).expect("hub url").connect_lazy(), Some(token.as_str()))
            }
        };
        let credential = Credential::province(code(province), token).expect("a token");
        gongji_proto::v1::hub_router_client::HubRouterClient::with_interceptor(channel, credential)
    }

    /// Stops every server and starts them all again on their data.
    pub async fn restart_all(&mut self) {
        let provinces: Vec<ProvinceCode> = self.network.provinces().collect();
        for p in &provinces {
            self.network.stop_node(*p).await.expect("node stops");
        }
        self.network.stop_hub().await.expect("hub stops");
        self.network.start_hub().await.expect("hub starts");
        for p in &provinces {
            self.network.start_node(*p).await.expect("node starts");
        }
        self.wait_ready().await;
    }

    pub async fn shutdown(self) {
        self.network.shutdown().await.expect("clean shutdown");
    }
}

/// A channel that presents a client token (and a reason) on every call.
pub type AsClient = tonic::service::interceptor::InterceptedService<Channel, Credentials>;

/// The clients of a network started by [`TestNetwork::start_with_clients`]
/// (name, role, institution): "ops-wang" (operator), "auditor" (viewer),
/// "service-app" (service), "clinic-a" and "clinic-b" (institutions
/// [`INSTITUTION_A`] and [`INSTITUTION_B`] of province 32).
#[derive(Debug, Clone)]
pub struct TestClients {
    tokens: std::collections::BTreeMap<&'static str, String>,
}

/// The two institutions of the clients file, both in Suzhou (32).
pub const INSTITUTION_A: &str = "H32050000001";
pub const INSTITUTION_B: &str = "H32050000002";

impl TestClients {
    fn new() -> TestClients {
        let names = ["ops-wang", "auditor", "service-app", "clinic-a", "clinic-b"];
        TestClients {
            tokens: names
                .iter()
                .map(|n| (*n, gongji_common::auth::random_token().expect("a random token")))
                .collect(),
        }
    }

    /// The client's token; panics for a name not in the file.
    pub fn token(&self, name: &str) -> &str {
        self.tokens.get(name).map(String::as_str).expect("a client of the test file")
    }

    fn file(&self) -> String {
        use gongji_common::access::{ClientEntry, Role};
        let institution = |code: &str| Some(gongji_common::InstitutionCode::parse("institution", code).expect("valid code"));
        let entry = |name: &str, role, institution| ClientEntry {
            name: name.into(),
            role,
            institution,
            token: self.token(name).into(),
        };
        gongji_common::access::clients_file(&[
            entry("ops-wang", Role::Operator, None),
            entry("auditor", Role::Viewer, None),
            entry("service-app", Role::Service, None),
            entry("clinic-a", Role::Institution, institution(INSTITUTION_A)),
            entry("clinic-b", Role::Institution, institution(INSTITUTION_B)),
        ])
    }
}

impl TestNetwork {
    /// Starts a network whose public services admit only the clients of
    /// [`TestClients`], each with its role.
    pub async fn start_with_clients(provinces: &[&str]) -> TestNetwork {
        TestNetwork::start_secured(provinces, false).await
    }

    /// Like the devnet: mutual TLS, and only the clients of [`TestClients`].
    pub async fn start_tls_with_clients(provinces: &[&str]) -> TestNetwork {
        TestNetwork::start_secured(provinces, true).await
    }

    async fn start_secured(provinces: &[&str], tls: bool) -> TestNetwork {
        let clients = TestClients::new();
        let written = clients.file();
        let mut net = TestNetwork::start_with(provinces, |spec| {
            let file = spec.data_dir.join("clients.json");
            std::fs::write(&file, written).expect("clients file written");
            spec.clients = Some(file);
            if tls {
                with_certs(spec);
            }
        })
        .await;
        net.clients = Some(clients);
        net
    }

    /// The clients of a network started with clients.
    pub fn clients(&self) -> &TestClients {
        self.clients.as_ref().expect("the network was started with clients")
    }

    /// A client of a node's public service presenting `client`'s token
    /// (none: no token) and `reason`.
    pub fn node_as(&self, province: &str, client: Option<&str>, reason: Option<&str>) -> ProvinceNodeClient<AsClient> {
        let url = self.network.node_url(code(province));
        ProvinceNodeClient::with_interceptor(self.channel(&url), self.credentials(client, reason))
    }

    /// A client of the hub's public service presenting `client`'s token
    /// (none: no token) and `reason`.
    pub fn hub_as(&self, client: Option<&str>, reason: Option<&str>) -> NationalHubClient<AsClient> {
        NationalHubClient::with_interceptor(self.channel(&self.network.hub_url()), self.credentials(client, reason))
    }

    fn credentials(&self, client: Option<&str>, reason: Option<&str>) -> Credentials {
        let token = client.map(|name| self.clients().token(name).to_owned());
        Credentials::new(token.as_deref(), reason).expect("ASCII token and reason")
    }
}

/// Polls `probe` until it yields a value, for at most 15 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- Shorthands for the calls every test makes --------------------------------------------

/// Registers an active person; `region` decides the province.
pub async fn register(node: &mut ProvinceNodeClient<Channel>, id: &str, insurance: pb::InsuranceType, region: &str) -> pb::Person {
    node.register_person(register_request(id, insurance, region))
        .await
        .expect("register person")
        .into_inner()
}

/// The registration of an active person; `region` decides the province.
pub fn register_request(id: &str, insurance: pb::InsuranceType, region: &str) -> pb::RegisterPersonRequest {
    pb::RegisterPersonRequest {
        person: Some(pb::Person {
            person_id: id.into(),
            name: format!("Person {id}"),
            insurance_type: insurance as i32,
            region_code: region.into(),
            status: pb::PersonStatus::Active as i32,
            registered_at: None,
        }),
    }
}

/// Registers an active employee and credits `amount` into their account.
pub async fn employee_with_balance(node: &mut ProvinceNodeClient<Channel>, id: &str, region: &str, amount: &str) {
    register(node, id, pb::InsuranceType::Employee, region).await;
    node.credit_contribution(pb::CreditContributionRequest {
        contribution_id: format!("c-{id}"),
        person_id: id.into(),
        amount: amount.into(),
    })
    .await
    .expect("credit contribution");
}

/// The hub's net position of each of `provinces` in `period` (none for a
/// province without one).
pub async fn nets(hub: &mut NationalHubClient<Channel>, period: &str, provinces: &[&str]) -> Vec<Option<String>> {
    let positions = hub
        .get_positions(pb::GetPositionsRequest { period: period.into() })
        .await
        .expect("positions")
        .into_inner()
        .positions;
    provinces
        .iter()
        .map(|p| positions.iter().find(|x| x.province == *p).map(|x| x.net.clone()))
        .collect()
}

/// (available, frozen) of a personal account.
pub async fn balances(node: &mut ProvinceNodeClient<Channel>, person: &str) -> (String, String) {
    let account = node
        .get_account(pb::GetAccountRequest { person_id: person.into() })
        .await
        .expect("get account")
        .into_inner();
    (account.available, account.frozen)
}

pub fn establish_request(id: &str, donor: &str, beneficiary: &str, province: &str, quota: &str) -> pb::EstablishRelationshipRequest {
    pb::EstablishRelationshipRequest {
        relationship_id: id.into(),
        donor_id: donor.into(),
        beneficiary_id: beneficiary.into(),
        beneficiary_province: province.into(),
        relation_kind: pb::RelationKind::Parent as i32,
        quota: quota.into(),
    }
}

pub async fn establish(
    node: &mut ProvinceNodeClient<Channel>,
    id: &str,
    donor: &str,
    beneficiary: &str,
    province: &str,
    quota: &str,
) -> Result<pb::Relationship, Status> {
    node.establish_relationship(establish_request(id, donor, beneficiary, province, quota))
        .await
        .map(|r| r.into_inner())
}

/// A payment at `institution`: outpatient care at a medical institution
/// ("H…"), medicine at a pharmacy ("P…"), as each one serves.
pub fn pay_request(id: &str, beneficiary: &str, institution: &str, amount: &str) -> pb::PayRequest {
    let purpose = if institution.starts_with('P') {
        pb::PaymentPurpose::Pharmacy
    } else {
        pb::PaymentPurpose::Outpatient
    };
    pb::PayRequest {
        payment_id: id.into(),
        beneficiary_id: beneficiary.into(),
        institution_id: institution.into(),
        amount: amount.into(),
        purpose: purpose as i32,
        relationship_id: String::new(),
    }
}

pub async fn pay(node: &mut ProvinceNodeClient<Channel>, request: pb::PayRequest) -> Result<pb::Payment, Status> {
    node.pay(request).await.map(|r| r.into_inner())
}

pub async fn payment(node: &mut ProvinceNodeClient<Channel>, id: &str) -> Result<pb::Payment, Status> {
    node.get_payment(pb::GetPaymentRequest { payment_id: id.into() })
        .await
        .map(|r| r.into_inner())
}

/// Asserts a call failed with `code` and a message that mentions `needle`.
pub fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, needle: &str) {
    match result {
        Ok(value) => panic!("expected {code:?} mentioning {needle:?}, got success: {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            assert!(
                status.message().contains(needle),
                "message {:?} does not mention {needle:?}",
                status.message()
            );
        }
    }
}

pub async fn relationship(node: &mut ProvinceNodeClient<Channel>, id: &str) -> pb::Relationship {
    node.get_relationship(pb::GetRelationshipRequest {
        relationship_id: id.into(),
    })
    .await
    .expect("get relationship")
    .into_inner()
}

/// The kinds of a relationship's history events at a node, oldest first.
pub async fn history(node: &mut ProvinceNodeClient<Channel>, id: &str) -> Vec<pb::RelationshipEventKind> {
    node.get_relationship_history(pb::GetRelationshipHistoryRequest {
        relationship_id: id.into(),
    })
    .await
    .expect("get history")
    .into_inner()
    .events
    .iter()
    .map(|e| pb::RelationshipEventKind::try_from(e.kind).expect("known event kind"))
    .collect()
}

pub async fn dissolve(node: &mut ProvinceNodeClient<Channel>, id: &str, by: pb::Party) -> Result<pb::Relationship, Status> {
    node.dissolve_relationship(pb::DissolveRelationshipRequest {
        relationship_id: id.into(),
        requested_by: by as i32,
    })
    .await
    .map(|r| r.into_inner())
}

pub async fn change_quota(
    node: &mut ProvinceNodeClient<Channel>,
    change: &str,
    relationship: &str,
    quota: &str,
) -> Result<pb::QuotaChange, Status> {
    node.change_quota(pb::ChangeQuotaRequest {
        change_id: change.into(),
        relationship_id: relationship.into(),
        quota: quota.into(),
    })
    .await
    .map(|r| r.into_inner())
}

pub async fn refund(node: &mut ProvinceNodeClient<Channel>, id: &str, payment: &str, amount: &str) -> Result<pb::Refund, Status> {
    node.refund_payment(pb::RefundPaymentRequest {
        refund_id: id.into(),
        payment_id: payment.into(),
        amount: amount.into(),
    })
    .await
    .map(|r| r.into_inner())
}

pub async fn reverse(node: &mut ProvinceNodeClient<Channel>, payment: &str) -> Result<pb::Payment, Status> {
    node.reverse_payment(pb::ReversePaymentRequest {
        payment_id: payment.into(),
    })
    .await
    .map(|r| r.into_inner())
}

/// Waits until a relationship has `status` at a node, and returns it.
pub async fn relationship_becomes(net: &TestNetwork, province: &str, id: &str, status: pb::RelationshipStatus) -> pb::Relationship {
    eventually(&format!("relationship {id} {status:?} at {province}"), || {
        let mut node = net.node(province);
        let id = id.to_owned();
        async move {
            let r = node
                .get_relationship(pb::GetRelationshipRequest { relationship_id: id })
                .await
                .ok()?
                .into_inner();
            (r.status == status as i32).then_some(r)
        }
    })
    .await
}

/// The trial balance a node reports ("0.00" when its books balance).
pub async fn trial_balance(node: &mut ProvinceNodeClient<Channel>) -> String {
    node.get_node_info(pb::GetNodeInfoRequest {})
        .await
        .expect("node info")
        .into_inner()
        .trial_balance
}

/// An amount in wire form ("128.50") as a whole number of fen, exactly.
pub fn fen(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, "0"));
    let fraction = format!("{fraction:0<2}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().expect("whole yuan");
    let fraction: i64 = fraction[..2].parse().expect("fen");
    sign * (whole * 100 + fraction)
}

/// The most common family of the tests: a Hebei donor `donor-13` (employee,
/// 2000.00 contributed) gives a Henan parent `parent-41` (resident) a quota
/// of 500.00 as relationship `rel-13-41`.
/// A payment served in Henan (41) from the Hebei donor's quota of
/// [`hebei_donor_henan_parent`], as the hub's router receives it.
pub fn henan_payment(id: &str) -> pb::CrossPayment {
    pb::CrossPayment {
        payment_id: id.into(),
        relationship_id: "rel-13-41".into(),
        donor_id: "donor-13".into(),
        donor_province: "13".into(),
        beneficiary_id: "parent-41".into(),
        beneficiary_province: "41".into(),
        institution_id: "H41010000001".into(),
        amount: "100.00".into(),
        purpose: pb::PaymentPurpose::Outpatient as i32,
    }
}

/// A forged transfer into Henan (41) that would credit 99,999.00 to a person
/// nobody registered, were it accepted: only the hub may deliver transfers.
pub fn forged_transfer() -> pb::ReceiveTransferRequest {
    pb::ReceiveTransferRequest {
        transfer: Some(pb::CrossTransfer {
            transfer_id: "forged".into(),
            person_id: "ghost-41".into(),
            name: "Ghost".into(),
            insurance_type: pb::InsuranceType::Employee as i32,
            from_province: "13".into(),
            to_province: "41".into(),
            to_region: "410100".into(),
            amount: "99999.00".into(),
            follow_up: false,
        }),
        period: "2026-11".into(),
    }
}

/// Asserts that the person of [`forged_transfer`] was never credited.
pub async fn assert_no_ghost(net: &TestNetwork) {
    let ghost = net
        .node("41")
        .get_person(pb::GetPersonRequest {
            person_id: "ghost-41".into(),
        })
        .await;
    assert_eq!(ghost.unwrap_err().code(), Code::NotFound, "nothing was credited");
}

pub async fn hebei_donor_henan_parent(net: &TestNetwork) {
    employee_with_balance(&mut net.node("13"), "donor-13", "130100", "2000.00").await;
    register(&mut net.node("41"), "parent-41", pb::InsuranceType::Resident, "410100").await;
    let relationship = establish(&mut net.node("13"), "rel-13-41", "donor-13", "parent-41", "41", "500.00")
        .await
        .expect("establish rel-13-41");
    assert_eq!(relationship.status, pb::RelationshipStatus::Active as i32);
}

/// The variable that has the tests' networks keep their books in
/// PostgreSQL (`GONGJI_TEST_STORE=postgres`, a new database per server on
/// the server `GONGJI_TEST_POSTGRES` names); the embedded store otherwise.
pub const TEST_STORE: &str = "GONGJI_TEST_STORE";

/// A new PostgreSQL database for the hub and each province's node.
pub fn fresh_databases(codes: &[ProvinceCode]) -> Databases {
    Databases {
        hub: gongji_common::testing::fresh_postgres_database(),
        provinces: codes
            .iter()
            .map(|code| (*code, gongji_common::testing::fresh_postgres_database()))
            .collect(),
    }
}

/// Whether the tests' networks run on PostgreSQL (see [`TEST_STORE`]).
pub fn on_postgres() -> bool {
    std::env::var(TEST_STORE).is_ok_and(|engine| engine == "postgres")
}

impl TestNetwork {
    /// The hub's open month, "YYYY-MM".
    pub async fn open_period(&self) -> String {
        self.hub()
            .get_open_period(pb::GetOpenPeriodRequest {})
            .await
            .expect("open period")
            .into_inner()
            .period
    }

    /// Opens the store of a stopped node (to play with its data): a
    /// server's run returns only once its store is free.
    pub fn open_stopped_node_store(&self, province: &str) -> gongji_common::store::Store {
        let code = code(province);
        open_stopped_store(
            &self.network.node_store(code),
            &self.network.node_data_dir(code),
            province_node::store::TREES,
        )
    }

    /// Opens the store of the stopped hub, with its `trees`.
    pub fn open_stopped_hub_store(&self, trees: &[&'static str]) -> gongji_common::store::Store {
        open_stopped_store(&self.network.hub_store(), &self.network.hub_data_dir(), trees)
    }
}

fn open_stopped_store(flags: &StoreFlags, dir: &std::path::Path, trees: &[&'static str]) -> gongji_common::store::Store {
    flags
        .open(dir, trees, gongji_common::store::DEFAULT_CACHE_BYTES, "a test")
        .unwrap_or_else(|e| panic!("{} stays locked after its server stopped: {e}", dir.display()))
}
