//! `cairn.v1.JobService` over the job service.

use std::pin::Pin;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_server::JobService;
use cairn_store::{HostId, Job, JobFilter, JobId, JobStatus, LogLine, RepositoryId, ScheduleId};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::authenticate;
use super::convert::{page_from_pb, page_to_pb, timestamp};
use crate::Api;
use crate::jobs::{JobRequest, decode, schedule_spec};

/// How often a watcher checks the store for state changes made on the
/// server side (lost, cancelled while queued).
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The JobService implementation.
#[derive(Debug, Clone)]
pub(crate) struct JobsGrpc {
    api: Api,
}

impl JobsGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

pub(crate) fn status_to_pb(status: JobStatus) -> pb::JobStatus {
    match status {
        JobStatus::Queued => pb::JobStatus::Queued,
        JobStatus::Dispatched => pb::JobStatus::Dispatched,
        JobStatus::Running => pb::JobStatus::Running,
        JobStatus::Succeeded => pb::JobStatus::Succeeded,
        JobStatus::Failed => pb::JobStatus::Failed,
        JobStatus::Cancelled => pb::JobStatus::Cancelled,
        JobStatus::Lost => pb::JobStatus::Lost,
    }
}

fn status_from_pb(value: i32) -> Option<JobStatus> {
    Some(match pb::JobStatus::try_from(value).ok()? {
        pb::JobStatus::Queued => JobStatus::Queued,
        pb::JobStatus::Dispatched => JobStatus::Dispatched,
        pb::JobStatus::Running => JobStatus::Running,
        pb::JobStatus::Succeeded => JobStatus::Succeeded,
        pb::JobStatus::Failed => JobStatus::Failed,
        pb::JobStatus::Cancelled => JobStatus::Cancelled,
        pb::JobStatus::Lost => JobStatus::Lost,
        pb::JobStatus::Unspecified => return None,
    })
}

fn kind_to_pb(kind: &str) -> pb::JobKind {
    match kind {
        "backup" => pb::JobKind::Backup,
        "forget" => pb::JobKind::Forget,
        "prune" => pb::JobKind::Prune,
        "check" => pb::JobKind::Check,
        "restore" => pb::JobKind::Restore,
        "init" => pb::JobKind::Init,
        "unlock" => pb::JobKind::Unlock,
        "snapshots" => pb::JobKind::Snapshots,
        "browse" => pb::JobKind::Browse,
        "diff" => pb::JobKind::Diff,
        _ => pb::JobKind::Unspecified,
    }
}

/// The stored spelling of a job kind; `None` for unspecified.
fn kind_from_pb(kind: i32) -> Option<&'static str> {
    Some(match pb::JobKind::try_from(kind).ok()? {
        pb::JobKind::Unspecified => return None,
        pb::JobKind::Backup => "backup",
        pb::JobKind::Forget => "forget",
        pb::JobKind::Prune => "prune",
        pb::JobKind::Check => "check",
        pb::JobKind::Restore => "restore",
        pb::JobKind::Init => "init",
        pb::JobKind::Unlock => "unlock",
        pb::JobKind::Snapshots => "snapshots",
        pb::JobKind::Browse => "browse",
        pb::JobKind::Diff => "diff",
    })
}

/// Who made a job, for display: its operator, else what made it.
fn created_by(job: &Job) -> String {
    match (&job.created_by_name, job.trigger.as_str()) {
        (Some(name), _) => name.clone(),
        (None, "catch_up") => "catch-up".into(),
        (None, "schedule" | "maintenance") => job.trigger.clone(),
        (None, _) if job.created_by.is_some() => "a deleted operator".into(),
        (None, _) => "cairn".into(),
    }
}

fn trigger_to_pb(trigger: &str) -> pb::JobTrigger {
    match trigger {
        "manual" => pb::JobTrigger::Manual,
        "api" => pb::JobTrigger::Api,
        "schedule" => pb::JobTrigger::Schedule,
        "maintenance" => pb::JobTrigger::Maintenance,
        "catch_up" => pb::JobTrigger::CatchUp,
        _ => pb::JobTrigger::Unspecified,
    }
}

