//! Simulated agents on the real wire, as many as a benchmark wants in one
//! process. Each has its own identity (`cairn_agent`'s format), its own TCP
//! and TLS connection pinned to the server's certificate (one TLS
//! configuration shared, as a fleet shares its trust), the gateway's
//! `Session` stream with `Hello` and an enrollment token, heartbeats at the
//! interval the server's `Welcome` asks, and, when its session is lost, the
//! real agent's reconnect: `cairn_agent::Backoff` with its default base and
//! cap, full jitter. It runs no restic: the benchmarks measure the server.
//!
//! What an agent does with a job is its [`OnJob`]; what the benchmark reads
//! (who is online, when each came back, when each job arrived) is the
//! fleet's shared [`Tally`].

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_client::AgentGatewayClient;
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::server_message::Body as ServerBody;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::fixture::BenchServer;
use crate::sse::{now_micros, stamped_file};

/// How simulated agents reach a server: its URL and the one pinned TLS
/// configuration they all use.
#[derive(Debug, Clone)]
pub struct Dialer {
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dialer {
    /// For the server at `url`, pinned to `fingerprint` (plain HTTP when
    /// `None`).
    pub fn new(url: &str, fingerprint: Option<&str>) -> anyhow::Result<Dialer> {
        let tls = match fingerprint {
            Some(fingerprint) => {
                let pin = cairn_tls::parse_fingerprint(fingerprint)?;
                let (config, _) = cairn_tls::client_config(&cairn_tls::Trust::Pinned(pin))
                    .context("TLS client config")?;
                Some(config)
            }
            None => None,
        };
        Ok(Dialer {
            url: url.to_string(),
            tls,
        })
    }

    /// For a benchmark's `cairn server`.
    pub fn to(server: &BenchServer) -> anyhow::Result<Dialer> {
        Dialer::new(&server.url, server.fingerprint.as_deref())
    }

    /// A connection of its own.
    async fn channel(&self) -> anyhow::Result<Channel> {
        let endpoint = Endpoint::from_shared(self.url.clone())?
            .connect_timeout(Duration::from_secs(20))
            .tcp_nodelay(true);
        Ok(match &self.tls {
            Some(config) => {
                endpoint
                    .connect_with_connector(cairn_tls::connector(config.clone()))
                    .await?
            }
            None => endpoint.connect().await?,
        })
    }
}

/// What a simulated agent does with a job it is sent.
#[derive(Debug, Clone, Copy)]
pub enum OnJob {
    /// Accepts it, then reports restic-shaped progress `rate` times a second
    /// (each report stamped with its send time; [`Tally::burst`] times as
    /// many while a burst is on), and `logs` log lines a second, sent as a
    /// burst every `LOG_BURST_EVERY` as restic's verbose output comes,
    /// until the agent is dropped.
    Report {
        /// Reports a second.
        rate: u32,
        /// Log lines a second.
        logs: u32,
    },
    /// Accepts it and reports it finished at once.
    Finish,
}

/// What the agents of one fleet share, for the benchmark to read.
#[derive(Debug, Default)]
pub struct Tally {
    /// Agents whose session is approved and open now.
    pub online: AtomicUsize,
    /// When each approved `Welcome` arrived (cleared by the benchmark).
    pub welcomed: Mutex<Vec<Instant>>,
    /// Each `RunJob` as it arrived: the job id and the time in µs.
    pub receipts: Mutex<Vec<(i64, u64)>>,
    /// Sessions that could not be opened or ended with an error.
    pub failures: AtomicUsize,
    /// Reports (progress and logs) the agents' streams took so far: when
    /// the server pushes back, sending waits, and this falls behind what
    /// the agents meant to send.
    pub sent: AtomicU64,
    /// Progress reports per tick (0 reads as 1): the benchmark raises it
    /// for a burst.
    pub burst: AtomicU32,
}

impl Tally {
    /// Takes the welcomes so far.
    pub fn take_welcomed(&self) -> Vec<Instant> {
        self.welcomed
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Takes the receipts so far.
    pub fn take_receipts(&self) -> Vec<(i64, u64)> {
        self.receipts
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// Agents online now.
    pub fn online(&self) -> usize {
        self.online.load(Ordering::Relaxed)
    }
}

/// One running simulated agent; dropping it ends it.
#[derive(Debug)]
pub struct SimAgent {
    /// The host the server knows it as.
    pub host_id: i64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimAgent {
    /// Starts an agent named `hostname` that enrolls with `enroll_token`, and
    /// waits (up to `deadline`) until the server approves it.
    pub async fn start(
        dialer: &Dialer,
        hostname: &str,
        enroll_token: &str,
        on_job: OnJob,
        tally: &Arc<Tally>,
        deadline: Duration,
    ) -> anyhow::Result<SimAgent> {
        let (approved_tx, approved) = oneshot::channel();
        let agent = Agent {
            dialer: dialer.clone(),
            identity: cairn_agent::Identity::generate(),
            hostname: hostname.to_string(),
            enroll_token: enroll_token.to_string(),
            on_job,
            tally: tally.clone(),
        };
        let task = tokio::spawn(agent.live(approved_tx));
        let host_id = match tokio::time::timeout(deadline, approved).await {
            Ok(Ok(Ok(host))) => host,
            Ok(Ok(Err(refused))) => {
                bail!("the server did not approve {hostname}: {refused}")
            }
            Ok(Err(_)) => bail!("{hostname} ended before its welcome"),
            Err(_) => bail!("{hostname} had no welcome within {deadline:?}"),
        };
        Ok(SimAgent { host_id, task })
    }
}

/// How often a reporting agent sends its log lines, as one message.
const LOG_BURST_EVERY: Duration = Duration::from_secs(5);

/// One simulated agent's fixed parts.
struct Agent {
    dialer: Dialer,
    identity: cairn_agent::Identity,
    hostname: String,
    enroll_token: String,
    on_job: OnJob,
    tally: Arc<Tally>,
}

/// How one session ended.
enum Ended {
    /// Refused by the server: the agent stops (and says why).
    Refused(String),
    /// Lost (the server went away, or never answered); `approved` when it
    /// had been welcomed, which resets the backoff as the real agent does.
    Lost { approved: bool },
}

type Approval = oneshot::Sender<Result<i64, String>>;

impl Agent {
    /// Sessions, one after another, with the real agent's backoff between.
    async fn live(self, approved: Approval) {
        let defaults = cairn_agent::AgentConfig::new(String::new(), std::path::PathBuf::new());
        let mut backoff = cairn_agent::Backoff::new(defaults.backoff_base, defaults.backoff_cap);
        let mut approved = Some(approved);
        // The seq counter lives as long as the agent, across sessions, as
        // the real one's does in its state dir.
        let mut seq = 0u64;
        loop {
            match self.session(&mut approved, &mut seq).await {
                Ended::Refused(reason) => {
                    if let Some(tx) = approved.take() {
                        let _ = tx.send(Err(reason));
                    }
                    return;
                }
                Ended::Lost { approved: true } => backoff.reset(),
                Ended::Lost { approved: false } => {
                    self.tally.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn session(&self, approved_tx: &mut Option<Approval>, seq: &mut u64) -> Ended {
        let lost = Ended::Lost { approved: false };
        let Ok(channel) = self.dialer.channel().await else {
            return lost;
        };
        let (tx, rx) = mpsc::channel::<pb::AgentMessage>(64);
        if tx.send(self.hello()).await.is_err() {
            return lost;
        }
        let Ok(inbound) = AgentGatewayClient::new(channel)
            .session(ReceiverStream::new(rx))
            .await
        else {
            return lost;
        };
        let mut inbound = inbound.into_inner();
        let mut next = || {
            *seq += 1;
            *seq
        };
        let mut online = Online::new(&self.tally);
        let mut reporting: Option<i64> = None;
        let (rate, logs) = match self.on_job {
            OnJob::Report { rate, logs } => (rate.max(1), logs),
            OnJob::Finish => (1, 0),
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        let mut log_burst = tokio::time::interval(LOG_BURST_EVERY);
        log_burst.reset();
        let burst_lines = logs.saturating_mul(LOG_BURST_EVERY.as_secs() as u32);
        let mut beat = tokio::time::interval(Duration::from_secs(30));
        loop {
            let send: Vec<pb::AgentMessage> = tokio::select! {
                message = inbound.message() => {
                    let body = match message {
                        Ok(Some(pb::ServerMessage { body: Some(body) })) => body,
                        Ok(Some(_)) => continue,
                        Ok(None) | Err(_) => return online.lost(),
                    };
                    match body {
                        ServerBody::Welcome(welcome) => {
                            match pb::WelcomeStatus::try_from(welcome.status) {
                                Ok(pb::WelcomeStatus::Approved) => {
                                    online.approved();
                                    if let Some(tx) = approved_tx.take() {
                                        let _ = tx.send(Ok(welcome.host_id));
                                    }
                                    let every = welcome.heartbeat_interval_seconds.max(1);
                                    beat = tokio::time::interval(Duration::from_secs(every.into()));
                                    beat.reset();
                                }
                                _ => {
                                    let reason = format!("{:?}: {}", welcome.status, welcome.reason);
                                    return Ended::Refused(reason);
                                }
                            }
                            continue;
                        }
                        ServerBody::RunJob(job) => {
                            if let Ok(mut receipts) = self.tally.receipts.lock() {
                                receipts.push((job.job_id, now_micros()));
                            }
                            let accepted = pb::AgentMessage {
                                seq: next(),
                                body: Some(Body::JobAccepted(pb::JobAccepted {
                                    job_id: job.job_id,
                                    accepted_at: Some(now()),
                                })),
                            };
                            if tx.send(accepted).await.is_err() {
                                return online.lost();
                            }
                            match self.on_job {
                                OnJob::Report { .. } => {
                                    reporting = Some(job.job_id);
                                    continue;
                                }
                                OnJob::Finish => vec![finished(next(), job.job_id)],
                            }
                        }
                        _ => continue,
                    }
                }
                _ = tick.tick(), if reporting.is_some() => {
                    let Some(job_id) = reporting else { continue };
                    let burst = self.tally.burst.load(Ordering::Relaxed).max(1);
                    (0..burst)
                        .map(|_| pb::AgentMessage { seq: next(), body: Some(Body::JobProgress(progress(job_id))) })
                        .collect()
                }
                _ = log_burst.tick(), if reporting.is_some() && burst_lines > 0 => {
                    let Some(job_id) = reporting else { continue };
                    vec![pb::AgentMessage { seq: next(), body: Some(Body::JobLog(log_lines(job_id, burst_lines))) }]
                }
                _ = beat.tick(), if online.is_approved() => vec![pb::AgentMessage {
                    seq: 0,
                    body: Some(Body::Heartbeat(pb::Heartbeat {
                        sent_at: Some(now()),
                        running_job_ids: reporting.into_iter().collect(),
                    })),
                }],
            };
            for message in send {
                if tx.send(message).await.is_err() {
                    return online.lost();
                }
                self.tally.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn hello(&self) -> pb::AgentMessage {
        pb::AgentMessage {
            seq: 0,
            body: Some(Body::Hello(pb::Hello {
                identity_token: self.identity.token().to_string(),
                enroll_token: self.enroll_token.clone(),
                facts: Some(pb::HostFacts {
                    hostname: self.hostname.clone(),
                    os: "linux".into(),
                    os_version: "Debian 12".into(),
                    arch: "x86_64".into(),
                    kernel: "6.1.0".into(),
                    agent_version: env!("CARGO_PKG_VERSION").into(),
                    restic_version: "0.17.3".into(),
                }),
                ..Default::default()
            })),
        }
    }
}

/// Counts an approved session in the tally's `online` for as long as it
/// lasts, however the session ends.
struct Online<'a> {
    tally: &'a Tally,
    approved: bool,
}

impl<'a> Online<'a> {
    fn new(tally: &'a Tally) -> Online<'a> {
        Online {
            tally,
            approved: false,
        }
    }

    fn approved(&mut self) {
        if !self.approved {
            self.approved = true;
            self.tally.online.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut welcomed) = self.tally.welcomed.lock() {
                welcomed.push(Instant::now());
            }
        }
    }

    fn is_approved(&self) -> bool {
        self.approved
    }

    fn lost(&self) -> Ended {
        Ended::Lost {
            approved: self.approved,
        }
    }
}

impl Drop for Online<'_> {
    fn drop(&mut self) {
        if self.approved {
            self.tally.online.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

/// A job reported done at once, successfully.
fn finished(seq: u64, job_id: i64) -> pb::AgentMessage {
    pb::AgentMessage {
        seq,
        body: Some(Body::JobFinished(pb::JobFinished {
            job_id,
            outcome: pb::JobOutcome::Succeeded.into(),
            exit_code: Some(0),
            finished_at: Some(now()),
            ..Default::default()
        })),
    }
}

/// `lines` lines of restic-shaped verbose output.
fn log_lines(job_id: i64, lines: u32) -> pb::JobLog {
    pb::JobLog {
        job_id,
        lines: (0..lines)
            .map(|n| pb::JobLogLine {
                time: Some(now()),
                stream: pb::JobLogStream::Stdout.into(),
                level: pb::JobLogLevel::Info.into(),
                text: format!(
                    "new       /srv/data/projects/archive/2026/q{}/report-{n:05}.pdf, saved in 0.012s (41.203 KiB added)",
                    n % 4 + 1
                ),
            })
            .collect(),
    }
}

/// A restic-shaped progress report, stamped with the time it is made.
fn progress(job_id: i64) -> pb::JobProgress {
    pb::JobProgress {
        job_id,
        time: Some(now()),
        percent: 42.0,
        files_done: 7_702,
        files_total: 18_234,
        bytes_done: 1_043_216_384,
        bytes_total: 4_503_216_384,
        current_files: vec![stamped_file(now_micros())],
        seconds_elapsed: 12,
        seconds_remaining: 40,
        error_count: 0,
    }
}

/// One approved simulated agent with a backup job running, reporting
/// progress `rate` times a second: the source B3's subscribers follow.
pub async fn progress_source(
    server: &BenchServer,
    work: &std::path::Path,
    rate: u32,
) -> anyhow::Result<(i64, SimAgent)> {
    use crate::api::{assigned_repository, enrollment_token, run_backup};
    use cairn_proto::v1::job_service_client::JobServiceClient;
    let enroll = enrollment_token(server, &[]).await?;
    let tally = Arc::new(Tally::default());
    let agent = SimAgent::start(
        &Dialer::to(server)?,
        "bench-source",
        &enroll,
        OnJob::Report { rate, logs: 0 },
        &tally,
        Duration::from_secs(60),
    )
    .await?;
    let repository = assigned_repository(server, work, "sim-repository", &[agent.host_id]).await?;
    let mut jobs = JobServiceClient::new(server.api().await?);
    let job = run_backup(&mut jobs, agent.host_id, repository, "/srv").await?;
    Ok((job, agent))
}
