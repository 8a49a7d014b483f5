//! What the alert engine reads each sweep, and maintenance windows
//! (`silences`). The engine decides; these queries only gather.

use cairn_domain::{BackupSummary, JobKind, JobStatus};
use rusqlite::{Row, params};

use crate::codec::column;
use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, JobId, RepositoryId, ScheduleId, UserId};
use crate::{Millis, Store};

/// How far back job outcomes are read: an older failure with nothing since
/// is left to the alert it already raised.
pub const OUTCOME_HORIZON_MS: Millis = 90 * 24 * 3600 * 1000;

/// An approved host, as the engine watches it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedHost {
    pub id: HostId,
    pub hostname: String,
    pub last_seen_at: Option<Millis>,
    /// Missed firings waiting for it.
    pub missed_runs: u32,
}

/// One of the recent ends of a job kind on a host and repository (and
/// schedule), newest first within its group.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentEnd {
    pub job_id: JobId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub host_id: HostId,
    pub repository_id: Option<RepositoryId>,
    pub schedule_id: Option<ScheduleId>,
    pub finished_at: Millis,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// The job's last lines on stderr (restic 0.14 says why in words only).
    pub stderr_tail: Vec<String>,
    pub summary: Option<BackupSummary>,
    /// The backup's paths, for grouping manual backups.
    pub paths: Vec<String>,
}

/// An enabled schedule, as the overdue rule reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedSchedule {
    pub id: ScheduleId,
    pub host_id: HostId,
    pub repository_id: RepositoryId,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub last_success_at: Option<Millis>,
    pub created_at: Millis,
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: i64,
    pub host_id: HostId,
    pub hostname: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub note: String,
    pub created_by: Option<UserId>,
    pub created_by_name: Option<String>,
    pub created_at: Millis,
}

/// A window to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub host_id: HostId,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub note: String,
    pub created_by: Option<UserId>,
}

fn end_from_row(row: &Row<'_>) -> rusqlite::Result<RecentEnd> {
    let id: i64 = row.get(0)?;
    let kind: String = row.get(1)?;
    let status: String = row.get(2)?;
    let summary: Option<String> = row.get(10)?;
    let spec: String = row.get(11)?;
    let tail: Option<String> = row.get(9)?;
    let bad = |what: &str, text: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown {what} {text:?}").into(),
        )
    };
    let paths = match column::<cairn_domain::JobSpec>("jobs", id, (11, "spec"), &spec) {
        Ok(cairn_domain::JobSpec::Backup(b)) => b.paths,
        _ => Vec::new(),
    };
    Ok(RecentEnd {
        job_id: JobId(id),
        kind: JobKind::parse(&kind).ok_or_else(|| bad("job kind", &kind))?,
        status: JobStatus::parse(&status).ok_or_else(|| bad("job status", &status))?,
        host_id: row.get(3)?,
        repository_id: row.get(4)?,
        schedule_id: row.get(5)?,
        finished_at: row.get(6)?,
        exit_code: row.get(7)?,
        error: row.get(8)?,
        stderr_tail: tail
            .map(|t| serde_json::from_str(&t).unwrap_or_default())
            .unwrap_or_default(),
        summary: summary
            .map(|s| column("jobs", id, (10, "summary"), &s))
            .transpose()?,
        paths,
    })
}