pub(crate) fn job_to_pb(job: &Job) -> pb::Job {
    pb::Job {
        id: job.id.0,
        kind: kind_to_pb(&job.kind) as i32,
        status: status_to_pb(job.status) as i32,
        host_id: job.host_id.0,
        repository_id: job.repository_id.map_or(0, |r| r.0),
        schedule_id: job.schedule.map_or(0, |(s, _)| s.0),
        fire_at: job.schedule.map(|(_, at)| timestamp(at)),
        trigger: trigger_to_pb(&job.trigger) as i32,
        spec: decode(&job.spec).ok(),
        created_by_user_id: job.created_by.map_or(0, |u| u.0),
        created_at: Some(timestamp(job.created_at)),
        dispatched_at: job.dispatched_at.map(timestamp),
        started_at: job.started_at.map(timestamp),
        finished_at: job.finished_at.map(timestamp),
        lease_expires_at: job.lease_expires_at.map(timestamp),
        cancel_requested_at: job.cancel_requested_at.map(timestamp),
        last_progress: job.progress.as_deref().and_then(|p| decode(p).ok()),
        summary: job.summary.as_deref().and_then(|s| decode(s).ok()).map(
            |mut summary: pb::BackupSummary| {
                // The store expands a short id (restic 0.14) to the full one.
                if let Some(full) = &job.snapshot_id
                    && full.len() > summary.snapshot_id.len()
                    && full.starts_with(&summary.snapshot_id)
                {
                    summary.snapshot_id = full.clone();
                }
                summary
            },
        ),
        snapshot_id: job.snapshot_id.clone().unwrap_or_default(),
        exit_code: job.exit_code,
        error: job.error.clone().unwrap_or_default(),
        warning: job.warning,
        hostname: job.hostname.clone(),
        repository_name: job.repository_name.clone().unwrap_or_default(),
        created_by: created_by(job),
    }
}

pub(crate) fn line_to_pb(line: &LogLine) -> pb::JobLogLine {
    pb::JobLogLine {
        time: Some(timestamp(line.at)),
        stream: match line.stream {
            "stdout" => pb::JobLogStream::Stdout,
            "stderr" => pb::JobLogStream::Stderr,
            _ => pb::JobLogStream::Agent,
        } as i32,
        level: match line.level {
            "debug" => pb::JobLogLevel::Debug,
            "warn" => pb::JobLogLevel::Warn,
            "error" => pb::JobLogLevel::Error,
            _ => pb::JobLogLevel::Info,
        } as i32,
        text: line.line.clone(),
    }
}

fn one(job: Job) -> Option<pb::Job> {
    Some(job_to_pb(&job))
}

