//! Job log retention: the logs of jobs that ended more than
//! `job_log_retention_days` ago (an admin setting) are deleted. The job rows
//! stay, so history and audit keep every job; only its lines go.
//!
//! Notification records (deliveries that ended, and every attempt) follow
//! the job log retention: they are a log of what was sent.
//!
//! Audit retention: entries older than `audit_retention_days` (0: forever)
//! are deleted by the same hourly sweep, and the sweep records itself in the
//! log (as the system) whenever it deletes something.

use std::time::Duration;

use crate::admin::Admin;
use crate::error::ServiceResult;

/// How often the retention sweep runs.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(3_600);

const DAY_MS: i64 = 86_400_000;

impl Admin {
    /// Deletes the logs of jobs that ended before the retention; returns how
    /// many lines went. Counted from when the server saw the job end (its
    /// own clock), never from times an agent reported.
    pub async fn sweep_job_logs(&self) -> ServiceResult<usize> {
        let days = self.current_settings().await?.job_log_retention_days;
        let cutoff = self
            .clock()
            .now()
            .saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        let deleted = self.store().delete_job_logs_before(cutoff).await?;
        if deleted > 0 {
            tracing::info!(deleted, days, "job logs past their retention deleted");
        }
        Ok(deleted)
    }

    /// Deletes the audit entries older than the audit retention; returns how
    /// many went.
    pub async fn sweep_audit_log(&self) -> ServiceResult<usize> {
        let days = self.current_settings().await?.audit_retention_days;
        if days == 0 {
            return Ok(0);
        }
        let cutoff = self
            .clock()
            .now()
            .saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        let deleted = self.store().delete_audit_before(cutoff).await?;
        if deleted > 0 {
            tracing::info!(deleted, days, "audit entries past their retention deleted");
            self.auditor()
                .record(
                    &crate::auth::Principal::system(),
                    "audit.retention_sweep",
                    None,
                    cairn_store::Outcome::Success,
                    Some(format!("deleted {deleted} entries older than {days} days")),
                )
                .await;
        }
        Ok(deleted)
    }

    /// Deletes notification deliveries that ended, and their attempts,
    /// once older than the job log retention (they are a delivery log);
    /// pending ones stay. Returns how many rows went.
    pub async fn sweep_notifications(&self) -> ServiceResult<usize> {
        let days = self.current_settings().await?.job_log_retention_days;
        let cutoff = self
            .clock()
            .now()
            .saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        let deleted = self.store().delete_notifications_before(cutoff).await?;
        if deleted > 0 {
            tracing::info!(
                deleted,
                days,
                "notification records past their retention deleted"
            );
        }
        Ok(deleted)
    }

    /// One pass of every sweep (each runs even if one before it failed).
    async fn sweep(&self) -> ServiceResult<()> {
        let logs = self.sweep_job_logs().await;
        let notifications = self.sweep_notifications().await;
        self.sweep_audit_log().await?;
        logs.and(notifications).map(|_| ())
    }

    /// Runs the sweep every `every` until `shutdown`.
    pub(crate) async fn run_log_retention(
        self,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        crate::worker::run_every("retention sweep", every, shutdown, || self.sweep()).await;
    }
}
