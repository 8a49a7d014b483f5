//! Job logs: the lines a job printed, appended by its own host while it
//! runs, capped per job, paged to readers, and deleted after the retention.

pub use cairn_domain::{LogLevel, LogStream};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, JobId};
use crate::jobs::JobStatus;
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// One line a job printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: Millis,
    pub stream: LogStream,
    pub level: LogLevel,
    pub line: String,
}

/// The default page of log lines.
pub const LOG_PAGE_DEFAULT: u32 = 500;
/// The largest page of log lines.
pub const LOG_PAGE_MAX: u32 = 5_000;

/// Rows the retention removes per transaction, so one sweep never holds the
/// writer long.
const DELETE_BATCH: i64 = 10_000;

fn line_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, LogLine)> {
    let stream: String = r.get(2)?;
    let level: String = r.get(3)?;
    Ok((
        r.get(0)?,
        LogLine {
            at: r.get(1)?,
            // The schema's CHECKs allow only these spellings.
            stream: LogStream::parse(&stream).unwrap_or(LogStream::Agent),
            level: LogLevel::parse(&level).unwrap_or(LogLevel::Info),
            line: r.get(4)?,
        },
    ))
}

impl Store {
    /// Every log line of a job, oldest first.
    pub async fn job_log(&self, job: JobId) -> StoreResult<Vec<LogLine>> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .job_log_page(job, LOG_PAGE_MAX, usize::MAX, cursor)
                .await?;
            all.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// One page of a job's log lines, oldest first: up to `limit` lines
    /// (0 = [`LOG_PAGE_DEFAULT`], at most [`LOG_PAGE_MAX`]) after `cursor`,
    /// and no more than `max_bytes` of text (at least one line), so a page
    /// of long lines still fits a message.
    pub async fn job_log_page(
        &self,
        job: JobId,
        limit: u32,
        max_bytes: usize,
        cursor: Option<i64>,
    ) -> StoreResult<PageOf<LogLine>> {
        let page = Page {
            limit: match limit {
                0 => LOG_PAGE_DEFAULT,
                n => n.min(LOG_PAGE_MAX),
            },
            cursor,
        };
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, stream, level, line FROM job_logs WHERE job_id = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(
                    params![job, page.cursor.unwrap_or(0), page.probe_limit()],
                    line_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let mut page = page.finish(rows, |(id, _)| *id);
            let mut used = 0;
            let fits = page
                .items
                .iter()
                .position(|(_, line)| {
                    used += line.line.len() + 64;
                    used > max_bytes
                })
                .map_or(page.items.len(), |at| at.max(1));
            if fits < page.items.len() {
                page.items.truncate(fits);
                page.next = page.items.last().map(|(id, _)| *id);
            }
            Ok(PageOf {
                items: page.items.into_iter().map(|(_, l)| l).collect(),
                next: page.next,
            })
        })
        .await
    }

    /// A job's newest `limit` log lines (at most [`LOG_PAGE_MAX`]), oldest
    /// first, and how many earlier lines there are.
    pub async fn job_log_tail(&self, job: JobId, limit: u32) -> StoreResult<(Vec<LogLine>, u64)> {
        let limit = i64::from(limit.min(LOG_PAGE_MAX));
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, stream, level, line FROM job_logs WHERE job_id = ?1
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let mut lines = stmt
                .query_map(params![job, limit], line_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            lines.reverse();
            let total: i64 = c.query_row(
                "SELECT count(*) FROM job_logs WHERE job_id = ?1",
                [job],
                |r| r.get(0),
            )?;
            let earlier = (total - lines.len() as i64).max(0) as u64;
            Ok((lines.into_iter().map(|(_, l)| l).collect(), earlier))
        })
        .await
    }

    /// A job's log lines from position `from` on (0 is its first line), at
    /// most `limit` (capped at [`LOG_PAGE_MAX`]), oldest first: what a live
    /// view missed, resumed from the last position it saw.
    pub async fn job_log_from(
        &self,
        job: JobId,
        from: u64,
        limit: u32,
    ) -> StoreResult<Vec<LogLine>> {
        let limit = i64::from(limit.min(LOG_PAGE_MAX));
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, stream, level, line FROM job_logs WHERE job_id = ?1
                 ORDER BY id LIMIT ?2 OFFSET ?3",
            )?;
            let lines = stmt
                .query_map(params![job, limit, from], line_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(lines.into_iter().map(|(_, l)| l).collect())
        })
        .await
    }

    /// Deletes the logs of jobs that finished before `before`; returns how
    /// many lines went. The job rows stay.
    pub async fn delete_job_logs_before(&self, before: Millis) -> StoreResult<usize> {
        let mut total = 0;
        loop {
            let deleted = self
                .write(move |c| {
                    Ok(c.execute(
                        "DELETE FROM job_logs WHERE id IN (
                           SELECT l.id FROM job_logs l JOIN jobs j ON j.id = l.job_id
                           WHERE j.finished_at IS NOT NULL AND j.finished_at < ?1 LIMIT ?2)",
                        params![before, DELETE_BATCH],
                    )?)
                })
                .await?;
            total += deleted;
            if deleted < DELETE_BATCH as usize {
                return Ok(total);
            }
        }
    }
}

