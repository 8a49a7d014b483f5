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
    /// The host that made it: the host whose successful backup job reported
    /// this snapshot id (the earliest, if several claim it). Never taken
    /// from the hostname inside the snapshot, which any host with the
    /// repository's password can write; `None` for snapshots no backup of
    /// this server made. Ignored on insert: the store fills it from its own
    /// records.
    pub host_id: Option<HostId>,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    pub parent: Option<String>,
    pub tree: Option<String>,
    pub seen_at: Millis,
    /// The backup summary of the job that made it; `None` when no backup
    /// of this server made it. Read only: ignored on insert.
    pub summary: Option<cairn_domain::BackupSummary>,
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
        summary: match row.get::<_, Option<String>>(11)? {
            // Named by the job row it came from.
            Some(text) => Some(crate::codec::column(
                "jobs",
                row.get(12)?,
                (11, "summary"),
                &text,
            )?),
            None => None,
        },
    })
}

/// The columns [`snapshot_from_row`] reads, with the summary of the backup
/// job that made each snapshot (matched by id prefix: restic before 0.17
/// reports a short id).
const SELECT_SNAPSHOTS: &str = "SELECT repository_id, snapshot_id, short_id, snapshot_time, hostname, host_id, paths, tags, parent, tree, seen_at,
                        (SELECT j.summary FROM jobs j WHERE j.repository_id = snapshots.repository_id AND j.kind = 'backup'
                           AND j.status = 'succeeded' AND length(j.snapshot_id) >= 8
                           AND substr(snapshots.snapshot_id, 1, length(j.snapshot_id)) = j.snapshot_id
                         ORDER BY j.id LIMIT 1),
                        (SELECT j.id FROM jobs j WHERE j.repository_id = snapshots.repository_id AND j.kind = 'backup'
                           AND j.status = 'succeeded' AND length(j.snapshot_id) >= 8
                           AND substr(snapshots.snapshot_id, 1, length(j.snapshot_id)) = j.snapshot_id
                         ORDER BY j.id LIMIT 1) FROM snapshots";

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
             VALUES (?1, ?2, ?3, ?4, ?5, (SELECT host_id FROM jobs WHERE repository_id = ?1 AND kind = 'backup'
                       AND status = 'succeeded' AND length(snapshot_id) >= 8
                       AND substr(?2, 1, length(snapshot_id)) = snapshot_id ORDER BY id LIMIT 1),
                     ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (repository_id, snapshot_id) DO UPDATE SET seen_at = excluded.seen_at,
                host_id = coalesce(snapshots.host_id, excluded.host_id)",
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

/// Attributes the cached snapshot a backup job made to that job's host, once
/// the job has ended (the agent lists the repository just before it reports
/// the end). A snapshot already attributed keeps its host.
pub(crate) fn attribute_backup_snapshot(c: &Connection, job: crate::ids::JobId) -> StoreResult<()> {
    c.execute(
        "UPDATE snapshots SET host_id = (SELECT host_id FROM jobs WHERE id = ?1)
         WHERE host_id IS NULL AND (repository_id, snapshot_id) IN (
           SELECT s.repository_id, s.snapshot_id FROM snapshots s JOIN jobs j ON j.id = ?1
           WHERE j.kind = 'backup' AND j.status = 'succeeded' AND s.repository_id = j.repository_id
             AND length(j.snapshot_id) >= 8 AND substr(s.snapshot_id, 1, length(j.snapshot_id)) = j.snapshot_id)",
        [job],
    )?;
    // restic before 0.17 reports a short id; the cached list just taken
    // knows the full one, which is what the job promises.
    c.execute(
        "UPDATE jobs SET snapshot_id = (
           SELECT s.snapshot_id FROM snapshots s WHERE s.repository_id = jobs.repository_id
             AND substr(s.snapshot_id, 1, length(jobs.snapshot_id)) = jobs.snapshot_id)
         WHERE id = ?1 AND length(snapshot_id) BETWEEN 8 AND 63
           AND (SELECT count(*) FROM snapshots s WHERE s.repository_id = jobs.repository_id
                  AND substr(s.snapshot_id, 1, length(jobs.snapshot_id)) = jobs.snapshot_id) = 1",
        [job],
    )?;
    Ok(())
}

/// Which cached snapshots to list; every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    /// Only those this host made.
    pub host: Option<HostId>,
    /// Only those carrying every one of these tags.
    pub tags: Vec<String>,
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
        let filter = SnapshotFilter {
            host,
            tags: Vec::new(),
        };
        self.list_snapshots_matching(repository, filter, page).await
    }

    /// Cached snapshots of a repository matching `filter`, newest first. The
    /// filter is part of the query, so a page is short only at the end.
    pub async fn list_snapshots_matching(
        &self,
        repository: RepositoryId,
        filter: SnapshotFilter,
        page: Page,
    ) -> StoreResult<PageOf<CachedSnapshot>> {
        let tags = serde_json::to_string(&filter.tags).unwrap_or_else(|_| "[]".into());
        let host = filter.host;
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "{SELECT_SNAPSHOTS} WHERE repository_id = ?1 AND (?2 IS NULL OR host_id = ?2) AND snapshot_time < ?3
                   AND NOT EXISTS (SELECT 1 FROM json_each(?5) wanted
                                   WHERE wanted.value NOT IN (SELECT value FROM json_each(snapshots.tags)))
                 ORDER BY snapshot_time DESC LIMIT ?4"
            ))?;
            let rows = stmt
                .query_map(params![repository, host, page.cursor.unwrap_or(i64::MAX), page.probe_limit(), tags], snapshot_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |s| s.time))
        })
        .await
    }

    /// The cached snapshot of a repository whose id is `id` or starts with
    /// it; `None` when none does, or when the prefix names several.
    pub async fn find_snapshot(
        &self,
        repository: RepositoryId,
        id: &str,
    ) -> StoreResult<Option<CachedSnapshot>> {
        let id = id.to_ascii_lowercase();
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "{SELECT_SNAPSHOTS} WHERE repository_id = ?1 AND length(?2) > 0
                   AND substr(snapshot_id, 1, length(?2)) = ?2 LIMIT 2"
            ))?;
            let mut rows = stmt
                .query_map(params![repository, id], snapshot_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if rows.len() == 1 { rows.pop() } else { None })
        })
        .await
    }
}
