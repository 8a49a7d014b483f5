//! The agent's main loop: connect, announce, serve the session, and when it
//! ends decide (through [`Recover`]) how long to wait before the next one.

use std::sync::Arc;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_client::AgentGatewayClient;
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::server_message::Body as ServerBody;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::Endpoint;

use crate::AgentConfig;
use crate::backoff::Backoff;
use crate::facts::collect_facts;
use crate::identity::{Identity, IdentityError};
use crate::recover::{Recover, Verdict};
use crate::runner::Runner;
use crate::scheduler::Scheduler;
use crate::spool::{Spool, SpoolError};

/// Largest message the agent accepts from the server.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// Heartbeat interval until the server's `Welcome` says otherwise.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The identity could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The spool could not be opened or written.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The server URL is not usable.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidServer { url: String, reason: String },
    /// Retrying cannot help.
    #[error("giving up: {0}")]
    Fatal(String),
}

/// What happened, for whoever watches the agent (the CLI prints these; tests
/// wait on them instead of sleeping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The stream is open and `Hello` sent.
    Connected,
    /// The server answered the announce.
    Welcomed {
        status: pb::WelcomeStatus,
        reason: String,
        host_id: i64,
        fingerprint: String,
    },
    /// The server acknowledged everything up to this seq.
    Acked(u64),
    /// The session ended; the agent retries after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
}

/// How one session ended.
enum End {
    /// `run`'s shutdown resolved.
    Shutdown,
    /// The stream ended or failed with this status.
    Status(Status),
    /// The server refused this identity in its `Welcome`.
    Refused(String),
    /// Retrying cannot help (e.g. the pinned fingerprint does not match).
    Fatal(String),
}

/// How to reach the server: the endpoint, and for `https://` the TLS client
/// configuration and the probe that reports a pin mismatch.
struct Link {
    endpoint: Endpoint,
    tls: Option<(Arc<rustls::ClientConfig>, cairn_tls::MismatchProbe)>,
}

/// The agent.
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    identity: Identity,
    spool: Arc<Spool>,
    runner: Arc<Runner>,
    scheduler: Arc<Scheduler>,
    events: Option<mpsc::UnboundedSender<AgentEvent>>,
}

impl Agent {
    /// Loads (or makes) the identity and opens the spool.
    pub fn open(config: AgentConfig) -> Result<Agent, AgentError> {
        let (identity, created) = Identity::load_or_create(&config.state_dir)?;
        if created {
            tracing::info!(fingerprint = %identity.fingerprint(), "made a new agent identity");
        }
        let spool = Arc::new(Spool::open(&config.state_dir, config.spool_limits)?);
        let runner = Arc::new(Runner::new(
            spool.clone(),
            config.restic.clone(),
            config.policy.clone(),
        ));
        let scheduler = Arc::new(Scheduler::open(&config.state_dir, config.clock.clone()));
        Ok(Agent {
            config,
            identity,
            spool,
            runner,
            scheduler,
            events: None,
        })
    }

    /// The agent's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The spool, to queue messages that must reach the server.
    pub fn spool(&self) -> Arc<Spool> {
        self.spool.clone()
    }

