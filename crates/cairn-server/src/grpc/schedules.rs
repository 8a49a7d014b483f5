//! `cairn.v1.ScheduleService` over the schedule service.

use cairn_proto::v1 as pb;
use cairn_proto::v1::schedule_service_server::ScheduleService;
use cairn_store::{HostId, RepositoryId, Schedule, ScheduleFields, ScheduleId};
use tonic::{Request, Response, Status};

use super::authenticate;
use super::convert::{page_to_pb, timestamp};
use crate::Api;

/// The ScheduleService implementation.
#[derive(Debug, Clone)]
pub(crate) struct SchedulesGrpc {
    api: Api,
}

impl SchedulesGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn catch_up_from_pb(value: i32) -> String {
    match pb::CatchUpPolicy::try_from(value) {
        Ok(pb::CatchUpPolicy::Skip) => "skip",
        Ok(pb::CatchUpPolicy::All) => "all",
        _ => "once",
    }
    .to_string()
}

fn nonzero(n: u32) -> Option<u32> {
    (n > 0).then_some(n)
}

impl SchedulesGrpc {
    fn to_pb(&self, s: &Schedule) -> pb::Schedule {
        pb::Schedule {
            id: s.id.0,
            host_id: s.host_id.0,
            repository_id: s.repository_id.0,
            name: s.fields.name.clone(),
            cron: s.fields.cron.clone(),
            timezone: s.fields.timezone.clone(),
            paths: s.fields.paths.clone(),
            excludes: s.fields.excludes.clone(),
            tags: s.fields.tags.clone(),
            hooks: s.fields.hooks.clone(),
            limit_upload_kib: s.fields.limit_upload_kib.unwrap_or(0),
            limit_download_kib: s.fields.limit_download_kib.unwrap_or(0),
            catch_up: crate::jobs::catch_up_to_pb(&s.fields.catch_up) as i32,
            enabled: s.fields.enabled,
            last_success_at: s.last_success_at.map(timestamp),
            last_job_id: 0,
            next_fire_at: if s.fields.enabled {
                self.api.schedules.next_fire(s).map(timestamp)
            } else {
                None
            },
            overdue: self.api.schedules.overdue(s),
            pending_run_count: 0,
            created_at: Some(timestamp(s.created_at)),
            updated_at: Some(timestamp(s.updated_at)),
        }
    }
}

