//! The snapshot cache: what each repository held when an agent last listed
//! it (after every backup and forget, and on request).

use rusqlite::{Connection, Row, params};

use crate::error::StoreResult;
use crate::ids::{HostId, RepositoryId};
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// A cached snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSnapshot {
    pub repository_id: RepositoryId,
    pub snapshot_id: String,
    pub short_id: String,
    pub time: Millis,
    pub hostname: String,
    /// The host whose hostname matches, if one does.
    pub host_id: Option<HostId>,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    pub parent: Option<String>,
    pub tree: Option<String>,
    pub seen_at: Millis,
}

fn snapshot_from_row(row: &Row<'_>) -> rusqlite::Result<CachedSnapshot> {
    let paths: String = row.get(6)?;
    let tags: String = row.get(7)?;
    Ok(CachedSnapshot {
        repository_id: row.get(0)?,
        snapshot_id: row.get(1)?,
        short_id: row.get(2)?,
        time: row.get(3)?,
        hostname: row.get(4)?,
        host_id: row.get(5)?,
        paths: serde_json::from_str(&paths).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        parent: row.get(8)?,
        tree: row.get(9)?,
        seen_at: row.get(10)?,
    })
}

/// The effect of one part of a `SnapshotList`: the first part clears the
/// repository's cache, every part adds its snapshots.
pub fn replace_snapshots(
    repository: RepositoryId,
    first_part: bool,
    snapshots: Vec<CachedSnapshot>,
    now: Millis,
) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
    move |c| {
        if first_part {
            c.execute(
                "DELETE FROM snapshots WHERE repository_id = ?1",
                [repository],
            )?;
        }
        let mut insert = c.prepare_cached(
            "INSERT INTO snapshots (repository_id, snapshot_id, short_id, snapshot_time, hostname, host_id, paths, tags,
                                    parent, tree, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, (SELECT id FROM hosts WHERE hostname = ?5 ORDER BY id DESC LIMIT 1), ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (repository_id, snapshot_id) DO UPDATE SET seen_at = excluded.seen_at",
        )?;
        for s in snapshots {
            insert.execute(params![
                repository,
                s.snapshot_id,
                s.short_id,
                s.time,
                s.hostname,
                serde_json::to_string(&s.paths).unwrap_or_else(|_| "[]".into()),
                serde_json::to_string(&s.tags).unwrap_or_else(|_| "[]".into()),
                s.parent,
                s.tree,
                now
            ])?;
        }
        Ok(())
    }
}

impl Store {
    /// Cached snapshots of a repository (optionally one host's), newest
    /// first. The cursor is the snapshot time.
    pub async fn list_snapshots(
        &self,
        repository: RepositoryId,
        host: Option<HostId>,
        page: Page,
    ) -> StoreResult<PageOf<CachedSnapshot>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT repository_id, snapshot_id, short_id, snapshot_time, hostname, host_id, paths, tags, parent, tree, seen_at
                 FROM snapshots WHERE repository_id = ?1 AND (?2 IS NULL OR host_id = ?2) AND snapshot_time < ?3
                 ORDER BY snapshot_time DESC LIMIT ?4",
            )?;
            let rows = stmt
                .query_map(params![repository, host, page.cursor.unwrap_or(i64::MAX), page.probe_limit()], snapshot_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |s| s.time))
        })
        .await
    }
}