impl Store {
    /// Approved hosts with their last sign of life and missed runs.
    pub async fn watched_hosts(&self) -> StoreResult<Vec<WatchedHost>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT h.id, h.hostname, h.last_seen_at,
                        (SELECT count(*) FROM pending_runs p WHERE p.host_id = h.id AND p.state = 'missed')
                 FROM hosts h WHERE h.status = 'approved' ORDER BY h.id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(WatchedHost {
                        id: r.get(0)?,
                        hostname: r.get(1)?,
                        last_seen_at: r.get(2)?,
                        missed_runs: r.get::<_, i64>(3)? as u32,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The newest `per_group` ends (succeeded, failed, lost) of each group
    /// of jobs that ran on a repository: one host, repository, kind and
    /// schedule (none for manual runs), finished since `since`.
    pub async fn recent_job_ends(
        &self,
        since: Millis,
        per_group: u32,
    ) -> StoreResult<Vec<RecentEnd>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, kind, status, host_id, repository_id, schedule_id, finished_at, exit_code, error,
                        (SELECT json_group_array(line) FROM (SELECT line FROM job_logs l
                           WHERE l.job_id = j.id AND l.stream = 'stderr' AND j.status <> 'succeeded'
                           ORDER BY l.id DESC LIMIT 20)),
                        summary, spec
                 FROM (SELECT *, row_number() OVER (
                           PARTITION BY host_id, repository_id, kind, coalesce(schedule_id, 0)
                           ORDER BY finished_at DESC, id DESC) AS rn
                       FROM jobs
                       WHERE finished_at >= ?1 AND repository_id IS NOT NULL
                         AND status IN ('succeeded', 'failed', 'lost')) AS j
                 WHERE rn <= ?2 ORDER BY finished_at DESC, id DESC",
            )?;
            let rows = stmt
                .query_map(params![since, per_group], end_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Enabled schedules.
    pub async fn watched_schedules(&self) -> StoreResult<Vec<WatchedSchedule>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT s.id, s.host_id, s.repository_id, s.name, s.cron, s.timezone, s.last_success_at, s.created_at
                 FROM schedules s JOIN hosts h ON h.id = s.host_id
                 WHERE s.enabled = 1 AND h.status = 'approved' ORDER BY s.id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(WatchedSchedule {
                        id: r.get(0)?,
                        host_id: r.get(1)?,
                        repository_id: r.get(2)?,
                        name: r.get(3)?,
                        cron: r.get(4)?,
                        timezone: r.get(5)?,
                        last_success_at: r.get(6)?,
                        created_at: r.get(7)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Opens a maintenance window.
    pub async fn create_silence(&self, new: NewSilence, now: Millis) -> StoreResult<Silence> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO silences (host_id, starts_at, ends_at, note, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    new.host_id,
                    new.starts_at,
                    new.ends_at,
                    new.note,
                    new.created_by,
                    now
                ],
            )
            .map_err(StoreError::about("host"))?;
            let id = c.last_insert_rowid();
            silence_in(c, id)
        })
        .await
    }

    /// Windows that end after `after`, soonest first.
    pub async fn list_silences(&self, after: Millis) -> StoreResult<Vec<Silence>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "{SILENCE_SELECT} WHERE s.ends_at > ?1 ORDER BY s.starts_at, s.id"
            ))?;
            let rows = stmt
                .query_map([after], silence_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One window.
    pub async fn silence(&self, id: i64) -> StoreResult<Silence> {
        self.read(move |c| silence_in(c, id)).await
    }

    /// Deletes a window.
    pub async fn delete_silence(&self, id: i64) -> StoreResult<Silence> {
        self.write(move |c| {
            let silence = silence_in(c, id)?;
            c.execute("DELETE FROM silences WHERE id = ?1", [id])?;
            Ok(silence)
        })
        .await
    }
}

const SILENCE_SELECT: &str = "SELECT s.id, s.host_id, h.hostname, s.starts_at, s.ends_at, s.note, s.created_by,
     u.username, s.created_at FROM silences s JOIN hosts h ON h.id = s.host_id LEFT JOIN users u ON u.id = s.created_by";

fn silence_from_row(r: &Row<'_>) -> rusqlite::Result<Silence> {
    Ok(Silence {
        id: r.get(0)?,
        host_id: r.get(1)?,
        hostname: r.get(2)?,
        starts_at: r.get(3)?,
        ends_at: r.get(4)?,
        note: r.get(5)?,
        created_by: r.get(6)?,
        created_by_name: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn silence_in(c: &rusqlite::Connection, id: i64) -> StoreResult<Silence> {
    c.query_row(
        &format!("{SILENCE_SELECT} WHERE s.id = ?1"),
        [id],
        silence_from_row,
    )
    .map_err(StoreError::about("maintenance window"))
}
