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
    /// Days audit entries are kept; 0 keeps them forever.
    pub audit_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            job_log_retention_days: 30,
            allow_private_webhook_targets: false,
            audit_retention_days: 365,
        }
    }
}

/// Changes to settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettingsUpdate {
    pub job_log_retention_days: Option<u32>,
    pub allow_private_webhook_targets: Option<bool>,
    /// 0 keeps audit entries forever.
    pub audit_retention_days: Option<u32>,
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

    /// The audit log as a file (CSV or JSON lines), newest first, at most
    /// [`MAX_EXPORT_ROWS`](crate::audit_export::MAX_EXPORT_ROWS) rows; admins
    /// only, like [`Admin::audit_log`].
    pub async fn audit_export(
        &self,
        p: &Principal,
        filter: AuditFilter,
        format: crate::audit_export::ExportFormat,
    ) -> ServiceResult<String> {
        let mut out = format.head();
        let mut cursor = None;
        let mut written = 0;
        loop {
            let page = self
                .audit_log(p, filter.clone(), Page::after(500, cursor))
                .await?;
            for record in &page.items {
                out.push_str(&format.line(&crate::audit_export::ExportRow::from(record)));
                written += 1;
            }
            cursor = page.next;
            if cursor.is_none() || written >= crate::audit_export::MAX_EXPORT_ROWS {
                return Ok(out);
            }
        }
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
            allow_private_webhook_targets: self.private_targets,
            audit_retention_days: self
                .read_setting(SettingKey::AuditRetentionDays, d.audit_retention_days)
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
        if let Some(d) = update.audit_retention_days
            && d > 36_500
        {
            return Err(ServiceError::invalid(
                "audit_retention_days",
                "must be 0 (keep forever) to 36500",
            ));
        }
        if update
            .allow_private_webhook_targets
            .is_some_and(|v| v != self.private_targets)
        {
            // The SSRF guard is opened only by whoever runs the server.
            return Err(ServiceError::invalid(
                "allow_private_webhook_targets",
                "is server configuration (allow_private_notification_targets), \
                 not a run-time setting",
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
                SettingKey::AuditRetentionDays,
                update.audit_retention_days.map(|v| v.to_string()),
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
