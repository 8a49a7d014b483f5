//! One agent's session: the announce that opens it, the messages it carries,
//! and the replay rule that makes every (host, seq) take effect once.
//!
//! This module is the agent protocol's endpoint, so it speaks the protocol's
//! types; everything it stores goes through the store's own types.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_store::{
    ActorKind, Announce, EnrollmentCheck, Host, HostFacts, HostId, HostStatus, JobId, JobStatus,
    LogLine, Millis, Outcome, RepositoryId,
};
use tokio::sync::{mpsc, watch};

use super::clean::{check_token, clean_facts, clean_text};
use super::registry::{OUTBOX_DEPTH, Outbound, SessionGuard};
use super::reports::{agent_time, cached_snapshot, clean_progress, job_end};
use super::{Fleet, FleetSettings};
use crate::audit::Actor;
use crate::auth::hash_token;
use crate::error::{ServiceError, ServiceResult};

/// Persist a host's last-seen time at most this often while it is connected.
const PERSIST_SEEN_EVERY: Millis = 30_000;
/// Log lines accepted in one `JobLog` message.
const MAX_LOG_LINES: usize = 1_000;
/// Running jobs read from one `Hello` or `Heartbeat` (an agent runs a few).
const MAX_RUNNING_JOBS: usize = 1_024;
/// Longest log line kept: 4 KiB, as the protocol promises.
const MAX_LOG_LINE: usize = 4_096;

/// The outcome of a `Hello`.
#[derive(Debug)]
pub enum Opened {
    /// The identity is rejected or revoked: send this `Welcome` and end.
    Refused(pb::ServerMessage),
    /// A live session: serve `outbox` to the agent and feed its messages to
    /// `handle`.
    Live {
        handle: SessionHandle,
        outbox: mpsc::Receiver<Outbound>,
    },
}

/// A live session, held by the task that serves it.
#[derive(Debug)]
pub struct SessionHandle {
    fleet: Fleet,
    guard: SessionGuard,
    approved: AtomicBool,
    persisted_seen: AtomicI64,
    /// When a heartbeat last renewed this host's leases (0: never).
    leases_renewed: AtomicI64,
    /// When each running job's progress was last stored.
    progress_stored: std::sync::Mutex<std::collections::HashMap<JobId, Millis>>,
    /// Until the replay reaches this seq, the agent's reports of jobs it ran
    /// while away are still arriving; then jobs it does not know are lost.
    replay: std::sync::Mutex<Option<Replay>>,
}

/// What the agent said in its Hello about where it stands.
#[derive(Debug, Clone)]
struct Replay {
    until_seq: u64,
    running: Vec<JobId>,
    opened_at: Millis,
}

/// Parts of one job's `SnapshotList` accepted (at most a million snapshots).
const MAX_SNAPSHOT_PARTS: u32 = 100;
/// Snapshots accepted in one `SnapshotList` part.
const MAX_SNAPSHOTS: usize = 10_000;

/// Progress is stored at most this often per job.
const PROGRESS_EVERY: Millis = 500;

fn server_message(body: pb::server_message::Body) -> pb::ServerMessage {
    pb::ServerMessage { body: Some(body) }
}

pub(crate) fn ack(seq: u64) -> pb::ServerMessage {
    server_message(pb::server_message::Body::Ack(pb::Ack { seq }))
}

pub(crate) fn welcome(host: &Host, settings: &FleetSettings, now: Millis) -> pb::ServerMessage {
    let (status, reason) = match host.status {
        HostStatus::Approved => (pb::WelcomeStatus::Approved, String::new()),
        HostStatus::Pending => (
            pb::WelcomeStatus::PendingApproval,
            host.status_reason
                .clone()
                .unwrap_or_else(|| "waiting for an operator to approve this host".into()),
        ),
        HostStatus::Rejected | HostStatus::Revoked => (
            pb::WelcomeStatus::Rejected,
            host.status_reason
                .clone()
                .unwrap_or_else(|| format!("identity {}", host.status)),
        ),
    };
    server_message(pb::server_message::Body::Welcome(pb::Welcome {
        status: status as i32,
        reason,
        host_id: host.id.0,
        fingerprint: host.fingerprint.clone(),
        heartbeat_interval_seconds: settings.heartbeat_interval.as_secs().max(1) as u32,
        server_time: Some(crate::grpc::timestamp(now)),
        max_message_bytes: u32::try_from(settings.max_message_size).unwrap_or(u32::MAX),
    }))
}

