//! Mutual TLS between the servers and their clients: a network whose
//! certificates `gongji certs` made runs payments end to end; the hub takes a
//! calling node's province from its certificate and refuses it when it acts
//! for another; a node's hub-facing service accepts only the hub's
//! certificate; a peer without a certificate, with one of another CA, or in
//! plaintext, is refused at the handshake and nothing is recorded.

use std::time::Duration;

use gongji_common::tls::{Tls, TlsFiles};
use gongji_tests::{
    assert_no_ghost, code, forged_transfer, hebei_donor_henan_parent, henan_payment, pay, pay_request, v1 as pb, TestNetwork,
};
use pb::{hub_router_client::HubRouterClient, province_link_client::ProvinceLinkClient, province_node_client::ProvinceNodeClient};
use tonic::{
    transport::{Channel, ClientTlsConfig, Endpoint},
    Code,
};

/// A channel that connects now, so a refused handshake shows as an error.
async fn connect(endpoint: Endpoint) -> Result<Channel, tonic::transport::Error> {
    endpoint.connect_timeout(Duration::from_secs(5)).connect().await
}

fn https(url: &str) -> Endpoint {
    Channel::from_shared(url.to_owned()).expect("a server url")
}

/// The call never reached a handler: the connection failed under it.
fn assert_transport_failure(status: tonic::Status, what: &str) {
    assert!(
        matches!(status.code(), Code::Unknown | Code::Unavailable) && std::error::Error::source(&status).is_some(),
        "{what}: {status:?}"
    );
}

async fn donor_balances(net: &TestNetwork) -> (String, String) {
    gongji_tests::balances(&mut net.node("13"), "donor-13").await
}

#[tokio::test]
async fn a_cross_province_payment_runs_over_mutual_tls() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    assert!(net.network().hub_url().starts_with("https://"));
    hebei_donor_henan_parent(&net).await;
    let paid = pay(&mut net.node("41"), pay_request("tls-pay-1", "parent-41", "H41010000001", "80.00"))
        .await
        .expect("the payment is answered");
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32, "{paid:?}");
    assert_eq!(donor_balances(&net).await.1, "420.00", "the quota paid 80.00");
    net.shutdown().await;
}

#[tokio::test]
async fn the_hub_takes_the_province_from_the_certificate_and_refuses_another() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let hub = net.network().hub_url();

    // Hebei's certificate may not route a payment served in Henan.
    let mut hebei = HubRouterClient::new(net.channel_as(&hub, "province-13"));
    let refused = hebei.route_payment(henan_payment("forged-1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // Nor may it claim to be Henan in the metadata.
    let mut claim = tonic::Request::new(henan_payment("forged-2"));
    claim.metadata_mut().insert("x-gongji-province", "41".parse().unwrap());
    let refused = hebei.route_payment(claim).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("province 13"), "{refused:?}");

    // A client certificate names no province: the router is not for it.
    let mut client = HubRouterClient::new(net.channel_as(&hub, "client"));
    let refused = client.route_payment(henan_payment("forged-3")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // Nothing was recorded at the hub, and the quota is untouched.
    for id in ["forged-1", "forged-2", "forged-3"] {
        let found = net
            .hub()
            .get_transaction(pb::GetTransactionRequest {
                transaction_id: id.into(),
                kind: 0,
            })
            .await;
        assert_eq!(found.unwrap_err().code(), Code::NotFound, "{id}");
    }
    assert_eq!(donor_balances(&net).await.1, "500.00");
    net.shutdown().await;
}

#[tokio::test]
async fn a_certificate_of_an_unregistered_province_or_of_two_provinces_is_refused_at_the_router() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let certs = net.network().certs().expect("a TLS network").to_path_buf();
    let hub = net.network().hub_url();
    // Issued by the network's own CA, so the handshake passes: what the
    // certificate names is what the router refuses.
    gongji_operator::certs::add_provinces(
        &certs,
        &gongji_operator::certs::CertsSpec {
            provinces: vec![code("32")],
            hosts: Vec::new(),
        },
    )
    .unwrap();
    gongji_operator::certs::issue_odd(&certs, "two-provinces", &["province-13.gongji", "province-41.gongji"], true).unwrap();
    for (name, needle) in [
        ("province-32", "names no province registered"),
        ("two-provinces", "more than one province"),
    ] {
        let mut router = HubRouterClient::new(net.channel_as(&hub, name));
        let refused = router.route_payment(henan_payment(&format!("forged-{name}"))).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{name}: {refused:?}");
        assert!(refused.message().contains(needle), "{name}: {refused:?}");
    }
    assert_eq!(donor_balances(&net).await.1, "500.00");
    net.shutdown().await;
}

