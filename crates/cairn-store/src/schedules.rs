//! Backup schedules. Every change bumps the host's desired schedule-set
//! version, so the agent can be told, and can say, which set it runs.

use rusqlite::{Connection, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, JobId, RepositoryId, ScheduleId};
use crate::{Millis, Store};

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: ScheduleId,
    pub host_id: HostId,
    pub repository_id: RepositoryId,
    pub fields: ScheduleFields,
    pub expected_through_at: Option<Millis>,
    pub last_success_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The newest job of one of its firings (runs and catch-ups).
    pub last_job_id: Option<crate::ids::JobId>,
    /// Its firings missed or queued for catch-up right now.
    pub pending_run_count: u32,
}

/// What an operator sets on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFields {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub paths: Vec<String>,
    pub excludes: Vec<String>,
    pub tags: Vec<String>,
    pub hooks: Vec<String>,
    pub limit_upload_kib: Option<u32>,
    pub limit_download_kib: Option<u32>,
    /// What becomes of firings missed while the host was away.
    pub catch_up: cairn_domain::CatchUp,
    pub enabled: bool,
}

const COLUMNS: &str = "id, host_id, repository_id, name, cron, timezone, paths, excludes, tags, hooks, limit_upload_kib,
     limit_download_kib, catch_up, enabled, expected_through_at, last_success_at, created_at, updated_at,
     (SELECT max(id) FROM jobs WHERE schedule_id = schedules.id),
     (SELECT count(*) FROM pending_runs WHERE schedule_id = schedules.id AND state IN ('missed', 'queued'))";

fn list(json: String) -> Vec<String> {
    serde_json::from_str(&json).unwrap_or_default()
}

fn json(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

fn schedule_from_row(row: &Row<'_>) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        id: row.get(0)?,
        host_id: row.get(1)?,
        repository_id: row.get(2)?,
        fields: ScheduleFields {
            name: row.get(3)?,
            cron: row.get(4)?,
            timezone: row.get(5)?,
            paths: list(row.get(6)?),
            excludes: list(row.get(7)?),
            tags: list(row.get(8)?),
            hooks: list(row.get(9)?),
            limit_upload_kib: row.get(10)?,
            limit_download_kib: row.get(11)?,
            // The schema's CHECK allows only these spellings.
            catch_up: cairn_domain::CatchUp::parse(&row.get::<_, String>(12)?)
                .unwrap_or(cairn_domain::CatchUp::Once),
            enabled: row.get(13)?,
        },
        expected_through_at: row.get(14)?,
        last_success_at: row.get(15)?,
        created_at: row.get(16)?,
        updated_at: row.get(17)?,
        last_job_id: row.get(18)?,
        pending_run_count: row.get::<_, i64>(19)?.try_into().unwrap_or(u32::MAX),
    })
}

fn schedule_in(conn: &Connection, id: ScheduleId) -> StoreResult<Schedule> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"),
        [id],
        schedule_from_row,
    )
    .map_err(StoreError::about("schedule"))
}

pub(crate) fn bump_version(conn: &Connection, host: HostId) -> StoreResult<()> {
    conn.execute(
        "UPDATE hosts SET schedules_desired_version = schedules_desired_version + 1 WHERE id = ?1",
        [host],
    )?;
    Ok(())
}

impl Store {
    /// Creates a schedule. The repository must be assigned to the host (the
    /// schema's foreign key says so).
    pub async fn create_schedule(
        &self,
        host: HostId,
        repository: RepositoryId,
        f: ScheduleFields,
        now: Millis,
    ) -> StoreResult<Schedule> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO schedules (host_id, repository_id, name, cron, timezone, paths, excludes, tags, hooks,
                                        limit_upload_kib, limit_download_kib, catch_up, enabled, expected_through_at,
                                        created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?14)",
                params![
                    host, repository, f.name, f.cron, f.timezone, json(&f.paths), json(&f.excludes), json(&f.tags),
                    json(&f.hooks), f.limit_upload_kib, f.limit_download_kib, f.catch_up.as_str(), f.enabled, now
                ],
            )
            .map_err(StoreError::about("schedule"))?;
            let id = ScheduleId(c.last_insert_rowid());
            bump_version(c, host)?;
            schedule_in(c, id)
        })
        .await
    }

    /// Replaces a schedule's fields.
    pub async fn update_schedule(
        &self,
        id: ScheduleId,
        f: ScheduleFields,
        now: Millis,
    ) -> StoreResult<Schedule> {
        self.write(move |c| {
            let current = schedule_in(c, id)?;
            c.execute(
                "UPDATE schedules SET name = ?2, cron = ?3, timezone = ?4, paths = ?5, excludes = ?6, tags = ?7,
                        hooks = ?8, limit_upload_kib = ?9, limit_download_kib = ?10, catch_up = ?11, enabled = ?12,
                        updated_at = ?13,
                        expected_through_at = CASE WHEN ?12 AND NOT enabled THEN ?13 ELSE expected_through_at END
                 WHERE id = ?1",
                params![
                    id, f.name, f.cron, f.timezone, json(&f.paths), json(&f.excludes), json(&f.tags), json(&f.hooks),
                    f.limit_upload_kib, f.limit_download_kib, f.catch_up.as_str(), f.enabled, now
                ],
            )
            .map_err(StoreError::about("schedule"))?;
            bump_version(c, current.host_id)?;
            schedule_in(c, id)
        })
        .await
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(&self, id: ScheduleId) -> StoreResult<Schedule> {
        self.write(move |c| {
            let schedule = schedule_in(c, id)?;
            c.execute("DELETE FROM schedules WHERE id = ?1", [id])?;
            bump_version(c, schedule.host_id)?;
            Ok(schedule)
        })
        .await
    }

    /// One schedule.
    pub async fn schedule(&self, id: ScheduleId) -> StoreResult<Schedule> {
        self.read(move |c| schedule_in(c, id)).await
    }

    /// Schedules, optionally one host's, by id.
    pub async fn list_schedules(&self, host: Option<HostId>) -> StoreResult<Vec<Schedule>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM schedules WHERE ?1 IS NULL OR host_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt
                .query_map(params![host], schedule_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// A host's desired schedule-set version.
    pub async fn desired_schedule_version(&self, host: HostId) -> StoreResult<u64> {
        Ok(self.host(host).await?.schedules_desired_version)
    }

    /// Creates the job of one firing of a schedule, once: a second call for
    /// the same (schedule, fire time) returns `None`.
    pub async fn create_scheduled_job(
        &self,
        schedule: ScheduleId,
        fire_at: Millis,
        trigger: cairn_domain::Trigger,
        spec: cairn_domain::JobSpec,
        now: Millis,
    ) -> StoreResult<Option<JobId>> {
        let (kind, spec) = (spec.kind().as_str(), crate::codec::encode(&spec));
        self.write(move |c| {
            let s = schedule_in(c, schedule)?;
            let inserted = c.execute(
                "INSERT INTO jobs (kind, host_id, repository_id, schedule_id, fire_at, trigger, spec, created_at)
                 VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (schedule_id, fire_at) DO NOTHING",
                params![s.host_id, s.repository_id, schedule, fire_at, trigger.as_str(), spec, now, kind],
            )?;
            Ok((inserted > 0).then(|| JobId(c.last_insert_rowid())))
        })
        .await
    }
}
