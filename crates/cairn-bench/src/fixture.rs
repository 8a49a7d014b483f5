//! A real `cairn server` as a child process, the way an operator runs it:
//! TLS with its self-signed certificate (pinned by the clients), its own
//! data directory, and an admin account made with `cairn admin` before it
//! starts. Its memory and CPU are its own, which is
//! why the benchmarks run it out of process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cairn_proto::Bearer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::Ctx;
use crate::dialer::Dialer;

/// The admin the benchmarks sign in as.
pub const ADMIN: &str = "bench";
/// Its password (a throwaway server on loopback).
pub const ADMIN_PASSWORD: &str = "bench-password-not-secret";

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Serve plain HTTP instead of TLS.
    pub plaintext: bool,
    /// Extra `cairn server` flags (`--agent-offline-after 90s`, …).
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Use this data directory (made if missing) instead of a fresh one.
    pub data_dir: Option<PathBuf>,
}

/// A running `cairn server`.
#[derive(Debug)]
pub struct BenchServer {
    child: Option<Child>,
    bin: PathBuf,
    options: ServerOptions,
    /// The server's data directory.
    pub data_dir: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:port` (or `http://`).
    pub url: String,
    /// The pinned certificate's fingerprint (TLS only).
    pub fingerprint: Option<String>,
    /// An admin-scoped API token.
    pub token: String,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    _scratch: Option<tempfile::TempDir>,
}

impl BenchServer {
    /// Makes the data directory, the certificate, and the admin,
    /// starts the server and waits until `/readyz` answers.
    pub async fn start(ctx: &Ctx, options: ServerOptions) -> anyhow::Result<BenchServer> {
        let (data_dir, scratch) = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                (dir.clone(), None)
            }
            None => {
                let scratch = tempfile::Builder::new()
                    .prefix("server-")
                    .tempdir_in(&ctx.work)
                    .context("making a server data dir")?;
                (scratch.path().to_path_buf(), Some(scratch))
            }
        };
        let addr = free_addr()?;
        let fingerprint = if options.plaintext {
            None
        } else {
            let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
            let (identity, _) =
                cairn_tls::ServerIdentity::load_or_create_self_signed(&data_dir, &names)
                    .context("making the server's certificate")?;
            Some(identity.fingerprint().to_string())
        };
        let token = create_admin(&ctx.cairn, &data_dir)?;
        let scheme = if options.plaintext { "http" } else { "https" };
        let mut server = BenchServer {
            child: None,
            bin: ctx.cairn.clone(),
            options,
            log: data_dir.join("server.log"),
            data_dir,
            addr,
            url: format!("{scheme}://{addr}"),
            fingerprint,
            token,
            _scratch: scratch,
        };
        server.spawn()?;
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    /// Starts the process (again) on the same data directory and port, and
    /// returns at once.
    pub fn spawn(&mut self) -> anyhow::Result<Instant> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(&self.bin);
        command
            .arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--public-url")
            .arg(&self.url)
            .args(&self.options.args)
            .env("CAIRN_LOG_LEVEL", "warn")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("log")?)
            .stderr(log);
        if self.options.plaintext {
            command.arg("--plaintext");
        }
        let started = Instant::now();
        self.child = Some(
            command
                .spawn()
                .with_context(|| format!("starting {}", self.bin.display()))?,
        );
        Ok(started)
    }

    /// The server's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("the server is not running")
    }

    /// Polls `/readyz` until it answers 200; returns how long that took.
    pub async fn wait_ready(&mut self, deadline: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let http = self.http()?;
        let url = format!("{}/readyz", self.url);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("waiting on the server")?
            {
                bail!(
                    "the server exited with {status}; see {}",
                    self.log.display()
                );
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > deadline {
                bail!(
                    "the server was not ready within {deadline:?}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// An HTTP client that trusts the pinned certificate, with a timeout
    /// for whole requests (not for streams: see [`pinned_client`]).
    pub fn http(&self) -> anyhow::Result<reqwest::Client> {
        pinned_client(self.fingerprint.as_deref(), Some(Duration::from_secs(60)))
    }

    /// How clients reach it: its URL and its pinned certificate.
    pub fn dialer(&self) -> anyhow::Result<Dialer> {
        Dialer::new(&self.url, self.fingerprint.as_deref())
    }

    /// A gRPC channel of its own (its own connection) to the server, over
    /// the pinned TLS.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        self.dialer()?.channel().await
    }

    /// What adds the admin token to a call.
    pub fn bearer(&self) -> anyhow::Result<Bearer> {
        Bearer::new(&self.token).context("the token cannot be a header")
    }

    /// A gRPC channel whose calls carry the admin token.
    pub async fn api(&self) -> anyhow::Result<Authed> {
        Ok(InterceptedService::new(
            self.channel().await?,
            self.bearer()?,
        ))
    }
}

/// A channel whose every call carries the bearer token.
pub type Authed = InterceptedService<Channel, Bearer>;

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `kill -9` on a child process the benchmark started, if it still runs,
/// and waits until it is gone (its pid and port free again).
pub fn kill9(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// An HTTP client of its own (its own connection) trusting only the
/// certificate with `fingerprint` (any when `None`, for plain HTTP).
pub fn pinned_client(
    fingerprint: Option<&str>,
    timeout: Option<Duration>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    pinned(builder, fingerprint)
}

/// A client pinned like [`pinned_client`] whose HTTP/2 streams take at most
/// `window` bytes unread: a reader that stops reading holds the server up
/// within a few events, as a dead link's would within its socket buffers.
pub fn small_window_client(
    fingerprint: Option<&str>,
    window: u32,
) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder().http2_initial_stream_window_size(window);
    pinned(builder, fingerprint)
}

fn pinned(
    builder: reqwest::ClientBuilder,
    fingerprint: Option<&str>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = builder.redirect(reqwest::redirect::Policy::none());
    if let Some(fingerprint) = fingerprint {
        let pin = cairn_tls::parse_fingerprint(fingerprint).context("the server's fingerprint")?;
        let (config, _) = cairn_tls::client_config(&cairn_tls::Trust::Pinned(pin))
            .context("TLS client config")?;
        builder = builder.use_preconfigured_tls((*config).clone());
    }
    builder.build().context("building the HTTP client")
}

/// A loopback address with a free port (bound, then released).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// `cairn admin create-user` and `create-token` on the data directory;
/// returns the admin-scoped token.
fn create_admin(cairn: &Path, data_dir: &Path) -> anyhow::Result<String> {
    let password_file = data_dir.join("bench-admin-password");
    std::fs::write(&password_file, ADMIN_PASSWORD).context("writing the admin password file")?;
    let admin = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new(cairn)
            .arg("admin")
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("CAIRN_LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} admin", cairn.display()))?;
        if !output.status.success() {
            bail!(
                "cairn admin {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let password = password_file.to_string_lossy().into_owned();
    admin(&[
        "create-user",
        "--username",
        ADMIN,
        "--role",
        "admin",
        "--password-file",
        &password,
    ])?;
    let token = admin(&[
        "create-token",
        "--user",
        ADMIN,
        "--name",
        "bench",
        "--scope",
        "admin",
    ])?;
    if token.is_empty() {
        bail!("cairn admin create-token printed no token");
    }
    Ok(token)
}