pub(crate) fn rejected(
    host: &Host,
    reason: &str,
    settings: &FleetSettings,
    now: Millis,
) -> pb::ServerMessage {
    server_message(pb::server_message::Body::Welcome(pb::Welcome {
        status: pb::WelcomeStatus::Rejected as i32,
        reason: reason.to_string(),
        host_id: host.id.0,
        fingerprint: host.fingerprint.clone(),
        heartbeat_interval_seconds: settings.heartbeat_interval.as_secs().max(1) as u32,
        server_time: Some(crate::grpc::timestamp(now)),
        max_message_bytes: u32::try_from(settings.max_message_size).unwrap_or(u32::MAX),
    }))
}

pub(crate) fn facts_to_pb(f: &HostFacts) -> pb::HostFacts {
    pb::HostFacts {
        hostname: f.hostname.clone(),
        os: f.os.clone(),
        os_version: f.os_version.clone(),
        arch: f.arch.clone(),
        kernel: f.kernel.clone(),
        agent_version: f.agent_version.clone(),
        restic_version: f.restic_version.clone(),
    }
}

fn agent_actor(host: &Host, addr: Option<String>) -> Actor {
    Actor {
        kind: ActorKind::Agent,
        id: Some(host.id.0),
        name: host.facts.hostname.clone(),
        source: addr,
    }
}

