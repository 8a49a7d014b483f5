//! Jobs, as far as the agent link needs them: creating a job row and
//! applying the agent's log lines to it.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, JobId, UserId};
use crate::{Millis, Store};

/// A job to create (queued).
#[derive(Debug, Clone)]
pub struct NewJob {
    /// `backup`, `forget`, … (the schema's CHECK lists them).
    pub kind: &'static str,
    pub host_id: HostId,
    /// `manual`, `api`, `schedule`, `catch_up` or `maintenance`.
    pub trigger: &'static str,
    /// The typed spec as JSON (never a secret).
    pub spec: String,
    pub created_by: Option<UserId>,
}

/// One line a job printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: Millis,
    /// `stdout`, `stderr` or `agent`.
    pub stream: &'static str,
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    pub line: String,
}

impl Store {
    /// Creates a queued job.
    pub async fn create_job(&self, job: NewJob, now: Millis) -> StoreResult<JobId> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO jobs (kind, host_id, trigger, spec, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![job.kind, job.host_id, job.trigger, job.spec, job.created_by, now],
            )?;
            Ok(JobId(c.last_insert_rowid()))
        })
        .await
    }

    /// The log lines of a job, oldest first.
    pub async fn job_log(&self, job: JobId) -> StoreResult<Vec<LogLine>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT at, stream, level, line FROM job_logs WHERE job_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([job], |r| {
                    let stream: String = r.get(1)?;
                    let level: String = r.get(2)?;
                    Ok(LogLine {
                        at: r.get(0)?,
                        stream: match stream.as_str() {
                            "stdout" => "stdout",
                            "stderr" => "stderr",
                            _ => "agent",
                        },
                        level: match level.as_str() {
                            "debug" => "debug",
                            "warn" => "warn",
                            "error" => "error",
                            _ => "info",
                        },
                        line: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

/// The effect of a `JobLog` message, for [`Store::apply_agent_message`]:
/// appends the lines to the job, which must belong to the sending host (a
/// line for another host's job, or an unknown job, is dropped with the
/// message rather than failing the agent's whole stream).
pub fn append_job_log(
    host: HostId,
    job: JobId,
    lines: Vec<LogLine>,
) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
    move |c| {
        let owner: Option<HostId> = c
            .query_row("SELECT host_id FROM jobs WHERE id = ?1", [job], |r| {
                r.get(0)
            })
            .optional()?;
        if owner != Some(host) {
            tracing::warn!(%host, %job, "log lines for a job this host does not run: dropped");
            return Ok(());
        }
        let mut insert = c.prepare_cached(
            "INSERT INTO job_logs (job_id, at, stream, level, line) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for line in lines {
            insert
                .execute(params![job, line.at, line.stream, line.level, line.line])
                .map_err(StoreError::from)?;
        }
        Ok(())
    }
}
