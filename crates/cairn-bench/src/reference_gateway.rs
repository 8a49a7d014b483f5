//! B1's and B2's reference: the least a server holding agent streams can
//! be. A bare tonic `AgentGateway` that answers every `Hello` with an
//! approved `Welcome`, keeps each stream's sender in a map, hands what
//! agents report to a bare persisting pipeline (`reference_pipeline.rs`,
//! B2's reference), and pushes a `RunJob` when `POST /push/{host}/{job}`
//! asks. No store, no auth, no audit: what is left is tonic, hyper, rustls
//! and tokio. It serves over the same TLS (a self-signed certificate the
//! simulated agents pin), from the same accept backlog, and runs as its own
//! process (this binary, started with `--reference-gateway`) so its memory
//! and CPU are read the same way as the server's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::server_message::Body as ServerBody;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::reference_pipeline::Pipeline;

/// The heartbeat interval it asks for: Cairn's default, so both servers
/// hear the same traffic.
const HEARTBEAT_SECONDS: u32 = 15;

/// Where it listens (all of 127/8 is loopback on Linux).
const ADDRESS: &str = "127.0.0.2";

fn names() -> Vec<String> {
    vec![ADDRESS.to_string()]
}

type Sender = mpsc::Sender<Result<pb::ServerMessage, Status>>;

#[derive(Debug, Clone)]
struct Gateway {
    next_host: Arc<AtomicI64>,
    streams: Arc<Mutex<HashMap<i64, Sender>>>,
    /// Where reports go (B2's reference).
    pipeline: Pipeline,
}

#[tonic::async_trait]
impl AgentGateway for Gateway {
    type SessionStream = ReceiverStream<Result<pb::ServerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        match inbound.message().await? {
            Some(pb::AgentMessage {
                body: Some(Body::Hello(_)),
                ..
            }) => {}
            _ => return Err(Status::invalid_argument("the first message must be Hello")),
        }
        let host_id = self.next_host.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(64);
        let welcome = pb::ServerMessage {
            body: Some(ServerBody::Welcome(pb::Welcome {
                status: pb::WelcomeStatus::Approved.into(),
                host_id,
                heartbeat_interval_seconds: HEARTBEAT_SECONDS,
                ..Default::default()
            })),
        };
        tx.send(Ok(welcome))
            .await
            .map_err(|_| Status::internal("stream closed"))?;
        if let Ok(mut streams) = self.streams.lock() {
            streams.insert(host_id, tx);
        }
        let streams = self.streams.clone();
        let pipeline = self.pipeline.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                pipeline.take(message).await;
            }
            if let Ok(mut streams) = streams.lock() {
                streams.remove(&host_id);
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

async fn push(
    State(gateway): State<Gateway>,
    UrlPath((host_id, job_id)): UrlPath<(i64, i64)>,
) -> StatusCode {
    let sender = gateway
        .streams
        .lock()
        .ok()
        .and_then(|streams| streams.get(&host_id).cloned());
    let Some(sender) = sender else {
        return StatusCode::NOT_FOUND;
    };
    let run = pb::ServerMessage {
        body: Some(ServerBody::RunJob(pb::RunJob {
            job_id,
            ..Default::default()
        })),
    };
    match sender.send(Ok(run)).await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::GONE,
    }
}