    /// A stream of what happens.
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<AgentEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.events = Some(tx);
        rx
    }

    fn emit(&self, event: AgentEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    /// Runs sessions until `shutdown` resolves or a fatal error.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), AgentError> {
        let link = self.link()?;
        let mut backoff = Backoff::new(self.config.backoff_base, self.config.backoff_cap);
        // The schedules fire on this host's clock, connected or not.
        let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
        let _stop_scheduler_on_return = stop_scheduler;
        tokio::spawn(self.scheduler.clone().run(self.spool.clone(), async {
            let _ = scheduler_stopped.await;
        }));
        tokio::pin!(shutdown);
        loop {
            let end = tokio::select! {
                end = self.session(&link, &mut backoff) => end,
                () = &mut shutdown => End::Shutdown,
            };
            let (reason, wait) = match end {
                End::Shutdown => {
                    self.runner.cancel_all(Duration::from_secs(5));
                    return Ok(());
                }
                End::Fatal(reason) => return Err(AgentError::Fatal(reason)),
                End::Refused(reason) => (
                    format!("refused by the server: {reason}"),
                    self.config.refused_backoff,
                ),
                End::Status(status) => match Recover.classify(&status) {
                    Verdict::Retry => (status.message().to_string(), backoff.next_delay()),
                    Verdict::Refused => (
                        format!("refused by the server: {}", status.message()),
                        self.config.refused_backoff,
                    ),
                    Verdict::Fatal => return Err(AgentError::Fatal(status.message().to_string())),
                },
            };
            tracing::warn!(%reason, retry_in = ?wait, "session ended");
            self.emit(AgentEvent::Disconnected {
                reason,
                retry_in: wait,
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => {
                    self.runner.cancel_all(Duration::from_secs(5));
                    return Ok(());
                }
            }
        }
    }

    fn link(&self) -> Result<Link, AgentError> {
        let invalid = |reason: String| AgentError::InvalidServer {
            url: self.config.server.clone(),
            reason,
        };
        let tls = if self.config.server.starts_with("https://") {
            let (config, probe) =
                cairn_tls::client_config(&self.config.trust).map_err(|e| invalid(e.to_string()))?;
            Some((config, probe))
        } else if self.config.server.starts_with("http://") {
            if !self.config.allow_plaintext {
                return Err(invalid(
                    "http:// sends everything unencrypted: use https://, or allow plaintext explicitly".into(),
                ));
            }
            tracing::warn!("connecting without TLS, as explicitly allowed");
            None
        } else {
            return Err(invalid(
                "must start with https:// (or http:// with plaintext allowed)".into(),
            ));
        };
        let endpoint = Endpoint::from_shared(self.config.server.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.config.keepalive_interval)
            .keep_alive_timeout(self.config.keepalive_timeout)
            .keep_alive_while_idle(true);
        Ok(Link { endpoint, tls })
    }

    /// One session, from connect to its end.
    async fn session(&self, link: &Link, backoff: &mut Backoff) -> End {
        let connected = match &link.tls {
            None => link.endpoint.connect().await,
            Some((config, _)) => {
                link.endpoint
                    .connect_with_connector(cairn_tls::connector(config.clone()))
                    .await
            }
        };
        let channel = match connected {
            Ok(channel) => channel,
            Err(err) => {
                if let Some(seen) = link.tls.as_ref().and_then(|(_, probe)| probe.mismatch()) {
                    return End::Fatal(format!(
                        "the server at {} presented a certificate with fingerprint {seen}, which is not the pinned one: refusing to connect (check --server-fingerprint)",
                        self.config.server
                    ));
                }
                return End::Status(Status::unavailable(format!(
                    "cannot connect to {}: {err}",
                    self.config.server
                )));
            }
        };
        let mut client = AgentGatewayClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let (tx, rx) = mpsc::channel::<pb::AgentMessage>(256);
        let hello = pb::AgentMessage {
            seq: 0,
            body: Some(Body::Hello(pb::Hello {
                identity_token: self.identity.token().to_string(),
                enroll_token: self.config.enroll_token.clone().unwrap_or_default(),
                facts: Some(collect_facts(&self.config.restic).await),
                last_acked_seq: self.spool.last_acked(),
                last_seq: self.spool.last_seq(),
                schedule_set_version: self.scheduler.version(),
                running_job_ids: self.runner.running(),
                protocol_version: cairn_domain::protocol::PROTOCOL_VERSION,
            })),
        };
        if tx.send(hello).await.is_err() {
            return End::Status(Status::unavailable("stream closed before Hello"));
        }
        let mut inbound = match client.session(ReceiverStream::new(rx)).await {
            Ok(response) => response.into_inner(),
            Err(status) => return End::Status(status),
        };
        self.emit(AgentEvent::Connected);

        let mut approved = false;
        // Replay starts at the server's first Ack, which says where it stands.
        let mut replay_pending = false;
        let mut sent_up_to = 0u64;
        let mut heartbeat = tokio::time::interval(DEFAULT_HEARTBEAT);
        heartbeat.reset();
        loop {
            tokio::select! {
                message = inbound.message() => {
                    let body = match message {
                        Ok(Some(pb::ServerMessage { body: Some(body) })) => body,
                        Ok(Some(_)) => continue,
                        Ok(None) => return End::Status(Status::unavailable("the server ended the session")),
                        Err(status) => return End::Status(status),
                    };
                    match body {
                        ServerBody::Welcome(welcome) => {
                            let status = pb::WelcomeStatus::try_from(welcome.status).unwrap_or(pb::WelcomeStatus::Unspecified);
                            self.emit(AgentEvent::Welcomed {
                                status,
                                reason: welcome.reason.clone(),
                                host_id: welcome.host_id,
                                fingerprint: welcome.fingerprint.clone(),
                            });
                            if welcome.max_message_bytes > 0 {
                                self.spool.set_server_limit(welcome.max_message_bytes as usize);
                            }
                            if welcome.heartbeat_interval_seconds > 0 {
                                heartbeat = tokio::time::interval(Duration::from_secs(u64::from(welcome.heartbeat_interval_seconds)));
                                heartbeat.reset();
                            }
                            match status {
                                pb::WelcomeStatus::Approved => {
                                    tracing::info!(host_id = welcome.host_id, "approved by the server");
                                    approved = true;
                                    replay_pending = true;
                                    backoff.reset();
                                }
                                pb::WelcomeStatus::PendingApproval => {
                                    tracing::info!(
                                        fingerprint = %self.identity.fingerprint(),
                                        reason = %welcome.reason,
                                        "waiting for an operator to approve this host; compare the fingerprint"
                                    );
                                }
                                // Rejected or incompatible: retried slowly (an
                                // operator's decision or an upgrade changes it).
                                _ => return End::Refused(welcome.reason),
                            }
                        }
                        ServerBody::Ack(ack) => {
                            if let Err(err) = self.spool.ack(ack.seq) {
                                tracing::error!(error = %err, "could not record an acknowledgement");
                            }
                            self.emit(AgentEvent::Acked(ack.seq));
                            if replay_pending {
                                replay_pending = false;
                                sent_up_to = ack.seq;
                                if let Some(end) = self.flush(&tx, &mut sent_up_to).await {
                                    return end;
                                }
                            }
                        }
                        ServerBody::SetSchedules(_) if !approved => {
                            tracing::warn!("a schedule set for a host not approved: ignored");
                        }
                        ServerBody::SetSchedules(set) => {
                            tracing::info!(version = set.version, schedules = set.schedules.len(), "schedule set received");
                            let version = set.version;
                            let problems = self.scheduler.apply(set);
                            let applied = Body::SchedulesApplied(pb::SchedulesApplied { version, problems });
                            if let Err(err) = self.spool.push(applied) {
                                tracing::error!(error = %err, "could not spool a message");
                            }
                        }
                        ServerBody::RunJob(job) => {
                            if approved {
                                tracing::info!(job_id = job.job_id, "job received");
                                self.runner.start(job);
                            } else {
                                tracing::warn!(job_id = job.job_id, "a job for a host not approved: ignored");
                            }
                        }
                        ServerBody::CancelJob(cancel) => {
                            tracing::info!(job_id = cancel.job_id, reason = %cancel.reason, "cancel requested");
                            self.runner.cancel(cancel.job_id, Duration::from_secs(u64::from(cancel.grace_seconds)));
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    // The running jobs keep their leases alive while restic
                    // or a hook is silent (prune, check, a database dump).
                    let beat = pb::AgentMessage { seq: 0, body: Some(Body::Heartbeat(pb::Heartbeat {
                        sent_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                        running_job_ids: self.runner.running(),
                    })) };
                    if tx.send(beat).await.is_err() {
                        return End::Status(Status::unavailable("the stream closed"));
                    }
                }
                () = self.spool.pushed(), if approved && !replay_pending => {
                    if let Some(end) = self.flush(&tx, &mut sent_up_to).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Sends every spooled message above `sent_up_to`, in order.
    async fn flush(
        &self,
        tx: &mpsc::Sender<pb::AgentMessage>,
        sent_up_to: &mut u64,
    ) -> Option<End> {
        for message in self.spool.pending() {
            if message.seq <= *sent_up_to {
                continue;
            }
            let seq = message.seq;
            if tx.send(message).await.is_err() {
                return Some(End::Status(Status::unavailable("the stream closed")));
            }
            *sent_up_to = seq;
        }
        None
    }
}
