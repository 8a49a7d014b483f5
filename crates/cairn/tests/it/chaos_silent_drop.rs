//! A link that silently drops every packet (no reset, no FIN: a NAT box
//! that forgot the flow, a cable pulled two hops away) between an agent in
//! a network namespace of the test's own and the server. With the default
//! keepalives both sides notice within 45 s: the server marks the host
//! offline and the agent ends its session to dial again. Once the link
//! heals the agent is back online by itself.
//!
//! Network namespaces need root, as CI runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_testkit::{ChildGuard, Reachable, ServerProcess};

use crate::chaos::admin_token;
use crate::netns::{Netns, PATIENCE, host, read, the_one_host, wait_for};

/// The promise: a silent link is noticed this soon, on both sides.
const NOTICED_WITHIN: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_dropped_link_is_noticed_within_45_s_on_both_sides() {
    let net = Netns::create();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = admin_token(&data);
    let binary = env!("CARGO_BIN_EXE_cairn");
    let mut server = ServerProcess::on(binary.as_ref(), &data, net.server_ip(), &[]);
    server.start().await;

    // The agent runs inside the namespace, reaching the server over the veth.
    let agent_log = dir.path().join("agent.log");
    let _agent = ChildGuard::spawn(
        "cairn agent in a network namespace",
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.name,
                binary,
                "agent",
                "--allow-plaintext",
            ])
            .args(["--log-level", "info", "--server", server.grpc_url()])
            .arg("--state-dir")
            .arg(dir.path().join("agent-state"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).expect("agent log")),
    );
    let mut hosts = HostServiceClient::new(server.channel().await);
    let host_id = the_one_host(&mut hosts, &token).await;
    cairn_testkit::fleet::approve_id(&server, &token, host_id).await;
    wait_for(&mut hosts, &token, host_id, true, "online after approval").await;

    // Cut: every packet dropped, both ways, nothing answered.
    let log_at_cut = read(&agent_log).len();
    net.drop_everything(true);
    let cut = Instant::now();
    let mut server_noticed = None;
    let mut agent_noticed = None;
    while server_noticed.is_none() || agent_noticed.is_none() {
        assert!(
            cut.elapsed() < PATIENCE,
            "after {PATIENCE:?}: server noticed {server_noticed:?}, agent noticed {agent_noticed:?}"
        );
        if server_noticed.is_none() && !host(&mut hosts, &token, host_id).await.online {
            server_noticed = Some(cut.elapsed());
        }
        if agent_noticed.is_none() && read(&agent_log)[log_at_cut..].contains("session ended") {
            agent_noticed = Some(cut.elapsed());
        }
        cairn_testkit::poll_pause().await;
    }
    let (server_noticed, agent_noticed) = (
        server_noticed.unwrap_or_default(),
        agent_noticed.unwrap_or_default(),
    );

    // Heal: the agent dials again and the host is back.
    net.drop_everything(false);
    let healed = Instant::now();
    wait_for(
        &mut hosts,
        &token,
        host_id,
        true,
        "back online after the link healed",
    )
    .await;
    println!(
        "silent drop: server noticed in {:.1} s, agent in {:.1} s (promise {} s); back online {:.1} s after the link healed",
        server_noticed.as_secs_f64(),
        agent_noticed.as_secs_f64(),
        NOTICED_WITHIN.as_secs(),
        healed.elapsed().as_secs_f64()
    );
    assert!(
        server_noticed <= NOTICED_WITHIN,
        "the server took {server_noticed:?}"
    );
    assert!(
        agent_noticed <= NOTICED_WITHIN,
        "the agent took {agent_noticed:?}"
    );
    server.kill();
}
