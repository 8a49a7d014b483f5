//! Test support: a real Cairn server (gRPC, web UI, probes) in process on a
//! loopback port, with its own temp data dir, and clients for it.
//!
//! The listener is bound before the server task starts, so a test never waits
//! on a fixed sleep for the server to come up.

#![forbid(unsafe_code)]

pub mod jobs;

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

mod process;
pub use process::ChildGuard;

/// A password good enough for every test account.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

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
    data_dir: Option<tempfile::TempDir>,
    config: ServerConfig,
    clock: Clock,
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

    /// As [`TestServer::start_with`], on `clock`; a restart keeps the clock.
    pub async fn start_with_clock(
        clock: Clock,
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
        Self::launch(listener, config, clock, data_dir).await
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
        let listener = TcpListener::bind(config.listen)
            .await
            .expect("rebind the same port");
        Self::launch(listener, config, self.clock.clone(), data_dir).await
    }

    async fn launch(
        listener: TcpListener,
        config: ServerConfig,
        clock: Clock,
        data_dir: tempfile::TempDir,
    ) -> TestServer {
        let addr = listener.local_addr().expect("local addr");
        let server = Server::open_with_clock(config.clone(), clock.clone())
            .await
            .expect("open server");
        let api = server.api();
        let setup_link = server.setup_link().map(str::to_string);
        let tls_fingerprint = server.tls_fingerprint().map(str::to_string);
        let ui = cairn_web::router(server.api());
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
            data_dir: Some(data_dir),
            config,
            clock,
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
        Endpoint::from_shared(self.url.clone())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect")
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

/// Agent helpers: a library agent with test-friendly timing, and a raw
/// session for speaking the protocol by hand (hostile or silent peers).
pub mod agents {
    use std::path::Path;
    use std::time::Duration;

    use cairn_agent::{Agent, AgentConfig, AgentEvent};
    use cairn_proto::v1 as pb;
    use cairn_proto::v1::agent_gateway_client::AgentGatewayClient;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;
    use tonic::Streaming;

    /// An agent configuration with short backoffs, for `url`.
    pub fn config(url: &str, state_dir: &Path) -> AgentConfig {
        let mut config = AgentConfig::new(url, state_dir);
        config.allow_plaintext = true;
        config.backoff_base = Duration::from_millis(20);
        config.backoff_cap = Duration::from_millis(200);
        config.refused_backoff = Duration::from_millis(300);
        config
    }

    /// A running library agent and its events.
    #[derive(Debug)]
    pub struct RunningAgent {
        pub events: mpsc::UnboundedReceiver<AgentEvent>,
        pub fingerprint: String,
        pub spool: std::sync::Arc<cairn_agent::Spool>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<Result<(), cairn_agent::AgentError>>,
    }

    impl RunningAgent {
        /// Starts `config`'s agent.
        pub fn start(config: AgentConfig) -> RunningAgent {
            let mut agent = Agent::open(config).expect("open agent");
            let events = agent.subscribe();
            let fingerprint = agent.identity().fingerprint().to_string();
            let spool = agent.spool();
            let (stop, stopped) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(agent.run(async {
                let _ = stopped.await;
            }));
            RunningAgent {
                events,
                fingerprint,
                spool,
                stop: Some(stop),
                task,
            }
        }

        /// The next event, failing the test if none comes within `within`.
        pub async fn next(&mut self, within: Duration) -> AgentEvent {
            tokio::time::timeout(within, self.events.recv())
                .await
                .expect("an agent event in time")
                .expect("agent running")
        }

        /// Waits for an event that `want` accepts, skipping others.
        pub async fn until(
            &mut self,
            within: Duration,
            want: impl Fn(&AgentEvent) -> bool,
        ) -> AgentEvent {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let event = self.next(left).await;
                if want(&event) {
                    return event;
                }
            }
        }

        /// Waits for a `Welcomed` with `status`.
        pub async fn welcomed(&mut self, status: pb::WelcomeStatus) -> AgentEvent {
            self.until(
                Duration::from_secs(60),
                |e| matches!(e, AgentEvent::Welcomed { status: s, .. } if *s == status),
            )
            .await
        }

        /// Stops the agent and waits for it.
        pub async fn stop(mut self) -> Result<(), cairn_agent::AgentError> {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            self.task.await.expect("agent task")
        }

        /// Waits for the agent to stop by itself (a fatal error) and returns
        /// how it ended.
        pub async fn stop_when_done(self) -> Result<(), cairn_agent::AgentError> {
            self.task.await.expect("agent task")
        }

        /// Whether the agent's task has ended (e.g. a fatal error).
        pub fn finished(&self) -> bool {
            self.task.is_finished()
        }
    }

    /// A session spoken by hand.
    #[derive(Debug)]
    pub struct RawSession {
        pub tx: mpsc::Sender<pb::AgentMessage>,
        pub rx: Streaming<pb::ServerMessage>,
    }

    /// A Hello for `token` from `hostname`.
    pub fn hello(token: &str, hostname: &str) -> pb::AgentMessage {
        pb::AgentMessage {
            seq: 0,
            body: Some(pb::agent_message::Body::Hello(pb::Hello {
                identity_token: token.to_string(),
                facts: Some(pb::HostFacts {
                    hostname: hostname.to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
        }
    }

    /// A fresh random identity token, as an agent would make.
    pub fn new_identity() -> String {
        use base64::Engine;
        let bytes: [u8; 32] = rand::random();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Opens a session and sends `first`; returns the stream or the status.
    pub async fn open(url: &str, first: pb::AgentMessage) -> Result<RawSession, tonic::Status> {
        let mut client = AgentGatewayClient::connect(url.to_string())
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?
            .max_encoding_message_size(64 * 1024 * 1024);
        let (tx, rx) = mpsc::channel(64);
        tx.send(first)
            .await
            .map_err(|_| tonic::Status::internal("send"))?;
        let rx = client.session(ReceiverStream::new(rx)).await?.into_inner();
        Ok(RawSession { tx, rx })
    }

    impl RawSession {
        /// The next server message, or the status that ended the stream.
        pub async fn next(
            &mut self,
            within: Duration,
        ) -> Result<Option<pb::ServerMessage>, tonic::Status> {
            tokio::time::timeout(within, self.rx.message())
                .await
                .unwrap_or_else(|_| {
                    Err(tonic::Status::deadline_exceeded(
                        "no server message in time",
                    ))
                })
        }
    }
}

/// Fleet helpers over the gRPC API, as an operator's script would do it.
pub mod fleet {
    use cairn_proto::v1 as pb;
    use cairn_proto::v1::host_service_client::HostServiceClient;
    use cairn_proto::v1::job_service_client::JobServiceClient;
    use cairn_proto::v1::repository_service_client::RepositoryServiceClient;

    use crate::TestServer;
    use crate::agents::RunningAgent;

    /// A request carrying `authorization: Bearer <token>`.
    pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {token}").parse().expect("header value");
        request.metadata_mut().insert("authorization", value);
        request
    }

    /// Waits for `agent` to announce itself, approves it, and waits for its
    /// welcome; returns its host id.
    pub async fn approve(server: &TestServer, token: &str, agent: &mut RunningAgent) -> i64 {
        let host_id = match agent.welcomed(pb::WelcomeStatus::PendingApproval).await {
            cairn_agent::AgentEvent::Welcomed { host_id, .. } => host_id,
            other => panic!("expected a welcome, got {other:?}"),
        };
        HostServiceClient::new(server.channel().await)
            .approve_host(authorized(
                pb::ApproveHostRequest {
                    host_id,
                    expected_fingerprint: String::new(),
                },
                token,
            ))
            .await
            .expect("approve");
        agent.welcomed(pb::WelcomeStatus::Approved).await;
        host_id
    }

    /// Creates a repository and assigns it to `hosts`; returns its id.
    pub async fn repository(
        server: &TestServer,
        token: &str,
        name: &str,
        url: &str,
        password: &str,
        hosts: &[i64],
    ) -> i64 {
        let mut repos = RepositoryServiceClient::new(server.channel().await);
        let repo = repos
            .create_repository(authorized(
                pb::CreateRepositoryRequest {
                    name: name.into(),
                    url: url.into(),
                    password: password.into(),
                    env: Default::default(),
                },
                token,
            ))
            .await
            .expect("create repository")
            .into_inner()
            .repository
            .expect("repository");
        for host in hosts {
            repos
                .assign_repository(authorized(
                    pb::AssignRepositoryRequest {
                        repository_id: repo.id,
                        host_id: *host,
                    },
                    token,
                ))
                .await
                .expect("assign");
        }
        repo.id
    }

    /// Initialises `repository` from `host` and waits for it to succeed.
    pub async fn init(server: &TestServer, token: &str, host_id: i64, repository_id: i64) {
        let job = JobServiceClient::new(server.channel().await)
            .run_maintenance(authorized(
                pb::RunMaintenanceRequest {
                    host_id,
                    repository_id,
                    spec: Some(pb::run_maintenance_request::Spec::Init(
                        pb::InitSpec::default(),
                    )),
                },
                token,
            ))
            .await
            .expect("init")
            .into_inner()
            .job
            .expect("job");
        let done = wait_job(server, token, job.id, INIT_WITHIN, "init", ended).await;
        assert_eq!(
            done.status,
            pb::JobStatus::Succeeded as i32,
            "{}",
            done.error
        );
    }

    /// How long a test waits for `restic init` (slow on a loaded machine).
    const INIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

    /// A backup of `paths` from `host_id` into `repository_id`, run now.
    pub fn backup_now(host_id: i64, repository_id: i64, paths: &[&str]) -> pb::RunBackupRequest {
        pb::RunBackupRequest {
            schedule_id: 0,
            host_id,
            repository_id,
            spec: Some(pb::BackupSpec {
                paths: paths.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            }),
        }
    }

    /// How often a waiting test asks again.
    const POLL: std::time::Duration = std::time::Duration::from_millis(50);

    /// The pause between two looks of a test that waits on a condition
    /// (always under a deadline of its own): one poll interval for all.
    pub async fn poll_pause() {
        tokio::time::sleep(POLL).await;
    }

    /// Asks for job `job_id` until `done` holds for it, and returns it;
    /// panics naming `what` (and the job as last seen) after `within`.
    pub async fn wait_job(
        server: &TestServer,
        token: &str,
        job_id: i64,
        within: std::time::Duration,
        what: &str,
        done: impl Fn(&pb::Job) -> bool,
    ) -> pb::Job {
        let mut jobs = JobServiceClient::new(server.channel().await);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let job = jobs
                .get_job(authorized(pb::GetJobRequest { job_id }, token))
                .await
                .expect("get job")
                .into_inner()
                .job
                .expect("job");
            if done(&job) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {job:?}"
            );
            poll_pause().await;
        }
    }

    /// Whether a job has reached its one terminal state.
    pub fn ended(job: &pb::Job) -> bool {
        [
            pb::JobStatus::Succeeded,
            pb::JobStatus::Failed,
            pb::JobStatus::Cancelled,
            pb::JobStatus::Lost,
        ]
        .iter()
        .any(|s| *s as i32 == job.status)
    }
}
