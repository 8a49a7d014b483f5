//! Hosts (agent identities), enrollment on announce, and the per-host replay
//! cursor (`agent_seq`).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::enrollment::{EnrollmentCheck, check_enrollment_in};
use crate::error::{StoreError, StoreResult};
use crate::ids::{EnrollmentTokenId, HostId, UserId};
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// Whether a host's identity is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostStatus {
    /// Announced, awaiting an operator.
    Pending,
    /// Trusted: jobs may be dispatched to it.
    Approved,
    /// Refused by an operator.
    Rejected,
    /// Was trusted, no longer is. Never re-activated.
    Revoked,
}

impl HostStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Pending => "pending",
            HostStatus::Approved => "approved",
            HostStatus::Rejected => "rejected",
            HostStatus::Revoked => "revoked",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<HostStatus> {
        match s {
            "pending" => Some(HostStatus::Pending),
            "approved" => Some(HostStatus::Approved),
            "rejected" => Some(HostStatus::Rejected),
            "revoked" => Some(HostStatus::Revoked),
            _ => None,
        }
    }
}

impl std::fmt::Display for HostStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an agent reports about its host (already cleaned by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub kernel: String,
    pub agent_version: String,
    pub restic_version: String,
    /// The protocol version its agent announced (0: not known).
    pub protocol_version: u32,
}

/// A host as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: HostId,
    pub fingerprint: String,
    pub status: HostStatus,
    pub status_reason: Option<String>,
    pub facts: HostFacts,
    pub labels: BTreeMap<String, String>,
    pub enrollment_token_id: Option<EnrollmentTokenId>,
    pub created_at: Millis,
    pub status_changed_at: Millis,
    pub last_seen_at: Option<Millis>,
    pub last_addr: Option<String>,
    pub schedules_desired_version: u64,
    pub schedules_applied_version: u64,
    /// The repositories assigned to the host, by id.
    pub repository_ids: Vec<crate::ids::RepositoryId>,
}

/// An agent announcing itself.
#[derive(Clone)]
pub struct Announce {
    pub identity_hash: Vec<u8>,
    pub fingerprint: String,
    pub facts: HostFacts,
    pub addr: Option<String>,
    /// The hash of the enrollment token it presented, if any.
    pub enroll_token_hash: Option<Vec<u8>>,
    pub now: Millis,
}

impl std::fmt::Debug for Announce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announce")
            .field("fingerprint", &self.fingerprint)
            .field("facts", &self.facts)
            .field("addr", &self.addr)
            .field("enroll", &self.enroll_token_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// What announcing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub host: Host,
    /// A new identity (first announce).
    pub created: bool,
    /// What became of the enrollment token, if one was presented for a new
    /// identity.
    pub enrollment: Option<EnrollmentCheck>,
}

/// Which hosts to list; every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFilter {
    pub status: Option<HostStatus>,
    /// Every one of these labels must be on the host, with this value (an
    /// empty value: with any value, as the API promises).
    pub labels: BTreeMap<String, String>,
    /// Only hosts among, or only hosts not among, a set of ids (the server
    /// knows which hosts are online; the store does not).
    pub ids: Option<HostIds>,
    /// Text the hostname contains (ignoring case) or the fingerprint starts
    /// with; empty matches every host.
    pub search: String,
}

/// A set of hosts a listing keeps to, or leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostIds {
    /// Only these hosts.
    In(Vec<HostId>),
    /// Every host but these.
    NotIn(Vec<HostId>),
}

const HOST_COLUMNS: &str =
    "id, fingerprint, status, status_reason, hostname, os, os_version, arch, kernel,
     agent_version, restic_version, labels, enrollment_token_id, created_at, status_changed_at,
     last_seen_at, last_addr, schedules_desired_version, schedules_applied_version,
     (SELECT json_group_array(repository_id) FROM
        (SELECT repository_id FROM host_repos WHERE host_id = hosts.id ORDER BY repository_id)),
     protocol_version";

fn corrupt(column: usize, detail: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, detail.into())
}