impl Fleet {
    /// Handles the `Hello` that opens a session.
    pub async fn open_session(
        &self,
        hello: pb::Hello,
        addr: Option<String>,
    ) -> ServiceResult<Opened> {
        check_token("identity_token", &hello.identity_token)?;
        let enroll = hello.enroll_token.trim();
        if !enroll.is_empty() {
            check_token("enroll_token", enroll)?;
        }
        let facts = clean_facts(hello.facts)?;
        let hello_last_seq = hello.last_seq;
        let hello_running: Vec<JobId> = hello
            .running_job_ids
            .iter()
            .take(MAX_RUNNING_JOBS)
            .map(|id| JobId(*id))
            .collect();
        let now = self.clock.now();
        let identity_hash = hash_token(&hello.identity_token);
        // A valid enrollment token is an operator's say-so for a rollout
        // (often many hosts behind one NAT address): the caps do not apply.
        let enrolled = !enroll.is_empty()
            && matches!(
                self.store.check_enrollment(hash_token(enroll), now).await?,
                EnrollmentCheck::Valid { .. }
            );
        if !enrolled
            && self
                .store
                .host_by_identity(identity_hash.clone())
                .await?
                .is_none()
        {
            // A new identity adds a pending host: capped per address and in
            // total, so no peer can grow the approval queue without bound.
            let pending = self.store.pending_host_count().await?;
            if let Err(refused) = self.announces.admit(addr.as_deref(), pending, now) {
                tracing::warn!(addr = ?addr, pending, "announce of a new identity refused: too many");
                return Err(refused);
            }
        }
        let announced = self
            .store
            .announce_host(Announce {
                identity_hash,
                fingerprint: cairn_seal::identity_fingerprint(&hello.identity_token),
                facts,
                addr: addr.clone(),
                enroll_token_hash: (!enroll.is_empty()).then(|| hash_token(enroll)),
                now,
            })
            .await?;
        let host = announced.host;
        let actor = || agent_actor(&host, addr.clone());
        let target = Some(format!("host:{}", host.id));
        if announced.created {
            self.auditor
                .record(
                    actor(),
                    "host.announce",
                    target.clone(),
                    Outcome::Success,
                    Some(format!("fingerprint {}", host.fingerprint)),
                )
                .await;
            tracing::info!(host = %host.id, hostname = %host.facts.hostname, fingerprint = %host.fingerprint, status = %host.status, "new agent announced");
        }
        match &announced.enrollment {
            Some(EnrollmentCheck::Valid { token_id, .. }) => {
                self.auditor
                    .record(
                        actor(),
                        "host.enroll",
                        target.clone(),
                        Outcome::Success,
                        Some(format!("enrollment token {token_id}")),
                    )
                    .await;
            }
            Some(refused) => {
                self.auditor
                    .record(
                        actor(),
                        "host.enroll",
                        target.clone(),
                        Outcome::Denied,
                        refused.reason().map(str::to_string),
                    )
                    .await;
            }
            None => {}
        }

        if matches!(host.status, HostStatus::Rejected | HostStatus::Revoked) {
            self.auditor
                .record(
                    actor(),
                    "host.connect",
                    target,
                    Outcome::Denied,
                    Some(format!("identity {}", host.status)),
                )
                .await;
            return Ok(Opened::Refused(welcome(&host, &self.settings, now)));
        }

        let (tx, outbox) = mpsc::channel(OUTBOX_DEPTH);
        let pending = host.status != HostStatus::Approved;
        let Some(guard) = self.registry.register(host.id, tx.clone(), now, pending) else {
            self.auditor
                .record(
                    actor(),
                    "host.duplicate_stream",
                    target,
                    Outcome::Denied,
                    Some("a session is already live".into()),
                )
                .await;
            return Err(ServiceError::AlreadyExists(
                "a live session for this agent identity",
            ));
        };
        let approved = host.status == HostStatus::Approved;
        // The outbox is fresh and far larger than these two messages.
        let _ = tx.try_send(Ok(welcome(&host, &self.settings, now)));
        let mut replay = None;
        if approved {
            let last = self.store.last_applied_seq(host.id).await?;
            let _ = tx.try_send(Ok(ack(last)));
            let pending = Replay {
                until_seq: hello_last_seq,
                running: hello_running,
                opened_at: now,
            };
            if last >= hello_last_seq {
                self.reconcile(host.id, pending).await?;
                guard.synced.store(true, Ordering::Release);
            } else {
                replay = Some(pending);
            }
            self.request_dispatch(host.id);
        }
        if approved {
            // Queued behind Welcome and Ack: the full schedule set.
            self.push_schedules(host.id).await?;
        }
        Ok(Opened::Live {
            handle: SessionHandle {
                fleet: self.clone(),
                guard,
                approved: AtomicBool::new(approved),
                persisted_seen: AtomicI64::new(now),
                leases_renewed: AtomicI64::new(0),
                progress_stored: Default::default(),
                replay: std::sync::Mutex::new(replay),
            },
            outbox,
        })
    }
}

/// A log line as stored; a line without a valid time gets the time it
/// arrived (`now`).
fn log_line(line: pb::JobLogLine, now: Millis) -> LogLine {
    let at = line.time.and_then(|t| agent_time(&t, now)).unwrap_or(now);
    LogLine {
        at,
        stream: match pb::JobLogStream::try_from(line.stream) {
            Ok(pb::JobLogStream::Stdout) => "stdout",
            Ok(pb::JobLogStream::Stderr) => "stderr",
            _ => "agent",
        },
        level: match pb::JobLogLevel::try_from(line.level) {
            Ok(pb::JobLogLevel::Debug) => "debug",
            Ok(pb::JobLogLevel::Warn) => "warn",
            Ok(pb::JobLogLevel::Error) => "error",
            _ => "info",
        },
        line: clean_text(&line.text, MAX_LOG_LINE),
    }
}

