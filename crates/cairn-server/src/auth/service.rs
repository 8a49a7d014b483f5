//! The authentication service: first-run setup, login, sessions, logout and
//! API-token authentication. Every outcome is audited.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_store::{Millis, NewSession, Outcome, Role, Store, User};
use subtle::ConstantTimeEq;

use super::limiter::LoginLimiter;
use super::password::{hash_password, validate_password, validate_username, verify_password};
use super::secret::{Secret, SecretToken, TokenKind, hash_secret};
use super::{Operator, Principal, Via};
use crate::audit::{Actor, Auditor};
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};

/// Session lifetimes and login limits.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// A session ends after this long without a request.
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    pub session_max_age: Duration,
    /// Failed logins per account per window.
    pub login_max_failures: u32,
    /// Failed logins per client address per window.
    pub login_max_failures_per_client: u32,
    /// The counting window.
    pub login_window: Duration,
}

/// A new session, handed to the browser once.
#[derive(Debug, Clone)]
pub struct NewLogin {
    /// The cookie value.
    pub session_token: SecretToken,
    /// The CSRF token for this session.
    pub csrf_token: String,
    /// Who signed in.
    pub user: Operator,
    /// When the session ends at the latest.
    pub expires_at: Millis,
}

/// The authentication service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Auth {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    limiter: Arc<LoginLimiter>,
    settings: AuthSettings,
    /// The hash of the live setup token, while the server awaits its first
    /// admin. Cleared when setup succeeds: the link works once.
    setup_token_hash: Arc<Mutex<Option<Vec<u8>>>>,
    /// Bumped whenever a sign-in may have ended.
    revocations: super::Revocations,
}

/// Don't write `last_seen_at` more often than this per session.
const TOUCH_EVERY: Millis = 60_000;
/// The limiter key that counts failed setup attempts.
const SETUP_KEY: &str = "\u{0}setup";

fn operator(user: &User) -> Operator {
    Operator {
        id: user.id,
        username: user.username.clone(),
        role: user.role,
    }
}