#[tokio::test]
async fn a_nodes_hub_facing_service_accepts_only_the_hubs_certificate() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    let henan = net.network().node_url(code("41"));
    for name in ["province-13", "province-41", "client"] {
        let mut impostor = ProvinceLinkClient::new(net.channel_as(&henan, name));
        let refused = impostor.receive_transfer(forged_transfer()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{name}: {refused:?}");
        assert!(refused.message().contains("hub.gongji"), "{refused:?}");
    }
    assert_no_ghost(&net).await;
    // The hub's certificate passes.
    let mut hub = ProvinceLinkClient::new(net.channel_as(&henan, "hub"));
    assert!(hub.receive_transfer(forged_transfer()).await.is_ok());
    net.shutdown().await;
}

#[tokio::test]
async fn a_missing_untrusted_or_plaintext_client_is_refused_at_the_handshake() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    let certs = net.network().certs().expect("a TLS network").to_path_buf();
    let node = net.network().node_url(code("41"));
    let hub = net.network().hub_url();
    let ca = tonic::transport::Certificate::from_pem(std::fs::read(certs.join("ca.pem")).unwrap());

    // Trusts the servers but presents no certificate.
    let anonymous = ClientTlsConfig::new().ca_certificate(ca.clone());
    // A certificate of another CA, made the same way.
    let other = tempfile::tempdir().unwrap();
    gongji_operator::certs::write(
        other.path(),
        &gongji_operator::certs::CertsSpec {
            provinces: vec![code("41")],
            hosts: Vec::new(),
        },
    )
    .unwrap();
    let foreign = Tls::load(&TlsFiles::in_dir(other.path(), "client")).unwrap();
    let untrusted = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(other.path().join("client.pem")).unwrap(),
            std::fs::read(other.path().join("client.key")).unwrap(),
        ));
    // The other CA's "hub", trusting our servers.
    let foreign_hub = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(other.path().join("hub.pem")).unwrap(),
            std::fs::read(other.path().join("hub.key")).unwrap(),
        ));

    for url in [&node, &hub] {
        for (what, tls) in [
            ("no certificate", anonymous.clone()),
            ("another CA's certificate", untrusted.clone()),
        ] {
            let refused = match connect(https(url).tls_config(tls).unwrap()).await {
                Err(error) => format!("{error:?}"),
                Ok(channel) => {
                    // rustls may finish the client's side before the server's
                    // verdict arrives: then the first call fails.
                    let mut node = ProvinceNodeClient::new(channel);
                    let status = node.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap_err();
                    format!("{status:?}")
                }
            };
            // The server's TLS alert says why (CertificateRequired, UnknownCA, ...).
            assert!(refused.contains("alert"), "{what} at {url}: {refused}");
        }
        // A client of another CA does not trust the servers either.
        assert!(
            connect(https(url).tls_config(foreign.client_config(None)).unwrap()).await.is_err(),
            "a server certificate of another CA is trusted at {url}"
        );
        // Plaintext to a TLS server gets no answer.
        let plain = url.replace("https://", "http://");
        let mut node = ProvinceNodeClient::new(https(&plain).connect_lazy());
        assert_transport_failure(node.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap_err(), "plaintext");
    }

    // A hub of another CA cannot move money at a node: its handshake fails.
    let mut fake_hub = ProvinceLinkClient::new(https(&node).tls_config(foreign_hub).unwrap().connect_lazy());
    assert_transport_failure(fake_hub.receive_transfer(forged_transfer()).await.unwrap_err(), "another CA's hub");
    assert_no_ghost(&net).await;
    net.shutdown().await;
}

/// What one `gongji …` invocation printed and returned.
async fn gongji(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gongji::run(std::iter::once("gongji").chain(args.iter().copied()), &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).expect("utf-8 output"),
        String::from_utf8(err).expect("utf-8 errors"),
    )
}