/// The line that ends a log cut at its cap.
fn dropped_marker(at: Millis, max_lines: u64) -> LogLine {
    LogLine {
        at,
        stream: LogStream::Agent,
        level: LogLevel::Warn,
        line: format!(
            "log limit reached: this job keeps its first {max_lines} lines; later lines were dropped"
        ),
    }
}

/// The effect of a `JobLog` message, for [`Store::apply_agent_message_with`]:
/// appends the lines to the job, which must belong to the sending host and
/// not have ended. A job keeps at most `max_lines` lines, then one marker
/// line saying the rest were dropped. Yields the lines stored (what watchers
/// may be shown); a line for another host's job, an unknown or a finished
/// job is dropped with the message rather than failing the agent's stream.
pub fn append_job_log(
    host: HostId,
    job: JobId,
    lines: Vec<LogLine>,
    max_lines: u64,
) -> impl FnOnce(&Connection) -> StoreResult<StoredLines> + Send + 'static {
    move |c| {
        let row: Option<(HostId, String)> = c
            .query_row(
                "SELECT host_id, status FROM jobs WHERE id = ?1",
                [job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((owner, _)) if owner != host => {
                tracing::warn!(%host, %job, "log lines for a job this host does not run: dropped");
                return Ok(StoredLines::default());
            }
            None => {
                tracing::warn!(%host, %job, "log lines for an unknown job: dropped");
                return Ok(StoredLines::default());
            }
            Some((_, status)) if JobStatus::parse(&status).is_none_or(JobStatus::is_terminal) => {
                tracing::warn!(%host, %job, %status, "log lines for a job that has ended: dropped");
                return Ok(StoredLines::default());
            }
            Some(_) => {}
        }
        let have: i64 = c.query_row(
            "SELECT count(*) FROM job_logs WHERE job_id = ?1",
            [job],
            |r| r.get(0),
        )?;
        let have = u64::try_from(have).unwrap_or(0);
        let room = usize::try_from(max_lines.saturating_sub(have)).unwrap_or(usize::MAX);
        let offered = lines.len();
        let first_dropped_at = lines.get(room).map(|l| l.at);
        let mut stored: Vec<LogLine> = lines.into_iter().take(room).collect();
        // The marker is written once: when the cap is first crossed.
        if let Some(at) = first_dropped_at
            && have + stored.len() as u64 == max_lines
            && have <= max_lines
        {
            stored.push(dropped_marker(at, max_lines));
            tracing::warn!(%host, %job, max_lines, dropped = offered - room, "job log reached its cap");
        }
        let mut insert = c.prepare_cached(
            "INSERT INTO job_logs (job_id, at, stream, level, line) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for line in &stored {
            insert
                .execute(params![
                    job,
                    line.at,
                    line.stream.as_str(),
                    line.level.as_str(),
                    line.line
                ])
                .map_err(StoreError::from)?;
        }
        Ok(StoredLines {
            first: have,
            lines: stored,
        })
    }
}

/// Lines just stored, and where they stand in their job's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredLines {
    /// The position of the first of them: how many lines the job had
    /// before (a job's lines are never removed while it runs).
    pub first: u64,
    pub lines: Vec<LogLine>,
}
