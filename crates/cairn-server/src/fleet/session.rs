//! One agent's session: the announce that opens it, the messages it carries,
//! and the replay rule that makes every (host, seq) take effect once.
//!
//! It speaks the core's types (`inbound`, `outbound`): the wire edge decodes
//! what the agent sends and encodes what goes back. Each report goes one
//! way (`reports.rs`): range-checked, owned, cleaned, applied with its seq
//! in one transaction, and what was stored is what watchers are told.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use cairn_store::{
    ActorKind, Announce, EnrollmentCheck, Host, HostId, HostStatus, JobId, JobStatus, Millis,
    Outcome,
};
use tokio::sync::{mpsc, watch};

use super::Fleet;
use super::clean::{check_token, clean_facts};
use super::inbound::{AgentMessage, Hello, Report};
use super::outbound::{ToAgent, incompatible, welcome};
use super::registry::{OUTBOX_DEPTH, Outbound, SessionGuard};
use crate::audit::Actor;
use crate::auth::hash_token;
use crate::error::{ServiceError, ServiceResult};

/// An agent clock further off than this is one to tell the operator of.
pub(crate) const CLOCK_OFF_MS: i64 = 60_000;

/// Persist a host's last-seen time at most this often while it is connected.
const PERSIST_SEEN_EVERY: Millis = 30_000;
/// Progress is stored at most this often per job.
const PROGRESS_EVERY: Millis = 500;

