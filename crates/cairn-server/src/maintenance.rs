//! Fleet-aware maintenance: forget, prune and check on cadences, per host's
//! use of a repository. A ticker queues what is due; the dispatcher then
//! serialises exclusive operations on each repository across the whole fleet
//! (never a prune or check while any host backs up into it).

use std::time::Duration;

use cairn_domain::{
    CheckSpec, ForgetSpec, JobSpec, MaxUnused, PruneSpec, ReadDataSubset, RetentionPolicy, Trigger,
};
use cairn_store::{
    Chore, HostId, MaintenancePlan, Millis, Outcome, PlanFields, RepositoryId, Scope, Store,
};

use crate::audit::Auditor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::jobs::{JobRequest, Jobs};

/// A plan as an operator sets it.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub host: HostId,
    pub repository: RepositoryId,
    pub enabled: bool,
    pub retention: RetentionPolicy,
    pub forget_every: Option<Duration>,
    pub prune_every: Option<Duration>,
    pub prune_max_unused: Option<MaxUnused>,
    pub check_every: Option<Duration>,
    pub check_read_data_subset: Option<ReadDataSubset>,
}

/// The maintenance service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Maintenance {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    jobs: Jobs,
}

/// A plan's forget applies to its own host's snapshots only (`--host`), as
/// the protocol promises: another host's snapshots in the same repository
/// are that host's plan's business.
fn forget_spec(plan: &MaintenancePlan, hostname: &str) -> ServiceResult<JobSpec> {
    if hostname.is_empty() {
        return Err(ServiceError::FailedPrecondition(format!(
            "host {} has not reported its hostname yet: its forget would touch every host's snapshots",
            plan.host_id
        )));
    }
    Ok(JobSpec::Forget(ForgetSpec {
        policy: Some(plan.fields.retention.clone()),
        hostnames: vec![hostname.to_string()],
        ..Default::default()
    }))
}

fn prune_spec(plan: &MaintenancePlan) -> JobSpec {
    JobSpec::Prune(PruneSpec {
        max_unused: plan.fields.prune_max_unused,
        ..Default::default()
    })
}

fn check_spec(plan: &MaintenancePlan) -> JobSpec {
    JobSpec::Check(CheckSpec {
        read_data_subset: plan.fields.check_read_data_subset,
        ..Default::default()
    })
}

/// When a chore last run at `last` (never: counted from the plan's creation)
/// with a cadence of `every` seconds is due; `None` without a cadence. The
/// one place a chore's due time is computed: the ticker and the API both ask.
fn due_at(last: Option<Millis>, every: Option<u64>, created: Millis) -> Option<Millis> {
    every.map(|secs| {
        last.unwrap_or(created)
            .saturating_add(secs as Millis * 1000)
    })
}

fn due(last: Option<Millis>, every: Option<u64>, created: Millis, now: Millis) -> bool {
    due_at(last, every, created).is_some_and(|at| now >= at)
}

/// Each chore of a plan with when it last ran and its cadence in seconds.
fn chores(plan: &MaintenancePlan) -> [(Chore, Option<Millis>, Option<u64>); 3] {
    let f = &plan.fields;
    [
        (Chore::Forget, plan.last_forget_at, f.forget_every_seconds),
        (Chore::Prune, plan.last_prune_at, f.prune_every_seconds),
        (Chore::Check, plan.last_check_at, f.check_every_seconds),
    ]
}

/// When a plan's chores are next due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextDue {
    pub forget: Option<Millis>,
    pub prune: Option<Millis>,
    pub check: Option<Millis>,
}

/// When each of a plan's chores is next due: `None` for a chore without a
/// cadence, and for every chore of a disabled plan (it never runs).
pub fn next_due(plan: &MaintenancePlan) -> NextDue {
    if !plan.fields.enabled {
        return NextDue::default();
    }
    let [forget, prune, check] =
        chores(plan).map(|(_, last, every)| due_at(last, every, plan.created_at));
    NextDue {
        forget,
        prune,
        check,
    }
}

impl Maintenance {
    pub(crate) fn new(store: Store, clock: Clock, auditor: Auditor, jobs: Jobs) -> Self {
        Self {
            store,
            clock,
            auditor,
            jobs,
        }
    }

