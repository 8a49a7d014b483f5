//! Jobs: their rows, their state machine, and the effects of the agent's
//! messages about them.
//!
//! `queued → dispatched → running → succeeded | failed | cancelled | lost`;
//! every transition is a conditional UPDATE on the current status, so a late
//! or replayed message can never move a job backwards or out of a terminal
//! state.

use cairn_domain::{BackupSummary, JobKind, Progress, Trigger};
pub use cairn_domain::{JobSpec, JobStatus};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params};

use crate::codec::{column, encode, spelling};
use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, JobId, RepositoryId, UserId};
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub host_id: HostId,
    pub repository_id: Option<RepositoryId>,
    /// The schedule and firing this job runs, if a schedule made it.
    pub schedule: Option<(crate::ids::ScheduleId, Millis)>,
    pub trigger: Trigger,
    /// What the job runs (never a secret).
    pub spec: JobSpec,
    pub created_by: Option<UserId>,
    pub created_at: Millis,
    pub dispatched_at: Option<Millis>,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub lease_expires_at: Option<Millis>,
    pub cancel_requested_at: Option<Millis>,
    /// The last progress report stored.
    pub progress: Option<Progress>,
    /// restic's summary, for a backup that made a snapshot.
    pub summary: Option<BackupSummary>,
    pub snapshot_id: Option<String>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub warning: bool,
    /// Who let this job carry its repository's secrets to a host the
    /// repository is not assigned to (an admin's cross-host restore).
    pub secrets_grant: Option<String>,
    /// For display: the host's hostname as it last reported it.
    pub hostname: String,
    /// For display: the repository's name (none once it is deleted).
    pub repository_name: Option<String>,
    /// For display: the username of `created_by` (none once deleted).
    pub created_by_name: Option<String>,
}

/// How a job ended, as the agent reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnd {
    pub status: JobStatus,
    pub warning: bool,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub summary: Option<BackupSummary>,
    pub snapshot_id: Option<String>,
}

/// Which jobs to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobFilter {
    pub host: Option<HostId>,
    pub repository: Option<RepositoryId>,
    pub status: Option<JobStatus>,
    pub schedule: Option<crate::ids::ScheduleId>,
    pub kind: Option<JobKind>,
    /// Only jobs not yet in a terminal state.
    pub active_only: bool,
    /// Only jobs started this way.
    pub trigger: Option<Trigger>,
}

/// The SQL of a filter: only the conditions it sets, so the planner can use
/// the index each one has (a `?N IS NULL OR column = ?N` for every filter
/// left none usable, and a fleet's 100,000 jobs were scanned for a page of
/// running ones: benchmark B4). The values bind in order after the cursor.
fn job_conditions(filter: &JobFilter) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    let mut equal = |column: &str, value: Value| {
        sql.push_str(&format!(" AND {column} = ?"));
        values.push(value);
    };
    if let Some(host) = filter.host {
        equal("host_id", Value::Integer(host.0));
    }
    if let Some(repository) = filter.repository {
        equal("repository_id", Value::Integer(repository.0));
    }
    if let Some(status) = filter.status {
        equal("status", Value::Text(status.as_str().into()));
    }
    if let Some(schedule) = filter.schedule {
        equal("schedule_id", Value::Integer(schedule.0));
    }
    if let Some(kind) = filter.kind {
        equal("kind", Value::Text(kind.as_str().into()));
    }
    if let Some(trigger) = filter.trigger {
        equal("trigger", Value::Text(trigger.as_str().into()));
    }
    if filter.active_only {
        sql.push_str(" AND status IN ('queued', 'dispatched', 'running')");
    }
    (sql, values)
}

/// Whether a filter selects a small set with an index of its own.
fn narrow(filter: &JobFilter) -> bool {
    filter.host.is_some()
        || filter.repository.is_some()
        || filter.schedule.is_some()
        || filter.active_only
        || filter.status.is_some_and(|s| !s.is_terminal())
}

