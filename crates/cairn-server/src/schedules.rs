//! Schedules: which host backs up what, to which repository, when. The
//! server owns them and pushes each host its full set after every change;
//! the agent fires them on its own clock.

use cairn_cron::CronSpec;
use cairn_domain::{BackupSpec, JobSpec, PendingState};
use cairn_store::{
    HostId, Outcome, RepositoryId, Schedule, ScheduleFields, ScheduleId, Scope, Store, StoreError,
};

use crate::audit::Auditor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::fleet::Fleet;

pub use cairn_cron::zone_names;

/// The most firings a preview shows.
pub const PREVIEW_MAX: usize = 20;

/// A cron read in a zone, as a schedule would read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronPreview {
    /// The expression in words, or the expression itself when words could
    /// mislead.
    pub description: String,
    /// The zone's IANA name (`UTC` for none given).
    pub timezone: String,
    /// The next firings after now, each as milliseconds and as the zone
    /// reads it.
    pub firings: Vec<(i64, String)>,
}

/// The schedule service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Schedules {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    fleet: Fleet,
}

/// Which schedules to list; every condition set must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleFilter {
    /// Only this host's.
    pub host: Option<HostId>,
    /// Only those backing up into this repository.
    pub repository: Option<RepositoryId>,
    /// Only those overdue now (see [`overdue_at`]).
    pub overdue_only: bool,
}

/// How many intervals without a success make a schedule overdue.
pub const OVERDUE_AFTER_INTERVALS: i64 = 2;

/// Whether a schedule is overdue at `now`: enabled, and no success for more
/// than [`OVERDUE_AFTER_INTERVALS`] of its intervals (counted from its
/// creation if it never succeeded). The alert engine reads this.
pub fn overdue_at(schedule: &Schedule, now: i64) -> bool {
    if !schedule.fields.enabled {
        return false;
    }
    let Ok(spec) = CronSpec::parse(&schedule.fields.cron, &schedule.fields.timezone) else {
        return false;
    };
    let since = schedule.last_success_at.unwrap_or(schedule.created_at);
    spec.interval_after(since)
        .is_some_and(|interval| now - since > OVERDUE_AFTER_INTERVALS * interval)
}

/// Checks a schedule's fields; the error names the field.
pub fn check_fields(f: &ScheduleFields) -> ServiceResult<()> {
    if f.name.trim().is_empty()
        || f.name.chars().count() > 100
        || f.name.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    CronSpec::parse(&f.cron, &f.timezone)
        .map_err(|e| ServiceError::invalid(e.field(), e.to_string()))?;
    if f.paths.is_empty() {
        return Err(ServiceError::invalid(
            "paths",
            "a schedule backs up at least one path",
        ));
    }
    let spec = JobSpec::Backup(BackupSpec {
        paths: f.paths.clone(),
        excludes: f.excludes.clone(),
        tags: f.tags.clone(),
        ..Default::default()
    });
    cairn_restic::operation(&spec, None)
        .map_err(|e| ServiceError::invalid("spec", e.to_string()))?;
    for hook in &f.hooks {
        let ok = !hook.is_empty()
            && hook.len() <= 64
            && hook
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(ServiceError::invalid(
                "hooks",
                format!("hook name {hook:?} must be 1-64 of letters, digits, '.', '_', '-'"),
            ));
        }
    }
    // The catch-up policy is typed: an unknown one cannot get this far.
    Ok(())
}

/// Which pending runs to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct PendingRunFilter {
    pub schedule: Option<ScheduleId>,
    pub host: Option<HostId>,
    /// One state only; `None`: those still waiting (see `include_resolved`).
    pub state: Option<PendingState>,
    /// With no state: settled runs (drained, skipped) too.
    pub include_resolved: bool,
}

impl Schedules {
    pub(crate) fn new(store: Store, clock: Clock, auditor: Auditor, fleet: Fleet) -> Self {
        Self {
            store,
            clock,
            auditor,
            fleet,
        }
    }

    /// Schedules matching `filter`.
    pub async fn list(
        &self,
        p: &Principal,
        filter: ScheduleFilter,
    ) -> ServiceResult<Vec<Schedule>> {
        p.require(Scope::Read)?;
        let now = self.clock.now();
        Ok(self
            .store
            .list_schedules(filter.host)
            .await?
            .into_iter()
            .filter(|s| filter.repository.is_none_or(|r| s.repository_id == r))
            .filter(|s| !filter.overdue_only || overdue_at(s, now))
            .collect())
    }

