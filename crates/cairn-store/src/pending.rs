//! Missed schedule firings (`pending_runs`): firings the server expected but
//! that led to no job because the host was away, kept until the host is back
//! and the schedule's catch-up policy decides what to run.

pub use cairn_domain::PendingState;
use rusqlite::{OptionalExtension, Row, params};

use crate::error::StoreResult;
use crate::ids::{HostId, JobId, ScheduleId};
use crate::{Millis, Store};

/// One pending run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRun {
    pub id: i64,
    pub schedule_id: ScheduleId,
    pub host_id: HostId,
    pub fire_at: Millis,
    pub state: PendingState,
    pub reason: Option<String>,
    pub job_id: Option<JobId>,
    pub created_at: Millis,
    pub resolved_at: Option<Millis>,
}

const COLUMNS: &str =
    "id, schedule_id, host_id, fire_at, state, reason, job_id, created_at, resolved_at";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<PendingRun> {
    let state: String = row.get(4)?;
    Ok(PendingRun {
        id: row.get(0)?,
        schedule_id: row.get(1)?,
        host_id: row.get(2)?,
        fire_at: row.get(3)?,
        // The schema's CHECK allows only these spellings.
        state: PendingState::parse(&state).unwrap_or(PendingState::Missed),
        reason: row.get(5)?,
        job_id: row.get(6)?,
        created_at: row.get(7)?,
        resolved_at: row.get(8)?,
    })
}

impl Store {
    /// Records a missed firing, unless it already has a job or a row.
    /// Returns whether a row was added.
    pub async fn record_missed(
        &self,
        schedule: ScheduleId,
        fire_at: Millis,
        reason: String,
        now: Millis,
    ) -> StoreResult<bool> {
        self.write(move |c| {
            let has_job: bool = c
                .query_row(
                    "SELECT 1 FROM jobs WHERE schedule_id = ?1 AND fire_at = ?2",
                    params![schedule, fire_at],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if has_job {
                return Ok(false);
            }
            Ok(c.execute(
                "INSERT INTO pending_runs (schedule_id, host_id, fire_at, state, reason, created_at)
                 SELECT id, host_id, ?2, 'missed', ?3, ?4 FROM schedules WHERE id = ?1
                 ON CONFLICT (schedule_id, fire_at) DO NOTHING",
                params![schedule, fire_at, reason, now],
            )? > 0)
        })
        .await
    }

    /// A host's missed runs, oldest first.
    pub async fn missed_runs(&self, host: HostId) -> StoreResult<Vec<PendingRun>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM pending_runs WHERE host_id = ?1 AND state = 'missed' ORDER BY fire_at"))?;
            let rows = stmt.query_map([host], run_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Whether a firing was already settled by catch-up (drained or skipped),
    /// so a late report of it must not make a job.
    pub async fn firing_settled(&self, schedule: ScheduleId, fire_at: Millis) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT 1 FROM pending_runs WHERE schedule_id = ?1 AND fire_at = ?2 AND state IN ('drained', 'skipped')",
                params![schedule, fire_at],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
        .await
    }

    /// Settles pending runs: `drained` (with the job that ran for them) or `skipped`.
    pub async fn resolve_pending(
        &self,
        ids: Vec<i64>,
        state: PendingState,
        job: Option<JobId>,
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            for id in ids {
                c.execute(
                    "UPDATE pending_runs SET state = ?2, job_id = ?3, resolved_at = ?4 WHERE id = ?1 AND state = 'missed'",
                    params![id, state.as_str(), job, now],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Marks a firing's pending row (if any) drained by the job that ran it.
    pub async fn settle_firing(
        &self,
        schedule: ScheduleId,
        fire_at: Millis,
        job: JobId,
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE pending_runs SET state = 'drained', job_id = ?3, resolved_at = ?4
                 WHERE schedule_id = ?1 AND fire_at = ?2 AND state = 'missed'",
                params![schedule, fire_at, job, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Pending runs, newest first (optionally one schedule's or one host's).
    /// (of one schedule, one host, in `states`; the newest 1,000 that match).
    pub async fn list_pending_runs(
        &self,
        schedule: Option<ScheduleId>,
        host: Option<HostId>,
        states: &[PendingState],
    ) -> StoreResult<Vec<PendingRun>> {
        // The filter is part of the query, so the cap counts matches only.
        let states = serde_json::to_string(&states.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into());
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM pending_runs WHERE (?1 IS NULL OR schedule_id = ?1) AND (?2 IS NULL OR host_id = ?2)
                   AND state IN (SELECT value FROM json_each(?3))
                 ORDER BY fire_at DESC LIMIT 1000"
            ))?;
            let rows = stmt.query_map(params![schedule, host, states], run_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The server has accounted for a schedule's firings up to `at`.
    pub async fn set_expected_through(&self, schedule: ScheduleId, at: Millis) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE schedules SET expected_through_at = ?2 WHERE id = ?1",
                params![schedule, at],
            )?;
            Ok(())
        })
        .await
    }

    /// The job of a firing, if one exists.
    pub async fn job_for_firing(
        &self,
        schedule: ScheduleId,
        fire_at: Millis,
    ) -> StoreResult<Option<JobId>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id FROM jobs WHERE schedule_id = ?1 AND fire_at = ?2",
                params![schedule, fire_at],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}