const JOB_COLUMNS: &str = "id, kind, status, host_id, repository_id, trigger, spec, created_by, created_at,
     dispatched_at, started_at, finished_at, lease_expires_at, cancel_requested_at, progress, summary,
     snapshot_id, exit_code, error, warning, schedule_id, fire_at, secrets_grant,
     coalesce((SELECT hostname FROM hosts WHERE hosts.id = jobs.host_id), ''),
     (SELECT name FROM repositories WHERE repositories.id = jobs.repository_id),
     (SELECT username FROM users WHERE users.id = jobs.created_by)";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let id: i64 = row.get(0)?;
    let kind: String = row.get(1)?;
    let status: String = row.get(2)?;
    let trigger: String = row.get(5)?;
    let spec: String = row.get(6)?;
    let progress: Option<String> = row.get(14)?;
    let summary: Option<String> = row.get(15)?;
    Ok(Job {
        id: JobId(id),
        kind: spelling("jobs", id, (1, "kind"), &kind, JobKind::parse)?,
        status: spelling("jobs", id, (2, "status"), &status, JobStatus::parse)?,
        host_id: row.get(3)?,
        repository_id: row.get(4)?,
        trigger: spelling("jobs", id, (5, "trigger"), &trigger, Trigger::parse)?,
        spec: column("jobs", id, (6, "spec"), &spec)?,
        created_by: row.get(7)?,
        created_at: row.get(8)?,
        dispatched_at: row.get(9)?,
        started_at: row.get(10)?,
        finished_at: row.get(11)?,
        lease_expires_at: row.get(12)?,
        cancel_requested_at: row.get(13)?,
        progress: progress
            .map(|p| column("jobs", id, (14, "progress"), &p))
            .transpose()?,
        summary: summary
            .map(|s| column("jobs", id, (15, "summary"), &s))
            .transpose()?,
        snapshot_id: row.get(16)?,
        exit_code: row.get(17)?,
        error: row.get(18)?,
        warning: row.get(19)?,
        schedule: match (row.get(20)?, row.get(21)?) {
            (Some(schedule), Some(fire_at)) => Some((schedule, fire_at)),
            _ => None,
        },
        secrets_grant: row.get(22)?,
        hostname: row.get(23)?,
        repository_name: row.get(24)?,
        created_by_name: row.get(25)?,
    })
}

fn job_in(conn: &Connection, id: JobId) -> StoreResult<Job> {
    conn.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
        [id],
        job_from_row,
    )
    .map_err(StoreError::about("job"))
}

/// A job the server ended (its lease ran out, its agent came back without
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedJob {
    pub id: JobId,
    pub host: HostId,
}

/// Who runs a job and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    pub host_id: HostId,
    pub status: JobStatus,
    pub repository_id: Option<RepositoryId>,
}

/// A job to create (queued); its kind is its spec's.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub host_id: HostId,
    pub repository_id: Option<RepositoryId>,
    pub trigger: Trigger,
    /// What to run (never a secret).
    pub spec: JobSpec,
    pub created_by: Option<UserId>,
}

impl Store {
    /// Creates a queued job.
    pub async fn create_job(&self, job: NewJob, now: Millis) -> StoreResult<JobId> {
        self.create_job_with_grant(job, None, now).await
    }