#[tokio::test]
async fn the_cli_connects_with_certs_and_is_refused_without() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    let certs = net.network().certs().expect("a TLS network").display().to_string();
    let node = net.network().node_addr(code("41")).expect("a node").to_string();
    let hub = net.network().hub_addr().to_string();

    let (status, out, err) = gongji(&["--certs", &certs, "info", "--node", &node]).await;
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("41"), "{out}");
    let (status, out, err) = gongji(&["--certs", &certs, "month", "status", "--hub", &hub]).await;
    assert_eq!(status, 0, "{out}{err}");

    // A node cannot pose as the hub: the CLI wants the hub's certificate,
    // and says which server the address is.
    let (status, _, err) = gongji(&["--certs", &certs, "month", "status", "--hub", &node]).await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("hub.gongji"), "{err}");
    assert!(
        err.contains(&format!("{node} is province 41's node, not the national hub")),
        "{err}"
    );

    // Certificates of another network's authority: the error says what to check.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = elsewhere.path().join("certs");
    let (status, out, err) = gongji(&["certs", "--out", other.to_str().unwrap(), "--provinces", "13,41"]).await;
    assert_eq!(status, 0, "{out}{err}");
    let (status, _, err) = gongji(&["--certs", other.to_str().unwrap(), "info", "--node", &node]).await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("not issued by the certificate authority of --certs"), "{err}");

    // Plaintext towards a TLS server: refused, and the error says what to do.
    let (status, _, err) = gongji(&["info", "--node", &node]).await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("--certs"), "{err}");

    // The devnet's address file carries its certificates: --devnet needs no --certs.
    let manifest = net.data_dir().join("devnet.json");
    std::fs::write(&manifest, serde_json::to_string(&net.network().manifest()).unwrap()).unwrap();
    let (status, out, err) = gongji(&["status", "--devnet", manifest.to_str().unwrap()]).await;
    assert_eq!(status, 0, "{out}{err}");
    net.shutdown().await;
}

#[tokio::test]
async fn gongji_certs_writes_a_ca_and_every_certificate_and_keeps_an_existing_ca() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("certs");
    let out_arg = out_dir.to_str().unwrap();
    let (status, out, err) = gongji(&["certs", "--out", out_arg, "--provinces", "13,41", "--host", "node.example"]).await;
    assert_eq!(status, 0, "{out}{err}");
    for file in [
        "ca.pem",
        "ca.key",
        "hub.pem",
        "hub.key",
        "province-13.pem",
        "province-41.key",
        "client.pem",
        "client.key",
    ] {
        assert!(out_dir.join(file).is_file(), "{file} missing: {out}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out_dir.join("hub.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a private key is readable by others: {mode:o}");
    }
    // The certificates name who holds them.
    let names = |file: &str, name: &str| {
        let pem = std::fs::read_to_string(out_dir.join(file)).unwrap();
        let der = pem_to_der(&pem);
        gongji_common::tls::certificate_names(&Some(std::sync::Arc::new(vec![der])), name)
    };
    assert!(names("province-13.pem", "province-13.gongji"));
    assert!(!names("province-13.pem", "province-41.gongji"));
    assert!(!names("province-13.pem", "hub.gongji"));
    assert!(names("hub.pem", "hub.gongji"));
    assert!(names("hub.pem", "node.example"), "--host is in the servers' certificates");
    assert!(!names("client.pem", "hub.gongji") && names("client.pem", "client.gongji"));

    let ca = std::fs::read(out_dir.join("ca.pem")).unwrap();
    let (status, _, err) = gongji(&["certs", "--out", out_arg]).await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("--force") && err.contains("--add"), "{err}");
    assert_eq!(std::fs::read(out_dir.join("ca.pem")).unwrap(), ca, "the CA was kept");
    // A province joins: its certificate comes from the same CA.
    let hub_before = std::fs::read(out_dir.join("hub.pem")).unwrap();
    let (status, out, err) = gongji(&["certs", "--out", out_arg, "--add", "--provinces", "44"]).await;
    assert_eq!(status, 0, "{out}{err}");
    assert!(names("province-44.pem", "province-44.gongji"));
    assert_eq!(std::fs::read(out_dir.join("ca.pem")).unwrap(), ca, "the same CA");
    assert_eq!(std::fs::read(out_dir.join("hub.pem")).unwrap(), hub_before, "the others untouched");
    let (status, _, err) = gongji(&["certs", "--out", out_arg, "--add", "--provinces", "44"]).await;
    assert_eq!(status, 1, "{err}");
    assert!(
        err.contains("province-44.pem exists"),
        "a province's key is never replaced by --add: {err}"
    );
    let (status, _, err) = gongji(&["certs", "--out", out_arg, "--add"]).await;
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("--provinces"), "{err}");
    let (status, _, err) = gongji(&[
        "certs",
        "--out",
        dir.path().join("empty").to_str().unwrap(),
        "--add",
        "--provinces",
        "44",
    ])
    .await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("no CA"), "{err}");
    // A key someone made readable is private again once replaced.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out_dir.join("hub.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (status, out, err) = gongji(&["certs", "--out", out_arg, "--force"]).await;
    assert_eq!(status, 0, "{out}{err}");
    assert_ne!(std::fs::read(out_dir.join("ca.pem")).unwrap(), ca, "a new CA");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out_dir.join("hub.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "replaced keys are private: {mode:o}");
    }
    assert!(
        std::fs::read_dir(&out_dir)
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".new")),
        "no temporary files left"
    );
}