fn host_from_row(row: &Row<'_>) -> rusqlite::Result<Host> {
    let status: String = row.get(2)?;
    let labels: String = row.get(11)?;
    Ok(Host {
        id: row.get(0)?,
        fingerprint: row.get(1)?,
        status: HostStatus::parse(&status)
            .ok_or_else(|| corrupt(2, format!("unknown host status {status:?}")))?,
        status_reason: row.get(3)?,
        facts: HostFacts {
            hostname: row.get(4)?,
            os: row.get(5)?,
            os_version: row.get(6)?,
            arch: row.get(7)?,
            kernel: row.get(8)?,
            agent_version: row.get(9)?,
            restic_version: row.get(10)?,
            protocol_version: row.get(20)?,
        },
        labels: serde_json::from_str(&labels).map_err(|e| corrupt(11, e.to_string()))?,
        enrollment_token_id: row.get(12)?,
        created_at: row.get(13)?,
        status_changed_at: row.get(14)?,
        last_seen_at: row.get(15)?,
        last_addr: row.get(16)?,
        schedules_desired_version: row.get::<_, i64>(17)? as u64,
        schedules_applied_version: row.get::<_, i64>(18)? as u64,
        repository_ids: serde_json::from_str::<Vec<i64>>(&row.get::<_, String>(19)?)
            .unwrap_or_default()
            .into_iter()
            .map(crate::ids::RepositoryId)
            .collect(),
    })
}

pub(crate) fn host_in(conn: &Connection, id: HostId) -> StoreResult<Host> {
    conn.query_row(
        &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?1"),
        [id],
        host_from_row,
    )
    .map_err(StoreError::about("host"))
}

