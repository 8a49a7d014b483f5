//! The server under test: in process, on a loopback port bound before the
//! server task starts, with its own temp data dir.

use std::net::SocketAddr;

use cairn_server::admin::TokenRequest;
use cairn_server::auth::Principal;
use cairn_server::clock::{Clock, ManualClock};
use cairn_server::{Api, Server, ServerConfig, StartError};
use cairn_store::{Role, Scope};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// A password good enough for every test account.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A server a test talks to over gRPC: in process ([`TestServer`]) or a
/// real process ([`crate::ServerProcess`]). The fleet and job helpers take
/// either.
pub trait Reachable {
    /// `http://<addr>` of its one port.
    fn grpc_url(&self) -> &str;

    /// A gRPC channel to it.
    fn channel(&self) -> impl std::future::Future<Output = Channel> + Send {
        let endpoint = Endpoint::from_shared(self.grpc_url().to_string()).expect("endpoint");
        async move { endpoint.connect().await.expect("connect") }
    }
}

impl Reachable for TestServer {
    fn grpc_url(&self) -> &str {
        &self.url
    }
}

/// A running in-process server.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The TLS certificate's fingerprint, when serving TLS.
    pub tls_fingerprint: Option<String>,
    /// The one-time setup link, if no operator existed at start.
    pub setup_link: Option<String>,
    /// The service layer, for arranging state directly.
    pub api: Api,
    /// Where `/metrics` is served alone, when `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    data_dir: Option<tempfile::TempDir>,
    config: ServerConfig,
    clock: Clock,
    notices: Option<cairn_server::notice::Notices>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
}