    /// Creates a queued job that may carry its repository's secrets to a
    /// host the repository is not assigned to, on `grant`'s say-so (who gave
    /// it: an admin's cross-host restore).
    pub async fn create_job_with_grant(
        &self,
        job: NewJob,
        grant: Option<String>,
        now: Millis,
    ) -> StoreResult<JobId> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO jobs (kind, host_id, repository_id, trigger, spec, created_by, created_at, secrets_grant)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![job.spec.kind().as_str(), job.host_id, job.repository_id, job.trigger.as_str(), encode(&job.spec), job.created_by, now, grant],
            )?;
            Ok(JobId(c.last_insert_rowid()))
        })
        .await
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> StoreResult<Job> {
        self.read(move |c| job_in(c, id)).await
    }

    /// Jobs, newest first.
    pub async fn list_jobs(&self, filter: JobFilter, page: Page) -> StoreResult<PageOf<Job>> {
        self.read(move |c| {
            let (conditions, mut values) = job_conditions(&filter);
            values.insert(0, Value::Integer(page.cursor.unwrap_or(i64::MAX)));
            values.push(Value::Integer(page.probe_limit()));
            // A filter that selects few jobs (one host's, the running ones)
            // reads them by its index and sorts them: `+id` keeps the planner
            // from walking the whole table newest first instead, hoping to
            // meet them early (22 ms for no running job at 100,000 jobs).
            let order = if narrow(&filter) { "+id" } else { "id" };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id < ?{conditions} ORDER BY {order} DESC LIMIT ?"
            ))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(values), job_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |j| j.id.0))
        })
        .await
    }

    /// The queued jobs of a host, oldest first: what to dispatch.
    pub async fn queued_jobs(&self, host: HostId) -> StoreResult<Vec<Job>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE host_id = ?1 AND status = 'queued' ORDER BY id"))?;
            let rows = stmt.query_map([host], job_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Marks a queued job dispatched with a lease; `false` if it was not
    /// queued any more (cancelled meanwhile, or dispatched by another path).
    pub async fn mark_dispatched(
        &self,
        id: JobId,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE jobs SET status = 'dispatched', dispatched_at = ?2, lease_expires_at = ?3
                 WHERE id = ?1 AND status = 'queued'",
                params![id, now, lease_until],
            )? > 0)
        })
        .await
    }

    /// Whether a job of this schedule is dispatched or running (a schedule's
    /// jobs run one at a time).
    pub async fn schedule_busy(&self, schedule: crate::ids::ScheduleId) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM jobs WHERE schedule_id = ?1 AND status IN ('dispatched', 'running')",
                [schedule],
                |r| r.get::<_, i64>(0),
            )? > 0)
        })
        .await
    }

    /// Puts a dispatched job back in the queue (it could not be sent).
    pub async fn requeue(&self, id: JobId) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE jobs SET status = 'queued', dispatched_at = NULL, lease_expires_at = NULL
                 WHERE id = ?1 AND status = 'dispatched'",
                [id],
            )?;
            Ok(())
        })
        .await
    }

    /// Fails a queued job that must not be sent (e.g. its repository was
    /// unassigned from the host while it waited).
    pub async fn fail_queued(&self, id: JobId, reason: &str, now: Millis) -> StoreResult<()> {
        let reason = reason.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?2, error = ?3
                 WHERE id = ?1 AND status = 'queued'",
                params![id, now, reason],
            )?;
            Ok(())
        })
        .await
    }

    /// Asks for a job to stop: a queued job is cancelled at once; a
    /// dispatched or running one is marked, for the agent to stop it.
    /// `reason` (may be empty) becomes part of the job's error once it ends
    /// cancelled. Returns the job after the change.
    pub async fn request_cancel(&self, id: JobId, reason: String, now: Millis) -> StoreResult<Job> {
        let reason = (!reason.is_empty()).then_some(reason);
        self.write(move |c| {
            c.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?2, cancel_requested_at = ?2,
                        cancel_reason = ?3,
                        error = 'cancelled before it started' || coalesce(': ' || ?3, '')
                 WHERE id = ?1 AND status = 'queued'",
                params![id, now, reason],
            )?;
            c.execute(
                "UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, ?2),
                        cancel_reason = coalesce(cancel_reason, ?3)
                 WHERE id = ?1 AND status IN ('dispatched', 'running')",
                params![id, now, reason],
            )?;
            job_in(c, id)
        })
        .await
    }

    /// After an agent's replay: its jobs that were dispatched before `since`
    /// and that it neither runs nor finished are lost. Returns which (ids
    /// only: a row whose spec does not decode is lost all the same).
    pub async fn lose_jobs_not_running(
        &self,
        host: HostId,
        running: Vec<JobId>,
        since: Millis,
        now: Millis,
    ) -> StoreResult<Vec<EndedJob>> {
        self.write(move |c| {
            let mut stmt = c.prepare(
                "SELECT id FROM jobs WHERE host_id = ?1 AND status IN ('dispatched', 'running') AND dispatched_at < ?2",
            )?;
            let candidates = stmt.query_map(params![host, since], |r| r.get::<_, JobId>(0))?.collect::<Result<Vec<_>, _>>()?;
            let mut lost = Vec::new();
            for id in candidates.into_iter().filter(|id| !running.contains(id)) {
                let changed = c.execute(
                    "UPDATE jobs SET status = 'lost', finished_at = ?2, lease_expires_at = NULL,
                            error = 'the agent came back without this job'
                     WHERE id = ?1 AND status IN ('dispatched', 'running')",
                    params![id, now],
                )?;
                if changed > 0 {
                    lost.push(EndedJob { id, host });
                }
            }
            Ok(lost)
        })
        .await
    }

    /// Renews the leases of `jobs` that `host` runs (dispatched or running)
    /// to at least `until`, but never past `max_life` after the job was
    /// dispatched (`None`: no limit), so an agent cannot keep a job alive
    /// for ever; jobs of other hosts, and ended ones, are left alone.
    /// Returns how many were renewed.
    pub async fn renew_leases(
        &self,
        host: HostId,
        jobs: Vec<JobId>,
        until: Millis,
        max_life: Option<Millis>,
    ) -> StoreResult<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        // One statement for the whole list, however long: the writer is
        // shared by every agent.
        let ids = serde_json::to_string(&jobs.iter().map(|j| j.0).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into());
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE jobs SET lease_expires_at = max(coalesce(lease_expires_at, 0),
                        CASE WHEN ?4 IS NULL THEN ?3 ELSE min(?3, coalesce(dispatched_at, ?3) + ?4) END)
                 WHERE id IN (SELECT value FROM json_each(?1)) AND host_id = ?2
                   AND status IN ('dispatched', 'running')",
                params![ids, host, until, max_life],
            )?)
        })
        .await
    }

    /// Marks jobs whose lease ran out as lost; returns which. Only ids and
    /// states are read, so a row whose spec does not decode still expires.
    pub async fn expire_leases(&self, now: Millis) -> StoreResult<Vec<EndedJob>> {
        self.write(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, host_id FROM jobs WHERE status IN ('dispatched', 'running') AND lease_expires_at < ?1",
            )?;
            let expired = stmt
                .query_map([now], |r| Ok(EndedJob { id: r.get(0)?, host: r.get(1)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            for job in &expired {
                c.execute(
                    "UPDATE jobs SET status = 'lost', finished_at = ?2,
                            error = 'the agent stopped reporting on this job (lease expired)'
                     WHERE id = ?1 AND status IN ('dispatched', 'running')",
                    params![job.id, now],
                )?;
            }
            Ok(expired)
        })
        .await
    }

    /// The ids of a host's jobs that have not ended.
    pub async fn live_job_ids(&self, host: HostId) -> StoreResult<Vec<JobId>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id FROM jobs WHERE host_id = ?1 AND status IN ('queued', 'dispatched', 'running')",
            )?;
            let ids = stmt.query_map([host], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
        .await
    }

    /// Who runs a job and where it stands, without decoding its spec: what
    /// the checks on every agent report need.
    pub async fn job_state(&self, id: JobId) -> StoreResult<JobState> {
        self.read(move |c| {
            let (host, status, repository): (HostId, String, Option<RepositoryId>) = c
                .query_row(
                    "SELECT host_id, status, repository_id FROM jobs WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(StoreError::about("job"))?;
            let status = spelling("jobs", id.0, (1, "status"), &status, JobStatus::parse)?;
            Ok(JobState {
                host_id: host,
                status,
                repository_id: repository,
            })
        })
        .await
    }
}