fn event(job: &Job, body: pb::job_event::Event) -> pb::JobEvent {
    pb::JobEvent {
        job_id: job.id.0,
        time: Some(timestamp(cairn_store::now_millis())),
        event: Some(body),
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<pb::JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for JobsGrpc {
    type WatchJobStream = Events;

    async fn run_backup(
        &self,
        request: Request<pb::RunBackupRequest>,
    ) -> Reply<pb::RunBackupResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let job = if req.schedule_id != 0 {
            if req.host_id != 0 || req.repository_id != 0 || req.spec.is_some() {
                return Err(Status::invalid_argument(
                    "invalid schedule_id: a schedule brings its own host, repository and spec; leave them empty",
                ));
            }
            // Run now, as an extra run: not one of the schedule's firings,
            // so it neither settles nor stands in for one.
            let schedule = self
                .api
                .schedules
                .get(&p, ScheduleId(req.schedule_id))
                .await?;
            let request = JobRequest {
                host: schedule.host_id,
                repository: schedule.repository_id,
                spec: schedule_spec(&schedule),
                trigger: "api",
            };
            self.api.jobs.submit(&p, request).await?
        } else {
            let spec = req
                .spec
                .ok_or_else(|| Status::invalid_argument("invalid spec: a backup needs a spec"))?;
            let request = JobRequest::api(
                HostId(req.host_id),
                RepositoryId(req.repository_id),
                pb::job_spec::Spec::Backup(spec),
            );
            self.api.jobs.submit(&p, request).await?
        };
        Ok(Response::new(pb::RunBackupResponse { job: one(job) }))
    }

    async fn run_maintenance(
        &self,
        request: Request<pb::RunMaintenanceRequest>,
    ) -> Reply<pb::RunMaintenanceResponse> {
        use pb::job_spec::Spec;
        use pb::run_maintenance_request::Spec as M;
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let spec = match req.spec {
            Some(M::Forget(f)) => Spec::Forget(f),
            Some(M::Prune(s)) => Spec::Prune(s),
            Some(M::Check(c)) => Spec::Check(c),
            Some(M::Unlock(u)) => Spec::Unlock(u),
            Some(M::Init(i)) => Spec::Init(i),
            None => {
                return Err(Status::invalid_argument(
                    "invalid spec: say which maintenance to run",
                ));
            }
        };
        let job = self
            .api
            .jobs
            .submit(
                &p,
                JobRequest::api(HostId(req.host_id), RepositoryId(req.repository_id), spec),
            )
            .await?;
        Ok(Response::new(pb::RunMaintenanceResponse { job: one(job) }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Reply<pb::CancelJobResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let job = self
            .api
            .jobs
            .cancel(&p, JobId(req.job_id), &req.reason)
            .await?;
        Ok(Response::new(pb::CancelJobResponse { job: one(job) }))
    }

    async fn get_job(&self, request: Request<pb::GetJobRequest>) -> Reply<pb::GetJobResponse> {
        let p = authenticate(&self.api, &request).await?;
        let job = self
            .api
            .jobs
            .get(&p, JobId(request.into_inner().job_id))
            .await?;
        Ok(Response::new(pb::GetJobResponse { job: one(job) }))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Reply<pb::ListJobsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let filter = JobFilter {
            host: (req.host_id != 0).then_some(HostId(req.host_id)),
            repository: (req.repository_id != 0).then_some(RepositoryId(req.repository_id)),
            status: status_from_pb(req.status),
            schedule: (req.schedule_id != 0).then_some(cairn_store::ScheduleId(req.schedule_id)),
            kind: kind_from_pb(req.kind),
            active_only: req.active_only,
        };
        let jobs = self
            .api
            .jobs
            .list(&p, filter, page_from_pb(req.page)?)
            .await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: jobs.items.iter().map(job_to_pb).collect(),
            page: Some(page_to_pb(jobs.next)),
        }))
    }

    async fn get_job_logs(
        &self,
        request: Request<pb::GetJobLogsRequest>,
    ) -> Reply<pb::GetJobLogsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        // Log pages have their own size rules (default 500, at most 5,000).
        let size = req.page.as_ref().map_or(0, |page| page.page_size);
        let cursor = page_from_pb(req.page)?.cursor;
        let lines = self
            .api
            .jobs
            .logs(&p, JobId(req.job_id), size, cursor)
            .await?;
        Ok(Response::new(pb::GetJobLogsResponse {
            lines: lines.items.iter().map(line_to_pb).collect(),
            page: Some(page_to_pb(lines.next)),
        }))
    }

    /// Streams a job's state changes, progress and log lines until it ends
    /// (the last event is `finished`), the client goes away, or the server
    /// shuts down.
    async fn watch_job(&self, request: Request<pb::WatchJobRequest>) -> Reply<Events> {
        let p = authenticate(&self.api, &request).await?;
        let id = JobId(request.into_inner().job_id);
        let api = self.api.clone();
        // Subscribe before reading the job, so nothing between the two is missed.
        let mut live = api.jobs.hub().subscribe(id);
        let first = api.jobs.get(&p, id).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let send = |body| {
                let tx = tx.clone();
                let event = event(&first, body);
                async move { tx.send(Ok(event)).await.is_ok() }
            };
            // A job already finished: its final record is the only event.
            if first.status.is_terminal() {
                let _ = send(pb::job_event::Event::Finished(job_to_pb(&first))).await;
                return;
            }
            if !send(pb::job_event::Event::Job(job_to_pb(&first))).await {
                return;
            }
            let mut status = first.status;
            let mut poll = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    received = live.recv() => match received {
                        Ok(event) => {
                            if let Some(pb::job_event::Event::State(change)) = &event.event {
                                status = status_from_pb(change.to).unwrap_or(status);
                            }
                            let finished = matches!(event.event, Some(pb::job_event::Event::Finished(_)));
                            if tx.send(Ok(event)).await.is_err() || finished {
                                return;
                            }
                        }
                        // Too slow to keep up: the oldest events were dropped.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        // The channel closed with the job's end; the poll
                        // below reports the final state.
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => live = api.jobs.hub().subscribe(id),
                    },
                    // State changes made on the server (lost, a queued job
                    // cancelled) have no agent report: poll for them.
                    _ = poll.tick() => {
                        let Ok(job) = api.jobs.get(&p, id).await else { return };
                        // A move into a terminal state is told by `finished`.
                        if job.status != status && !job.status.is_terminal() {
                            let change = pb::JobStateChange { from: status_to_pb(status) as i32, to: status_to_pb(job.status) as i32 };
                            status = job.status;
                            if !send(pb::job_event::Event::State(change)).await {
                                return;
                            }
                        }
                        if job.status.is_terminal() {
                            let _ = send(pb::job_event::Event::Finished(job_to_pb(&job))).await;
                            return;
                        }
                    }
                    () = api.shutting_down() => {
                        let _ = tx.send(Err(Status::unavailable("server shutting down"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
