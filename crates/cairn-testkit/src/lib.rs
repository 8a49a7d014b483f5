//! Test support: a real Cairn server (gRPC, web UI, probes) in process on a
//! loopback port, with its own temp data dir, and clients for it.
//!
//! The listener is bound before the server task starts, so a test never waits
//! on a fixed sleep for the server to come up.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

use cairn_server::admin::TokenRequest;
use cairn_server::auth::Principal;
use cairn_server::{Api, Server, ServerConfig, StartError};
use cairn_store::{Role, Scope};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// A password good enough for every test account.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A running in-process server.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The one-time setup link, if no operator existed at start.
    pub setup_link: Option<String>,
    /// The service layer, for arranging state directly.
    pub api: Api,
    data_dir: tempfile::TempDir,
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
        init_logging();
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut config = ServerConfig::for_data_dir(&data_dir.path().join("data"));
        config.listen = addr;
        config.public_url = format!("http://{addr}");
        adjust(&mut config);
        let server = Server::open(config).await.expect("open server");
        let api = server.api();
        let setup_link = server.setup_link().map(str::to_string);
        let ui = cairn_web::router(server.api());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.serve(listener, ui, async {
            let _ = rx.await;
        }));
        TestServer {
            url: format!("http://{addr}"),
            addr,
            setup_link,
            api,
            data_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.data_dir.path().join("data")
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
