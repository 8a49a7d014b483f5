//! The administration service: operators and API tokens. The gRPC
//! `AdminService`, the web UI and `cairn admin` all call these functions, so
//! they share every permission check and every audit entry.

use std::time::Duration;

use cairn_store::{
    ApiToken, ApiTokenId, Millis, NewApiToken, NewUser, Outcome, Page, PageOf, Role, Scope, Store,
    TokenFilter, User, UserId, UserUpdate,
};

use crate::audit::Auditor;
use crate::auth::{
    Principal, SecretToken, TokenKind, Via, role_scope, validate_password, validate_username,
};
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};

mod settings;

pub use settings::{Settings, SettingsUpdate};

/// Longest API token lifetime accepted (10 years); 0 means no expiry.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A token just made, with its secret (shown once).
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: SecretToken,
}

/// What to make a token for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub scope: Scope,
    /// `None`: no expiry.
    pub ttl: Option<Duration>,
    /// `None`: the caller.
    pub user_id: Option<UserId>,
}

/// The caller as the server sees it.
#[derive(Debug, Clone)]
pub struct WhoAmI {
    pub user: User,
    pub token: Option<ApiToken>,
    pub scope: Scope,
}

/// The administration service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    /// The server configuration's `allow_private_notification_targets`,
    /// shown among the settings but never changed at run time.
    private_targets: bool,
    /// Told when an account is disabled or its role changes.
    revocations: crate::auth::Revocations,
}

