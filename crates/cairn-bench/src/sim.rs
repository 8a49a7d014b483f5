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

use anyhow::bail;
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_client::AgentGatewayClient;
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::server_message::Body as ServerBody;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

pub use crate::dialer::Dialer;
use crate::said::{finished, log_lines, now, progress};
use crate::sse::now_micros;

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
    /// Which agent (its number in this fleet) was welcomed when (cleared
    /// by the benchmark).
    pub welcomed: Mutex<Vec<(usize, Instant)>>,
    /// Agents started so far: the next one's number.
    started: AtomicUsize,
    /// Each `RunJob` as it arrived: the job id and the time in µs.
    pub receipts: Mutex<Vec<(i64, u64)>>,
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
    pub fn take_welcomed(&self) -> Vec<(usize, Instant)> {
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
            number: tally.started.fetch_add(1, Ordering::Relaxed),
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

/// Starts agents `first..count` (named `prefix-NNNNN`), `at_once` at a
/// time, each waited for until welcomed; the first that is not welcomed
/// within `deadline` ends it with an error.
pub async fn fleet(
    dialer: &Dialer,
    prefix: &str,
    range: std::ops::Range<usize>,
    enroll_token: &str,
    on_job: OnJob,
    tally: &Arc<Tally>,
    at_once: usize,
) -> anyhow::Result<Vec<SimAgent>> {
    use futures::{StreamExt as _, TryStreamExt as _};
    futures::stream::iter(range)
        .map(|n| {
            let hostname = format!("{prefix}-{n:05}");
            async move {
                SimAgent::start(
                    dialer,
                    &hostname,
                    enroll_token,
                    on_job,
                    tally,
                    FLEET_DEADLINE,
                )
                .await
            }
        })
        .buffer_unordered(at_once)
        .try_collect()
        .await
}

/// How long a fleet's agent may take to be welcomed.
const FLEET_DEADLINE: Duration = Duration::from_secs(300);

/// How often a reporting agent sends its log lines, as one message.
const LOG_BURST_EVERY: Duration = Duration::from_secs(5);

/// One simulated agent's fixed parts.
struct Agent {
    /// Its number in the fleet, for the tally.
    number: usize,
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
                Ended::Lost { approved: false } => {}
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
        let mut online = Online::new(&self.tally, self.number);
        let mut reporting: Option<i64> = None;
        let (rate, logs) = match self.on_job {
            OnJob::Report { rate, logs } => (rate.max(1), logs),
            OnJob::Finish => (1, 0),
        };
        // A late tick is delayed, not made up: ticks are not polled before
        // a job arrives, and a burst of catch-up reports would be load no
        // agent makes (and would hide the server pushing back).
        let mut tick = delayed_interval(Duration::from_secs(1) / rate);
        let mut log_burst = delayed_interval(LOG_BURST_EVERY);
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
                                    tick.reset();
                                    log_burst.reset();
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
    agent: usize,
    approved: bool,
}

impl<'a> Online<'a> {
    fn new(tally: &'a Tally, agent: usize) -> Online<'a> {
        Online {
            tally,
            agent,
            approved: false,
        }
    }

    fn approved(&mut self) {
        if !self.approved {
            self.approved = true;
            self.tally.online.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut welcomed) = self.tally.welcomed.lock() {
                welcomed.push((self.agent, Instant::now()));
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

fn delayed_interval(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}
