//! `cairn.v1.ScheduleService` over the schedule service.

use cairn_proto::v1 as pb;
use cairn_proto::v1::schedule_service_server::ScheduleService;
use cairn_store::{HostId, MaintenancePlan, RepositoryId, Schedule, ScheduleFields, ScheduleId};
use tonic::{Request, Response, Status};

use super::convert::{page_to_pb, timestamp};
use super::{authenticate, authorize};
use crate::Api;
use crate::maintenance::{PlanRequest, next_due};
use crate::schedules::{PendingRunFilter, ScheduleFilter};
use cairn_proto::convert::{
    catch_up_to_pb, check_subset_from_pb, check_subset_to_pb, max_unused_from_pb, max_unused_to_pb,
    pending_state_from_pb, pending_state_to_pb, retention_from_pb, retention_to_pb,
};
use cairn_store::Scope;

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

/// A request's catch-up policy; unset (or unknown) is the default, `once`.
fn catch_up_from_pb(value: i32) -> cairn_domain::CatchUp {
    cairn_proto::convert::catch_up_from_pb(value).unwrap_or(cairn_domain::CatchUp::Once)
}

fn nonzero(n: u32) -> Option<u32> {
    (n > 0).then_some(n)
}

/// The schedule fields of a create or update request (the two messages name
/// them alike); `enabled` is the one that each call decides for itself.
macro_rules! schedule_fields {
    ($r:ident, $enabled:expr) => {
        ScheduleFields {
            name: $r.name,
            cron: $r.cron,
            timezone: if $r.timezone.is_empty() {
                "UTC".into()
            } else {
                $r.timezone
            },
            paths: $r.paths,
            excludes: $r.excludes,
            tags: $r.tags,
            hooks: $r.hooks,
            limit_upload_kib: nonzero($r.limit_upload_kib),
            limit_download_kib: nonzero($r.limit_download_kib),
            catch_up: catch_up_from_pb($r.catch_up),
            enabled: $enabled,
        }
    };
}

/// The schedule fields of a create request.
pub(crate) fn created_fields(r: pb::CreateScheduleRequest) -> ScheduleFields {
    let enabled = !r.disabled;
    schedule_fields!(r, enabled)
}

