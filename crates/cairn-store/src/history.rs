//! Backup history for the fleet overview: per host and per UTC day, how its
//! backups went and how many firings were missed; and each host's last good
//! backup. Both read whole ranges in one query each, so the dashboard costs
//! the same for a dozen hosts as for a few thousand.

use std::collections::BTreeMap;

use rusqlite::params;

use cairn_domain::JobStatus;

use crate::error::{StoreError, StoreResult};
use crate::ids::HostId;
use crate::{Millis, Store};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// One host's backups on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupDay {
    pub host: HostId,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Backups that succeeded.
    pub succeeded: u32,
    /// Backups that failed or were lost.
    pub failed: u32,
    /// Scheduled firings that were missed (whatever became of them later).
    pub missed: u32,
}

/// A host's last backup and its last good one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastBackups {
    /// How the last finished backup ended, and when.
    pub last: Option<(JobStatus, Millis)>,
    /// When the last successful backup finished.
    pub good: Option<Millis>,
}

impl BackupDay {
    fn empty(host: HostId, day: i64) -> BackupDay {
        BackupDay {
            host,
            day,
            succeeded: 0,
            failed: 0,
            missed: 0,
        }
    }
}

impl Store {
    /// Every host's backup days from `since` on, ordered by host then day;
    /// a day with nothing to tell is left out.
    pub async fn backup_days(&self, since: Millis) -> StoreResult<Vec<BackupDay>> {
        self.read(move |c| {
            let mut days: BTreeMap<(HostId, i64), BackupDay> = BTreeMap::new();
            let mut jobs = c.prepare(
                "SELECT host_id, finished_at / ?2 AS day,
                        SUM(status = 'succeeded'), SUM(status IN ('failed', 'lost'))
                 FROM jobs WHERE kind = 'backup' AND finished_at >= ?1
                 GROUP BY host_id, day",
            )?;
            let rows = jobs.query_map(params![since, DAY_MS], |r| {
                Ok((
                    r.get::<_, HostId>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            })?;
            for row in rows {
                let (host, day, succeeded, failed) = row?;
                let entry = days
                    .entry((host, day))
                    .or_insert(BackupDay::empty(host, day));
                entry.succeeded = succeeded;
                entry.failed = failed;
            }
            let mut missed = c.prepare(
                "SELECT host_id, fire_at / ?2 AS day, COUNT(*)
                 FROM pending_runs WHERE fire_at >= ?1 GROUP BY host_id, day",
            )?;
            let rows = missed.query_map(params![since, DAY_MS], |r| {
                Ok((
                    r.get::<_, HostId>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })?;
            for row in rows {
                let (host, day, count) = row?;
                days.entry((host, day))
                    .or_insert(BackupDay::empty(host, day))
                    .missed = count;
            }
            Ok(days.into_values().collect())
        })
        .await
    }

    /// Each host's last backup and last good backup; a host that never
    /// finished a backup is absent.
    pub async fn last_backups(&self) -> StoreResult<BTreeMap<HostId, LastBackups>> {
        self.read(|c| {
            let mut found: BTreeMap<HostId, LastBackups> = BTreeMap::new();
            let mut last = c.prepare(
                "SELECT host_id, status, finished_at FROM (
                   SELECT host_id, status, finished_at, ROW_NUMBER() OVER (
                     PARTITION BY host_id ORDER BY finished_at DESC, id DESC) AS n
                   FROM jobs WHERE kind = 'backup' AND finished_at IS NOT NULL)
                 WHERE n = 1",
            )?;
            let rows = last.query_map([], |r| {
                Ok((
                    r.get::<_, HostId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Millis>(2)?,
                ))
            })?;
            for row in rows {
                let (host, status, at) = row?;
                let status = JobStatus::parse(&status).ok_or(StoreError::Corrupt {
                    column: "jobs.status",
                    detail: format!("unknown status {status:?}"),
                })?;
                found.entry(host).or_default().last = Some((status, at));
            }
            let mut good = c.prepare(
                "SELECT host_id, MAX(finished_at) FROM jobs
                 WHERE kind = 'backup' AND status = 'succeeded' AND finished_at IS NOT NULL
                 GROUP BY host_id",
            )?;
            let rows =
                good.query_map([], |r| Ok((r.get::<_, HostId>(0)?, r.get::<_, Millis>(1)?)))?;
            for row in rows {
                let (host, at) = row?;
                found.entry(host).or_default().good = Some(at);
            }
            Ok(found)
        })
        .await
    }
}
