//! A real `cairn server` process on a data dir of its own, for the tests
//! that kill it (`kill -9`) at a random moment and start it again on the
//! same port and data: what an in-process server cannot show, since its
//! death would be the test's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::ChildGuard;
use crate::server::Reachable;

/// How long a restarted server may take to answer `/readyz` on a loaded
/// machine (migrations, the first checks, a cold page cache).
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// The `cairn` binary, a data dir and a port; the process when running.
#[derive(Debug)]
pub struct ServerProcess {
    binary: PathBuf,
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
    url: String,
    child: Option<ChildGuard>,
    /// Extra `--flag value` pairs given at every start.
    flags: Vec<String>,
    /// Where the log goes, at `debug`, when a test reads it.
    log: Option<PathBuf>,
}

impl ServerProcess {
    /// A plaintext server for `data_dir` on a free loopback port, not yet
    /// started; `flags` are added to every start.
    pub fn new(binary: &Path, data_dir: &Path, flags: &[&str]) -> ServerProcess {
        ServerProcess::on(binary, data_dir, [127, 0, 0, 1].into(), flags)
    }

    /// As [`ServerProcess::new`], listening on a free port of `ip` (an
    /// address of a link the test made, say a veth into a network namespace).
    pub fn on(
        binary: &Path,
        data_dir: &Path,
        ip: std::net::IpAddr,
        flags: &[&str],
    ) -> ServerProcess {
        let listen = free_port(ip);
        ServerProcess {
            binary: binary.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            listen,
            url: format!("http://{listen}"),
            child: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            log: None,
        }
    }

    /// Logs at `debug` into `path` (appended to at every start) instead of
    /// warnings to the test's output: for a test that reads what was logged.
    pub fn log_to(&mut self, path: &Path) {
        self.log = Some(path.to_path_buf());
    }

    /// The data dir (its database is `cairn.db`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Starts the process and waits until it answers `/readyz`.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut command = Command::new(&self.binary);
        command
            .arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--plaintext")
            .args(&self.flags)
            .env("CAIRN_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(path) = &self.log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the server's log file");
            command
                .env("CAIRN_LOG_LEVEL", "debug")
                .env("NO_COLOR", "1")
                .stderr(file);
        }
        let mut child = ChildGuard::spawn("cairn server", &mut command);
        let http = reqwest::Client::new();
        let ready = format!("{}/readyz", self.url);
        let deadline = tokio::time::Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(answer) = http.get(&ready).send().await
                && answer.status().is_success()
            {
                break;
            }
            assert!(child.running(), "cairn server exited while starting");
            assert!(
                tokio::time::Instant::now() < deadline,
                "cairn server was not ready within {READY_DEADLINE:?}"
            );
            crate::poll_pause().await;
        }
        self.child = Some(child);
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildGuard::id)
    }

    /// Whether the process is still running (it has not exited or died).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildGuard::running)
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.listen
    }

    /// Kills the process as `kill -9` does (no drain, no shutdown hooks).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }
}

impl Reachable for ServerProcess {
    fn grpc_url(&self) -> &str {
        &self.url
    }
}

/// A port of `ip` nobody listens on now (the OS's pick, released at once:
/// the server binds it a moment later).
fn free_port(ip: std::net::IpAddr) -> std::net::SocketAddr {
    let probe = std::net::TcpListener::bind((ip, 0)).expect("bind a probe");
    probe.local_addr().expect("probe address")
}
