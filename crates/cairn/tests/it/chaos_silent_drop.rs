//! A link that silently drops every packet (no reset, no FIN: a NAT box
//! that forgot the flow, a cable pulled two hops away) between an agent in
//! a network namespace of the test's own and the server. With the default
//! keepalives both sides notice within 45 s: the server marks the host
//! offline and the agent ends its session to dial again. Once the link
//! heals the agent is back online by itself.
//!
//! Network namespaces need root, as CI runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_testkit::fleet::authorized;
use cairn_testkit::{ChildGuard, Reachable, ServerProcess};
use tonic::transport::Channel;

use crate::chaos::admin_token;

/// The promise: a silent link is noticed this soon, on both sides.
const NOTICED_WITHIN: Duration = Duration::from_secs(45);
/// How long the test waits at most for anything (twice the promise, so a
/// miss is measured and reported, not timed out).
const PATIENCE: Duration = Duration::from_secs(120);

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

/// The id of the host that announced itself (the test's only agent).
async fn the_one_host(hosts: &mut HostServiceClient<Channel>, token: &str) -> i64 {
    let started = Instant::now();
    loop {
        let listed = hosts
            .list_hosts(authorized(pb::ListHostsRequest::default(), token))
            .await
            .expect("list hosts")
            .into_inner();
        if let Some(host) = listed.hosts.first() {
            return host.id;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the agent never announced itself"
        );
        cairn_testkit::poll_pause().await;
    }
}

async fn host(hosts: &mut HostServiceClient<Channel>, token: &str, host_id: i64) -> pb::Host {
    hosts
        .get_host(authorized(pb::GetHostRequest { host_id }, token))
        .await
        .expect("get host")
        .into_inner()
        .host
        .expect("the host")
}

async fn wait_for(
    hosts: &mut HostServiceClient<Channel>,
    token: &str,
    host_id: i64,
    online: bool,
    what: &str,
) {
    let started = Instant::now();
    while host(hosts, token, host_id).await.online != online {
        assert!(
            started.elapsed() < PATIENCE,
            "not {what} within {PATIENCE:?}"
        );
        cairn_testkit::poll_pause().await;
    }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// A network namespace joined to this one by a veth pair with addresses of
/// its own; removed (with the link) when dropped.
struct Netns {
    name: String,
    outer: String,
    inner: String,
    subnet: u8,
}

impl Netns {
    fn create() -> Netns {
        let id = std::process::id();
        let subnet = (id % 200) as u8 + 20;
        let net = Netns {
            name: format!("cairn-drop-{id}"),
            outer: format!("cdo{id}"),
            inner: format!("cdi{id}"),
            subnet,
        };
        let outer_ip = format!("10.231.{subnet}.1/30");
        let inner_ip = format!("10.231.{subnet}.2/30");
        run(&["ip", "netns", "add", &net.name]);
        run(&[
            "ip", "link", "add", &net.outer, "type", "veth", "peer", "name", &net.inner,
        ]);
        run(&["ip", "link", "set", &net.inner, "netns", &net.name]);
        run(&["ip", "addr", "add", &outer_ip, "dev", &net.outer]);
        run(&["ip", "link", "set", &net.outer, "up"]);
        net.inside(&["ip", "addr", "add", &inner_ip, "dev", &net.inner]);
        net.inside(&["ip", "link", "set", &net.inner, "up"]);
        net.inside(&["ip", "link", "set", "lo", "up"]);
        net
    }

    /// The server's address on the outer end of the veth.
    fn server_ip(&self) -> std::net::IpAddr {
        [10, 231, self.subnet, 1].into()
    }

    /// Drops every packet between the two ends, both ways, silently
    /// (`true`), or stops (`false`). A blackhole route discards what it
    /// gets and tells nobody: no reset, no ICMP, exactly a dead NAT flow.
    fn drop_everything(&self, on: bool) {
        let verb = if on { "add" } else { "del" };
        let inner = format!("10.231.{}.2/32", self.subnet);
        let outer = format!("10.231.{}.1/32", self.subnet);
        run(&["ip", "route", verb, "blackhole", &inner]);
        self.inside(&["ip", "route", verb, "blackhole", &outer]);
    }

    fn inside(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", self.name.as_str()];
        all.extend(args);
        run(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.outer])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs a setup command, which must succeed (it needs root, as CI runs).
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|err| panic!("{} cannot run: {err}", args[0]));
    assert!(
        out.status.success(),
        "{args:?} (network namespaces need root, as CI runs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
