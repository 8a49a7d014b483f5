//! Server settings an admin changes at run time (kept in the store, audited).

use cairn_store::{AuditFilter, AuditRecord, Outcome, Page, PageOf, Scope, SettingKey};

use super::Admin;
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// Server settings an admin changes at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub job_log_retention_days: u32,
    pub allow_private_webhook_targets: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            job_log_retention_days: 30,
            allow_private_webhook_targets: false,
        }
    }
}

/// Changes to settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettingsUpdate {
    pub job_log_retention_days: Option<u32>,
    pub allow_private_webhook_targets: Option<bool>,
}

impl Admin {
    async fn read_setting<T: std::str::FromStr>(
        &self,
        key: SettingKey,
        default: T,
    ) -> ServiceResult<T> {
        Ok(self
            .store
            .setting(key)
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(default))
    }

    /// The audit log, newest first (admins only: it names who did what,
    /// from where).
    pub async fn audit_log(
        &self,
        p: &Principal,
        filter: AuditFilter,
        page: Page,
    ) -> ServiceResult<PageOf<AuditRecord>> {
        self.auditor
            .authorize(p, Scope::Admin, "audit.read", None)
            .await?;
        Ok(self.store.list_audit(filter, page).await?)
    }

    /// The current settings.
    pub async fn settings(&self, p: &Principal) -> ServiceResult<Settings> {
        self.auditor
            .authorize(p, Scope::Admin, "settings.read", None)
            .await?;
        self.current_settings().await
    }

    pub(crate) async fn current_settings(&self) -> ServiceResult<Settings> {
        let d = Settings::default();
        Ok(Settings {
            job_log_retention_days: self
                .read_setting(SettingKey::JobLogRetentionDays, d.job_log_retention_days)
                .await?,
            allow_private_webhook_targets: self
                .read_setting(
                    SettingKey::AllowPrivateWebhookTargets,
                    d.allow_private_webhook_targets,
                )
                .await?,
        })
    }

    /// Changes settings, checking each value's range.
    pub async fn update_settings(
        &self,
        p: &Principal,
        update: SettingsUpdate,
    ) -> ServiceResult<Settings> {
        self.auditor
            .authorize(p, Scope::Admin, "settings.update", None)
            .await?;
        if let Some(d) = update.job_log_retention_days
            && !(1..=3650).contains(&d)
        {
            return Err(ServiceError::invalid(
                "job_log_retention_days",
                "must be 1 to 3650",
            ));
        }
        let now = self.clock.now();
        let mut changed = Vec::new();
        let writes = [
            (
                SettingKey::JobLogRetentionDays,
                update.job_log_retention_days.map(|v| v.to_string()),
            ),
            (
                SettingKey::AllowPrivateWebhookTargets,
                update.allow_private_webhook_targets.map(|v| v.to_string()),
            ),
        ];
        for (key, value) in writes {
            if let Some(value) = value {
                changed.push(format!("{}={value}", key.as_str()));
                self.store.put_setting(key, value.into_bytes(), now).await?;
            }
        }
        self.auditor
            .record(
                p,
                "settings.update",
                None,
                Outcome::Success,
                Some(changed.join(", ")),
            )
            .await;
        self.current_settings().await
    }
}
