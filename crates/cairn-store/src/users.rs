//! Operators and their browser sessions.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{SessionId, UserId};
use crate::page::{Page, PageOf};
use crate::{Millis, Store};

/// An operator's role; ordered, so `Admin > Operator > Viewer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything except secrets.
    Viewer,
    /// Also runs jobs, restores, approves hosts, edits schedules.
    Operator,
    /// Also manages users, tokens, secrets and settings.
    Admin,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored (or typed) spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator account. The password hash is kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
    /// The argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A new operator account.
#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Changes to an operator; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// A signed-in browser session. Only the hash of its cookie value is stored.
#[derive(Clone)]
pub struct Session {
    pub id: SessionId,
    pub user: User,
    /// The per-session CSRF token that forms and HTMX send back.
    pub csrf_token: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("csrf_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A session to create.
#[derive(Clone)]
pub struct NewSession {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub csrf_token: String,
    pub now: Millis,
    pub expires_at: Millis,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str = "users.id, users.username, users.role, users.disabled, users.created_at, users.last_login_at, users.password_hash";

/// Reads a user from the first seven columns of `row` (as `USER_COLUMNS`).
pub(crate) fn user_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<User> {
    let role: String = row.get(offset + 2)?;
    Ok(User {
        id: row.get(offset)?,
        username: row.get(offset + 1)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                offset + 2,
                rusqlite::types::Type::Text,
                format!("unknown role {role:?}").into(),
            )
        })?,
        disabled: row.get(offset + 3)?,
        created_at: row.get(offset + 4)?,
        last_login_at: row.get(offset + 5)?,
        password_hash: row.get(offset + 6)?,
    })
}

pub(crate) fn user_by_id_in(conn: &Connection, id: UserId) -> StoreResult<User> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id],
        |row| user_from_row(row, 0),
    )
    .map_err(StoreError::about("user"))
}

impl Store {
    /// Creates an operator. A taken username is `Conflict`.
    pub async fn create_user(&self, new: NewUser, now: Millis) -> StoreResult<User> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO users (username, password_hash, role, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![new.username, new.password_hash, new.role.as_str(), now],
            )
            .map_err(StoreError::about("user"))?;
            user_by_id_in(c, UserId(c.last_insert_rowid()))
        })
        .await
    }

    /// How many operators exist (0 means the server awaits its first admin).
    pub async fn count_users(&self) -> StoreResult<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
        })
        .await
    }

    /// Creates the first admin only if no operator exists yet, in one
    /// transaction, so two racing setup requests cannot both succeed.
    pub async fn create_first_user(&self, new: NewUser, now: Millis) -> StoreResult<User> {
        self.write(move |c| {
            let existing: i64 = c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
            if existing > 0 {
                return Err(StoreError::Conflict { what: "first user" });
            }
            c.execute(
                "INSERT INTO users (username, password_hash, role, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![new.username, new.password_hash, new.role.as_str(), now],
            )
            .map_err(StoreError::about("user"))?;
            user_by_id_in(c, UserId(c.last_insert_rowid()))
        })
        .await
    }

    /// One operator by id.
    pub async fn user(&self, id: UserId) -> StoreResult<User> {
        self.read(move |c| user_by_id_in(c, id)).await
    }

    /// One operator by username (case-insensitive), if there is one.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [username],
                |row| user_from_row(row, 0),
            )
            .optional()?)
        })
        .await
    }

    /// Operators by id, a page at a time.
    pub async fn list_users(&self, page: Page) -> StoreResult<PageOf<User>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(
                    params![page.cursor.unwrap_or(0), page.probe_limit()],
                    |row| user_from_row(row, 0),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |u| u.id.0))
        })
        .await
    }

    /// Changes an operator's role or disabled flag. Disabling also ends every
    /// session of theirs in the same transaction.
    pub async fn update_user(
        &self,
        id: UserId,
        update: UserUpdate,
        now: Millis,
    ) -> StoreResult<User> {
        self.write(move |c| {
            let current = user_by_id_in(c, id)?;
            let role = update.role.unwrap_or(current.role);
            let disabled = update.disabled.unwrap_or(current.disabled);
            c.execute(
                "UPDATE users SET role = ?2, disabled = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, role.as_str(), disabled, now],
            )?;
            if disabled {
                c.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            }
            user_by_id_in(c, id)
        })
        .await
    }

    /// Replaces an operator's password hash and ends every session of theirs.
    pub async fn set_password(
        &self,
        id: UserId,
        password_hash: String,
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let changed = c.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, password_hash, now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound { what: "user" });
            }
            c.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// Creates a session and records the login time, in one transaction.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<SessionId> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at,
                                       expires_at, client_addr, user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
                params![
                    new.token_hash,
                    new.user_id,
                    new.csrf_token,
                    new.now,
                    new.expires_at,
                    new.client_addr,
                    new.user_agent
                ],
            )?;
            let id = SessionId(c.last_insert_rowid());
            c.execute(
                "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
                params![new.user_id, new.now],
            )?;
            Ok(id)
        })
        .await
    }

    /// The live session whose cookie hashes to `token_hash`, if any. Expired
    /// sessions and sessions of disabled users are not returned.
    pub async fn session_by_token_hash(
        &self,
        token_hash: Vec<u8>,
        now: Millis,
    ) -> StoreResult<Option<Session>> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT sessions.id, sessions.csrf_token, sessions.created_at, sessions.last_seen_at,
                            sessions.expires_at, {USER_COLUMNS}
                     FROM sessions JOIN users ON users.id = sessions.user_id
                     WHERE sessions.token_hash = ?1 AND sessions.expires_at > ?2 AND users.disabled = 0"
                ),
                params![token_hash, now],
                |row| {
                    Ok(Session {
                        id: row.get(0)?,
                        csrf_token: row.get(1)?,
                        created_at: row.get(2)?,
                        last_seen_at: row.get(3)?,
                        expires_at: row.get(4)?,
                        user: user_from_row(row, 5)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    /// Slides a session's idle expiry forward.
    pub async fn touch_session(
        &self,
        id: SessionId,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE sessions SET last_seen_at = ?2, expires_at = max(expires_at, ?3) WHERE id = ?1",
                params![id, now, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    /// Ends a session. Returns whether one existed.
    pub async fn delete_session(&self, id: SessionId) -> StoreResult<bool> {
        self.write(move |c| Ok(c.execute("DELETE FROM sessions WHERE id = ?1", [id])? > 0))
            .await
    }

    /// Ends the session whose cookie hashes to `token_hash`, if any.
    pub async fn delete_session_by_token_hash(&self, token_hash: Vec<u8>) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])? > 0)
        })
        .await
    }

    /// Removes sessions past their expiry. Returns how many.
    pub async fn delete_expired_sessions(&self, now: Millis) -> StoreResult<usize> {
        self.write(move |c| Ok(c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?))
            .await
    }
}
