//! API tokens. Only a SHA-256 hash of each secret is stored; the secret
//! itself is shown once, when the token is made.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{ApiTokenId, UserId};
use crate::page::{Page, PageOf};
use crate::users::{User, user_from_row};
use crate::{Millis, Store};

/// What a token may do; ordered, so `Admin > Operate > Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read-only calls.
    Read,
    /// Read plus operate calls.
    Operate,
    /// Everything.
    Admin,
}

impl Scope {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }

    /// Parses the stored (or typed) spelling.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "operate" => Some(Scope::Operate),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API token's record (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub username: String,
    pub name: String,
    pub prefix: String,
    pub scope: Scope,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl ApiToken {
    /// Whether calls carrying this token are accepted at `now`.
    pub fn is_active(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A token to create.
#[derive(Clone)]
pub struct NewApiToken {
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    pub scope: Scope,
    pub expires_at: Option<Millis>,
    pub created_by: Option<UserId>,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Which tokens to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenFilter {
    /// Only this user's tokens; `None` for everyone's.
    pub user_id: Option<UserId>,
    /// Also revoked and expired ones.
    pub include_inactive: bool,
}

const TOKEN_COLUMNS: &str = "api_tokens.id, api_tokens.user_id, users.username, api_tokens.name,
     api_tokens.prefix, api_tokens.scope, api_tokens.created_at, api_tokens.expires_at,
     api_tokens.last_used_at, api_tokens.revoked_at";

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let scope: String = row.get(5)?;
    Ok(ApiToken {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        name: row.get(3)?,
        prefix: row.get(4)?,
        scope: Scope::parse(&scope).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                format!("unknown scope {scope:?}").into(),
            )
        })?,
        created_at: row.get(6)?,
        expires_at: row.get(7)?,
        last_used_at: row.get(8)?,
        revoked_at: row.get(9)?,
    })
}

fn token_by_id_in(conn: &Connection, id: ApiTokenId) -> StoreResult<ApiToken> {
    conn.query_row(
        &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens JOIN users ON users.id = api_tokens.user_id WHERE api_tokens.id = ?1"),
        [id],
        token_from_row,
    )
    .map_err(StoreError::about("API token"))
}

impl Store {
    /// Stores a new token.
    pub async fn create_api_token(&self, new: NewApiToken, now: Millis) -> StoreResult<ApiToken> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO api_tokens (user_id, name, prefix, token_hash, scope, created_at,
                                         created_by, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.user_id,
                    new.name,
                    new.prefix,
                    new.token_hash,
                    new.scope.as_str(),
                    now,
                    new.created_by,
                    new.expires_at
                ],
            )
            .map_err(StoreError::about("API token"))?;
            token_by_id_in(c, ApiTokenId(c.last_insert_rowid()))
        })
        .await
    }

    /// The token whose secret hashes to `token_hash`, with its owner, if any
    /// (active or not: the caller decides, so it can say why it refuses).
    pub async fn api_token_by_hash(
        &self,
        token_hash: Vec<u8>,
    ) -> StoreResult<Option<(ApiToken, User)>> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {TOKEN_COLUMNS}, users.id, users.username, users.role, users.disabled,
                            users.created_at, users.last_login_at, users.password_hash
                     FROM api_tokens JOIN users ON users.id = api_tokens.user_id
                     WHERE api_tokens.token_hash = ?1"
                ),
                [token_hash],
                |row| Ok((token_from_row(row)?, user_from_row(row, 10)?)),
            )
            .optional()?)
        })
        .await
    }

    /// One token by id.
    pub async fn api_token(&self, id: ApiTokenId) -> StoreResult<ApiToken> {
        self.read(move |c| token_by_id_in(c, id)).await
    }

    /// Tokens, newest first, a page at a time.
    pub async fn list_api_tokens(
        &self,
        filter: TokenFilter,
        page: Page,
        now: Millis,
    ) -> StoreResult<PageOf<ApiToken>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens JOIN users ON users.id = api_tokens.user_id
                 WHERE api_tokens.id < ?1
                   AND (?2 IS NULL OR api_tokens.user_id = ?2)
                   AND (?3 OR (api_tokens.revoked_at IS NULL
                               AND (api_tokens.expires_at IS NULL OR api_tokens.expires_at > ?4)))
                 ORDER BY api_tokens.id DESC LIMIT ?5"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        page.cursor.unwrap_or(i64::MAX),
                        filter.user_id,
                        filter.include_inactive,
                        now,
                        page.probe_limit()
                    ],
                    token_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |t| t.id.0))
        })
        .await
    }

    /// Revokes a token (idempotent: revoking twice keeps the first time).
    pub async fn revoke_api_token(&self, id: ApiTokenId, now: Millis) -> StoreResult<ApiToken> {
        self.write(move |c| {
            let changed = c.execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound { what: "API token" });
            }
            token_by_id_in(c, id)
        })
        .await
    }

    /// Records that a call carried the token.
    pub async fn touch_api_token(&self, id: ApiTokenId, now: Millis) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(())
        })
        .await
    }
}