impl Auth {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        settings: AuthSettings,
    ) -> Self {
        let limiter = LoginLimiter::new(
            settings.login_window,
            settings.login_max_failures,
            settings.login_max_failures_per_client,
        );
        Self {
            store,
            clock,
            auditor,
            limiter: Arc::new(limiter),
            settings,
            setup_token_hash: Arc::new(Mutex::new(None)),
            revocations: super::Revocations::default(),
        }
    }

    /// Word of sessions that may have ended (sign-outs here; disabled or
    /// changed accounts through `Admin`, which shares it).
    pub fn revocations(&self) -> &super::Revocations {
        &self.revocations
    }

    /// While no operator exists, arms a one-time setup token (the preset one,
    /// or a new random one) and returns it so the server can print the link.
    /// Once an operator exists it returns `None` and setup stays closed.
    pub async fn arm_setup(&self, preset: Option<Secret>) -> ServiceResult<Option<SecretToken>> {
        if self.store.count_users().await? > 0 {
            *self.setup_slot() = None;
            return Ok(None);
        }
        let token = match preset {
            Some(secret) => SecretToken::from_secret(secret),
            None => SecretToken::generate(TokenKind::Setup),
        };
        *self.setup_slot() = Some(token.hash());
        Ok(Some(token))
    }

    /// Whether the server still awaits its first admin (setup is open). An
    /// operator made meanwhile by `cairn admin create-user` closes it.
    pub async fn setup_open(&self) -> bool {
        if self.setup_slot().is_none() {
            return false;
        }
        match self.store.count_users().await {
            Ok(0) => true,
            Ok(_) => {
                *self.setup_slot() = None;
                false
            }
            Err(err) => {
                tracing::error!(error = %err, "could not count operators");
                false
            }
        }
    }

    /// Whether `token` is the live setup token (constant-time).
    pub fn setup_token_matches(&self, token: &str) -> bool {
        let presented = hash_secret(token);
        self.setup_slot()
            .as_ref()
            .is_some_and(|live| bool::from(live.as_slice().ct_eq(&presented)))
    }

    fn setup_slot(&self) -> std::sync::MutexGuard<'_, Option<Vec<u8>>> {
        self.setup_token_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the first admin with the setup token and signs them in.
    pub async fn setup(
        &self,
        token: &str,
        username: &str,
        password: &str,
        source: Option<String>,
        user_agent: Option<String>,
    ) -> ServiceResult<NewLogin> {
        let now = self.clock.now();
        let actor = Actor::anonymous(username, source.clone());
        self.refuse_if_limited(SETUP_KEY, &actor, "auth.setup", now)
            .await?;
        if !self.setup_token_matches(token) {
            self.limiter
                .record_failure(SETUP_KEY, source.as_deref(), now);
            self.auditor
                .record(
                    actor,
                    "auth.setup",
                    None,
                    Outcome::Denied,
                    Some("invalid or used setup link".into()),
                )
                .await;
            return Err(ServiceError::Unauthenticated(
                "the setup link is invalid or was already used",
            ));
        }
        validate_username(username)?;
        validate_password(password)?;
        let password_hash = hash_password(password.to_string()).await?;
        let new = cairn_store::NewUser {
            username: username.to_string(),
            password_hash,
            role: Role::Admin,
        };
        let user = match self.store.create_first_user(new, now).await {
            Ok(user) => user,
            Err(cairn_store::StoreError::Conflict { .. }) => {
                *self.setup_slot() = None;
                return Err(ServiceError::FailedPrecondition(
                    "setup is already done: sign in instead".into(),
                ));
            }
            Err(err) => return Err(err.into()),
        };
        *self.setup_slot() = None;
        self.auditor
            .record(
                Actor {
                    kind: cairn_store::ActorKind::User,
                    id: Some(user.id.0),
                    name: user.username.clone(),
                    source: source.clone(),
                },
                "auth.setup",
                Some(format!("user:{}", user.id)),
                Outcome::Success,
                Some("first admin created".into()),
            )
            .await;
        tracing::info!(username = %user.username, "setup complete: first admin created");
        self.start_session(&user, source, user_agent).await
    }

    /// Refuses an attempt on `key` from the actor's address while either is
    /// over its failure limit, auditing the refusal.
    async fn refuse_if_limited(
        &self,
        key: &str,
        actor: &Actor,
        action: &str,
        now: Millis,
    ) -> ServiceResult<()> {
        match self.limiter.check(key, actor.source.as_deref(), now) {
            None => Ok(()),
            Some(retry_after) => {
                self.auditor
                    .record(
                        actor.clone(),
                        action,
                        None,
                        Outcome::Denied,
                        Some("rate limited".into()),
                    )
                    .await;
                Err(ServiceError::RateLimited { retry_after })
            }
        }
    }

    /// Signs an operator in. Refused while rate-limited, whatever the password.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: Option<String>,
        user_agent: Option<String>,
    ) -> ServiceResult<NewLogin> {
        let now = self.clock.now();
        let actor = Actor::anonymous(username, source.clone());
        self.refuse_if_limited(username, &actor, "auth.login", now)
            .await?;
        let user = self.store.user_by_username(username).await?;
        let ok = verify_password(
            password.to_string(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
        let user = match user {
            Some(user) if ok && !user.disabled => user,
            other => {
                self.limiter
                    .record_failure(username, source.as_deref(), now);
                let why = match other {
                    Some(u) if ok && u.disabled => "account disabled",
                    Some(_) => "wrong password",
                    None => "unknown user",
                };
                self.auditor
                    .record(actor, "auth.login", None, Outcome::Denied, Some(why.into()))
                    .await;
                // One answer for every case, so usernames cannot be probed.
                return Err(ServiceError::Unauthenticated("wrong username or password"));
            }
        };
        self.limiter.record_success(username);
        let login = self
            .start_session(&user, source.clone(), user_agent)
            .await?;
        self.auditor
            .record(
                Actor {
                    kind: cairn_store::ActorKind::User,
                    id: Some(user.id.0),
                    name: user.username.clone(),
                    source,
                },
                "auth.login",
                Some(format!("user:{}", user.id)),
                Outcome::Success,
                None,
            )
            .await;
        Ok(login)
    }

    /// A new session for `user`: a fresh random id every time, so a session
    /// id planted before login is never the one used after it.
    async fn start_session(
        &self,
        user: &User,
        source: Option<String>,
        user_agent: Option<String>,
    ) -> ServiceResult<NewLogin> {
        let now = self.clock.now();
        let session_token = SecretToken::generate(TokenKind::Session);
        let csrf_token = SecretToken::generate(TokenKind::Csrf).expose().to_string();
        let expires_at = now
            + (self
                .settings
                .session_idle_timeout
                .min(self.settings.session_max_age)
                .as_millis() as Millis);
        self.store
            .create_session(NewSession {
                token_hash: session_token.hash(),
                user_id: user.id,
                csrf_token: csrf_token.clone(),
                now,
                expires_at,
                client_addr: source,
                user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
            })
            .await?;
        Ok(NewLogin {
            session_token,
            csrf_token,
            user: operator(user),
            expires_at,
        })
    }

    /// The principal behind a session cookie, if it is live. Slides the idle
    /// expiry forward (never past the absolute lifetime).
    pub async fn session(
        &self,
        cookie: &str,
        source: Option<String>,
    ) -> ServiceResult<Option<Principal>> {
        self.session_as(cookie, source, true).await
    }

    /// As [`Auth::session`], without counting as use: for what a page does
    /// on its own (a live view's refresh, a stream checking it may go on),
    /// so a page left open still lets its session time out when idle.
    pub async fn session_unused(
        &self,
        cookie: &str,
        source: Option<String>,
    ) -> ServiceResult<Option<Principal>> {
        self.session_as(cookie, source, false).await
    }

    async fn session_as(
        &self,
        cookie: &str,
        source: Option<String>,
        used: bool,
    ) -> ServiceResult<Option<Principal>> {
        let now = self.clock.now();
        let Some(session) = self
            .store
            .session_by_token_hash(hash_secret(cookie), now)
            .await?
        else {
            return Ok(None);
        };
        if used && now - session.last_seen_at >= TOUCH_EVERY {
            let idle_end = now + self.settings.session_idle_timeout.as_millis() as Millis;
            let hard_end = session.created_at + self.settings.session_max_age.as_millis() as Millis;
            self.store
                .touch_session(session.id, now, idle_end.min(hard_end))
                .await?;
        }
        Ok(Some(Principal {
            user: operator(&session.user),
            via: Via::Session {
                session_id: session.id,
                csrf_token: session.csrf_token,
            },
            source,
        }))
    }

    /// Ends whatever session `cookie` names, if any. Login calls this with the
    /// cookie the browser still held, so a sign-in never keeps an old session
    /// id alive (session fixation).
    pub async fn discard_session(&self, cookie: &str) -> ServiceResult<()> {
        self.store
            .delete_session_by_token_hash(hash_secret(cookie))
            .await?;
        self.revocations.beat();
        Ok(())
    }

    /// Ends the principal's session. The cookie is dead from then on.
    pub async fn logout(&self, principal: &Principal) -> ServiceResult<()> {
        if let Via::Session { session_id, .. } = &principal.via {
            self.store.delete_session(*session_id).await?;
            self.revocations.beat();
            self.auditor
                .record(
                    principal,
                    "auth.logout",
                    Some(format!("user:{}", principal.user.id)),
                    Outcome::Success,
                    None,
                )
                .await;
        }
        Ok(())
    }

    /// The principal behind an API token from `authorization: Bearer …`.
    pub async fn authenticate_bearer(
        &self,
        token: &str,
        source: Option<String>,
    ) -> ServiceResult<Principal> {
        let now = self.clock.now();
        let Some((token, user)) = self.store.api_token_by_hash(hash_secret(token)).await? else {
            tracing::warn!(source = ?source, "API call with an unknown token");
            return Err(ServiceError::Unauthenticated("unknown API token"));
        };
        if !token.is_active(now) {
            return Err(ServiceError::Unauthenticated(
                if token.revoked_at.is_some() {
                    "API token revoked"
                } else {
                    "API token expired"
                },
            ));
        }
        if user.disabled {
            return Err(ServiceError::Unauthenticated(
                "the token's user is disabled",
            ));
        }
        if token.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
            // Off the request's path: a busy script should not wait on this.
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(err) = store.touch_api_token(token.id, now).await {
                    tracing::warn!(error = %err, "could not record token use");
                }
            });
        }
        Ok(Principal {
            user: operator(&user),
            via: Via::ApiToken {
                token_id: token.id,
                name: token.name.clone(),
                scope: token.scope,
            },
            source,
        })
    }
}