/// The child process's whole life: serve on `listen` with the certificate
/// in `dir` until killed.
pub async fn serve(dir: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let (identity, _) = cairn_tls::ServerIdentity::load_or_create_self_signed(dir, &names())
        .context("loading the reference's certificate")?;
    let acceptor = identity.acceptor()?;
    let gateway = Gateway {
        next_host: Arc::default(),
        streams: Arc::default(),
        pipeline: Pipeline::start(&dir.join("reference.db"))?,
    };
    let pushes = axum::Router::new()
        .route("/push/{host}/{job}", post(push))
        .route(
            "/rows",
            get(|State(g): State<Gateway>| async move { g.pipeline.rows().to_string() }),
        )
        .route(
            "/latencies",
            get(|State(g): State<Gateway>| async move {
                g.pipeline
                    .latencies()
                    .iter()
                    .map(|(at, took)| format!("{at} {took}\n"))
                    .collect::<String>()
            }),
        )
        .with_state(gateway.clone());
    let router = tonic::service::Routes::new(AgentGatewayServer::new(gateway))
        .prepare()
        .into_axum_router()
        .merge(pushes);
    let listener = cairn_server::listen(listen).context("listening")?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The reference gateway as a child process of this benchmark.
#[derive(Debug)]
pub struct ReferenceGateway {
    child: Option<Child>,
    dir: PathBuf,
    /// `https://127.0.0.2:port`.
    pub url: String,
    /// Its certificate's fingerprint, for the agents to pin.
    pub fingerprint: String,
    http: reqwest::Client,
}

impl ReferenceGateway {
    /// Makes its certificate in `dir`, starts it and waits until it accepts
    /// connections.
    pub async fn start(dir: &Path) -> anyhow::Result<ReferenceGateway> {
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
        let (identity, _) = cairn_tls::ServerIdentity::load_or_create_self_signed(dir, &names())
            .context("making the reference's certificate")?;
        let fingerprint = identity.fingerprint().to_string();
        // Its own loopback address: one fleet's connections (and their
        // TIME_WAIT after a kill) tie up local ports only towards the address
        // they went to, so the two fleets run one after the other do not
        // run out of ephemeral ports between them.
        let addr = std::net::TcpListener::bind((ADDRESS, 0))
            .and_then(|l| l.local_addr())
            .context("finding a free port")?;
        let mut gateway = ReferenceGateway {
            child: None,
            dir: dir.to_path_buf(),
            url: format!("https://{addr}"),
            http: crate::fixture::pinned_client(Some(&fingerprint), Some(Duration::from_secs(60)))?,
            fingerprint,
        };
        gateway.spawn()?;
        gateway.wait_ready(Duration::from_secs(30)).await?;
        Ok(gateway)
    }

    /// Starts the process (again), on the same port and certificate.
    pub fn spawn(&mut self) -> anyhow::Result<Instant> {
        let me = std::env::current_exe().context("locating this binary")?;
        let listen = self.url.trim_start_matches("https://");
        let started = Instant::now();
        self.child = Some(
            Command::new(me)
                .arg("--reference-gateway")
                .arg(&self.dir)
                .arg("--listen")
                .arg(listen)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .context("starting the reference gateway")?,
        );
        Ok(started)
    }

    /// Waits until a push to a host it does not know answers (404).
    pub async fn wait_ready(&mut self, deadline: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the reference gateway exited with {status}");
            }
            if self.http.post(self.push_url(0, 0)).send().await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > deadline {
                bail!("the reference gateway did not start within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn push_url(&self, host_id: i64, job_id: i64) -> String {
        format!("{}/push/{host_id}/{job_id}", self.url)
    }

    /// Asks it to send `RunJob { job_id }` to `host_id`.
    pub async fn push(&self, host_id: i64, job_id: i64) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.push_url(host_id, job_id))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "push answered {}",
            response.status()
        );
        Ok(())
    }

    /// Rows its pipeline committed so far.
    pub async fn rows(&self) -> anyhow::Result<u64> {
        let text = self.get("rows").await?;
        text.trim().parse().context("the reference's row count")
    }

    /// Its pipeline's sampled commits so far: when (µs), and how long after
    /// the report was stamped (ms).
    pub async fn latencies(&self) -> anyhow::Result<Vec<(u64, f64)>> {
        let text = self.get("latencies").await?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (at, took) = l.split_once(' ')?;
                Some((at.parse().ok()?, took.parse::<u64>().ok()? as f64 / 1000.0))
            })
            .collect())
    }

    async fn get(&self, path: &str) -> anyhow::Result<String> {
        let response = self.http.get(format!("{}/{path}", self.url)).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "/{path} answered {}",
            response.status()
        );
        Ok(response.text().await?)
    }

    /// Its process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("the reference gateway is not running")
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        crate::fixture::kill9(&mut self.child);
    }
}

impl Drop for ReferenceGateway {
    fn drop(&mut self) {
        self.kill9();
    }
}
