//! Jobs: made by operators, the API, schedules and maintenance; dispatched to
//! approved, connected hosts with the repository's secrets; followed to their
//! one terminal state by the agent's reports, or marked lost when the lease
//! runs out.
//!
//! The typed spec (`cairn_domain::JobSpec`) is stored in the job row as
//! the store's JSON, so what was asked for is exactly what is sent and run.
//! Every change of a job's state, whoever makes it, is published on the hub
//! for its watchers (`watch.rs`).

mod events;
mod hub;
mod log_export;
mod scheduled;
pub(crate) mod snapshots;
mod watch;

use std::time::Duration;

use cairn_domain::{JobKind, JobSpec, Trigger};
use cairn_store::{
    HostId, HostStatus, Job, JobFilter, JobId, JobStatus, LogLine, Millis, NewJob, Outcome, Page,
    PageOf, RepositoryId, Scope, Store,
};

pub use events::{Event, JobEvent};
pub use hub::{JobHub, JobResult};
pub use log_export::LogFormat;
pub use scheduled::schedule_spec;
pub use snapshots::{RestoreCheck, RestoreRequest};
pub use watch::JobWatch;

use crate::audit::Auditor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::fleet::{Fleet, RunJob, ToAgent};
use crate::repos::Repos;

/// What to run, where.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub host: HostId,
    pub repository: RepositoryId,
    pub spec: JobSpec,
    pub trigger: Trigger,
}

/// Whether `path` is absolute and has no `..` in it.
pub(crate) fn plain_absolute(path: &str) -> bool {
    let path = std::path::Path::new(path);
    path.is_absolute()
        && !path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
}

impl JobRequest {
    /// A job an operator or script asked for through the API.
    pub fn api(host: HostId, repository: RepositoryId, spec: JobSpec) -> Self {
        Self {
            host,
            repository,
            spec,
            trigger: Trigger::Api,
        }
    }
}

