//! The README's grpcurl walkthrough, run as written against a devnet-like
//! network (mutual TLS, the demo population), from its certificates'
//! directory as the README says: if the README drifts from the product, this
//! test fails. Only the addresses change (README ports → port-0 servers).

use gongji_tests::{code, TestNetwork};

/// The devnet's default layout, as the README documents it.
const DEFAULT_PROVINCES: [&str; 5] = ["13", "32", "34", "37", "41"];
const DEFAULT_BASE_PORT: u16 = 50050;

fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_shell_block = false;
    for line in readme.lines() {
        match line.trim() {
            "```sh" => in_shell_block = true,
            "```" => in_shell_block = false,
            text if in_shell_block && text.starts_with("grpcurl ") => commands.push(text.to_owned()),
            _ => {}
        }
    }
    commands
}

#[tokio::test]
async fn the_readme_grpcurl_walkthrough_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let commands = readme_commands(&readme);
    assert!(commands.len() >= 8, "the walkthrough lost its commands: {commands:?}");

    // Like the devnet: mutual TLS, clients only, the operator's token in
    // DATA_DIR/operator.token (the walkthrough runs in DATA_DIR/certs).
    let net = TestNetwork::start_tls_with_clients(&DEFAULT_PROVINCES).await;
    let certs = net.network().certs().expect("a TLS network").to_path_buf();
    let operator = net.clients().token("ops-wang").to_owned();
    std::fs::write(net.data_dir().join("operator.token"), format!("{operator}\n")).expect("operator.token");
    let provinces: Vec<_> = DEFAULT_PROVINCES.iter().map(|p| code(p)).collect();
    let as_operator = gongji::credentials::Credentials::new(Some(&operator), Some("README walkthrough")).expect("credentials");
    let report = gongji::credentials::scope(as_operator, gongji::demo::seed(&net.network().manifest(), &provinces)).await;
    assert!(report.warnings.is_empty(), "demo seeding: {:?}", report.warnings);

    let mut addresses = vec![(format!("127.0.0.1:{DEFAULT_BASE_PORT}"), net.network().hub_addr().to_string())];
    for (i, province) in provinces.iter().enumerate() {
        let readme_port = DEFAULT_BASE_PORT + 1 + i as u16;
        let actual = net.network().node_addr(*province).expect("node address").to_string();
        addresses.push((format!("127.0.0.1:{readme_port}"), actual));
    }

    let mut outputs = Vec::new();
    for command in &commands {
        let mut local = command.clone();
        for (documented, actual) in &addresses {
            local = local.replace(documented, actual);
        }
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&local)
            .current_dir(&certs)
            .output()
            .await
            .expect("run sh");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "README command failed: {command}\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push((command.clone(), stdout));
    }

    // What the README promises about the answers.
    let output_of = |needle: &str| -> Vec<&str> {
        outputs
            .iter()
            .filter(|(c, _)| c.contains(needle))
            .map(|(_, o)| o.as_str())
            .collect()
    };
    let paid = output_of("/Pay");
    assert_eq!(paid.len(), 1);
    assert!(
        paid[0].contains("TRANSACTION_STATUS_APPROVED") && paid[0].contains("\"donorProvince\": \"13\""),
        "{}",
        paid[0]
    );
    assert!(paid[0].contains("\"period\": \""), "{}", paid[0]);
    let accounts = output_of("demo-13-donor");
    assert_eq!(accounts.len(), 2, "the donor's account before and after");
    assert!(accounts[0].contains("\"frozen\": \"1112.00\""), "{}", accounts[0]);
    assert!(
        accounts[1].contains("\"frozen\": \"983.50\""),
        "frozen went down by 128.50: {}",
        accounts[1]
    );
    let at_hub = output_of("GetTransaction");
    assert!(at_hub[0].contains("\"payerPosition\": \"-128.50\""), "{}", at_hub[0]);
    net.shutdown().await;
}