#[tonic::async_trait]
impl ScheduleService for SchedulesGrpc {
    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Reply<pb::ListSchedulesResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let host = (req.host_id != 0).then_some(HostId(req.host_id));
        let schedules = self.api.schedules.list(&p, host).await?;
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: schedules
                .iter()
                .filter(|s| req.repository_id == 0 || s.repository_id.0 == req.repository_id)
                .map(|s| self.to_pb(s))
                .collect(),
            page: Some(page_to_pb(None)),
        }))
    }

    async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Reply<pb::GetScheduleResponse> {
        let p = authenticate(&self.api, &request).await?;
        let s = self
            .api
            .schedules
            .get(&p, ScheduleId(request.into_inner().schedule_id))
            .await?;
        Ok(Response::new(pb::GetScheduleResponse {
            schedule: Some(self.to_pb(&s)),
        }))
    }

    async fn create_schedule(
        &self,
        request: Request<pb::CreateScheduleRequest>,
    ) -> Reply<pb::CreateScheduleResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let fields = ScheduleFields {
            name: r.name,
            cron: r.cron,
            timezone: if r.timezone.is_empty() {
                "UTC".into()
            } else {
                r.timezone
            },
            paths: r.paths,
            excludes: r.excludes,
            tags: r.tags,
            hooks: r.hooks,
            limit_upload_kib: nonzero(r.limit_upload_kib),
            limit_download_kib: nonzero(r.limit_download_kib),
            catch_up: catch_up_from_pb(r.catch_up),
            enabled: !r.disabled,
        };
        let s = self
            .api
            .schedules
            .create(&p, HostId(r.host_id), RepositoryId(r.repository_id), fields)
            .await?;
        Ok(Response::new(pb::CreateScheduleResponse {
            schedule: Some(self.to_pb(&s)),
        }))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Reply<pb::UpdateScheduleResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let id = ScheduleId(r.schedule_id);
        let current = self.api.schedules.get(&p, id).await?;
        if r.repository_id != 0 && r.repository_id != current.repository_id.0 {
            return Err(Status::failed_precondition(
                "a schedule cannot move to another repository: make a new schedule",
            ));
        }
        let fields = ScheduleFields {
            name: r.name,
            cron: r.cron,
            timezone: if r.timezone.is_empty() {
                "UTC".into()
            } else {
                r.timezone
            },
            paths: r.paths,
            excludes: r.excludes,
            tags: r.tags,
            hooks: r.hooks,
            limit_upload_kib: nonzero(r.limit_upload_kib),
            limit_download_kib: nonzero(r.limit_download_kib),
            catch_up: catch_up_from_pb(r.catch_up),
            enabled: current.fields.enabled,
        };
        let s = self.api.schedules.update(&p, id, fields).await?;
        Ok(Response::new(pb::UpdateScheduleResponse {
            schedule: Some(self.to_pb(&s)),
        }))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Reply<pb::DeleteScheduleResponse> {
        let p = authenticate(&self.api, &request).await?;
        self.api
            .schedules
            .delete(&p, ScheduleId(request.into_inner().schedule_id))
            .await?;
        Ok(Response::new(pb::DeleteScheduleResponse {}))
    }

    async fn set_schedule_enabled(
        &self,
        request: Request<pb::SetScheduleEnabledRequest>,
    ) -> Reply<pb::SetScheduleEnabledResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let s = self
            .api
            .schedules
            .set_enabled(&p, ScheduleId(r.schedule_id), r.enabled)
            .await?;
        Ok(Response::new(pb::SetScheduleEnabledResponse {
            schedule: Some(self.to_pb(&s)),
        }))
    }

    async fn list_pending_runs(
        &self,
        request: Request<pb::ListPendingRunsRequest>,
    ) -> Reply<pb::ListPendingRunsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let runs = self
            .api
            .schedules
            .pending_runs(
                &p,
                (r.schedule_id != 0).then_some(ScheduleId(r.schedule_id)),
                (r.host_id != 0).then_some(HostId(r.host_id)),
            )
            .await?;
        Ok(Response::new(pb::ListPendingRunsResponse {
            pending_runs: runs
                .iter()
                .map(|run| pb::PendingRun {
                    id: run.id,
                    schedule_id: run.schedule_id.0,
                    host_id: run.host_id.0,
                    fire_at: Some(timestamp(run.fire_at)),
                    state: match run.state.as_str() {
                        "missed" => pb::PendingRunState::Missed,
                        "queued" => pb::PendingRunState::Queued,
                        "drained" => pb::PendingRunState::Drained,
                        "skipped" => pb::PendingRunState::Skipped,
                        _ => pb::PendingRunState::Unspecified,
                    } as i32,
                    reason: run.reason.clone().unwrap_or_default(),
                    job_id: run.job_id.map_or(0, |j| j.0),
                    created_at: Some(timestamp(run.created_at)),
                    resolved_at: run.resolved_at.map(timestamp),
                })
                .collect(),
            page: Some(page_to_pb(None)),
        }))
    }

    async fn list_maintenance_plans(
        &self,
        request: Request<pb::ListMaintenancePlansRequest>,
    ) -> Reply<pb::ListMaintenancePlansResponse> {
        authenticate(&self.api, &request).await?;
        Err(Status::unimplemented(
            "maintenance plans are not served by this server version yet",
        ))
    }

    async fn get_maintenance_plan(
        &self,
        request: Request<pb::GetMaintenancePlanRequest>,
    ) -> Reply<pb::GetMaintenancePlanResponse> {
        authenticate(&self.api, &request).await?;
        Err(Status::unimplemented(
            "maintenance plans are not served by this server version yet",
        ))
    }

    async fn upsert_maintenance_plan(
        &self,
        request: Request<pb::UpsertMaintenancePlanRequest>,
    ) -> Reply<pb::UpsertMaintenancePlanResponse> {
        authenticate(&self.api, &request).await?;
        Err(Status::unimplemented(
            "maintenance plans are not served by this server version yet",
        ))
    }

    async fn delete_maintenance_plan(
        &self,
        request: Request<pb::DeleteMaintenancePlanRequest>,
    ) -> Reply<pb::DeleteMaintenancePlanResponse> {
        authenticate(&self.api, &request).await?;
        Err(Status::unimplemented(
            "maintenance plans are not served by this server version yet",
        ))
    }
}
