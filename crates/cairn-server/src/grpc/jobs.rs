//! `cairn.v1.JobService` over the job service.

use std::pin::Pin;

use cairn_domain::{JobSpec, Trigger};
use cairn_proto::convert::{
    job_kind_from_pb, job_kind_to_pb, job_status_from_pb, job_status_to_pb, log_level_to_pb,
    log_stream_to_pb, progress_to_pb, spec_from_pb, summary_to_pb, trigger_from_pb, trigger_to_pb,
};
use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_server::JobService;
use cairn_store::{HostId, Job, JobFilter, JobId, LogLine, RepositoryId, ScheduleId};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert::{page_from_pb, page_to_pb, timestamp};
use super::{authenticate, authorize};
use crate::Api;
use crate::jobs::{Event, JobEvent, JobRequest, schedule_spec};
use cairn_store::Scope;

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

/// A spec from a request; an empty one is refused, naming the field.
pub(crate) fn spec_of(spec: &pb::JobSpec) -> Result<JobSpec, Status> {
    spec_from_pb(spec).ok_or_else(|| Status::invalid_argument("invalid spec: empty job spec"))
}

/// Who made a job, for display: its operator, else what made it.
fn created_by(job: &Job) -> String {
    match (&job.created_by_name, job.trigger) {
        (Some(name), _) => name.clone(),
        (None, Trigger::CatchUp) => "catch-up".into(),
        (None, Trigger::Schedule | Trigger::Maintenance) => job.trigger.to_string(),
        (None, _) if job.created_by.is_some() => "a deleted operator".into(),
        (None, _) => "cairn".into(),
    }
}

pub(crate) fn job_to_pb(job: &Job) -> pb::Job {
    pb::Job {
        id: job.id.0,
        kind: job_kind_to_pb(job.kind) as i32,
        status: job_status_to_pb(job.status) as i32,
        host_id: job.host_id.0,
        repository_id: job.repository_id.map_or(0, |r| r.0),
        schedule_id: job.schedule.map_or(0, |(s, _)| s.0),
        fire_at: job.schedule.map(|(_, at)| timestamp(at)),
        trigger: trigger_to_pb(job.trigger) as i32,
        spec: Some(cairn_proto::convert::spec_to_pb(&job.spec)),
        created_by_user_id: job.created_by.map_or(0, |u| u.0),
        created_at: Some(timestamp(job.created_at)),
        dispatched_at: job.dispatched_at.map(timestamp),
        started_at: job.started_at.map(timestamp),
        finished_at: job.finished_at.map(timestamp),
        lease_expires_at: job.lease_expires_at.map(timestamp),
        cancel_requested_at: job.cancel_requested_at.map(timestamp),
        last_progress: job.progress.as_ref().map(|p| progress_to_pb(job.id.0, p)),
        summary: job.summary.as_ref().map(|summary| {
            let mut summary = summary_to_pb(summary);
            // The store expands a short id (restic 0.14) to the full one.
            if let Some(full) = &job.snapshot_id
                && full.len() > summary.snapshot_id.len()
                && full.starts_with(&summary.snapshot_id)
            {
                summary.snapshot_id = full.clone();
            }
            summary
        }),
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
        stream: log_stream_to_pb(line.stream) as i32,
        level: log_level_to_pb(line.level) as i32,
        text: line.line.clone(),
    }
}

fn one(job: Job) -> Option<pb::Job> {
    Some(job_to_pb(&job))
}

/// A watched job's event, for the wire.
fn event_to_pb(e: JobEvent) -> pb::JobEvent {
    use pb::job_event::Event as E;
    let event = match e.event {
        Event::Current(job) => E::Job(job_to_pb(&job)),
        Event::State { from, to } => E::State(pb::JobStateChange {
            from: job_status_to_pb(from) as i32,
            to: job_status_to_pb(to) as i32,
        }),
        Event::Progress(p) => E::Progress(progress_to_pb(e.job.0, &p)),
        Event::Log { lines, .. } => E::Log(pb::JobLogBatch {
            lines: lines.iter().map(line_to_pb).collect(),
        }),
        Event::Finished(job) => E::Finished(job_to_pb(&job)),
    };
    pb::JobEvent {
        job_id: e.job.0,
        time: Some(timestamp(e.at)),
        event: Some(event),
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
        let p = authorize(&self.api, &request, Scope::Operate, "JobService/RunBackup").await?;
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
                trigger: Trigger::Api,
            };
            self.api.jobs.submit(&p, request).await?
        } else {
            let spec = req
                .spec
                .ok_or_else(|| Status::invalid_argument("invalid spec: a backup needs a spec"))?;
            let spec = spec_of(&pb::JobSpec {
                spec: Some(pb::job_spec::Spec::Backup(spec)),
            })?;
            let request =
                JobRequest::api(HostId(req.host_id), RepositoryId(req.repository_id), spec);
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
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "JobService/RunMaintenance",
        )
        .await?;
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
        let spec = spec_of(&pb::JobSpec { spec: Some(spec) })?;
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
            status: job_status_from_pb(req.status),
            schedule: (req.schedule_id != 0).then_some(cairn_store::ScheduleId(req.schedule_id)),
            kind: job_kind_from_pb(req.kind),
            active_only: req.active_only,
            trigger: trigger_from_pb(req.trigger),
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
    /// shuts down: an adapter over `Jobs::watch`.
    async fn watch_job(&self, request: Request<pb::WatchJobRequest>) -> Reply<Events> {
        let p = authenticate(&self.api, &request).await?;
        let id = JobId(request.into_inner().job_id);
        let mut watch = self.api.jobs.watch(&p, id).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = watch.next() => match next {
                        Some(event) => {
                            if tx.send(Ok(event_to_pb(event))).await.is_err() {
                                return;
                            }
                        }
                        None => {
                            if watch.ended_by_shutdown() {
                                let _ = tx.send(Err(Status::unavailable("server shutting down"))).await;
                            }
                            return;
                        }
                    },
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
