//! The book's reverse-proxy configurations (`packaging/proxy/`), run by the
//! real nginx and Caddy in front of a real server that listens plaintext on
//! loopback: a script's gRPC call, an agent's stream (announced, then
//! approved while it stays open), a browser's sign-in form (the same-origin
//! check sees the browser's host) and a live view's events all pass through.
//! `scripts/install-deps` installs both proxies.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_agent::{AgentEvent, Trust};
use cairn_proto::v1 as pb;
use cairn_server::auth::Principal;
use cairn_store::{HostId, Role, Scope};
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::{TestServer, poll_pause};

use crate::cli::cairn;

const NGINX_SITE: &str = include_str!("../../../../packaging/proxy/nginx.conf");
const CADDYFILE: &str = include_str!("../../../../packaging/proxy/Caddyfile");
/// How long a proxy may take to start listening on a loaded machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A proxy process in front of the server, stopped when dropped.
struct Proxy {
    name: &'static str,
    child: Child,
    base: String,
    fingerprint: String,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `text` with `from` replaced, failing if it is not there (the book's file
/// changed shape: change this test with it).
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the proxy configuration no longer has {from:?}"
    );
    text.replace(from, to)
}

/// A certificate for 127.0.0.1 in `dir`, as an operator's would be; its
/// fingerprint, and the certificate and key paths.
fn certificate(dir: &Path) -> (String, PathBuf, PathBuf) {
    let (identity, _) =
        cairn_tls::ServerIdentity::load_or_create_self_signed(dir, &["127.0.0.1".to_string()])
            .expect("a certificate");
    let (cert, key) = cairn_tls::ServerIdentity::self_signed_paths(dir);
    (identity.fingerprint().to_string(), cert, key)
}

fn need(binary: &str) -> PathBuf {
    let path = PathBuf::from(binary);
    assert!(
        path.exists(),
        "{binary} is missing: run scripts/install-deps (it installs nginx and caddy)"
    );
    path
}

fn nginx(upstream: SocketAddr, port: u16) -> Proxy {
    let nginx = need("/usr/sbin/nginx");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().display().to_string();
    let (fingerprint, cert, key) = certificate(dir.path());
    let site = replaced(
        NGINX_SITE,
        "server 127.0.0.1:8080;",
        &format!("server {upstream};"),
    );
    let site = replaced(
        &site,
        "listen 443 ssl http2;",
        &format!("listen 127.0.0.1:{port} ssl http2;"),
    );
    let site = replaced(
        &site,
        "/etc/ssl/cairn/fullchain.pem",
        &cert.display().to_string(),
    );
    let site = replaced(
        &site,
        "/etc/ssl/cairn/privkey.pem",
        &key.display().to_string(),
    );
    // One process, no privilege drop, everything it writes in `dir`.
    let main = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{}}\nhttp {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n{site}\n}}\n"
    );
    let config = dir.path().join("nginx.conf");
    std::fs::write(&config, main).expect("write nginx.conf");
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&config)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    Proxy {
        name: "nginx",
        child,
        base: format!("https://127.0.0.1:{port}"),
        fingerprint,
        dir,
    }
}

fn caddy(upstream: SocketAddr, port: u16) -> Proxy {
    let caddy = need("/usr/bin/caddy");
    let dir = tempfile::tempdir().expect("dir");
    let (fingerprint, cert, key) = certificate(dir.path());
    let site = replaced(
        CADDYFILE,
        "h2c://127.0.0.1:8080",
        &format!("h2c://{upstream}"),
    );
    // The operator's certificate instead of one from Let's Encrypt.
    let site = replaced(
        &site,
        "cairn.example.com {",
        &format!(
            "https://127.0.0.1:{port} {{\n\ttls {} {}",
            cert.display(),
            key.display()
        ),
    );
    let global = format!(
        "{{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n\thttp_port {}\n\t\
         storage file_system {}\n}}\n",
        free_port(),
        dir.path().join("data").display()
    );
    let config = dir.path().join("Caddyfile");
    std::fs::write(&config, format!("{global}{site}")).expect("write Caddyfile");
    let log = std::fs::File::create(dir.path().join("error.log")).expect("log");
    let child = Command::new(caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start caddy");
    Proxy {
        name: "caddy",
        child,
        base: format!("https://127.0.0.1:{port}"),
        fingerprint,
        dir,
    }
}

impl Proxy {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Waits until the proxy answers HTTPS, failing with its log if it exits.
    async fn ready(&mut self, http: &reqwest::Client) {
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}): {}", self.name, self.log());
            }
            if http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not listen in time: {}",
                self.name,
                self.log()
            );
            poll_pause().await;
        }
    }
}