impl Fleet {
    /// The replay is over: jobs dispatched to `host` before this session that
    /// it neither runs nor reported finished are lost; then what the host
    /// missed while away runs by each schedule's catch-up policy.
    async fn reconcile(&self, host: HostId, replay: Replay) -> ServiceResult<()> {
        // A job the agent still runs that the server has ended (lost while
        // the host was away longer than its lease, or cancelled) is stopped:
        // it must not run beside what the dispatcher now sends.
        for id in &replay.running {
            let ended = match self.store.job(*id).await {
                Ok(job) => job.host_id != host || job.status.is_terminal(),
                Err(_) => true,
            };
            if ended {
                tracing::warn!(%host, job = %id, "the agent runs a job the server has ended: stopping it");
                self.registry.send(
                    host,
                    crate::jobs::cancel_message(*id, "the server ended this job"),
                );
            }
        }
        let lost = self
            .store
            .lose_jobs_not_running(host, replay.running, replay.opened_at, self.clock.now())
            .await?;
        if lost > 0 {
            tracing::warn!(%host, lost, "the agent came back without some of its jobs: marked lost");
        }
        self.drain_missed(host).await
    }
}

impl SessionHandle {
    /// The host this session belongs to.
    pub fn host(&self) -> HostId {
        self.guard.host
    }

