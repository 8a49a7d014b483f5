//! Server settings and internal markers, as key → bytes.

use rusqlite::{OptionalExtension, params};

use crate::error::StoreResult;
use crate::{Millis, Store};

/// The settings Cairn keeps. A closed set, so a typo is a compile error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKey {
    /// A value sealed under the key file when the database was created. If it
    /// does not open, the key file is not the one this database was made with.
    SealCheck,
    /// Days job logs are kept.
    JobLogRetentionDays,
    /// Whether webhooks may target loopback, private and link-local addresses.
    AllowPrivateWebhookTargets,
    /// Days audit entries are kept (0: forever).
    AuditRetentionDays,
    /// When the server last wrote to see whether writes work again after
    /// the filesystem refused them.
    WriteProbe,
}

impl SettingKey {
    /// The stored key.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKey::SealCheck => "seal_check",
            SettingKey::JobLogRetentionDays => "job_log_retention_days",
            SettingKey::AllowPrivateWebhookTargets => "allow_private_webhook_targets",
            SettingKey::AuditRetentionDays => "audit_retention_days",
            SettingKey::WriteProbe => "write_probe",
        }
    }
}

impl Store {
    /// A setting's value, if set.
    pub async fn setting(&self, key: SettingKey) -> StoreResult<Option<Vec<u8>>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [key.as_str()],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    /// Sets a setting.
    pub async fn put_setting(
        &self,
        key: SettingKey,
        value: Vec<u8>,
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![key.as_str(), value, now],
            )?;
            Ok(())
        })
        .await
    }

    /// A small write that tells whether the database can be written again
    /// (the storage fault clears when it commits).
    pub async fn probe_write(&self, now: Millis) -> StoreResult<()> {
        self.put_setting(SettingKey::WriteProbe, now.to_le_bytes().to_vec(), now)
            .await
    }

    /// Sets a setting only if it is not set yet. Returns whether it was set now.
    pub async fn put_setting_if_absent(
        &self,
        key: SettingKey,
        value: Vec<u8>,
        now: Millis,
    ) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO NOTHING",
                params![key.as_str(), value, now],
            )? > 0)
        })
        .await
    }
}