/// A client that trusts the proxy's own certificate (a browser would trust
/// the operator's CA).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

async fn read_until(response: &mut reqwest::Response, want: &str) -> bool {
    let mut seen = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains(want) {
            return true;
        }
    }
    false
}

async fn everything_passes_through(start: fn(SocketAddr, u16) -> Proxy) {
    let port = free_port();
    let server =
        TestServer::start_with(|c| c.public_url = format!("https://127.0.0.1:{port}")).await;
    let mut proxy = start(server.addr, port);
    let http = browser();
    proxy.ready(&http).await;
    let name = proxy.name;

    // A script: `cairn ctl`, pinning the proxy's certificate.
    let token = server.token_for("script", Role::Admin, Scope::Admin).await;
    let mut ctl = cairn();
    ctl.args(["ctl", "--server", &proxy.base, "--server-fingerprint"])
        .arg(&proxy.fingerprint)
        .arg("whoami")
        .env("CAIRN_TOKEN", &token);
    let whoami = tokio::task::spawn_blocking(move || ctl.output().expect("run cairn"))
        .await
        .expect("ctl ran");
    assert!(
        whoami.status.success() && String::from_utf8_lossy(&whoami.stdout).contains("script"),
        "{name}: ctl whoami: {}\n{name}'s log: {}",
        String::from_utf8_lossy(&whoami.stderr),
        proxy.log()
    );

    // A browser signs in: the form's Origin is checked against the host the
    // proxy passes on.
    server.create_user("ann", Role::Operator).await;
    let signed_in = http
        .post(format!("{}/login", proxy.base))
        .header("origin", &proxy.base)
        .form(&[
            ("username", "ann"),
            ("password", cairn_testkit::TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    let cookie = signed_in
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|v| v.contains("cairn_session="))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{name}: no session: {}", signed_in.status()));

    // Its live view is open before anything changes.
    let mut live = http
        .get(format!("{}/events/fleet", proxy.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .expect("live view");
    assert_eq!(live.status(), reqwest::StatusCode::OK, "{name}");

    // An agent announces through the proxy, pinning its certificate.
    let state = tempfile::tempdir().expect("state");
    let mut config = agents::config(&proxy.base, state.path());
    config.allow_plaintext = false;
    config.trust =
        Trust::Pinned(cairn_tls::parse_fingerprint(&proxy.fingerprint).expect("fingerprint"));
    let mut agent = RunningAgent::start(config);
    let AgentEvent::Welcomed { host_id, .. } =
        agent.welcomed(pb::WelcomeStatus::PendingApproval).await
    else {
        panic!("{name}: not welcomed");
    };

    // Approved while its stream stays open: the server pushes the welcome
    // down it, and the live view hears of the change.
    server
        .api
        .fleet
        .approve(&Principal::local_cli(), HostId(host_id), None)
        .await
        .expect("approve");
    agent.welcomed(pb::WelcomeStatus::Approved).await;
    let changed = tokio::time::timeout(
        Duration::from_secs(60),
        read_until(&mut live, "event: changed"),
    )
    .await;
    assert_eq!(
        changed,
        Ok(true),
        "{name}: the live view's event came through"
    );
    agent.stop().await.expect("stop");
}

#[tokio::test]
async fn the_books_nginx_configuration_carries_grpc_streams_the_console_and_live_views() {
    everything_passes_through(nginx).await;
}

#[tokio::test]
async fn the_books_caddy_configuration_carries_grpc_streams_the_console_and_live_views() {
    everything_passes_through(caddy).await;
}
