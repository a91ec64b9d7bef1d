//! The services between nodes accept only the network's own servers: a
//! node's hub-facing service only the hub, the hub's router only registered
//! provinces, each for the messages it may send. (Found by review: before,
//! any client could credit money through `ReceiveTransfer`.)

use gongji_common::auth::Credential;
use gongji_tests::{assert_no_ghost, code, forged_transfer, hebei_donor_henan_parent, henan_payment, v1 as pb, Authenticated, TestNetwork};
use pb::{hub_router_client::HubRouterClient, province_link_client::ProvinceLinkClient};
use tonic::{transport::Channel, Code};

fn with(credential: Credential, url: String) -> tonic::service::interceptor::InterceptedService<Channel, Credential> {
    tonic::service::interceptor::InterceptedService::new(Channel::from_shared(url).unwrap().connect_lazy(), credential)
}

#[tokio::test]
async fn a_nodes_hub_facing_service_accepts_only_the_hub() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let url = net.network().node_url(code("41"));
    let mut anyone = ProvinceLinkClient::new(Channel::from_shared(url.clone()).unwrap().connect_lazy());
    assert_eq!(
        anyone.receive_transfer(forged_transfer()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let province_token = net.network().tokens().provinces[&code("13")].clone();
    let mut a_province: ProvinceLinkClient<Authenticated> =
        ProvinceLinkClient::new(with(Credential::province(code("13"), Some(&province_token)).unwrap(), url));
    assert_eq!(
        a_province.receive_transfer(forged_transfer()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_no_ghost(&net).await;
    // The hub's own token passes.
    assert!(net.link("41").receive_transfer(forged_transfer()).await.is_ok());
    net.shutdown().await;
}

#[tokio::test]
async fn the_hubs_router_accepts_a_province_only_for_its_own_messages() {
    let net = TestNetwork::start(&["13", "41"]).await;
    hebei_donor_henan_parent(&net).await;
    let payment = henan_payment("forged-pay");
    let mut anyone = HubRouterClient::new(Channel::from_shared(net.network().hub_url()).unwrap().connect_lazy());
    assert_eq!(
        anyone.route_payment(payment.clone()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Hebei may not route a payment served in Henan (only Henan's node may).
    let refused = net.router("13").route_payment(payment.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let wrong_token = net.network().tokens().provinces[&code("41")].clone();
    let mut impostor = HubRouterClient::new(with(
        Credential::province(code("13"), Some(&wrong_token)).unwrap(),
        net.network().hub_url(),
    ));
    assert_eq!(impostor.route_payment(payment).await.unwrap_err().code(), Code::Unauthenticated);
    let notice = pb::Notice {
        notice_id: "forged-notice".into(),
        from_province: "41".into(),
        to_province: "13".into(),
        body: Some(pb::notice::Body::DissolutionRequested(pb::DissolutionRequested {
            relationship_id: "rel-13-41".into(),
            reason: pb::EndReason::BeneficiaryRequest as i32,
        })),
    };
    assert_eq!(
        net.router("13").relay_notice(notice).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        gongji_tests::balances(&mut net.node("13"), "donor-13").await.1,
        "500.00",
        "nothing moved"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn servers_refuse_plaintext_unless_told_insecure_and_half_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = province_node::NodeConfig::new(
        code("13"),
        listener.local_addr().unwrap(),
        dir.path().join("n"),
        "http://127.0.0.1:1".into(),
    );
    let refused = province_node::run(config.clone(), listener, async {}).await.unwrap_err();
    assert!(
        refused.to_string().contains("--tls-ca") && refused.to_string().contains("--insecure"),
        "{refused}"
    );

    // Half a TLS configuration, or one token of a pair, is a mistake, not plaintext.
    config.tls.ca = Some(dir.path().join("ca.pem"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = province_node::run(config.clone(), listener, async {}).await.unwrap_err();
    assert!(
        refused.to_string().contains("all of --tls-ca, --tls-cert and --tls-key"),
        "{refused}"
    );
    config.tls.ca = None;
    config.tls.insecure = true;
    config.link_token = Some("mine".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = province_node::run(config, listener, async {}).await.unwrap_err();
    assert!(refused.to_string().contains("--hub-token"), "{refused}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = national_hub_config(listener.local_addr().unwrap(), dir.path().join("h"));
    let refused = national_hub::run(hub.clone(), listener, async {}).await.unwrap_err();
    assert!(refused.to_string().contains("--insecure"), "{refused}");
    let mut open = hub;
    open.tls.insecure = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    national_hub::run(open, listener, async {})
        .await
        .expect("a plaintext hub starts when told --insecure");
}

fn national_hub_config(listen: std::net::SocketAddr, data_dir: std::path::PathBuf) -> national_hub::HubConfig {
    let entry = national_hub::ProvinceEntry {
        code: code("13"),
        name: "Hebei".into(),
        address: "http://127.0.0.1:1".into(),
    };
    national_hub::HubConfig::new(listen, data_dir, vec![entry])
}