    /// Resolves when the server closes this session (revocation, silence,
    /// shutdown).
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.guard.closed.clone()
    }

    /// Applies one message from the agent.
    pub async fn handle(&self, message: pb::AgentMessage) -> ServiceResult<()> {
        let fleet = &self.fleet;
        let host = self.guard.host;
        let now = fleet.clock.now();
        self.guard.last_seen.store(now, Ordering::Relaxed);
        if now - self.persisted_seen.load(Ordering::Relaxed) >= PERSIST_SEEN_EVERY {
            self.persisted_seen.store(now, Ordering::Relaxed);
            fleet.store.touch_host(host, now).await?;
        }
        let seq = message.seq;
        let Some(body) = message.body else {
            return Err(ServiceError::invalid("body", "empty agent message"));
        };
        match (&body, seq) {
            (Body::Hello(_), _) => {
                return Err(ServiceError::invalid("hello", "Hello is sent once, first"));
            }
            (Body::Heartbeat(beat), _) => return self.heartbeat(beat, now).await,
            (_, 0) => {
                return Err(ServiceError::invalid(
                    "seq",
                    "messages other than Hello and Heartbeat need a seq",
                ));
            }
            _ => {}
        }
        if !self.is_approved().await? {
            // Nothing from a host the operator has not approved takes effect.
            tracing::debug!(%host, seq, "message from a pending host ignored");
            return Ok(());
        }
        let lease_until = now + fleet.settings.job_lease.as_millis() as Millis;
        let store = &fleet.store;
        let applied = match body {
            Body::SchedulesApplied(applied) => {
                let effect = cairn_store::schedules_applied(host, applied.version);
                store.apply_agent_message(host, seq, now, effect).await?
            }
            Body::JobLog(log) => {
                // Only lines the store took (this host's live job, under its
                // cap, cleaned and cut) reach the watchers.
                let job = JobId(log.job_id);
                let lines = log
                    .lines
                    .into_iter()
                    .take(MAX_LOG_LINES)
                    .map(|l| log_line(l, now))
                    .collect();
                let cap = u64::from(fleet.settings.max_log_lines_per_job);
                let effect = cairn_store::append_job_log(host, job, lines, cap);
                match store
                    .apply_agent_message_with(host, seq, now, effect)
                    .await?
                {
                    Some(stored) => {
                        if !stored.is_empty() {
                            let lines = stored.iter().map(crate::grpc::line_to_pb).collect();
                            fleet
                                .hub
                                .publish(job, pb::job_event::Event::Log(pb::JobLogBatch { lines }));
                        }
                        true
                    }
                    None => false,
                }
            }
            Body::ScheduleFired(fired) => {
                let applied = store
                    .apply_agent_message(host, seq, now, |_| Ok(()))
                    .await?;
                let replaying = self
                    .replay
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_some();
                fleet.schedule_fired(host, &fired, now, replaying).await?;
                applied
            }
            Body::JobAccepted(accepted) => {
                let job = JobId(accepted.job_id);
                let effect = cairn_store::job_accepted(host, job, now, lease_until);
                match store
                    .apply_agent_message_with(host, seq, now, effect)
                    .await?
                {
                    Some(started) => {
                        if started {
                            fleet.hub.publish(
                                job,
                                pb::job_event::Event::State(pb::JobStateChange {
                                    from: pb::JobStatus::Dispatched as i32,
                                    to: pb::JobStatus::Running as i32,
                                }),
                            );
                        }
                        true
                    }
                    None => false,
                }
            }
            Body::JobProgress(progress) => {
                // Stored at most twice a second per job; the seq is applied
                // either way so the spool drains. Watchers get every report
                // of this host's live job, cleaned as the store keeps it.
                let job = JobId(progress.job_id);
                let progress = clean_progress(progress, now);
                if !self.runs_live(job).await {
                    tracing::warn!(%host, %job, "progress for a job this host does not run: dropped");
                    store
                        .apply_agent_message(host, seq, now, |_| Ok(()))
                        .await?
                } else if self.progress_due(job, now) {
                    let encoded = crate::jobs::encode(&progress);
                    let effect = cairn_store::job_progress(host, job, encoded, now, lease_until);
                    let applied = store
                        .apply_agent_message_with(host, seq, now, effect)
                        .await?;
                    if applied == Some(true) {
                        fleet
                            .hub
                            .publish(job, pb::job_event::Event::Progress(progress));
                    }
                    applied.is_some()
                } else {
                    let applied = store
                        .apply_agent_message(host, seq, now, |_| Ok(()))
                        .await?;
                    if applied {
                        fleet
                            .hub
                            .publish(job, pb::job_event::Event::Progress(progress));
                    }
                    applied
                }
            }
            Body::JobFinished(finished) => {
                let job = JobId(finished.job_id);
                self.forget_progress(job);
                let diff = match &finished.details {
                    Some(pb::job_finished::Details::Diff(diff)) => Some(diff.clone()),
                    _ => None,
                };
                let effect = cairn_store::job_finished(host, job, job_end(&finished), now);
                let applied = store
                    .apply_agent_message_with(host, seq, now, effect)
                    .await?;
                // Only the message that ended this host's job tells watchers
                // and closes the job's channel.
                if applied == Some(true) {
                    if let Some(diff) = diff {
                        fleet.hub.deliver(job, crate::jobs::JobResult::Diff(diff));
                    }
                    if let Ok(done) = store.job(job).await {
                        fleet.hub.publish(
                            job,
                            pb::job_event::Event::Finished(crate::grpc::job_to_pb(&done)),
                        );
                    }
                    fleet.hub.close(job);
                }
                fleet.request_dispatch(host);
                applied.is_some()
            }
            Body::SnapshotList(list) => {
                let repository = RepositoryId(list.repository_id);
                // Only by a live job of this host on that repository, still
                // assigned to it, and in a bounded number of parts: the
                // cache is what every host of the repository is shown.
                let allowed = list.part < MAX_SNAPSHOT_PARTS
                    && self.runs_live(JobId(list.job_id)).await
                    && store
                        .job(JobId(list.job_id))
                        .await
                        .is_ok_and(|job| job.repository_id == Some(repository))
                    && store.is_assigned(repository, host).await?;
                if allowed {
                    let snapshots = list
                        .snapshots
                        .iter()
                        .take(MAX_SNAPSHOTS)
                        .map(|s| cached_snapshot(repository, s, now))
                        .collect();
                    let effect =
                        cairn_store::replace_snapshots(repository, list.part == 0, snapshots, now);
                    store.apply_agent_message(host, seq, now, effect).await?
                } else {
                    tracing::warn!(%host, repository = list.repository_id, "snapshot list for a repository this host has no job on: dropped");
                    store
                        .apply_agent_message(host, seq, now, |_| Ok(()))
                        .await?
                }
            }
            Body::BrowseResult(result) => {
                let job = JobId(result.job_id);
                if self.runs_live(job).await {
                    fleet
                        .hub
                        .deliver(job, crate::jobs::JobResult::Browse(result));
                }
                store
                    .apply_agent_message(host, seq, now, |_| Ok(()))
                    .await?
            }
            // Nothing else carries a seq; recorded so the spool drains.
            _ => {
                store
                    .apply_agent_message(host, seq, now, |_| Ok(()))
                    .await?
            }
        };
        let finished_replay = {
            let mut replay = self.replay.lock().unwrap_or_else(|p| p.into_inner());
            match replay.as_ref() {
                Some(r) if seq >= r.until_seq => replay.take(),
                _ => None,
            }
        };
        if let Some(replay) = finished_replay {
            fleet.reconcile(host, replay).await?;
            self.guard.synced.store(true, Ordering::Release);
        }
        if !applied {
            tracing::debug!(%host, seq, "replayed message acknowledged again, not applied");
        }
        fleet.registry.send(host, ack(seq));
        Ok(())
    }

    /// A heartbeat: the jobs the agent says it runs stay alive, however long
    /// they are silent. The lease is only for an agent that vanished or a job
    /// it forgot.
    async fn heartbeat(&self, beat: &pb::Heartbeat, now: Millis) -> ServiceResult<()> {
        if beat.running_job_ids.is_empty() || !self.is_approved().await? {
            return Ok(());
        }
        // Heartbeats faster than half their interval renew nothing: a peer
        // flooding them cannot keep the store's one writer busy.
        let every = (self.fleet.settings.heartbeat_interval.as_millis() / 2) as Millis;
        let last = self.leases_renewed.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < every {
            return Ok(());
        }
        self.leases_renewed.store(now, Ordering::Relaxed);
        let jobs = beat
            .running_job_ids
            .iter()
            .take(MAX_RUNNING_JOBS)
            .map(|id| JobId(*id))
            .collect();
        let settings = &self.fleet.settings;
        let lease = settings.job_lease.as_millis() as Millis;
        let until = now.saturating_add(lease);
        // The agent stops a job at its timeout; should it not, the server
        // stops renewing one lease later and the job is lost.
        let max_life = (!settings.job_timeout.is_zero())
            .then(|| (settings.job_timeout.as_millis() as Millis).saturating_add(lease));
        self.fleet
            .store
            .renew_leases(self.guard.host, jobs, until, max_life)
            .await?;
        Ok(())
    }

    /// Whether `job` is this host's and has not ended: what a report about
    /// it must be before anything of it is shown to anyone.
    async fn runs_live(&self, job: JobId) -> bool {
        self.fleet.store.job(job).await.is_ok_and(|j| {
            j.host_id == self.guard.host
                && matches!(
                    j.status,
                    JobStatus::Queued | JobStatus::Dispatched | JobStatus::Running
                )
        })
    }

    fn progress_due(&self, job: JobId, now: Millis) -> bool {
        let mut stored = self
            .progress_stored
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match stored.get(&job) {
            Some(last) if now - last < PROGRESS_EVERY => false,
            _ => {
                stored.insert(job, now);
                true
            }
        }
    }

    fn forget_progress(&self, job: JobId) {
        self.progress_stored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job);
    }

    async fn is_approved(&self) -> ServiceResult<bool> {
        if self.approved.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let approved = self.fleet.store.host(self.guard.host).await?.status == HostStatus::Approved;
        self.approved.store(approved, Ordering::Relaxed);
        Ok(approved)
    }

    /// Ends the session with `status`, which the agent sees.
    pub fn close(&self, status: tonic::Status) {
        self.fleet.registry.close(self.guard.host, status);
    }

    /// Ends the session: records when the host was last seen.
    pub async fn finish(self) {
        let now = self.guard.last_seen.load(Ordering::Relaxed);
        if let Err(err) = self.fleet.store.touch_host(self.guard.host, now).await {
            tracing::warn!(host = %self.guard.host, error = %err, "could not record last sign of life");
        }
    }
}
