//! The job a schedule's firing makes.

use cairn_domain::{BackupSpec, JobSpec};
use cairn_store::Schedule;

/// The backup a schedule runs.
pub fn schedule_spec(s: &Schedule) -> JobSpec {
    JobSpec::Backup(BackupSpec {
        paths: s.fields.paths.clone(),
        excludes: s.fields.excludes.clone(),
        tags: s.fields.tags.clone(),
        hooks: s.fields.hooks.clone(),
        limit_upload_kib: s.fields.limit_upload_kib.unwrap_or(0),
        limit_download_kib: s.fields.limit_download_kib.unwrap_or(0),
    })
}