    /// One schedule.
    pub async fn get(&self, p: &Principal, id: ScheduleId) -> ServiceResult<Schedule> {
        p.require(Scope::Read)?;
        Ok(self.store.schedule(id).await?)
    }

    /// Creates a schedule and pushes the host its new set.
    pub async fn create(
        &self,
        p: &Principal,
        host: HostId,
        repository: RepositoryId,
        fields: ScheduleFields,
    ) -> ServiceResult<Schedule> {
        self.auditor
            .authorize(
                p,
                Scope::Operate,
                "schedule.create",
                Some(format!("host:{host}")),
            )
            .await?;
        check_fields(&fields)?;
        self.store.host(host).await?;
        if !self.store.is_assigned(repository, host).await? {
            return Err(ServiceError::FailedPrecondition(format!(
                "repository {repository} is not assigned to host {host}: assign it first"
            )));
        }
        let schedule = match self
            .store
            .create_schedule(host, repository, fields, self.clock.now())
            .await
        {
            Err(StoreError::Conflict { .. }) => {
                return Err(ServiceError::AlreadyExists(
                    "a schedule with this name on this host",
                ));
            }
            other => other?,
        };
        self.auditor
            .record(
                p,
                "schedule.create",
                Some(format!("schedule:{}", schedule.id)),
                Outcome::Success,
                Some(schedule.fields.cron.clone()),
            )
            .await;
        self.fleet.push_schedules(host).await?;
        Ok(schedule)
    }

