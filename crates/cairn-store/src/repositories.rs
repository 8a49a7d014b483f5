//! Repositories and their assignment to hosts. The URL, password and backend
//! environment are stored sealed; the caller seals them (the store has no key)
//! inside the same transaction that creates the row, since the seal is bound
//! to the row's id.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, RepositoryId};
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// A repository's record (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub id: RepositoryId,
    pub name: String,
    pub url_redacted: String,
    /// The names of the backend variables set (never their values).
    pub env_keys: Vec<String>,
    pub host_ids: Vec<HostId>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A repository's sealed secrets, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecrets {
    pub url: Vec<u8>,
    pub password: Vec<u8>,
    /// The backend environment (a sealed JSON map), if any.
    pub env: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecrets(<sealed>)")
    }
}

/// The visible part of a repository to create or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFields {
    pub name: String,
    pub url_redacted: String,
    pub env_keys: Vec<String>,
}

fn repository_from_row(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<Repository> {
    let id: RepositoryId = row.get(0)?;
    let env_keys: String = row.get(3)?;
    let mut hosts = conn.prepare_cached(
        "SELECT host_id FROM host_repos WHERE repository_id = ?1 ORDER BY host_id",
    )?;
    let host_ids = hosts
        .query_map([id], |r| r.get(0))?
        .collect::<Result<Vec<HostId>, _>>()?;
    Ok(Repository {
        id,
        name: row.get(1)?,
        url_redacted: row.get(2)?,
        env_keys: serde_json::from_str(&env_keys).unwrap_or_default(),
        host_ids,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

const COLUMNS: &str = "id, name, url_redacted, env_keys, created_at, updated_at";

pub(crate) fn repository_in(conn: &Connection, id: RepositoryId) -> StoreResult<Repository> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM repositories WHERE id = ?1"),
        [id],
        |row| repository_from_row(conn, row),
    )
    .map_err(StoreError::about("repository"))
}

fn secrets_in(conn: &Connection, id: RepositoryId) -> StoreResult<SealedSecrets> {
    conn.query_row(
        "SELECT url_sealed, password_sealed, env_sealed FROM repositories WHERE id = ?1",
        [id],
        |r| {
            Ok(SealedSecrets {
                url: r.get(0)?,
                password: r.get(1)?,
                env: r.get(2)?,
            })
        },
    )
    .map_err(StoreError::about("repository"))
}

fn keys_json(keys: &[String]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".into())
}

/// Bumps the schedule-set version of every host (or just `host`) with a
/// schedule on the repository: the cascade about to delete those schedules
/// changes the set the host should run.
fn bump_hosts_scheduling(
    c: &Connection,
    id: RepositoryId,
    host: Option<HostId>,
) -> StoreResult<()> {
    let hosts = c
        .prepare(
            "SELECT DISTINCT host_id FROM schedules WHERE repository_id = ?1
               AND (?2 IS NULL OR host_id = ?2)",
        )?
        .query_map(params![id, host], |row| row.get::<_, HostId>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for host in hosts {
        crate::schedules::bump_version(c, host)?;
    }
    Ok(())
}

impl Store {
    /// Creates a repository; `seal` turns the new row's id into its sealed
    /// secrets, in the same transaction.
    pub async fn create_repository<F>(
        &self,
        fields: RepositoryFields,
        now: Millis,
        seal: F,
    ) -> StoreResult<Repository>
    where
        F: FnOnce(RepositoryId) -> StoreResult<SealedSecrets> + Send + 'static,
    {
        self.write(move |c| {
            c.execute(
                "INSERT INTO repositories (name, url_sealed, url_redacted, password_sealed, env_keys, created_at, updated_at)
                 VALUES (?1, x'', ?2, x'', ?3, ?4, ?4)",
                params![fields.name, fields.url_redacted, keys_json(&fields.env_keys), now],
            )
            .map_err(StoreError::about("repository"))?;
            let id = RepositoryId(c.last_insert_rowid());
            let sealed = seal(id)?;
            c.execute(
                "UPDATE repositories SET url_sealed = ?2, password_sealed = ?3, env_sealed = ?4 WHERE id = ?1",
                params![id, sealed.url, sealed.password, sealed.env],
            )?;
            repository_in(c, id)
        })
        .await
    }

    /// Changes a repository: `fields` replaces the visible part, and `reseal`
    /// gets the current sealed secrets and returns the new ones.
    pub async fn update_repository<F>(
        &self,
        id: RepositoryId,
        fields: RepositoryFields,
        now: Millis,
        reseal: F,
    ) -> StoreResult<Repository>
    where
        F: FnOnce(SealedSecrets) -> StoreResult<SealedSecrets> + Send + 'static,
    {
        self.write(move |c| {
            let sealed = reseal(secrets_in(c, id)?)?;
            c.execute(
                "UPDATE repositories SET name = ?2, url_redacted = ?3, env_keys = ?4, url_sealed = ?5,
                        password_sealed = ?6, env_sealed = ?7, updated_at = ?8 WHERE id = ?1",
                params![id, fields.name, fields.url_redacted, keys_json(&fields.env_keys), sealed.url, sealed.password, sealed.env, now],
            )
            .map_err(StoreError::about("repository"))?;
            repository_in(c, id)
        })
        .await
    }

    /// One repository.
    pub async fn repository(&self, id: RepositoryId) -> StoreResult<Repository> {
        self.read(move |c| repository_in(c, id)).await
    }

    /// A repository's sealed secrets.
    pub async fn repository_secrets(&self, id: RepositoryId) -> StoreResult<SealedSecrets> {
        self.read(move |c| secrets_in(c, id)).await
    }

    /// Repositories by id (optionally only those assigned to `host`).
    pub async fn list_repositories(
        &self,
        host: Option<HostId>,
        page: Page,
    ) -> StoreResult<PageOf<Repository>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM repositories WHERE id > ?1
                   AND (?2 IS NULL OR id IN (SELECT repository_id FROM host_repos WHERE host_id = ?2))
                 ORDER BY id LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(params![page.cursor.unwrap_or(0), host, page.probe_limit()], |row| repository_from_row(c, row))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |r| r.id.0))
        })
        .await
    }

    /// Deletes a repository (its schedules, assignments and snapshot cache
    /// go with it; jobs keep their history).
    pub async fn delete_repository(&self, id: RepositoryId) -> StoreResult<Repository> {
        self.write(move |c| {
            let repo = repository_in(c, id)?;
            bump_hosts_scheduling(c, id, None)?;
            c.execute("DELETE FROM repositories WHERE id = ?1", [id])?;
            Ok(repo)
        })
        .await
    }

    /// Lets `host` use the repository. Idempotent.
    pub async fn assign_repository(
        &self,
        id: RepositoryId,
        host: HostId,
        now: Millis,
    ) -> StoreResult<Repository> {
        self.write(move |c| {
            repository_in(c, id)?;
            crate::hosts::host_in(c, host)?;
            c.execute(
                "INSERT INTO host_repos (host_id, repository_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![host, id, now],
            )?;
            repository_in(c, id)
        })
        .await
    }

    /// Stops `host` from using the repository. Idempotent.
    pub async fn unassign_repository(
        &self,
        id: RepositoryId,
        host: HostId,
    ) -> StoreResult<Repository> {
        self.write(move |c| {
            bump_hosts_scheduling(c, id, Some(host))?;
            c.execute(
                "DELETE FROM host_repos WHERE host_id = ?1 AND repository_id = ?2",
                params![host, id],
            )?;
            repository_in(c, id)
        })
        .await
    }

    /// Whether `host` may use the repository.
    pub async fn is_assigned(&self, id: RepositoryId, host: HostId) -> StoreResult<bool> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT 1 FROM host_repos WHERE host_id = ?1 AND repository_id = ?2",
                params![host, id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
        .await
    }
}
