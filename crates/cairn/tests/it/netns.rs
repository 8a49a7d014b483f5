//! Real agent processes against a real server process: waiting for the
//! host to appear and to go on or offline, and a network namespace of the
//! test's own whose link can be cut (the fault tests share these).
//!
//! Network namespaces need root, as CI runs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_testkit::fleet::authorized;
use tonic::transport::Channel;

/// How long a test waits at most for a host to appear or change.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The id of the host that announced itself (the test's only agent).
pub async fn the_one_host(hosts: &mut HostServiceClient<Channel>, token: &str) -> i64 {
    new_host(hosts, token, &[]).await
}

/// The id of a host that announced itself and is not one of `known`.
pub async fn new_host(hosts: &mut HostServiceClient<Channel>, token: &str, known: &[i64]) -> i64 {
    let started = Instant::now();
    loop {
        let listed = hosts
            .list_hosts(authorized(pb::ListHostsRequest::default(), token))
            .await
            .expect("list hosts")
            .into_inner();
        if let Some(host) = listed.hosts.iter().find(|h| !known.contains(&h.id)) {
            return host.id;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the agent never announced itself"
        );
        cairn_testkit::poll_pause().await;
    }
}

pub async fn host(hosts: &mut HostServiceClient<Channel>, token: &str, host_id: i64) -> pb::Host {
    hosts
        .get_host(authorized(pb::GetHostRequest { host_id }, token))
        .await
        .expect("get host")
        .into_inner()
        .host
        .expect("the host")
}

pub async fn wait_for(
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

pub fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// A network namespace joined to this one by a veth pair with addresses of
/// its own; removed (with the link) when dropped.
pub struct Netns {
    pub name: String,
    outer: String,
    inner: String,
    subnet: u8,
}

impl Netns {
    pub fn create() -> Netns {
        // Several tests of one process each make one: the process id and a
        // count name it, and pick its /30.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = std::process::id();
        let k = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let subnet = ((id.wrapping_mul(7) + k) % 200) as u8 + 20;
        let net = Netns {
            name: format!("cairn-net-{id}-{k}"),
            outer: format!("cdo{id}x{k}"),
            inner: format!("cdi{id}x{k}"),
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
    pub fn server_ip(&self) -> std::net::IpAddr {
        [10, 231, self.subnet, 1].into()
    }

    /// Drops every packet between the two ends, both ways, silently
    /// (`true`), or stops (`false`). A blackhole route discards what it
    /// gets and tells nobody: no reset, no ICMP, exactly a dead NAT flow.
    pub fn drop_everything(&self, on: bool) {
        let verb = if on { "add" } else { "del" };
        let inner = format!("10.231.{}.2/32", self.subnet);
        let outer = format!("10.231.{}.1/32", self.subnet);
        run(&["ip", "route", verb, "blackhole", &inner]);
        self.inside(&["ip", "route", verb, "blackhole", &outer]);
    }

    pub fn inside(&self, args: &[&str]) {
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
