//! Operator authentication and authorisation, in the service layer so the
//! gRPC API and the web UI share every rule.
//!
//! A call is made by a [`Principal`]: an operator, reached through a browser
//! session, an API token, or the local `cairn admin` CLI. What the call may do
//! is the lower of the operator's role and (for a token) the token's scope.

pub(crate) mod limiter;
mod password;
mod revocations;
mod secret;
mod service;

use cairn_store::{ApiTokenId, Role, Scope, SessionId, UserId};

pub use limiter::LoginLimiter;
pub(crate) use password::hash_password as hash_password_for_admin;
pub use password::{validate_password, validate_username};
pub use revocations::Revocations;
pub(crate) use secret::hash_secret as hash_token;
pub use secret::{Secret, SecretToken, TokenKind};
pub use service::{Auth, AuthSettings, NewLogin};

use crate::error::{ServiceError, ServiceResult};

/// The operator behind a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: UserId,
    pub username: String,
    pub role: Role,
}

/// How the call reached the server.
#[derive(Clone, PartialEq, Eq)]
pub enum Via {
    /// A signed-in browser session.
    Session {
        session_id: SessionId,
        /// The session's CSRF token, which state-changing requests must echo.
        csrf_token: String,
    },
    /// An API token in `authorization: Bearer …`.
    ApiToken {
        token_id: ApiTokenId,
        name: String,
        scope: Scope,
    },
    /// `cairn admin` acting on the data dir directly (whoever can read the
    /// data dir owns the server anyway).
    Cli,
    /// The server itself (the maintenance ticker, catch-up).
    System,
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Session { session_id, .. } => f
                .debug_struct("Session")
                .field("session_id", session_id)
                .finish_non_exhaustive(),
            Via::ApiToken {
                token_id,
                name,
                scope,
            } => f
                .debug_struct("ApiToken")
                .field("token_id", token_id)
                .field("name", name)
                .field("scope", scope)
                .finish(),
            Via::Cli => f.write_str("Cli"),
            Via::System => f.write_str("System"),
        }
    }
}

/// Who is calling, how, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: Operator,
    pub via: Via,
    /// The client's address, for the audit log.
    pub source: Option<String>,
}

/// The session cookie's name: `__Host-` prefixed over HTTPS, which makes
/// browsers insist on `Secure`, `Path=/` and no `Domain`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-cairn_session"
    } else {
        "cairn_session"
    }
}

/// The value of the session cookie in a request's `Cookie` headers, if any.
pub fn session_cookie(headers: &http::HeaderMap, secure: bool) -> Option<String> {
    let name = session_cookie_name(secure);
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The permission a role grants, as a scope.
pub fn role_scope(role: Role) -> Scope {
    match role {
        Role::Viewer => Scope::Read,
        Role::Operator => Scope::Operate,
        Role::Admin => Scope::Admin,
    }
}

impl Principal {
    /// What this call may do: the lower of role and token scope.
    pub fn scope(&self) -> Scope {
        let role = role_scope(self.user.role);
        match &self.via {
            Via::ApiToken { scope, .. } => role.min(*scope),
            Via::Session { .. } | Via::Cli | Via::System => role,
        }
    }

    /// Refuses the call unless it may do `need`.
    pub fn require(&self, need: Scope) -> ServiceResult<()> {
        if self.scope() >= need {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied {
                need: need.as_str(),
            })
        }
    }

    /// `cairn admin` on this machine. It has full rights: whoever can read
    /// the data dir (database and key file) owns the server anyway. It is not
    /// an operator account, so `user.id` is 0 and never stored as a reference.
    pub fn local_cli() -> Principal {
        Principal {
            user: Operator {
                id: UserId(0),
                username: "cairn-admin".into(),
                role: Role::Admin,
            },
            via: Via::Cli,
            source: Some("local".into()),
        }
    }

    /// The server acting on its own (maintenance, catch-up).
    pub fn system() -> Principal {
        Principal {
            user: Operator {
                id: UserId(0),
                username: "cairn-server".into(),
                role: Role::Admin,
            },
            via: Via::System,
            source: None,
        }
    }

    /// The operator to store as "created by", if this is one.
    pub fn operator_id(&self) -> Option<UserId> {
        (!matches!(self.via, Via::Cli | Via::System)).then_some(self.user.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, via: Via) -> Principal {
        Principal {
            user: Operator {
                id: UserId(1),
                username: "ann".into(),
                role,
            },
            via,
            source: None,
        }
    }

    fn token(scope: Scope) -> Via {
        Via::ApiToken {
            token_id: ApiTokenId(1),
            name: "t".into(),
            scope,
        }
    }

    #[test]
    fn a_token_never_exceeds_its_owners_role() {
        assert_eq!(
            principal(Role::Viewer, token(Scope::Admin)).scope(),
            Scope::Read
        );
        assert_eq!(
            principal(Role::Admin, token(Scope::Read)).scope(),
            Scope::Read
        );
        assert_eq!(
            principal(Role::Operator, token(Scope::Operate)).scope(),
            Scope::Operate
        );
    }

    #[test]
    fn require_compares_levels() {
        let p = principal(
            Role::Operator,
            Via::Session {
                session_id: SessionId(1),
                csrf_token: String::new(),
            },
        );
        assert!(p.require(Scope::Read).is_ok());
        assert!(p.require(Scope::Operate).is_ok());
        assert!(matches!(
            p.require(Scope::Admin),
            Err(ServiceError::PermissionDenied { need: "admin" })
        ));
    }

    #[test]
    fn debug_hides_the_csrf_token() {
        let via = Via::Session {
            session_id: SessionId(3),
            csrf_token: "very-secret-csrf".into(),
        };
        assert!(!format!("{via:?}").contains("very-secret-csrf"));
    }
}