/// The schedule fields of an update request (`edit` keeps whether the
/// schedule is enabled, whatever is passed).
pub(crate) fn updated_fields(r: pb::UpdateScheduleRequest) -> ScheduleFields {
    schedule_fields!(r, true)
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
            catch_up: catch_up_to_pb(s.fields.catch_up) as i32,
            enabled: s.fields.enabled,
            last_success_at: s.last_success_at.map(timestamp),
            last_job_id: s.last_job_id.map_or(0, |j| j.0),
            next_fire_at: if s.fields.enabled {
                self.api.schedules.next_fire(s).map(timestamp)
            } else {
                None
            },
            overdue: self.api.schedules.overdue(s),
            pending_run_count: s.pending_run_count,
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
        let filter = ScheduleFilter {
            host: (req.host_id != 0).then_some(HostId(req.host_id)),
            repository: (req.repository_id != 0).then_some(RepositoryId(req.repository_id)),
            overdue_only: req.overdue_only,
        };
        let schedules = self.api.schedules.list(&p, filter).await?;
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: schedules.iter().map(|s| self.to_pb(s)).collect(),
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
        let (host, repository) = (HostId(r.host_id), RepositoryId(r.repository_id));
        let fields = created_fields(r);
        let s = self
            .api
            .schedules
            .create(&p, host, repository, fields)
            .await?;
        Ok(Response::new(pb::CreateScheduleResponse {
            schedule: Some(self.to_pb(&s)),
        }))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Reply<pb::UpdateScheduleResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "ScheduleService/UpdateSchedule",
        )
        .await?;
        let r = request.into_inner();
        let id = ScheduleId(r.schedule_id);
        let repository = (r.repository_id != 0).then_some(RepositoryId(r.repository_id));
        let fields = updated_fields(r);
        let s = self.api.schedules.edit(&p, id, repository, fields).await?;
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
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "ScheduleService/SetScheduleEnabled",
        )
        .await?;
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
        let filter = PendingRunFilter {
            schedule: (r.schedule_id != 0).then_some(ScheduleId(r.schedule_id)),
            host: (r.host_id != 0).then_some(HostId(r.host_id)),
            state: pending_state_from_pb(r.state),
            include_resolved: r.include_resolved,
        };
        let runs = self.api.schedules.pending_runs(&p, filter).await?;
        Ok(Response::new(pb::ListPendingRunsResponse {
            pending_runs: runs
                .iter()
                .map(|run| pb::PendingRun {
                    id: run.id,
                    schedule_id: run.schedule_id.0,
                    host_id: run.host_id.0,
                    fire_at: Some(timestamp(run.fire_at)),
                    state: pending_state_to_pb(run.state) as i32,
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
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let plans = self
            .api
            .maintenance
            .list(
                &p,
                (r.host_id != 0).then_some(HostId(r.host_id)),
                (r.repository_id != 0).then_some(RepositoryId(r.repository_id)),
            )
            .await?;
        Ok(Response::new(pb::ListMaintenancePlansResponse {
            plans: plans.iter().map(plan_to_pb).collect(),
            page: Some(page_to_pb(None)),
        }))
    }

    async fn get_maintenance_plan(
        &self,
        request: Request<pb::GetMaintenancePlanRequest>,
    ) -> Reply<pb::GetMaintenancePlanResponse> {
        let p = authenticate(&self.api, &request).await?;
        let plan = self
            .api
            .maintenance
            .get(&p, request.into_inner().plan_id)
            .await?;
        Ok(Response::new(pb::GetMaintenancePlanResponse {
            plan: Some(plan_to_pb(&plan)),
        }))
    }

    async fn upsert_maintenance_plan(
        &self,
        request: Request<pb::UpsertMaintenancePlanRequest>,
    ) -> Reply<pb::UpsertMaintenancePlanResponse> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let every = |secs: u64| (secs > 0).then(|| std::time::Duration::from_secs(secs));
        let plan = self
            .api
            .maintenance
            .upsert(
                &p,
                PlanRequest {
                    host: HostId(r.host_id),
                    repository: RepositoryId(r.repository_id),
                    enabled: r.enabled,
                    retention: r
                        .retention
                        .as_ref()
                        .map(retention_from_pb)
                        .unwrap_or_default(),
                    forget_every: every(r.forget_every_seconds),
                    prune_every: every(r.prune_every_seconds),
                    prune_max_unused: r.prune_max_unused.as_ref().and_then(max_unused_from_pb),
                    check_every: every(r.check_every_seconds),
                    check_read_data_subset: r
                        .check_read_data_subset
                        .as_ref()
                        .and_then(check_subset_from_pb),
                },
            )
            .await?;
        Ok(Response::new(pb::UpsertMaintenancePlanResponse {
            plan: Some(plan_to_pb(&plan)),
        }))
    }

    async fn delete_maintenance_plan(
        &self,
        request: Request<pb::DeleteMaintenancePlanRequest>,
    ) -> Reply<pb::DeleteMaintenancePlanResponse> {
        let p = authenticate(&self.api, &request).await?;
        self.api
            .maintenance
            .delete(&p, request.into_inner().plan_id)
            .await?;
        Ok(Response::new(pb::DeleteMaintenancePlanResponse {}))
    }
}

fn plan_to_pb(plan: &MaintenancePlan) -> pb::MaintenancePlan {
    let next = next_due(plan);
    pb::MaintenancePlan {
        id: plan.id,
        host_id: plan.host_id.0,
        repository_id: plan.repository_id.0,
        enabled: plan.fields.enabled,
        retention: Some(retention_to_pb(&plan.fields.retention)),
        forget_every_seconds: plan.fields.forget_every_seconds.unwrap_or(0),
        prune_every_seconds: plan.fields.prune_every_seconds.unwrap_or(0),
        prune_max_unused: plan.fields.prune_max_unused.as_ref().map(max_unused_to_pb),
        check_every_seconds: plan.fields.check_every_seconds.unwrap_or(0),
        check_read_data_subset: plan
            .fields
            .check_read_data_subset
            .as_ref()
            .map(check_subset_to_pb),
        last_forget_at: plan.last_forget_at.map(timestamp),
        last_prune_at: plan.last_prune_at.map(timestamp),
        last_check_at: plan.last_check_at.map(timestamp),
        next_forget_at: next.forget.map(timestamp),
        next_prune_at: next.prune.map(timestamp),
        next_check_at: next.check.map(timestamp),
        created_at: Some(timestamp(plan.created_at)),
        updated_at: Some(timestamp(plan.updated_at)),
    }
}
