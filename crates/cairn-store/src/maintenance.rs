//! Maintenance plans (`host_repo_maintenance`): forget, prune and check
//! cadences for one host's use of one repository. Policies are kept in the
//! store's JSON (`docs/store.md`).

use cairn_domain::{MaxUnused, ReadDataSubset, RetentionPolicy};
use rusqlite::{Connection, Row, params};

use crate::codec::{column, encode};
use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, RepositoryId};
use crate::{Millis, Store};

/// A plan as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenancePlan {
    pub id: i64,
    pub host_id: HostId,
    pub repository_id: RepositoryId,
    pub fields: PlanFields,
    pub last_forget_at: Option<Millis>,
    pub last_prune_at: Option<Millis>,
    pub last_check_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What an operator sets on a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanFields {
    pub enabled: bool,
    pub retention: RetentionPolicy,
    pub forget_every_seconds: Option<u64>,
    pub prune_every_seconds: Option<u64>,
    pub prune_max_unused: Option<MaxUnused>,
    pub check_every_seconds: Option<u64>,
    pub check_read_data_subset: Option<ReadDataSubset>,
}

/// Which cadence ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chore {
    Forget,
    Prune,
    Check,
}

const COLUMNS: &str = "id, host_id, repository_id, enabled, retention, forget_every_seconds, prune_every_seconds,
     prune_max_unused, check_every_seconds, check_read_data_subset, last_forget_at, last_prune_at, last_check_at,
     created_at, updated_at";

fn optional<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    id: i64,
    (index, name): (usize, &'static str),
) -> rusqlite::Result<Option<T>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| column("host_repo_maintenance", id, (index, name), &text))
        .transpose()
}

fn plan_from_row(row: &Row<'_>) -> rusqlite::Result<MaintenancePlan> {
    let secs = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|v| v as u64))
    };
    let id: i64 = row.get(0)?;
    let retention: String = row.get(4)?;
    Ok(MaintenancePlan {
        id,
        host_id: row.get(1)?,
        repository_id: row.get(2)?,
        fields: PlanFields {
            enabled: row.get(3)?,
            retention: column("host_repo_maintenance", id, (4, "retention"), &retention)?,
            forget_every_seconds: secs(5)?,
            prune_every_seconds: secs(6)?,
            prune_max_unused: optional(row, id, (7, "prune_max_unused"))?,
            check_every_seconds: secs(8)?,
            check_read_data_subset: optional(row, id, (9, "check_read_data_subset"))?,
        },
        last_forget_at: row.get(10)?,
        last_prune_at: row.get(11)?,
        last_check_at: row.get(12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

fn plan_in(conn: &Connection, id: i64) -> StoreResult<MaintenancePlan> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM host_repo_maintenance WHERE id = ?1"),
        [id],
        plan_from_row,
    )
    .map_err(StoreError::about("maintenance plan"))
}

impl Store {
    /// Creates or replaces the plan of `host`'s use of `repository`.
    pub async fn upsert_plan(
        &self,
        host: HostId,
        repository: RepositoryId,
        f: PlanFields,
        now: Millis,
    ) -> StoreResult<MaintenancePlan> {
        self.write(move |c| {
            let secs = |v: Option<u64>| v.map(|s| s as i64);
            c.execute(
                "INSERT INTO host_repo_maintenance (host_id, repository_id, enabled, retention, forget_every_seconds,
                        prune_every_seconds, prune_max_unused, check_every_seconds, check_read_data_subset, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                 ON CONFLICT (host_id, repository_id) DO UPDATE SET enabled = excluded.enabled, retention = excluded.retention,
                        forget_every_seconds = excluded.forget_every_seconds, prune_every_seconds = excluded.prune_every_seconds,
                        prune_max_unused = excluded.prune_max_unused, check_every_seconds = excluded.check_every_seconds,
                        check_read_data_subset = excluded.check_read_data_subset, updated_at = excluded.updated_at",
                params![
                    host,
                    repository,
                    f.enabled,
                    encode(&f.retention),
                    secs(f.forget_every_seconds),
                    secs(f.prune_every_seconds),
                    f.prune_max_unused.as_ref().map(encode),
                    secs(f.check_every_seconds),
                    f.check_read_data_subset.as_ref().map(encode),
                    now
                ],
            )
            .map_err(StoreError::about("maintenance plan"))?;
            let id: i64 = c.query_row(
                "SELECT id FROM host_repo_maintenance WHERE host_id = ?1 AND repository_id = ?2",
                params![host, repository],
                |r| r.get(0),
            )?;
            plan_in(c, id)
        })
        .await
    }

    /// Plans, optionally one host's.
    pub async fn list_plans(&self, host: Option<HostId>) -> StoreResult<Vec<MaintenancePlan>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM host_repo_maintenance WHERE ?1 IS NULL OR host_id = ?1 ORDER BY id"))?;
            let rows = stmt.query_map(params![host], plan_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One plan.
    pub async fn plan(&self, id: i64) -> StoreResult<MaintenancePlan> {
        self.read(move |c| plan_in(c, id)).await
    }

    /// Deletes a plan.
    pub async fn delete_plan(&self, id: i64) -> StoreResult<()> {
        self.write(move |c| {
            if c.execute("DELETE FROM host_repo_maintenance WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::NotFound {
                    what: "maintenance plan",
                });
            }
            Ok(())
        })
        .await
    }

    /// Records that a chore of a plan was queued at `at`.
    pub async fn mark_chore(&self, id: i64, chore: Chore, at: Millis) -> StoreResult<()> {
        let column = match chore {
            Chore::Forget => "last_forget_at",
            Chore::Prune => "last_prune_at",
            Chore::Check => "last_check_at",
        };
        self.write(move |c| {
            c.execute(
                &format!("UPDATE host_repo_maintenance SET {column} = ?2 WHERE id = ?1"),
                params![id, at],
            )?;
            Ok(())
        })
        .await
    }

    /// Whether any job on the repository (on any host) is dispatched or
    /// running, optionally only exclusive ones (forget, prune, check, unlock).
    pub async fn repository_busy(
        &self,
        repository: RepositoryId,
        exclusive_only: bool,
    ) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM jobs WHERE repository_id = ?1 AND status IN ('dispatched', 'running')
                   AND (NOT ?2 OR kind IN ('forget', 'prune', 'check', 'unlock'))",
                params![repository, exclusive_only],
                |r| r.get::<_, i64>(0),
            )? > 0)
        })
        .await
    }

    /// Hosts that have queued jobs.
    pub async fn hosts_with_queued_jobs(&self) -> StoreResult<Vec<HostId>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT DISTINCT host_id FROM jobs WHERE status = 'queued'")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<HostId>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