/// The outcome of a `Hello`.
#[derive(Debug)]
pub enum Opened {
    /// The identity is rejected or revoked: send this `Welcome` and end.
    Refused(ToAgent),
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
    pub(super) fleet: Fleet,
    pub(super) guard: SessionGuard,
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
    pub async fn open_session(&self, hello: Hello, addr: Option<String>) -> ServiceResult<Opened> {
        check_token("identity_token", &hello.identity_token)?;
        let enroll = hello.enroll_token.trim();
        if !enroll.is_empty() {
            check_token("enroll_token", enroll)?;
        }
        let facts = clean_facts(hello.facts)?;
        let hello_last_seq = hello.last_seq;
        let hello_running: Vec<JobId> = hello
            .running
            .into_iter()
            .take(super::reports::MAX_RUNNING_JOBS)
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
        let known = self.store.host_by_identity(identity_hash.clone()).await?;
        // A second stream under a live identity (a cloned VM, a copied state
        // dir) is refused before its Hello touches the host's record: the
        // clone's facts and address never replace the live agent's.
        if let Some(host) = known
            && self.registry.is_online(host)
        {
            let host = self.store.host(host).await?;
            return Err(self.refuse_duplicate(&host, addr).await);
        }
        if !enrolled && known.is_none() {
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

        // Turned away: a refused identity, or an agent this server cannot
        // speak with (its facts are recorded, so the console shows why).
        let refusal = if matches!(host.status, HostStatus::Rejected | HostStatus::Revoked) {
            Some((
                format!("identity {}", host.status),
                welcome(&host, &self.settings, now),
            ))
        } else if let Err(why) =
            cairn_domain::protocol::check_agent_here(host.facts.protocol_version)
        {
            tracing::warn!(host = %host.id, hostname = %host.facts.hostname, %why, "agent turned away: protocol version");
            Some((
                why.to_string(),
                incompatible(&host, why, &self.settings, now),
            ))
        } else {
            None
        };
        if let Some((detail, answer)) = refusal {
            self.auditor
                .record(
                    actor(),
                    "host.connect",
                    target,
                    Outcome::Denied,
                    Some(detail),
                )
                .await;
            return Ok(Opened::Refused(answer));
        }

        let (tx, outbox) = mpsc::channel(OUTBOX_DEPTH);
        let pending = host.status != HostStatus::Approved;
        // Two Hellos racing past the check above: one registers, the other
        // is refused here.
        let Some(guard) = self.registry.register(host.id, tx.clone(), now, pending) else {
            return Err(self.refuse_duplicate(&host, addr).await);
        };
        let approved = host.status == HostStatus::Approved;
        // The outbox is fresh and far larger than these two messages.
        let _ = tx.try_send(Ok(welcome(&host, &self.settings, now)));
        let mut replay = None;
        if approved {
            let last = self.store.last_applied_seq(host.id).await?;
            let _ = tx.try_send(Ok(ToAgent::Ack(last)));
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

impl Fleet {
    /// The replay is over: jobs dispatched to `host` before this session that
    /// it neither runs nor reported finished are lost; then what the host
    /// missed while away runs by each schedule's catch-up policy.
    async fn reconcile(&self, host: HostId, replay: Replay) -> ServiceResult<()> {
        // A job the agent still runs that the server has ended (lost while
        // the host was away longer than its lease, or cancelled) is stopped:
        // it must not run beside what the dispatcher now sends.
        for id in &replay.running {
            let ended = match self.store.job_state(*id).await {
                Ok(job) => job.host_id != host || job.status.is_terminal(),
                Err(_) => true,
            };
            if ended {
                tracing::warn!(%host, job = %id, "the agent runs a job the server has ended: stopping it");
                self.registry
                    .send(host, super::cancel(*id, "the server ended this job"));
            }
        }
        let lost = self
            .store
            .lose_jobs_not_running(host, replay.running, replay.opened_at, self.clock.now())
            .await?;
        if !lost.is_empty() {
            tracing::warn!(%host, lost = lost.len(), "the agent came back without some of its jobs: marked lost");
        }
        let now = self.clock.now();
        for job in &lost {
            self.hub.ended(&self.store, job.id, now).await;
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
    pub async fn handle(&self, message: AgentMessage) -> ServiceResult<()> {
        let fleet = &self.fleet;
        let host = self.guard.host;
        let now = fleet.clock.now();
        self.guard.last_seen.store(now, Ordering::Relaxed);
        if now - self.persisted_seen.load(Ordering::Relaxed) >= PERSIST_SEEN_EVERY {
            self.persisted_seen.store(now, Ordering::Relaxed);
            fleet.store.touch_host(host, now).await?;
        }
        let seq = message.seq;
        match (&message.report, seq) {
            (Report::Empty, _) => {
                return Err(ServiceError::invalid("body", "empty agent message"));
            }
            (Report::Hello, _) => {
                return Err(ServiceError::invalid("hello", "Hello is sent once, first"));
            }
            (Report::Heartbeat { running, sent_at }, _) => {
                self.clock_offset(*sent_at, now);
                return self.heartbeat(running, now).await;
            }
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
        let applied = self.apply(seq, message.report, now).await?;
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
        fleet.registry.send(host, ToAgent::Ack(seq));
        Ok(())
    }

    /// Whether the agent is still replaying its spool.
    pub(super) fn replaying(&self) -> bool {
        self.replay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// A heartbeat: the jobs the agent says it runs stay alive, however long
    /// they are silent. The lease is only for an agent that vanished or a job
    /// it forgot.
    /// Measures how far the agent's clock is from the server's, from a
    /// heartbeat's send time (the time in flight counts as the agent being
    /// behind, a few ms). Schedules fire on the agent's clock, so an agent
    /// far off has its firings refused: the host page says why, and the log
    /// says it once per session.
    fn clock_offset(&self, sent_at: Option<Millis>, now: Millis) {
        let Some(sent_at) = sent_at else { return };
        let offset = sent_at.saturating_sub(now);
        let before = self.guard.clock_offset.swap(offset, Ordering::Relaxed);
        let off = |ms: i64| ms != super::registry::UNKNOWN_OFFSET && ms.abs() > CLOCK_OFF_MS;
        if off(offset) && !off(before) {
            tracing::warn!(
                host = %self.guard.host,
                offset_seconds = offset / 1_000,
                "this host's clock is off from the server's: its schedules fire at the wrong times, and firings more than 10 minutes ahead are refused; set its time (NTP)"
            );
        }
    }

    async fn heartbeat(&self, running: &[JobId], now: Millis) -> ServiceResult<()> {
        if running.is_empty() || !self.is_approved().await? {
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
        let jobs = running
            .iter()
            .take(super::reports::MAX_RUNNING_JOBS)
            .copied()
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
    pub(super) async fn runs_live(&self, job: JobId) -> bool {
        self.fleet.store.job_state(job).await.is_ok_and(|j| {
            j.host_id == self.guard.host
                && matches!(
                    j.status,
                    JobStatus::Queued | JobStatus::Dispatched | JobStatus::Running
                )
        })
    }

    pub(super) fn progress_due(&self, job: JobId, now: Millis) -> bool {
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

    pub(super) fn forget_progress(&self, job: JobId) {
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
    pub fn close(&self, status: ServiceError) {
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

impl Fleet {
    /// Audits and refuses a stream for an identity that already has one.
    async fn refuse_duplicate(&self, host: &Host, addr: Option<String>) -> ServiceError {
        self.auditor
            .record(
                agent_actor(host, addr),
                "host.duplicate_stream",
                Some(format!("host:{}", host.id)),
                Outcome::Denied,
                Some("a session is already live".into()),
            )
            .await;
        ServiceError::AlreadyExists("a live session for this agent identity")
    }
}
