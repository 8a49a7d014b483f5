//! The audit log: who did what, from where, to what, and how it ended.
//! Append-only: the schema's triggers refuse updates and deletes.

use rusqlite::{Row, params};

use crate::error::StoreResult;
use crate::ids::AuditId;
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// An operator in a browser session.
    User,
    /// A script with an API token.
    ApiToken,
    /// An agent (announcing, enrolling).
    Agent,
    /// The server itself (a ticker, the alert engine).
    System,
    /// `cairn admin` acting directly on the data dir.
    Cli,
    /// Someone not (yet) signed in, e.g. a failed login.
    Anonymous,
}

impl ActorKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiToken => "api_token",
            ActorKind::Agent => "agent",
            ActorKind::System => "system",
            ActorKind::Cli => "cli",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// Every kind, in the stored spelling's order of the schema.
    pub const ALL: [ActorKind; 6] = [
        ActorKind::User,
        ActorKind::ApiToken,
        ActorKind::Agent,
        ActorKind::System,
        ActorKind::Cli,
        ActorKind::Anonymous,
    ];

    /// The kind a stored spelling names, if any.
    pub fn from_name(s: &str) -> Option<ActorKind> {
        ActorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn parse(s: &str) -> ActorKind {
        ActorKind::from_name(s).unwrap_or(ActorKind::Anonymous)
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was refused: bad credentials, no permission, rate-limited.
    Denied,
    /// It was allowed but failed.
    Failed,
}

impl Outcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Denied, Outcome::Failed];

    /// The outcome a stored spelling names, if any.
    pub fn from_name(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    fn parse(s: &str) -> Outcome {
        Outcome::from_name(s).unwrap_or(Outcome::Failed)
    }
}

/// An entry to append. `detail` must never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor_kind: ActorKind,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub source_addr: Option<String>,
    /// Dotted verb, e.g. `auth.login`, `api_token.create`.
    pub action: String,
    /// What it acted on, e.g. `user:3`.
    pub target: Option<String>,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: Millis,
    pub entry: AuditEntry,
}

/// Which entries to list; every filter set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only actors of this kind.
    pub actor_kind: Option<ActorKind>,
    /// Only the actor with this id (a user, token or host id).
    pub actor_id: Option<i64>,
    /// Only actions that start with this, e.g. `auth.`.
    pub action_prefix: Option<String>,
    /// Only this exact target, e.g. `host:12`.
    pub target: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only entries at or after this time.
    pub since: Option<Millis>,
    /// Only entries before this time.
    pub until: Option<Millis>,
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.get(0)?,
        at: row.get(1)?,
        entry: AuditEntry {
            actor_kind: ActorKind::parse(&row.get::<_, String>(2)?),
            actor_id: row.get(3)?,
            actor_name: row.get(4)?,
            source_addr: row.get(5)?,
            action: row.get(6)?,
            target: row.get(7)?,
            outcome: Outcome::parse(&row.get::<_, String>(8)?),
            detail: row.get(9)?,
        },
    })
}

impl Store {
    /// Appends one entry.
    pub async fn append_audit(&self, entry: AuditEntry, at: Millis) -> StoreResult<AuditId> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, source_addr, action,
                                        target, outcome, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    at,
                    entry.actor_kind.as_str(),
                    entry.actor_id,
                    entry.actor_name,
                    entry.source_addr,
                    entry.action,
                    entry.target,
                    entry.outcome.as_str(),
                    entry.detail
                ],
            )?;
            Ok(AuditId(c.last_insert_rowid()))
        })
        .await
    }

    /// Entries, newest first, a page at a time.
    pub async fn list_audit(
        &self,
        filter: AuditFilter,
        page: Page,
    ) -> StoreResult<PageOf<AuditRecord>> {
        self.read(move |c| {
            let prefix = filter
                .action_prefix
                .map(|p| format!("{}%", p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
            let mut stmt = c.prepare(
                "SELECT id, at, actor_kind, actor_id, actor_name, source_addr, action, target, outcome, detail
                 FROM audit_log
                 WHERE id < ?1
                   AND (?2 IS NULL OR action LIKE ?2 ESCAPE '\\')
                   AND (?3 IS NULL OR outcome = ?3)
                   AND (?5 IS NULL OR actor_kind = ?5)
                   AND (?6 IS NULL OR actor_id = ?6)
                   AND (?7 IS NULL OR target = ?7)
                   AND (?8 IS NULL OR at >= ?8)
                   AND (?9 IS NULL OR at < ?9)
                 ORDER BY id DESC LIMIT ?4",
            )?;
            let rows = stmt
                .query_map(
                    params![
                        page.cursor.unwrap_or(i64::MAX),
                        prefix,
                        filter.outcome.map(Outcome::as_str),
                        page.probe_limit(),
                        filter.actor_kind.map(ActorKind::as_str),
                        filter.actor_id,
                        filter.target,
                        filter.since,
                        filter.until
                    ],
                    record_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |r| r.id.0))
        })
        .await
    }

    /// The retention sweep: deletes the entries before `cutoff` (Unix ms)
    /// and returns how many went. The schema refuses any other delete: the
    /// cutoff it checks exists only inside this write.
    pub async fn delete_audit_before(&self, cutoff: Millis) -> StoreResult<usize> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO audit_retention (id, cutoff) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET cutoff = excluded.cutoff",
                [cutoff],
            )?;
            let deleted = c.execute("DELETE FROM audit_log WHERE at < ?1", [cutoff])?;
            c.execute("DELETE FROM audit_retention", [])?;
            Ok(deleted)
        })
        .await
    }
}
