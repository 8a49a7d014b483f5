//! Real receivers for notifications: an HTTP receiver (axum on loopback)
//! that records every request and answers what the test scripts, and a
//! real SMTP server (Python's aiosmtpd, from Debian's python3-aiosmtpd)
//! that files each mail in a maildir.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::process::ChildGuard;

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status, empty body.
    Status(u16),
    /// 302 with this Location.
    Redirect(String),
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Answer>,
}

/// An HTTP receiver on 127.0.0.1; answers 200 unless scripted otherwise.
#[derive(Debug)]
pub struct HttpReceiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    /// Starts one on a free loopback port.
    pub async fn start() -> HttpReceiver {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move {
                    let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
                    state.received.push(Received {
                        method: method.to_string(),
                        path: uri
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                        headers,
                        body: body.to_vec(),
                    });
                    let answer: Response = match state.script.pop_front() {
                        None => StatusCode::OK.into_response(),
                        Some(Answer::Status(code)) => StatusCode::from_u16(code)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                            .into_response(),
                        Some(Answer::Redirect(to)) => {
                            (StatusCode::FOUND, [(axum::http::header::LOCATION, to)])
                                .into_response()
                        }
                    };
                    answer
                }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpReceiver { addr, state, task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with `answers`, in order (then 200).
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.script.extend(answers);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .received
            .clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Python that has Debian's aiosmtpd (not a pyenv shim's).
fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A real SMTP server (aiosmtpd) on 127.0.0.1, filing mail in a maildir;
/// killed when dropped.
#[derive(Debug)]
pub struct SmtpReceiver {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl SmtpReceiver {
    /// Starts aiosmtpd and waits until it greets as an SMTP server. The
    /// port is picked free just before, so another process may take it in
    /// between: then aiosmtpd exits (or someone else answers without an
    /// SMTP greeting) and it starts again on another port.
    pub async fn start() -> SmtpReceiver {
        SmtpReceiver::start_with(SmtpTlsMode::Plain).await
    }

    /// As [`SmtpReceiver::start`], securing connections as `tls` says.
    pub async fn start_with(tls: SmtpTlsMode) -> SmtpReceiver {
        for _ in 0..5 {
            if let Some(started) = SmtpReceiver::try_start(&tls).await {
                return started;
            }
        }
        panic!("aiosmtpd did not start on any of 5 free ports");
    }

    async fn try_start(tls: &SmtpTlsMode) -> Option<SmtpReceiver> {
        let dir = tempfile::tempdir().expect("a maildir");
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = ChildGuard::spawn(
            "aiosmtpd (install python3-aiosmtpd: scripts/install-deps)",
            Command::new(python())
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(tls.args())
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            // Under implicit TLS the greeting is encrypted: a connection
            // accepted by a live aiosmtpd is all that can be seen.
            let up = match tls {
                SmtpTlsMode::Implicit { .. } => {
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok()
                        && child.running()
                }
                _ => smtp_greets(port).await,
            };
            if up {
                return Some(SmtpReceiver {
                    port,
                    dir,
                    _child: child,
                });
            }
            if !child.running() {
                return None;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            crate::poll_pause().await;
        }
    }

    /// Every mail received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    out.push(text);
                }
            }
        }
        out
    }
}

/// How the SMTP receiver secures connections (certificate and key files in
/// PEM).
#[derive(Debug, Clone)]
pub enum SmtpTlsMode {
    Plain,
    /// STARTTLS offered and required before a mail is taken.
    StartTls {
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    },
    /// TLS from the first byte (SMTPS).
    Implicit {
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    },
}

impl SmtpTlsMode {
    fn args(&self) -> Vec<std::ffi::OsString> {
        let pair = |a: &str, b: &str, cert: &std::path::Path, key: &std::path::Path| {
            vec![a.into(), cert.into(), b.into(), key.into()]
        };
        match self {
            SmtpTlsMode::Plain => Vec::new(),
            SmtpTlsMode::StartTls { cert, key } => pair("--tlscert", "--tlskey", cert, key),
            SmtpTlsMode::Implicit { cert, key } => pair("--smtpscert", "--smtpskey", cert, key),
        }
    }
}

/// Whether an SMTP server greets (`220 …`) on the loopback `port`.
async fn smtp_greets(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut greeting = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut greeting));
    matches!(read.await, Ok(Ok(_))) && &greeting[..3] == b"220"
}
