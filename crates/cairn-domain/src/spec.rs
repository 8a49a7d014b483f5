//! What a job asks restic to do. Each spec mirrors the protocol message of
//! the same name field for field; a zero (or empty) value means "not set",
//! as on the wire. Checking a spec is `cairn-restic`'s job, on the server
//! before it is stored and again on the agent before it runs.

use serde::{Deserialize, Serialize};

use crate::kinds::{JobKind, RestoreOverwrite};

/// One restic operation, typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSpec {
    Backup(BackupSpec),
    Forget(ForgetSpec),
    Prune(PruneSpec),
    Check(CheckSpec),
    Restore(RestoreSpec),
    Init(InitSpec),
    Unlock(UnlockSpec),
    /// List the repository's snapshots (refreshes the server's cache).
    Snapshots,
    Browse(BrowseSpec),
    Diff(DiffSpec),
}

impl JobSpec {
    /// The kind of job this spec makes.
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Backup(_) => JobKind::Backup,
            JobSpec::Forget(_) => JobKind::Forget,
            JobSpec::Prune(_) => JobKind::Prune,
            JobSpec::Check(_) => JobKind::Check,
            JobSpec::Restore(_) => JobKind::Restore,
            JobSpec::Init(_) => JobKind::Init,
            JobSpec::Unlock(_) => JobKind::Unlock,
            JobSpec::Snapshots => JobKind::Snapshots,
            JobSpec::Browse(_) => JobKind::Browse,
            JobSpec::Diff(_) => JobKind::Diff,
        }
    }
}

/// `restic backup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupSpec {
    pub paths: Vec<String>,
    pub excludes: Vec<String>,
    pub tags: Vec<String>,
    /// Names of hooks in the agent's own configuration.
    pub hooks: Vec<String>,
    /// KiB/s; 0 = unlimited.
    pub limit_upload_kib: u32,
    /// KiB/s; 0 = unlimited.
    pub limit_download_kib: u32,
}

/// A duration for `--keep-within*`: years, months, days and hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSpan {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

/// Which snapshots `forget` keeps; 0 / unset means "no such rule".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionPolicy {
    pub keep_last: u32,
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub keep_yearly: u32,
    pub keep_within: Option<RetentionSpan>,
    pub keep_within_hourly: Option<RetentionSpan>,
    pub keep_within_daily: Option<RetentionSpan>,
    pub keep_within_weekly: Option<RetentionSpan>,
    pub keep_within_monthly: Option<RetentionSpan>,
    pub keep_within_yearly: Option<RetentionSpan>,
    pub keep_tags: Vec<String>,
}

/// How `forget` groups snapshots before applying the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotGrouping {
    pub by_host: bool,
    pub by_paths: bool,
    pub by_tags: bool,
}

/// `restic forget`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForgetSpec {
    /// Required: a forget without a policy is refused.
    pub policy: Option<RetentionPolicy>,
    pub hostnames: Vec<String>,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    pub group_by: Option<SnapshotGrouping>,
    pub prune: bool,
    pub dry_run: bool,
}

/// `prune --max-unused`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxUnused {
    Percent(f64),
    SizeBytes(u64),
    Unlimited,
}

/// `restic prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PruneSpec {
    pub max_unused: Option<MaxUnused>,
    /// 0 = restic's default.
    pub max_repack_bytes: u64,
    pub dry_run: bool,
}

/// `check --read-data-subset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadDataSubset {
    Percent(f64),
    SizeBytes(u64),
    /// Part `index` of `total` (1-based).
    Part {
        index: u32,
        total: u32,
    },
}

/// `restic check`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckSpec {
    pub read_all_data: bool,
    pub read_data_subset: Option<ReadDataSubset>,
}

/// `restic restore`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreSpec {
    /// `latest` or a snapshot id.
    pub snapshot_id: String,
    /// One path inside the snapshot; empty = all.
    pub path: String,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    /// Where to write, resolved by the agent against its restore roots.
    pub target_path: String,
    /// The host that writes (0: the snapshot's own host).
    pub target_host_id: i64,
    pub verify: bool,
    /// KiB/s; 0 = unlimited.
    pub limit_download_kib: u32,
    /// What to do with a file already at the target (absent in specs
    /// stored before it existed: `Always`, what restic did then).
    pub overwrite: RestoreOverwrite,
}

/// `restic init`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitSpec {
    /// 0 = restic's default; else 1 or 2.
    pub repository_version: u32,
}

/// `restic unlock`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnlockSpec {
    /// Always refused: removing live locks is never done from a job.
    pub remove_all: bool,
}

/// `restic ls`: one directory of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowseSpec {
    pub snapshot_id: String,
    /// Empty = the snapshot's root.
    pub path: String,
}

/// `restic diff`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffSpec {
    pub snapshot_a: String,
    pub snapshot_b: String,
    pub metadata: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_stored_before_the_overwrite_field_means_always() {
        let old = r#"{"restore":{"snapshot_id":"latest","target_path":"/r","verify":true}}"#;
        let Ok(JobSpec::Restore(spec)) = serde_json::from_str::<JobSpec>(old) else {
            panic!("an old restore spec decodes")
        };
        assert_eq!(spec.overwrite, RestoreOverwrite::Always);
        assert!(spec.verify);
        let never = RestoreSpec {
            overwrite: RestoreOverwrite::Never,
            ..spec
        };
        let text = serde_json::to_string(&JobSpec::Restore(never.clone())).expect("encodes");
        assert!(text.contains(r#""overwrite":"never""#), "{text}");
        assert_eq!(
            serde_json::from_str::<JobSpec>(&text).ok(),
            Some(JobSpec::Restore(never))
        );
        let bad = r#"{"restore":{"snapshot_id":"latest","overwrite":"sometimes"}}"#;
        assert!(
            serde_json::from_str::<JobSpec>(bad).is_err(),
            "an unknown mode is refused"
        );
    }
}
