//! TLS on the one port: the self-signed default with a pinned fingerprint,
//! an operator's certificate trusted through a CA file, mismatches, and
//! plaintext only when asked for.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use cairn_agent::{AgentError, AgentEvent, Trust};
use cairn_proto::v1 as pb;
use cairn_server::config::TlsMode;
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};

async fn tls_server(tls: TlsMode, host: &str) -> TestServer {
    let host = host.to_string();
    TestServer::start_with(move |c| {
        c.tls = tls;
        c.public_url = format!("https://{host}:{}", c.listen.port());
    })
    .await
}

fn pinned_config(
    server: &TestServer,
    state: &std::path::Path,
    fingerprint: &str,
) -> cairn_agent::AgentConfig {
    let mut config = agents::config(&server.url, state);
    config.allow_plaintext = false;
    config.trust = Trust::Pinned(cairn_tls::parse_fingerprint(fingerprint).expect("fingerprint"));
    config
}

#[tokio::test]
async fn a_self_signed_server_and_a_pinned_agent_work_end_to_end() {
    let server = tls_server(TlsMode::SelfSigned, "127.0.0.1").await;
    let fingerprint = server.tls_fingerprint.clone().expect("TLS by default");
    assert!(
        fingerprint.starts_with("sha256:") && fingerprint.len() == 71,
        "{fingerprint}"
    );
    let state = tempfile::tempdir().expect("state");
    let mut agent = RunningAgent::start(pinned_config(&server, state.path(), &fingerprint));
    assert_eq!(
        agent.next(Duration::from_secs(60)).await,
        AgentEvent::Connected
    );
    agent.welcomed(pb::WelcomeStatus::PendingApproval).await;
    agent.stop().await.expect("stop");

    // The certificate is kept: a restart serves the same fingerprint.
    let server = server.restart().await;
    assert_eq!(
        server.tls_fingerprint.as_deref(),
        Some(fingerprint.as_str())
    );
}

#[tokio::test]
async fn a_fingerprint_mismatch_is_a_clear_fatal_error() {
    let server = tls_server(TlsMode::SelfSigned, "127.0.0.1").await;
    let state = tempfile::tempdir().expect("state");
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let agent = RunningAgent::start(pinned_config(&server, state.path(), &wrong));
    let result = tokio::time::timeout(Duration::from_secs(60), agent.stop_when_done())
        .await
        .expect("the agent gives up");
    let err = result.expect_err("fatal");
    assert!(matches!(err, AgentError::Fatal(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("fingerprint")
            && message.contains(server.tls_fingerprint.as_deref().unwrap_or("?")),
        "{message}"
    );
}

#[test]
fn the_agent_binary_exits_on_a_mismatch_and_refuses_plaintext_unless_asked() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(tls_server(TlsMode::SelfSigned, "127.0.0.1"));
    let state = tempfile::tempdir().expect("state");
    let wrong = format!("sha256:{}", "cd".repeat(32));
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "agent",
            "--server",
            &server.url,
            "--server-fingerprint",
            &wrong,
            "--state-dir",
        ])
        .arg(state.path().join("a"))
        .output()
        .expect("run agent");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not the pinned one"), "{stderr}");

    let plaintext = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["agent", "--server", "http://127.0.0.1:1", "--state-dir"])
        .arg(state.path().join("b"))
        .output()
        .expect("run agent");
    assert_eq!(plaintext.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&plaintext.stderr).contains("--allow-plaintext"));

    let malformed = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "agent",
            "--server",
            &server.url,
            "--server-fingerprint",
            "sha256:nothex",
            "--state-dir",
        ])
        .arg(state.path().join("c"))
        .output()
        .expect("run agent");
    assert_eq!(malformed.status.code(), Some(64));
    drop(server);
}

#[tokio::test]
async fn an_operators_certificate_is_trusted_through_a_ca_file() {
    let dir = tempfile::tempdir().expect("dir");
    // A private CA and a server certificate it issued for localhost.
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    let (ca_path, cert_path, key_path) = (
        dir.path().join("ca.pem"),
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
    std::fs::write(&cert_path, leaf.pem()).expect("write cert");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let server = tls_server(
        TlsMode::Files {
            cert: cert_path,
            key: key_path,
        },
        "localhost",
    )
    .await;
    let state = tempfile::tempdir().expect("state");
    let mut config = agents::config(&server.url, state.path());
    config.allow_plaintext = false;
    config.trust = Trust::CaFile(ca_path);
    let mut agent = RunningAgent::start(config);
    agent.welcomed(pb::WelcomeStatus::PendingApproval).await;
    agent.stop().await.expect("stop");
}

#[test]
fn a_world_readable_tls_key_stops_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .output()
        .expect("run server");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("chmod 600"));
}
