//! Enrollment tokens: an operator's say-so for a rollout of new hosts.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_store::{
    EnrollmentToken, EnrollmentTokenId, Millis, NewEnrollmentToken, Outcome, Page, PageOf, Scope,
};

use super::{CreatedEnrollmentToken, Fleet, MAX_ENROLL_TTL, check_labels};
use crate::auth::{Principal, SecretToken, TokenKind};
use crate::error::{ServiceError, ServiceResult};

impl Fleet {
    /// Creates an enrollment token; the secret is returned once.
    pub async fn create_enrollment_token(
        &self,
        p: &Principal,
        name: &str,
        ttl: Duration,
        max_uses: u32,
        labels: BTreeMap<String, String>,
    ) -> ServiceResult<CreatedEnrollmentToken> {
        self.auditor
            .authorize(p, Scope::Admin, "enrollment_token.create", None)
            .await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "name",
                "must be 1 to 100 printable characters",
            ));
        }
        if ttl.is_zero() || ttl > MAX_ENROLL_TTL {
            return Err(ServiceError::invalid(
                "ttl",
                "must be more than 0 and at most 30 days",
            ));
        }
        check_labels(&labels)?;
        let secret = SecretToken::generate(TokenKind::Enroll);
        let now = self.clock.now();
        let token = self
            .store
            .create_enrollment_token(
                NewEnrollmentToken {
                    name: name.to_string(),
                    prefix: secret.display_prefix(),
                    token_hash: secret.hash(),
                    labels,
                    max_uses,
                    expires_at: now + ttl.as_millis() as Millis,
                    created_by: p.operator_id(),
                },
                now,
            )
            .await?;
        self.auditor
            .record(
                p,
                "enrollment_token.create",
                Some(format!("enrollment_token:{}", token.id)),
                Outcome::Success,
                Some(token.name.clone()),
            )
            .await;
        Ok(CreatedEnrollmentToken { token, secret })
    }

    /// Enrollment tokens, newest first.
    pub async fn list_enrollment_tokens(
        &self,
        p: &Principal,
        include_inactive: bool,
        page: Page,
    ) -> ServiceResult<PageOf<EnrollmentToken>> {
        self.auditor
            .authorize(p, Scope::Admin, "enrollment_token.list", None)
            .await?;
        Ok(self
            .store
            .list_enrollment_tokens(include_inactive, page, self.clock.now())
            .await?)
    }

    /// Revokes an enrollment token.
    pub async fn revoke_enrollment_token(
        &self,
        p: &Principal,
        id: EnrollmentTokenId,
    ) -> ServiceResult<EnrollmentToken> {
        let target = Some(format!("enrollment_token:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "enrollment_token.revoke", target.clone())
            .await?;
        let token = self
            .store
            .revoke_enrollment_token(id, self.clock.now())
            .await?;
        self.auditor
            .record(
                p,
                "enrollment_token.revoke",
                target,
                Outcome::Success,
                Some(token.name.clone()),
            )
            .await;
        Ok(token)
    }
}