    /// Creates or replaces a plan. Every policy is checked as the agent would
    /// run it, so a plan that could never run is refused now.
    pub async fn upsert(&self, p: &Principal, r: PlanRequest) -> ServiceResult<MaintenancePlan> {
        let target = Some(format!("host:{} repository:{}", r.host, r.repository));
        self.auditor
            .authorize(p, Scope::Operate, "maintenance.upsert", target.clone())
            .await?;
        if !self.store.is_assigned(r.repository, r.host).await? {
            return Err(ServiceError::FailedPrecondition(format!(
                "repository {} is not assigned to host {}",
                r.repository, r.host
            )));
        }
        let check = |field: &'static str, spec: JobSpec| {
            cairn_restic::operation(&spec, None)
                .map_err(|e| ServiceError::invalid(field, e.to_string()))
        };
        if r.forget_every.is_some() {
            check(
                "retention",
                JobSpec::Forget(ForgetSpec {
                    policy: Some(r.retention.clone()),
                    ..Default::default()
                }),
            )?;
        }
        check(
            "prune_max_unused",
            JobSpec::Prune(PruneSpec {
                max_unused: r.prune_max_unused,
                ..Default::default()
            }),
        )?;
        check(
            "check_read_data_subset",
            JobSpec::Check(CheckSpec {
                read_data_subset: r.check_read_data_subset,
                ..Default::default()
            }),
        )?;
        let fields = PlanFields {
            enabled: r.enabled,
            retention: r.retention,
            forget_every_seconds: r.forget_every.map(|d| d.as_secs().max(1)),
            prune_every_seconds: r.prune_every.map(|d| d.as_secs().max(1)),
            prune_max_unused: r.prune_max_unused,
            check_every_seconds: r.check_every.map(|d| d.as_secs().max(1)),
            check_read_data_subset: r.check_read_data_subset,
        };
        let plan = self
            .store
            .upsert_plan(r.host, r.repository, fields, self.clock.now())
            .await?;
        self.auditor
            .record(p, "maintenance.upsert", target, Outcome::Success, None)
            .await;
        Ok(plan)
    }

    /// Plans, optionally only one host's, one repository's, or both.
    pub async fn list(
        &self,
        p: &Principal,
        host: Option<HostId>,
        repository: Option<RepositoryId>,
    ) -> ServiceResult<Vec<MaintenancePlan>> {
        p.require(Scope::Read)?;
        let mut plans = self.store.list_plans(host).await?;
        plans.retain(|plan| repository.is_none_or(|r| plan.repository_id == r));
        Ok(plans)
    }

    /// One plan.
    pub async fn get(&self, p: &Principal, id: i64) -> ServiceResult<MaintenancePlan> {
        p.require(Scope::Read)?;
        Ok(self.store.plan(id).await?)
    }

    /// Deletes a plan.
    pub async fn delete(&self, p: &Principal, id: i64) -> ServiceResult<()> {
        let target = Some(format!("maintenance_plan:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "maintenance.delete", target.clone())
            .await?;
        self.store.delete_plan(id).await?;
        self.auditor
            .record(p, "maintenance.delete", target, Outcome::Success, None)
            .await;
        Ok(())
    }

    /// Queues every chore that is due.
    pub(crate) async fn tick(&self) -> ServiceResult<()> {
        let now = self.clock.now();
        let system = Principal::system();
        for plan in self
            .store
            .list_plans(None)
            .await?
            .into_iter()
            .filter(|p| p.fields.enabled)
        {
            for (chore, last, every) in chores(&plan) {
                if !due(last, every, plan.created_at, now) {
                    continue;
                }
                let spec = match chore {
                    Chore::Forget => {
                        let hostname = self.store.host(plan.host_id).await?.facts.hostname;
                        match forget_spec(&plan, &hostname) {
                            Ok(spec) => spec,
                            Err(err) => {
                                tracing::warn!(plan = plan.id, error = %err, "forget not queued");
                                continue;
                            }
                        }
                    }
                    Chore::Prune => prune_spec(&plan),
                    Chore::Check => check_spec(&plan),
                };
                let request = JobRequest {
                    host: plan.host_id,
                    repository: plan.repository_id,
                    spec,
                    trigger: Trigger::Maintenance,
                };
                match self.jobs.submit(&system, request).await {
                    Ok(job) => {
                        tracing::info!(plan = plan.id, job = %job.id, kind = %job.kind, "maintenance queued")
                    }
                    Err(err) => {
                        tracing::warn!(plan = plan.id, error = %err, "could not queue maintenance")
                    }
                }
                self.store.mark_chore(plan.id, chore, now).await?;
            }
        }
        Ok(())
    }

    /// Runs the ticker every `every` until `shutdown`.
    pub(crate) async fn run(
        self,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        crate::worker::run_every("maintenance tick", every, shutdown, || self.tick()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chores_are_due_after_their_cadence() {
        assert!(!due(None, None, 0, 1_000_000), "no cadence, never due");
        assert!(
            due(None, Some(60), 0, 60_000),
            "counted from the plan's creation"
        );
        assert!(!due(Some(100_000), Some(60), 0, 159_999));
        assert!(due(Some(100_000), Some(60), 0, 160_000));
    }

    #[test]
    fn next_due_is_when_the_ticker_queues_and_nothing_for_a_disabled_plan() {
        let mut plan = MaintenancePlan {
            id: 1,
            host_id: HostId(1),
            repository_id: RepositoryId(1),
            fields: PlanFields {
                enabled: true,
                forget_every_seconds: Some(60),
                check_every_seconds: Some(10),
                ..Default::default()
            },
            last_forget_at: Some(100_000),
            last_prune_at: None,
            last_check_at: None,
            created_at: 5_000,
            updated_at: 5_000,
        };
        let next = next_due(&plan);
        assert_eq!(
            next,
            NextDue {
                forget: Some(160_000),
                prune: None,
                check: Some(15_000),
            }
        );
        for (chore, last, every) in chores(&plan) {
            let at = match chore {
                Chore::Forget => next.forget,
                Chore::Prune => next.prune,
                Chore::Check => next.check,
            };
            if let Some(at) = at {
                assert!(!due(last, every, plan.created_at, at - 1), "{chore:?}");
                assert!(due(last, every, plan.created_at, at), "{chore:?}");
            }
        }
        plan.fields.enabled = false;
        assert_eq!(next_due(&plan), NextDue::default());
    }
}
