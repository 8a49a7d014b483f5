//! The effects of an agent's reports about its jobs, for
//! [`crate::Store::apply_agent_message_with`]: each takes effect only for a job of
//! the sending host, and only moves a job forward.

use cairn_domain::Progress;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Millis;
use crate::codec::encode;
use crate::error::StoreResult;
use crate::ids::{HostId, JobId};
use crate::jobs::{JobEnd, JobStatus};

fn owned_by(conn: &Connection, job: JobId, host: HostId) -> StoreResult<bool> {
    let owner: Option<HostId> = conn
        .query_row("SELECT host_id FROM jobs WHERE id = ?1", [job], |r| {
            r.get(0)
        })
        .optional()?;
    if owner != Some(host) {
        tracing::warn!(%host, %job, "a message about a job this host does not run: dropped");
    }
    Ok(owner == Some(host))
}

/// The effect of a `JobAccepted` message: the job runs, its lease renewed.
/// Yields whether the job moved to running (so the caller tells watchers
/// only what took effect).
pub fn job_accepted(
    host: HostId,
    job: JobId,
    now: Millis,
    lease_until: Millis,
) -> impl FnOnce(&Connection) -> StoreResult<bool> + Send + 'static {
    move |c| {
        if !owned_by(c, job, host)? {
            return Ok(false);
        }
        Ok(c.execute(
            "UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?2), lease_expires_at = ?3
             WHERE id = ?1 AND status IN ('queued', 'dispatched')",
            params![job, now, lease_until],
        )? > 0)
    }
}

/// What a progress report did to its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressTaken {
    /// Not this host's live job: nothing changed.
    Dropped,
    /// Stored.
    Stored,
    /// Stored, and the job moved from dispatched to running with it (its
    /// `JobAccepted` had not come).
    Started,
}

/// The effect of a (coalesced) `JobProgress` message.
pub fn job_progress(
    host: HostId,
    job: JobId,
    progress: Progress,
    now: Millis,
    lease_until: Millis,
) -> impl FnOnce(&Connection) -> StoreResult<ProgressTaken> + Send + 'static {
    move |c| {
        if !owned_by(c, job, host)? {
            return Ok(ProgressTaken::Dropped);
        }
        let started = c.execute(
            "UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?2)
             WHERE id = ?1 AND status = 'dispatched'",
            params![job, now],
        )? > 0;
        let stored = c.execute(
            "UPDATE jobs SET progress = ?2, progress_at = ?3, lease_expires_at = ?4
             WHERE id = ?1 AND status = 'running'",
            params![job, encode(&progress), now, lease_until],
        )? > 0;
        Ok(match (stored, started) {
            (false, _) => ProgressTaken::Dropped,
            (true, false) => ProgressTaken::Stored,
            (true, true) => ProgressTaken::Started,
        })
    }
}

/// The effect of a `JobFinished` message: the job's one terminal state.
/// Yields whether this message ended the job.
pub fn job_finished(
    host: HostId,
    job: JobId,
    end: JobEnd,
    now: Millis,
) -> impl FnOnce(&Connection) -> StoreResult<bool> + Send + 'static {
    move |c| {
        if !owned_by(c, job, host)? {
            return Ok(false);
        }
        // A job an operator cancelled says why, whatever the agent wrote.
        let ended = c.execute(
            "UPDATE jobs SET status = ?2, warning = ?3, exit_code = ?4, summary = ?6, snapshot_id = ?7,
                    finished_at = ?8, lease_expires_at = NULL,
                    error = CASE WHEN ?2 = 'cancelled' AND cancel_reason IS NOT NULL
                                 THEN 'cancelled: ' || cancel_reason ELSE ?5 END
             WHERE id = ?1 AND status IN ('queued', 'dispatched', 'running')",
            params![job, end.status.as_str(), end.warning, end.exit_code, end.error, end.summary.as_ref().map(encode), end.snapshot_id, now],
        )? > 0;
        if ended && end.status == JobStatus::Succeeded {
            crate::snapshots::attribute_backup_snapshot(c, job)?;
            c.execute(
                "UPDATE schedules SET last_success_at = max(coalesce(last_success_at, 0), ?2)
                 WHERE id = (SELECT schedule_id FROM jobs WHERE id = ?1)",
                params![job, now],
            )?;
        }
        Ok(ended)
    }
}
