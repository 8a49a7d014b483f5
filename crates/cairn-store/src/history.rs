//! Backup history for the fleet overview: per host and per UTC day, how its
//! backups went and how many firings were missed; and each host's last good
//! backup. Each reads by index seeks per host (migration 0007), so the cost
//! grows with the hosts asked about, not with the fleet's whole history.

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
        self.backup_days_among(since, None).await
    }

    /// [`Store::backup_days`] of these hosts only: one range seek each, so
    /// a page that shows a hundred hosts of thousands reads only theirs.
    pub async fn backup_days_of(
        &self,
        since: Millis,
        hosts: &[HostId],
    ) -> StoreResult<Vec<BackupDay>> {
        self.backup_days_among(since, Some(hosts.to_vec())).await
    }

    async fn backup_days_among(
        &self,
        since: Millis,
        hosts: Option<Vec<HostId>>,
    ) -> StoreResult<Vec<BackupDay>> {
        // `?3`, a JSON array of host ids, when only some hosts are asked
        // about. Two texts rather than `?3 IS NULL OR …`, which would keep
        // the planner from choosing the index for either case.
        let among = hosts.map(|ids| {
            let ids: Vec<String> = ids.iter().map(|h| h.0.to_string()).collect();
            format!("[{}]", ids.join(","))
        });
        let only = if among.is_some() {
            "AND host_id IN (SELECT value FROM json_each(?3))"
        } else {
            "AND ?3 IS NULL"
        };
        self.read(move |c| {
            let mut days: BTreeMap<(HostId, i64), BackupDay> = BTreeMap::new();
            let mut jobs = c.prepare_cached(&format!(
                "SELECT host_id, finished_at / ?2 AS day,
                        SUM(status = 'succeeded'), SUM(status IN ('failed', 'lost'))
                 FROM jobs WHERE kind = 'backup' AND finished_at >= ?1 {only}
                 GROUP BY host_id, day"
            ))?;
            let rows = jobs.query_map(params![since, DAY_MS, among], |r| {
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
            let mut missed = c.prepare_cached(&format!(
                "SELECT host_id, fire_at / ?2 AS day, COUNT(*)
                 FROM pending_runs WHERE fire_at >= ?1 {only} GROUP BY host_id, day"
            ))?;
            let rows = missed.query_map(params![since, DAY_MS, among], |r| {
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
            // Per host, two seeks on jobs_host_kind_finished (migration
            // 0007): the newest finished backup, and walking back from it
            // the newest that succeeded. Scanning every backup instead grew
            // with the fleet's whole history.
            let mut last = c.prepare_cached(
                "SELECT x.host_id, l.status, l.finished_at, x.good FROM (
                   SELECT h.id AS host_id,
                          (SELECT j.id FROM jobs j
                            WHERE j.host_id = h.id AND j.kind = 'backup' AND j.finished_at IS NOT NULL
                            ORDER BY j.finished_at DESC, j.id DESC LIMIT 1) AS last_id,
                          (SELECT j.finished_at FROM jobs j
                            WHERE j.host_id = h.id AND j.kind = 'backup' AND j.finished_at IS NOT NULL
                              AND j.status = 'succeeded'
                            ORDER BY j.finished_at DESC LIMIT 1) AS good
                   FROM hosts h) AS x
                 JOIN jobs l ON l.id = x.last_id",
            )?;
            let rows = last.query_map([], |r| {
                Ok((
                    r.get::<_, HostId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Millis>(2)?,
                    r.get::<_, Option<Millis>>(3)?,
                ))
            })?;
            for row in rows {
                let (host, status, at, good) = row?;
                let status = JobStatus::parse(&status).ok_or(StoreError::Corrupt {
                    column: "jobs.status",
                    detail: format!("unknown status {status:?}"),
                })?;
                found.insert(
                    host,
                    LastBackups {
                        last: Some((status, at)),
                        good,
                    },
                );
            }
            Ok(found)
        })
        .await
    }
}