pub(crate) fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Records an agent's announce. A known identity gets its facts and
    /// last-seen refreshed (its status never changes here: a revoked or
    /// rejected identity stays so). A new identity is inserted pending, or
    /// approved if it presented a valid enrollment token, whose use is
    /// counted in the same transaction.
    pub async fn announce_host(&self, a: Announce) -> StoreResult<Announced> {
        self.write(move |c| {
            let existing: Option<HostId> = c
                .query_row("SELECT id FROM hosts WHERE identity_hash = ?1", [&a.identity_hash], |r| r.get(0))
                .optional()?;
            let f = &a.facts;
            if let Some(id) = existing {
                c.execute(
                    "UPDATE hosts SET hostname = ?2, os = ?3, os_version = ?4, arch = ?5, kernel = ?6,
                            agent_version = ?7, restic_version = ?8, last_seen_at = ?9, last_addr = ?10,
                            protocol_version = ?11
                     WHERE id = ?1",
                    params![id, f.hostname, f.os, f.os_version, f.arch, f.kernel, f.agent_version, f.restic_version, a.now, a.addr, f.protocol_version],
                )?;
                return Ok(Announced { host: host_in(c, id)?, created: false, enrollment: None });
            }
            let enrollment = match &a.enroll_token_hash {
                Some(hash) => Some(check_enrollment_in(c, hash, a.now)?),
                None => None,
            };
            let (status, reason, labels, token_id) = match &enrollment {
                Some(EnrollmentCheck::Valid { token_id, labels }) => {
                    c.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?1", [token_id])?;
                    (HostStatus::Approved, None, labels.clone(), Some(*token_id))
                }
                Some(refused) => (HostStatus::Pending, refused.reason().map(str::to_string), BTreeMap::new(), None),
                None => (HostStatus::Pending, None, BTreeMap::new(), None),
            };
            c.execute(
                "INSERT INTO hosts (identity_hash, fingerprint, status, status_reason, hostname, os, os_version,
                                    arch, kernel, agent_version, restic_version, labels, enrollment_token_id,
                                    created_at, status_changed_at, last_seen_at, last_addr, protocol_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?14, ?15, ?16)",
                params![
                    a.identity_hash,
                    a.fingerprint,
                    status.as_str(),
                    reason,
                    f.hostname,
                    f.os,
                    f.os_version,
                    f.arch,
                    f.kernel,
                    f.agent_version,
                    f.restic_version,
                    labels_json(&labels),
                    token_id,
                    a.now,
                    a.addr,
                    f.protocol_version
                ],
            )?;
            let id = HostId(c.last_insert_rowid());
            c.execute("INSERT INTO agent_seq (host_id, last_applied, updated_at) VALUES (?1, 0, ?2)", params![id, a.now])?;
            Ok(Announced { host: host_in(c, id)?, created: true, enrollment })
        })
        .await
    }

    /// The host holding an identity (by its hash), if any.
    pub async fn host_by_identity(&self, identity_hash: Vec<u8>) -> StoreResult<Option<HostId>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id FROM hosts WHERE identity_hash = ?1",
                [&identity_hash],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    /// How many hosts wait for approval.
    pub async fn pending_host_count(&self) -> StoreResult<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM hosts WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// One host.
    pub async fn host(&self, id: HostId) -> StoreResult<Host> {
        self.read(move |c| host_in(c, id)).await
    }

    /// Hosts by id, a page at a time. The filter is part of the query, so a
    /// page is short only at the end.
    pub async fn list_hosts(&self, filter: HostFilter, page: Page) -> StoreResult<PageOf<Host>> {
        let ids_json = |ids: &[HostId]| {
            serde_json::to_string(&ids.iter().map(|h| h.0).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into())
        };
        let (only, except) = match &filter.ids {
            None => (None, None),
            Some(HostIds::In(ids)) => (Some(ids_json(ids)), None),
            Some(HostIds::NotIn(ids)) => (None, Some(ids_json(ids))),
        };
        let labels = labels_json(&filter.labels);
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {HOST_COLUMNS} FROM hosts WHERE id > ?1 AND (?2 IS NULL OR status = ?2)
                   AND NOT EXISTS (SELECT 1 FROM json_each(?4) wanted WHERE NOT EXISTS (
                         SELECT 1 FROM json_each(hosts.labels) have
                         WHERE have.key = wanted.key AND (wanted.value = '' OR have.value = wanted.value)))
                   AND (?5 IS NULL OR id IN (SELECT value FROM json_each(?5)))
                   AND (?6 IS NULL OR id NOT IN (SELECT value FROM json_each(?6)))
                   AND (?7 = '' OR instr(lower(hostname), lower(?7)) > 0 OR instr(fingerprint, ?7) = 1)
                 ORDER BY id LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        page.cursor.unwrap_or(0),
                        filter.status.map(HostStatus::as_str),
                        page.probe_limit(),
                        labels,
                        only,
                        except,
                        filter.search
                    ],
                    host_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |h| h.id.0))
        })
        .await
    }

    /// Changes a host's status if it is currently one of `from`. Returns the
    /// host as changed, or `Conflict` if its status was not in `from`.
    pub async fn set_host_status(
        &self,
        id: HostId,
        from: &'static [HostStatus],
        to: HostStatus,
        reason: Option<String>,
        by: Option<UserId>,
        now: Millis,
    ) -> StoreResult<Host> {
        self.write(move |c| {
            let current = host_in(c, id)?;
            if !from.contains(&current.status) {
                return Err(StoreError::Conflict { what: "host status change" });
            }
            c.execute(
                "UPDATE hosts SET status = ?2, status_reason = ?3, status_changed_at = ?4, status_changed_by = ?5
                 WHERE id = ?1",
                params![id, to.as_str(), reason, now, by],
            )?;
            host_in(c, id)
        })
        .await
    }

    /// Replaces a host's labels.
    pub async fn set_host_labels(
        &self,
        id: HostId,
        labels: BTreeMap<String, String>,
    ) -> StoreResult<Host> {
        self.write(move |c| {
            let changed = c.execute(
                "UPDATE hosts SET labels = ?2 WHERE id = ?1",
                params![id, labels_json(&labels)],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound { what: "host" });
            }
            host_in(c, id)
        })
        .await
    }

    /// Deletes a host and everything that hangs off it.
    pub async fn delete_host(&self, id: HostId) -> StoreResult<Host> {
        self.write(move |c| {
            let host = host_in(c, id)?;
            c.execute("DELETE FROM hosts WHERE id = ?1", [id])?;
            Ok(host)
        })
        .await
    }

    /// Records a sign of life.
    pub async fn touch_host(&self, id: HostId, now: Millis) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE hosts SET last_seen_at = max(coalesce(last_seen_at, 0), ?2) WHERE id = ?1",
                params![id, now],
            )?;
            Ok(())
        })
        .await
    }
}