/// The job service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Jobs {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    repos: Repos,
    fleet: Fleet,
    lease: Duration,
    hub: JobHub,
    /// Becomes true when the server begins shutting down (ends watches).
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Jobs {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        repos: Repos,
        fleet: Fleet,
        lease: Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let hub = fleet.hub().clone();
        Self {
            store,
            clock,
            auditor,
            repos,
            fleet,
            lease,
            hub,
            shutdown,
        }
    }

    /// The live events of running jobs.
    pub fn hub(&self) -> &JobHub {
        &self.hub
    }

    /// Queues a job and dispatches it if its host is connected. Refuses a
    /// spec that could not be run safely, naming the field, before anything
    /// is stored.
    pub async fn submit(&self, p: &Principal, request: JobRequest) -> ServiceResult<Job> {
        let target = Some(format!(
            "host:{} repository:{}",
            request.host, request.repository
        ));
        self.auditor
            .authorize(p, Scope::Operate, "job.create", target.clone())
            .await?;
        let kind = request.spec.kind();
        let assigned = self.preflight(&request).await?;
        // A job carries its repository's secrets, so it goes only to a host
        // the repository is assigned to (assigning is an admin's grant). A
        // restore onto any other host (cross-host restore) hands those
        // secrets to that host: an admin's call, audited as such.
        let mut grant = None;
        if kind == JobKind::Restore && !assigned {
            // Operators restore onto the hosts a repository is assigned
            // to; anywhere else is an admin's call.
            self.auditor
                .authorize(p, Scope::Admin, "job.restore.cross_host", target.clone())
                .await?;
            self.auditor
                .record(
                    p,
                    "job.restore.cross_host",
                    target,
                    Outcome::Success,
                    Some("the repository's secrets go to an unassigned host".into()),
                )
                .await;
            grant = Some(crate::audit::Actor::from(p).name);
        }
        let id = self
            .store
            .create_job_with_grant(
                NewJob {
                    host_id: request.host,
                    repository_id: Some(request.repository),
                    trigger: request.trigger,
                    spec: request.spec,
                    created_by: p.operator_id(),
                },
                grant,
                self.clock.now(),
            )
            .await?;
        self.auditor
            .record(
                p,
                "job.create",
                Some(format!("job:{id}")),
                Outcome::Success,
                Some(kind.to_string()),
            )
            .await;
        self.fleet.request_dispatch(request.host);
        Ok(self.store.job(id).await?)
    }

    /// The checks a job passes before anything is stored: a spec that can
    /// run safely (naming the field), an approved host, and the repository
    /// assigned to that host, except for a restore, which may go anywhere
    /// (see `submit`) but must name an absolute target that does not climb.
    /// Says whether the repository is assigned to the host.
    pub(crate) async fn preflight(&self, request: &JobRequest) -> ServiceResult<bool> {
        cairn_restic::operation(&request.spec, None)
            .map_err(|e| ServiceError::invalid("spec", e.to_string()))?;
        // The agent refuses these too (its policy has the last word); saying
        // so here spares the operator a job that can only fail.
        if let JobSpec::Backup(b) = &request.spec
            && let Some(bad) = b.paths.iter().find(|p| !plain_absolute(p))
        {
            return Err(ServiceError::invalid(
                "paths",
                format!("{bad:?} must be an absolute path without '..'"),
            ));
        }
        let host = self.store.host(request.host).await?;
        if host.status != HostStatus::Approved {
            return Err(ServiceError::FailedPrecondition(format!(
                "host {} is {}: jobs go to approved hosts only",
                host.id, host.status
            )));
        }
        let assigned = self
            .store
            .is_assigned(request.repository, request.host)
            .await?;
        match &request.spec {
            JobSpec::Restore(r) => {
                self.store.repository(request.repository).await?;
                snapshots::check_target_path(&r.target_path)?;
                snapshots::check_overwrite(r.overwrite, &host.facts.restic_version)?;
            }
            _ if !assigned => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "repository {} is not assigned to host {}: assign it first",
                    request.repository, request.host
                )));
            }
            _ => {}
        }
        Ok(assigned)
    }

    /// One job.
    pub async fn get(&self, p: &Principal, id: JobId) -> ServiceResult<Job> {
        p.require(Scope::Read)?;
        Ok(self.store.job(id).await?)
    }

    /// Jobs, newest first.
    pub async fn list(
        &self,
        p: &Principal,
        filter: JobFilter,
        page: Page,
    ) -> ServiceResult<PageOf<Job>> {
        p.require(Scope::Read)?;
        Ok(self.store.list_jobs(filter, page).await?)
    }

    /// One page of a job's log lines, oldest first (`limit` 0 = the default
    /// page; see `cairn_store::LOG_PAGE_MAX`).
    pub async fn logs(
        &self,
        p: &Principal,
        id: JobId,
        limit: u32,
        cursor: Option<i64>,
    ) -> ServiceResult<PageOf<LogLine>> {
        p.require(Scope::Read)?;
        self.store.job(id).await?;
        // Half the message limit: the rest is the envelope and per-line fields.
        let max_bytes = self.fleet.settings().max_message_size / 2;
        Ok(self
            .store
            .job_log_page(id, limit, max_bytes, cursor)
            .await?)
    }

    /// A job's newest log lines (up to `limit`), oldest first, and how many
    /// earlier ones there are: what a page that follows the job opens with.
    pub async fn log_tail(
        &self,
        p: &Principal,
        id: JobId,
        limit: u32,
    ) -> ServiceResult<(Vec<LogLine>, u64)> {
        p.require(Scope::Read)?;
        self.store.job(id).await?;
        Ok(self.store.job_log_tail(id, limit).await?)
    }

    /// A job's log lines from position `from` on (0 is the first), at most
    /// `limit`: what a live view missed while it was away.
    pub async fn log_from(
        &self,
        p: &Principal,
        id: JobId,
        from: u64,
        limit: u32,
    ) -> ServiceResult<Vec<LogLine>> {
        p.require(Scope::Read)?;
        self.store.job(id).await?;
        Ok(self.store.job_log_from(id, from, limit).await?)
    }

    /// Cancels a job: a queued one at once; a running one by telling its
    /// agent, which stops restic and reports `cancelled`.
    pub async fn cancel(&self, p: &Principal, id: JobId, reason: &str) -> ServiceResult<Job> {
        let target = Some(format!("job:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "job.cancel", target.clone())
            .await?;
        let reason = crate::fleet::clean_text(reason.trim(), MAX_CANCEL_REASON);
        let now = self.clock.now();
        let before = self.store.job(id).await?.status;
        let job = self.store.request_cancel(id, reason.clone(), now).await?;
        if matches!(job.status, JobStatus::Dispatched | JobStatus::Running) {
            self.fleet
                .send(job.host_id, crate::fleet::cancel(id, &reason));
        } else if job.status.is_terminal() && !before.is_terminal() {
            // Cancelled while queued: no agent will report it.
            self.hub.finished(&job, now);
        }
        let detail = if reason.is_empty() {
            job.status.as_str().to_string()
        } else {
            format!("{}: {reason}", job.status.as_str())
        };
        self.auditor
            .record(p, "job.cancel", target, Outcome::Success, Some(detail))
            .await;
        Ok(job)
    }

    /// Sends a host's queued jobs, oldest first, if it is connected and
    /// approved. A job that cannot be sent goes back to the queue.
    pub(crate) async fn dispatch(&self, host: HostId) -> ServiceResult<()> {
        if !self.fleet.is_online(host)
            || self.store.host(host).await?.status != HostStatus::Approved
        {
            return Ok(());
        }
        for job in self.store.queued_jobs(host).await? {
            let Some(repository) = job.repository_id else {
                continue;
            };
            // Fleet-aware: an exclusive operation (forget, prune, check,
            // unlock) waits until nothing else runs on its repository, on any
            // host; anything else waits while an exclusive one runs.
            let exclusive = matches!(
                job.kind,
                JobKind::Forget | JobKind::Prune | JobKind::Check | JobKind::Unlock
            );
            if self.store.repository_busy(repository, !exclusive).await? {
                continue;
            }
            // A schedule's jobs run one at a time (catch-up `all` queues several).
            if let Some((schedule, _)) = job.schedule
                && self.store.schedule_busy(schedule).await?
            {
                continue;
            }
            // Secrets go only where the repository is assigned, or where an
            // admin granted a cross-host restore. A repository unassigned
            // while a job waited fails that job rather than leak.
            if job.secrets_grant.is_none() && !self.store.is_assigned(repository, host).await? {
                let reason = format!(
                    "repository {repository} is no longer assigned to host {host}: not sent"
                );
                tracing::warn!(job = %job.id, %host, %repository, "job refused at dispatch: repository not assigned");
                let now = self.clock.now();
                self.store.fail_queued(job.id, &reason, now).await?;
                self.hub.ended(&self.store, job.id, now).await;
                continue;
            }
            let access = self.repos.access(repository).await?;
            let now = self.clock.now();
            if !self
                .store
                .mark_dispatched(job.id, now, now + self.lease.as_millis() as Millis)
                .await?
            {
                continue;
            }
            let (queued, dispatched) = (JobStatus::Queued, JobStatus::Dispatched);
            let state = |from, to| Event::State { from, to };
            self.hub.publish(job.id, now, state(queued, dispatched));
            let run = ToAgent::RunJob(RunJob {
                job: job.id,
                spec: job.spec.clone(),
                repository,
                access,
                // Saturates: a timeout beyond u32 seconds is no limit in practice.
                timeout_seconds: u32::try_from(self.fleet.settings().job_timeout.as_secs())
                    .unwrap_or(u32::MAX),
            });
            if !self.fleet.send(host, run) {
                self.store.requeue(job.id).await?;
                let now = self.clock.now();
                self.hub.publish(job.id, now, state(dispatched, queued));
                break;
            }
            tracing::info!(job = %job.id, %host, kind = %job.kind, "job dispatched");
        }
        Ok(())
    }

    /// Dispatches for every host woken on `wake`, and marks jobs lost whose
    /// lease ran out, until `shutdown`.
    pub(crate) async fn run_dispatcher(
        self,
        wake: crate::fleet::DispatchWakes,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let every = (self.fleet.settings().schedule_grace / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(10));
        let mut expectations = tokio::time::interval(every);
        expectations.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                hosts = wake.next() => for host in hosts {
                    if let Err(err) = self.dispatch(host).await {
                        tracing::warn!(%host, error = %err, "dispatch failed");
                    }
                },
                _ = tick.tick() => {
                    // Jobs held back (a busy repository, a busy schedule) go
                    // out as soon as what held them ends.
                    if let Ok(hosts) = self.store.hosts_with_queued_jobs().await {
                        for host in hosts {
                            if let Err(err) = self.dispatch(host).await {
                                tracing::warn!(%host, error = %err, "dispatch failed");
                            }
                        }
                    }
                    let now = self.clock.now();
                    match self.store.expire_leases(now).await {
                        Ok(lost) => for job in lost {
                            tracing::warn!(job = %job.id, host = %job.host, "job lost: its lease expired");
                            self.hub.ended(&self.store, job.id, now).await;
                            // If the agent still runs it somehow, stop it.
                            self.fleet.send(job.host, crate::fleet::cancel(job.id, "the server marked this job lost"));
                        },
                        Err(err) => tracing::warn!(error = %err, "lease check failed"),
                    }
                }
                _ = expectations.tick() => {
                    if let Err(err) = self.fleet.account_expected().await {
                        tracing::warn!(error = %err, "checking schedules' expected firings failed");
                    }
                }
                () = &mut shutdown => break,
            }
        }
    }
}

/// Longest cancel reason kept.
const MAX_CANCEL_REASON: usize = 500;