impl TestServer {
    /// Starts a server with the default configuration.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        Self::start_with_clock(Clock::system(), adjust).await
    }

    /// Starts a server whose clock stands still until the test moves it: time
    /// that leases, liveness, schedules and catch-up depend on passes only
    /// when the test says so, however loaded the machine. The clock starts at
    /// `start` (ms since the epoch) and survives [`TestServer::restart`].
    pub async fn start_manual(
        start: cairn_store::Millis,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> (TestServer, ManualClock) {
        let (clock, hand) = Clock::manual(start);
        (Self::start_with_clock(clock, adjust).await, hand)
    }

    /// As [`TestServer::start_manual`], the alert engine telling `notices`
    /// (a recorder) what it would send to the channels.
    pub async fn start_manual_with_notices(
        start: cairn_store::Millis,
        notices: cairn_server::notice::Notices,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> (TestServer, ManualClock) {
        let (clock, hand) = Clock::manual(start);
        (Self::start_inner(clock, Some(notices), adjust).await, hand)
    }

    /// As [`TestServer::start_with`], on `clock`; a restart keeps the clock.
    pub async fn start_with_clock(
        clock: Clock,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        Self::start_inner(clock, None, adjust).await
    }

    async fn start_inner(
        clock: Clock,
        notices: Option<cairn_server::notice::Notices>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        init_logging();
        let data_dir = tempfile::tempdir().expect("temp data dir");
        // The listener is bound here, before the server task starts, so
        // clients can connect at once.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut config = ServerConfig::for_data_dir(&data_dir.path().join("data"));
        config.listen = addr;
        // Plaintext unless a test asks for TLS (then it sets `tls` and an
        // https `public_url`).
        config.tls = cairn_server::config::TlsMode::Plaintext;
        config.public_url = format!("http://{addr}");
        adjust(&mut config);
        Self::launch(listener, config, clock, notices, data_dir).await
    }

    /// Stops the server, stays down for `down`, and starts it again on the
    /// same address and data dir.
    pub async fn restart_after(self, down: std::time::Duration) -> TestServer {
        self.restart_with_pause(down).await
    }

    /// Stops the server and starts it again on the same address and data
    /// dir, as a restart of the process would.
    pub async fn restart(self) -> TestServer {
        self.restart_with_pause(std::time::Duration::ZERO).await
    }

    /// Stops the server and starts it again on the same address and data
    /// dir with its configuration changed, as an operator editing the config
    /// file and restarting would.
    pub async fn restart_adjusted(mut self, adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        adjust(&mut self.config);
        self.restart().await
    }

    async fn restart_with_pause(self, down: std::time::Duration) -> TestServer {
        self.restart_when(tokio::time::sleep(down)).await
    }

    /// Stops the server, runs `while_down` (e.g. moves the clock and waits
    /// for the agent to spool what it fires), and starts the server again on
    /// the same address, data dir and clock.
    pub async fn restart_when(
        mut self,
        while_down: impl std::future::Future<Output = ()>,
    ) -> TestServer {
        let data_dir = self.data_dir.take().expect("data dir");
        let config = self.config.clone();
        self.stop_in_place().await.expect("clean stop");
        while_down.await;
        // Another test's outgoing connection may hold the port for a moment
        // (the kernel hands out ephemeral ports from the same range): ask
        // again until it is free, under a generous deadline.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let listener = loop {
            match TcpListener::bind(config.listen).await {
                Ok(listener) => break listener,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %err, "the port is still held: trying again");
                    crate::poll_pause().await;
                }
                Err(err) => panic!("rebind the same port {}: {err}", config.listen),
            }
        };
        Self::launch(
            listener,
            config,
            self.clock.clone(),
            self.notices.clone(),
            data_dir,
        )
        .await
    }

    async fn launch(
        listener: TcpListener,
        config: ServerConfig,
        clock: Clock,
        notices: Option<cairn_server::notice::Notices>,
        data_dir: tempfile::TempDir,
    ) -> TestServer {
        let addr = listener.local_addr().expect("local addr");
        let mut server = Server::open_with_clock(config.clone(), clock.clone())
            .await
            .expect("open server");
        if let Some(notices) = notices.clone() {
            server = server.with_notices(notices);
        }
        let api = server.api();
        let setup_link = server.setup_link().map(str::to_string);
        let tls_fingerprint = server.tls_fingerprint().map(str::to_string);
        let ui = cairn_web::router(server.api());
        let mut metrics_addr = None;
        if let Some(wanted) = config.metrics_listen {
            let listener = TcpListener::bind(wanted).await.expect("bind metrics");
            metrics_addr = Some(listener.local_addr().expect("metrics addr"));
            let stopping = server.api();
            tokio::spawn(server.serve_metrics(listener, async move {
                stopping.shutting_down().await;
            }));
        }
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.serve(listener, ui, async {
            let _ = rx.await;
        }));
        TestServer {
            // Where tests connect: the loopback address in plaintext (even if
            // `public_url` names a proxy), the public URL when serving TLS.
            url: if config.tls == cairn_server::config::TlsMode::Plaintext {
                format!("http://{addr}")
            } else {
                config.public_url.clone()
            },
            tls_fingerprint,
            addr,
            setup_link,
            api,
            metrics_addr,
            data_dir: Some(data_dir),
            config,
            clock,
            notices,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The clock the server reads (a manual one after `start_manual`): give
    /// it to an agent so both share one time.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.config.data_dir.clone()
    }

    /// A host only the store knows of (it never connected): announced as
    /// `hostname` with an identity of its own, pending.
    pub async fn stored_host(&self, hostname: &str) -> cairn_store::HostId {
        self.stored_host_with(cairn_store::HostFacts {
            hostname: hostname.into(),
            ..Default::default()
        })
        .await
    }

    /// A host only the store knows of, pending, that reported `facts` (its
    /// identity made from its hostname).
    pub async fn stored_host_with(&self, facts: cairn_store::HostFacts) -> cairn_store::HostId {
        let hostname = facts.hostname.clone();
        self.store()
            .await
            .announce_host(cairn_store::Announce {
                identity_hash: format!("stored-{hostname}").into_bytes(),
                fingerprint: format!("fp-{hostname}"),
                facts,
                addr: None,
                enroll_token_hash: None,
                now: 0,
            })
            .await
            .expect("announce")
            .host
            .id
    }

    /// A queued job of `host` (no repository: no dispatcher sends it), made
    /// straight in the store, for tests of what the server itself does.
    pub async fn stored_job(
        &self,
        host: cairn_store::HostId,
        spec: cairn_domain::JobSpec,
    ) -> cairn_store::JobId {
        let job = cairn_store::NewJob {
            host_id: host,
            repository_id: None,
            trigger: cairn_domain::Trigger::Api,
            spec,
            created_by: None,
        };
        self.store().await.create_job(job, 0).await.expect("job")
    }

    /// Opens the server's database alongside it (WAL allows this), to arrange
    /// or inspect state the API does not expose.
    pub async fn store(&self) -> cairn_store::Store {
        cairn_store::Store::open(&self.data_dir().join("cairn.db"))
            .await
            .expect("open store")
    }

    /// Creates an operator directly through the service layer (as `cairn
    /// admin` would) and returns nothing but success.
    pub async fn create_user(&self, username: &str, role: Role) {
        self.api
            .admin
            .create_user(&Principal::local_cli(), username, TEST_PASSWORD, role)
            .await
            .expect("create user");
    }

    /// Creates an operator with `role` and an API token with `scope` for them;
    /// returns the token's secret.
    pub async fn token_for(&self, username: &str, role: Role, scope: Scope) -> String {
        self.create_user(username, role).await;
        let user = self
            .api
            .admin
            .user_by_username(username)
            .await
            .expect("user");
        let created = self
            .api
            .admin
            .create_api_token(
                &Principal::local_cli(),
                TokenRequest {
                    name: format!("{username}-{scope}"),
                    scope,
                    ttl: None,
                    user_id: Some(user.id),
                },
            )
            .await
            .expect("create token");
        created.secret.expose().to_string()
    }

    /// A gRPC channel to the server.
    pub async fn channel(&self) -> Channel {
        Reachable::channel(self).await
    }

    /// An HTTP client that does not follow redirects (tests look at them).
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client")
    }

    /// Asks the server to stop and waits for it to finish draining.
    pub async fn stop(mut self) -> Result<(), StartError> {
        self.stop_in_place().await
    }

    async fn stop_in_place(&mut self) -> Result<(), StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Logs to the test's captured output, once per process.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .try_init();
}
