//! What a running job reports: its progress and, for a backup, restic's
//! summary.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// A job's progress, as the agent last reported it (cleaned by the server).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// When the agent measured it, if its clock gave a time in range.
    pub at: Option<Millis>,
    /// 0 to 100.
    pub percent: f64,
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// The files restic is reading now (a few, cleaned).
    pub current_files: Vec<String>,
    pub seconds_elapsed: u64,
    pub seconds_remaining: u64,
    pub error_count: u64,
}

/// restic's summary of a backup that made a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupSummary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unmodified: u64,
    pub data_added: u64,
    pub data_added_packed: u64,
    pub total_files_processed: u64,
    pub total_bytes_processed: u64,
    /// How long the backup took, in milliseconds.
    pub duration_ms: u64,
    pub snapshot_id: String,
}