impl Admin {
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        private_targets: bool,
        revocations: crate::auth::Revocations,
    ) -> Self {
        Self {
            store,
            clock,
            auditor,
            private_targets,
            revocations,
        }
    }

    /// Who the caller is.
    pub async fn whoami(&self, p: &Principal) -> ServiceResult<WhoAmI> {
        p.require(Scope::Read)?;
        let user = self.store.user(p.user.id).await?;
        let token = match &p.via {
            Via::ApiToken { token_id, .. } => Some(self.store.api_token(*token_id).await?),
            _ => None,
        };
        Ok(WhoAmI {
            user,
            token,
            scope: p.scope(),
        })
    }

    /// Operators, by id.
    pub async fn list_users(&self, p: &Principal, page: Page) -> ServiceResult<PageOf<User>> {
        self.auditor
            .authorize(p, Scope::Admin, "user.list", None)
            .await?;
        Ok(self.store.list_users(page).await?)
    }

    /// Creates an operator.
    pub async fn create_user(
        &self,
        p: &Principal,
        username: &str,
        password: &str,
        role: Role,
    ) -> ServiceResult<User> {
        self.auditor
            .authorize(
                p,
                Scope::Admin,
                "user.create",
                Some(format!("username:{username}")),
            )
            .await?;
        validate_username(username)?;
        validate_password(password)?;
        let password_hash = crate::auth::hash_password_for_admin(password.to_string()).await?;
        let created = self
            .store
            .create_user(
                NewUser {
                    username: username.to_string(),
                    password_hash,
                    role,
                },
                self.clock.now(),
            )
            .await;
        let outcome = if created.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failed
        };
        let target = created
            .as_ref()
            .map(|u| format!("user:{}", u.id))
            .unwrap_or_else(|_| format!("username:{username}"));
        self.auditor
            .record(
                p,
                "user.create",
                Some(target),
                outcome,
                Some(format!("role {role}")),
            )
            .await;
        Ok(created?)
    }

    /// Changes an operator's role or disables them. The last enabled admin
    /// can be neither demoted nor disabled: the server would be unmanageable.
    pub async fn update_user(
        &self,
        p: &Principal,
        id: UserId,
        update: UserUpdate,
    ) -> ServiceResult<User> {
        let target = Some(format!("user:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "user.update", target.clone())
            .await?;
        let current = self.store.user(id).await?;
        let loses_admin = current.role == Role::Admin
            && !current.disabled
            && (update.role.is_some_and(|r| r != Role::Admin) || update.disabled == Some(true));
        if loses_admin && self.enabled_admins().await? <= 1 {
            self.auditor
                .record(
                    p,
                    "user.update",
                    target,
                    Outcome::Failed,
                    Some("last admin".into()),
                )
                .await;
            return Err(ServiceError::FailedPrecondition(
                "this is the last enabled admin: make another admin first".into(),
            ));
        }
        let detail = format!(
            "{}{}",
            update
                .role
                .map(|r| format!("role {r} "))
                .unwrap_or_default(),
            update
                .disabled
                .map(|d| if d { "disabled" } else { "enabled" })
                .unwrap_or_default()
        );
        let user = self.store.update_user(id, update, self.clock.now()).await?;
        // A live stream of this user's re-checks its session at once.
        self.revocations.beat();
        self.auditor
            .record(
                p,
                "user.update",
                target,
                Outcome::Success,
                Some(detail.trim().to_string()),
            )
            .await;
        Ok(user)
    }

    async fn enabled_admins(&self) -> ServiceResult<usize> {
        let mut count = 0;
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list_users(Page::after(Page::MAX_LIMIT, cursor))
                .await?;
            count += page
                .items
                .iter()
                .filter(|u| u.role == Role::Admin && !u.disabled)
                .count();
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(count),
            }
        }
    }

    /// Creates an API token. Its scope may not exceed its owner's role.
    pub async fn create_api_token(
        &self,
        p: &Principal,
        req: TokenRequest,
    ) -> ServiceResult<CreatedToken> {
        let owner_id = req.user_id.unwrap_or(p.user.id);
        let target = Some(format!("user:{owner_id}"));
        self.auditor
            .authorize(p, Scope::Admin, "api_token.create", target.clone())
            .await?;
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "name",
                "must be 1 to 100 printable characters",
            ));
        }
        let owner = self.store.user(owner_id).await?;
        if owner.disabled {
            return Err(ServiceError::FailedPrecondition(format!(
                "user {} is disabled",
                owner.username
            )));
        }
        if req.scope > role_scope(owner.role) {
            return Err(ServiceError::invalid(
                "scope",
                format!(
                    "{} is a {}: a token for them can have at most {} scope",
                    owner.username,
                    owner.role,
                    role_scope(owner.role)
                ),
            ));
        }
        let now = self.clock.now();
        let expires_at = match req.ttl {
            Some(ttl) if ttl > MAX_TOKEN_TTL => {
                return Err(ServiceError::invalid("ttl", "must be at most 10 years"));
            }
            Some(ttl) if ttl.is_zero() => None,
            Some(ttl) => Some(now + ttl.as_millis() as Millis),
            None => None,
        };
        let secret = SecretToken::generate(TokenKind::Api);
        let token = self
            .store
            .create_api_token(
                NewApiToken {
                    user_id: owner.id,
                    name: name.to_string(),
                    prefix: secret.display_prefix(),
                    token_hash: secret.hash(),
                    scope: req.scope,
                    expires_at,
                    created_by: p.operator_id(),
                },
                now,
            )
            .await?;
        self.auditor
            .record(
                p,
                "api_token.create",
                Some(format!("api_token:{}", token.id)),
                Outcome::Success,
                Some(format!(
                    "{} scope {}, for {}",
                    token.name, token.scope, owner.username
                )),
            )
            .await;
        Ok(CreatedToken { token, secret })
    }

    /// Lists tokens: the caller's own, or (admin, `all_users`) everyone's.
    pub async fn list_api_tokens(
        &self,
        p: &Principal,
        all_users: bool,
        include_inactive: bool,
        page: Page,
    ) -> ServiceResult<PageOf<ApiToken>> {
        self.auditor
            .authorize(
                p,
                if all_users { Scope::Admin } else { Scope::Read },
                "api_token.list",
                None,
            )
            .await?;
        let filter = TokenFilter {
            user_id: (!all_users).then_some(p.user.id),
            include_inactive,
        };
        Ok(self
            .store
            .list_api_tokens(filter, page, self.clock.now())
            .await?)
    }

    /// Revokes a token; calls carrying it fail from then on.
    pub async fn revoke_api_token(&self, p: &Principal, id: ApiTokenId) -> ServiceResult<ApiToken> {
        let target = Some(format!("api_token:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "api_token.revoke", target.clone())
            .await?;
        let token = self.store.revoke_api_token(id, self.clock.now()).await?;
        self.auditor
            .record(
                p,
                "api_token.revoke",
                target,
                Outcome::Success,
                Some(token.name.clone()),
            )
            .await;
        Ok(token)
    }

    /// Finds an operator by name, for the CLI.
    pub async fn user_by_username(&self, username: &str) -> ServiceResult<User> {
        self.store
            .user_by_username(username)
            .await?
            .ok_or(ServiceError::NotFound("user"))
    }
}
