//! Enrollment tokens: an agent started with a live one is approved on
//! announce. Only a SHA-256 hash of each secret is stored.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::hosts::labels_json;
use crate::ids::{EnrollmentTokenId, UserId};
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// An enrollment token's record (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    pub id: EnrollmentTokenId,
    pub name: String,
    pub prefix: String,
    pub labels: BTreeMap<String, String>,
    pub max_uses: u32,
    pub uses: u32,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A token to create.
#[derive(Clone)]
pub struct NewEnrollmentToken {
    pub name: String,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    pub labels: BTreeMap<String, String>,
    pub max_uses: u32,
    pub expires_at: Millis,
    pub created_by: Option<UserId>,
}

impl std::fmt::Debug for NewEnrollmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEnrollmentToken")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("max_uses", &self.max_uses)
            .finish_non_exhaustive()
    }
}

/// What a presented enrollment token is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollmentCheck {
    /// Live: the host is approved with these labels.
    Valid {
        token_id: EnrollmentTokenId,
        labels: BTreeMap<String, String>,
    },
    /// No such token.
    Unknown,
    /// Past its expiry.
    Expired,
    /// All its uses are spent.
    Exhausted,
    /// Revoked by an operator.
    Revoked,
}

impl EnrollmentCheck {
    /// Why the token did not approve the host, for the pending host's reason.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            EnrollmentCheck::Valid { .. } => None,
            EnrollmentCheck::Unknown => Some("enrollment token unknown"),
            EnrollmentCheck::Expired => Some("enrollment token expired"),
            EnrollmentCheck::Exhausted => Some("enrollment token used up"),
            EnrollmentCheck::Revoked => Some("enrollment token revoked"),
        }
    }
}

const COLUMNS: &str =
    "id, name, prefix, labels, max_uses, uses, created_at, expires_at, revoked_at";

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<EnrollmentToken> {
    let labels: String = row.get(3)?;
    Ok(EnrollmentToken {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        labels: serde_json::from_str(&labels).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                e.to_string().into(),
            )
        })?,
        max_uses: row.get(4)?,
        uses: row.get(5)?,
        created_at: row.get(6)?,
        expires_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

fn token_in(conn: &Connection, id: EnrollmentTokenId) -> StoreResult<EnrollmentToken> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM enrollment_tokens WHERE id = ?1"),
        [id],
        token_from_row,
    )
    .map_err(StoreError::about("enrollment token"))
}

pub(crate) fn check_enrollment_in(
    conn: &Connection,
    hash: &[u8],
    now: Millis,
) -> StoreResult<EnrollmentCheck> {
    let token = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM enrollment_tokens WHERE token_hash = ?1"),
            [hash],
            token_from_row,
        )
        .optional()?;
    Ok(match token {
        None => EnrollmentCheck::Unknown,
        Some(t) if t.revoked_at.is_some() => EnrollmentCheck::Revoked,
        Some(t) if t.expires_at <= now => EnrollmentCheck::Expired,
        Some(t) if t.max_uses > 0 && t.uses >= t.max_uses => EnrollmentCheck::Exhausted,
        Some(t) => EnrollmentCheck::Valid {
            token_id: t.id,
            labels: t.labels,
        },
    })
}

impl Store {
    /// Whether the enrollment token with this hash would be accepted now
    /// (without using it up).
    pub async fn check_enrollment(
        &self,
        hash: Vec<u8>,
        now: Millis,
    ) -> StoreResult<EnrollmentCheck> {
        self.read(move |c| check_enrollment_in(c, &hash, now)).await
    }

    /// Stores a new enrollment token.
    pub async fn create_enrollment_token(
        &self,
        new: NewEnrollmentToken,
        now: Millis,
    ) -> StoreResult<EnrollmentToken> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO enrollment_tokens (name, prefix, token_hash, labels, max_uses, created_at, created_by, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![new.name, new.prefix, new.token_hash, labels_json(&new.labels), new.max_uses, now, new.created_by, new.expires_at],
            )
            .map_err(StoreError::about("enrollment token"))?;
            token_in(c, EnrollmentTokenId(c.last_insert_rowid()))
        })
        .await
    }

    /// Enrollment tokens, newest first.
    pub async fn list_enrollment_tokens(
        &self,
        include_inactive: bool,
        page: Page,
        now: Millis,
    ) -> StoreResult<PageOf<EnrollmentToken>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM enrollment_tokens
                 WHERE id < ?1 AND (?2 OR (revoked_at IS NULL AND expires_at > ?3 AND (max_uses = 0 OR uses < max_uses)))
                 ORDER BY id DESC LIMIT ?4"
            ))?;
            let rows = stmt
                .query_map(params![page.cursor.unwrap_or(i64::MAX), include_inactive, now, page.probe_limit()], token_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |t| t.id.0))
        })
        .await
    }

    /// Revokes an enrollment token (idempotent).
    pub async fn revoke_enrollment_token(
        &self,
        id: EnrollmentTokenId,
        now: Millis,
    ) -> StoreResult<EnrollmentToken> {
        self.write(move |c| {
            let changed = c.execute(
                "UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound {
                    what: "enrollment token",
                });
            }
            token_in(c, id)
        })
        .await
    }
}