/// The DER bytes of a one-certificate PEM file.
fn pem_to_der(pem: &str) -> rustls_pki_types::CertificateDer<'static> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

#[tokio::test]
async fn a_peer_that_connects_and_never_finishes_its_handshake_is_dropped() {
    use tokio::io::AsyncReadExt;
    let net = TestNetwork::start_tls(&["13"]).await;
    let mut silent = tokio::net::TcpStream::connect(net.network().hub_addr()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    // The server says nothing to a peer that says nothing, and hangs up
    // after the handshake timeout.
    let read = tokio::time::timeout(
        gongji_common::tls::HANDSHAKE_TIMEOUT + Duration::from_secs(5),
        silent.read(&mut buf),
    )
    .await
    .expect("the server hung up within the handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= gongji_common::tls::HANDSHAKE_TIMEOUT - Duration::from_secs(1));
    net.shutdown().await;
}

#[tokio::test]
async fn a_tls_server_needs_a_clients_file_unless_told_its_clients_are_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    gongji_operator::certs::write(
        &certs,
        &gongji_operator::certs::CertsSpec {
            provinces: vec![code("13")],
            hosts: Vec::new(),
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = province_node::NodeConfig::new(
        code("13"),
        listener.local_addr().unwrap(),
        dir.path().join("n"),
        "https://127.0.0.1:1".into(),
    );
    config.tls = gongji_common::tls::TlsFlags::in_dir(&certs, "province-13");
    let refused = province_node::run(config.clone(), listener, async {}).await.unwrap_err();
    assert!(
        refused.to_string().contains("--clients") && refused.to_string().contains("--anonymous-clients"),
        "{refused}"
    );
    config.access.anonymous_clients = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    province_node::run(config, listener, async {})
        .await
        .expect("a TLS node with anonymous clients starts when told so");
}

#[tokio::test]
async fn waiting_for_a_network_with_certificates_that_do_not_fit_fails_at_once() {
    let net = TestNetwork::start_tls(&["13", "41"]).await;
    let other = tempfile::tempdir().unwrap();
    gongji_operator::certs::write(
        other.path(),
        &gongji_operator::certs::CertsSpec {
            provinces: vec![code("13"), code("41")],
            hosts: Vec::new(),
        },
    )
    .unwrap();
    let mut manifest = net.network().manifest();
    manifest.certs = other.path().display().to_string();
    let file = other.path().join("devnet.json");
    std::fs::write(&file, serde_json::to_string(&manifest).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let (status, out, err) = gongji(&[
        "bench",
        "--devnet",
        file.to_str().unwrap(),
        "--provinces",
        "13,41",
        "--duration",
        "1",
    ])
    .await;
    assert_eq!(status, 1, "{out}{err}");
    assert!(err.contains("refused the TLS handshake"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it did not wait out the readiness deadline"
    );
    net.shutdown().await;
}