    /// Replaces a schedule's fields and pushes the host its new set.
    pub async fn update(
        &self,
        p: &Principal,
        id: ScheduleId,
        fields: ScheduleFields,
    ) -> ServiceResult<Schedule> {
        let target = Some(format!("schedule:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "schedule.update", target.clone())
            .await?;
        check_fields(&fields)?;
        let schedule = self
            .store
            .update_schedule(id, fields, self.clock.now())
            .await?;
        self.auditor
            .record(p, "schedule.update", target, Outcome::Success, None)
            .await;
        self.fleet.push_schedules(schedule.host_id).await?;
        Ok(schedule)
    }

    /// An operator's edit: replaces a schedule's fields except `enabled`
    /// (that is [`Schedules::set_enabled`]'s business; the value passed is
    /// ignored). `repository` may restate the schedule's own repository but
    /// never name another: its history and pending runs belong to that one.
    pub async fn edit(
        &self,
        p: &Principal,
        id: ScheduleId,
        repository: Option<RepositoryId>,
        fields: ScheduleFields,
    ) -> ServiceResult<Schedule> {
        let current = self.get(p, id).await?;
        if repository.is_some_and(|r| r != current.repository_id) {
            return Err(ServiceError::FailedPrecondition(
                "a schedule cannot move to another repository: make a new schedule".into(),
            ));
        }
        let fields = ScheduleFields {
            enabled: current.fields.enabled,
            ..fields
        };
        self.update(p, id, fields).await
    }

    /// Turns a schedule on or off.
    pub async fn set_enabled(
        &self,
        p: &Principal,
        id: ScheduleId,
        enabled: bool,
    ) -> ServiceResult<Schedule> {
        let mut fields = self.store.schedule(id).await?.fields;
        fields.enabled = enabled;
        self.update(p, id, fields).await
    }

    /// Deletes a schedule and pushes the host its new set.
    pub async fn delete(&self, p: &Principal, id: ScheduleId) -> ServiceResult<()> {
        let target = Some(format!("schedule:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "schedule.delete", target.clone())
            .await?;
        let schedule = self.store.delete_schedule(id).await?;
        self.auditor
            .record(
                p,
                "schedule.delete",
                target,
                Outcome::Success,
                Some(schedule.fields.name),
            )
            .await;
        self.fleet.push_schedules(schedule.host_id).await?;
        Ok(())
    }

    /// Whether a schedule is overdue now (see [`overdue_at`]).
    pub fn overdue(&self, schedule: &Schedule) -> bool {
        overdue_at(schedule, self.clock.now())
    }

    /// Missed and settled runs, newest first: of one schedule or host, in
    /// one state, or (no state given) what still waits (missed, queued) and,
    /// with `include_resolved`, how earlier ones were settled.
    pub async fn pending_runs(
        &self,
        p: &Principal,
        filter: PendingRunFilter,
    ) -> ServiceResult<Vec<cairn_store::PendingRun>> {
        p.require(Scope::Read)?;
        let states = match filter.state {
            Some(state) => vec![state],
            None if filter.include_resolved => PendingState::ALL.to_vec(),
            None => vec![PendingState::Missed, PendingState::Queued],
        };
        Ok(self
            .store
            .list_pending_runs(filter.schedule, filter.host, &states)
            .await?)
    }

    /// The schedule's next `n` firings after now, each as milliseconds and
    /// as its own zone reads it (none for a schedule whose cron no longer
    /// parses).
    pub fn next_firings(&self, schedule: &Schedule, n: usize) -> Vec<(i64, String)> {
        let Ok(spec) = CronSpec::parse(&schedule.fields.cron, &schedule.fields.timezone) else {
            return Vec::new();
        };
        spec.firings_between(self.clock.now(), i64::MAX, n)
            .into_iter()
            .map(|at| (at, spec.local_time(at).unwrap_or_default()))
            .collect()
    }

    /// What `cron` in `timezone` means: its words and its next `n` firings
    /// (at most [`PREVIEW_MAX`]) after now, by the server's clock. A bad
    /// cron or zone is refused with the field named, as creating the
    /// schedule would refuse it.
    pub fn preview(
        &self,
        p: &Principal,
        cron: &str,
        timezone: &str,
        n: usize,
    ) -> ServiceResult<CronPreview> {
        p.require(Scope::Read)?;
        let spec = CronSpec::parse(cron, timezone)
            .map_err(|e| ServiceError::invalid(e.field(), e.to_string()))?;
        let firings = spec
            .firings_between(self.clock.now(), i64::MAX, n.min(PREVIEW_MAX))
            .into_iter()
            .map(|at| (at, spec.local_time(at).unwrap_or_default()))
            .collect();
        Ok(CronPreview {
            description: spec.describe(),
            timezone: spec.zone_name().to_string(),
            firings,
        })
    }

    /// When the schedule fires next, by the server's clock.
    pub fn next_fire(&self, schedule: &Schedule) -> Option<i64> {
        CronSpec::parse(&schedule.fields.cron, &schedule.fields.timezone)
            .ok()?
            .next_after(self.clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::CatchUp;

    fn fields() -> ScheduleFields {
        ScheduleFields {
            name: "nightly".into(),
            cron: "0 2 * * *".into(),
            timezone: "Europe/Berlin".into(),
            paths: vec!["/srv".into()],
            excludes: vec![],
            tags: vec![],
            hooks: vec!["pg".into()],
            limit_upload_kib: None,
            limit_download_kib: None,
            catch_up: CatchUp::Once,
            enabled: true,
        }
    }

    #[test]
    fn overdue_after_two_intervals_without_success() {
        const HOUR: i64 = 3_600_000;
        let mut schedule = Schedule {
            id: ScheduleId(1),
            host_id: HostId(1),
            repository_id: RepositoryId(1),
            fields: ScheduleFields {
                cron: "0 * * * *".into(),
                timezone: "UTC".into(),
                ..fields()
            },
            expected_through_at: None,
            last_success_at: Some(10 * HOUR),
            created_at: 0,
            updated_at: 0,
            last_job_id: None,
            pending_run_count: 0,
        };
        assert!(!overdue_at(&schedule, 12 * HOUR), "two hours: not yet");
        assert!(
            overdue_at(&schedule, 12 * HOUR + 1),
            "just past two intervals"
        );
        schedule.last_success_at = None;
        assert!(
            overdue_at(&schedule, 3 * HOUR),
            "never succeeded: counted from creation"
        );
        schedule.fields.enabled = false;
        assert!(
            !overdue_at(&schedule, 100 * HOUR),
            "a disabled schedule is never overdue"
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        assert!(check_fields(&fields()).is_ok());
        let field_of = |f: ScheduleFields| match check_fields(&f) {
            Err(ServiceError::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field_of(ScheduleFields {
                cron: "99 * * * *".into(),
                ..fields()
            }),
            "cron"
        );
        assert_eq!(
            field_of(ScheduleFields {
                timezone: "Nowhere/Else".into(),
                ..fields()
            }),
            "timezone"
        );
        assert_eq!(
            field_of(ScheduleFields {
                paths: vec!["-o x".into()],
                ..fields()
            }),
            "spec"
        );
        assert_eq!(
            field_of(ScheduleFields {
                hooks: vec!["rm -rf".into()],
                ..fields()
            }),
            "hooks"
        );
    }
}
