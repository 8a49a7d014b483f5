//! What a successful job sends besides its finish: the repository's fresh
//! snapshot list, a browse's entries, a diff's changes.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_restic::{ExitKind, Operation, RepoAccess, classify_exit};
use tokio::sync::watch;

use super::Runner;
use super::convert::{snapshot_to_pb, tree_entry};
use super::process::RunOutput;
use super::scrub::Scrubber;
use crate::budget;

/// Entries in one browse result or diff, at most.
const MAX_ENTRIES: usize = 10_000;
/// Snapshots per `SnapshotList` message.
const SNAPSHOTS_PER_PART: usize = 500;

impl Runner {
    /// Sends the repository's snapshot list: from the job's own output for a
    /// snapshots job, else from a `restic snapshots` run right after.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn refresh_snapshots(
        &self,
        job_id: i64,
        repository_id: i64,
        operation: &Operation,
        output: &RunOutput,
        repo: &RepoAccess,
        scrubber: &Scrubber,
        cancel: watch::Receiver<Option<Duration>>,
    ) {
        let json = if matches!(operation, Operation::Snapshots { .. }) {
            output.json.clone()
        } else {
            let list = Operation::Snapshots { host: None };
            let Ok(invocation) = list.invocation(repo) else {
                return;
            };
            let refreshed = self
                .execute(job_id, &list, &invocation, scrubber, cancel)
                .await;
            if classify_exit(refreshed.exit) != ExitKind::Success {
                self.log(
                    job_id,
                    pb::JobLogLevel::Warn,
                    "could not refresh the snapshot list".into(),
                );
                return;
            }
            refreshed.json
        };
        let snapshots = match cairn_restic::parse_snapshots(&json) {
            Ok(snapshots) => snapshots,
            Err(err) => {
                self.log(
                    job_id,
                    pb::JobLogLevel::Warn,
                    format!("unreadable snapshot list: {err}"),
                );
                return;
            }
        };
        let converted: Vec<pb::Snapshot> = snapshots
            .iter()
            .map(|s| snapshot_to_pb(repository_id, s))
            .collect();
        let parts: Vec<&[pb::Snapshot]> = if converted.is_empty() {
            vec![&[]]
        } else {
            converted.chunks(SNAPSHOTS_PER_PART).collect()
        };
        let count = parts.len();
        for (part, chunk) in parts.into_iter().enumerate() {
            self.report(Body::SnapshotList(pb::SnapshotList {
                job_id,
                repository_id,
                snapshots: chunk.to_vec(),
                part: part as u32,
                last: part + 1 == count,
            }));
        }
    }

    /// The results of a browse (sent as a `BrowseResult`) or a diff (returned
    /// as the finish's details).
    pub(super) fn results(
        &self,
        job_id: i64,
        operation: &Operation,
        output: &RunOutput,
    ) -> Option<pb::job_finished::Details> {
        match operation {
            Operation::Ls { path, .. } => {
                let nodes = cairn_restic::parse_ls(&output.json);
                let truncated = nodes.len() > MAX_ENTRIES;
                let entries = nodes.iter().take(MAX_ENTRIES).map(tree_entry).collect();
                let parts = budget::split(entries, self.spool.part_budget(budget::PART_BUDGET));
                let count = parts.len();
                for (part, entries) in parts.into_iter().enumerate() {
                    self.report(Body::BrowseResult(pb::BrowseResult {
                        job_id,
                        path: path
                            .as_ref()
                            .map_or_else(|| "/".to_string(), |p| p.to_string()),
                        entries,
                        truncated,
                        part: part as u32,
                        more: part + 1 < count,
                    }));
                }
                None
            }
            Operation::Diff { from, to, .. } => {
                let (changes, totals) = cairn_restic::parse_diff(&output.json);
                let mut truncated = changes.len() > MAX_ENTRIES;
                let changes: Vec<pb::DiffChange> = changes
                    .iter()
                    .take(MAX_ENTRIES)
                    .map(|c| pb::DiffChange {
                        path: c.path.clone(),
                        kind: match c.modifier.as_str() {
                            "+" => pb::DiffChangeKind::Added,
                            "-" => pb::DiffChangeKind::Removed,
                            "M" => pb::DiffChangeKind::Modified,
                            "U" => pb::DiffChangeKind::Metadata,
                            "T" => pb::DiffChangeKind::TypeChanged,
                            _ => pb::DiffChangeKind::Unspecified,
                        } as i32,
                    })
                    .collect();
                // The diff rides in the finish, which must always fit.
                let (changes, cut) =
                    budget::within(changes, self.spool.part_budget(budget::PART_BUDGET));
                truncated |= cut;
                Some(pb::job_finished::Details::Diff(pb::SnapshotDiff {
                    snapshot_a: from.as_str().to_string(),
                    snapshot_b: to.as_str().to_string(),
                    changes,
                    stats: Some(pb::DiffStats {
                        changed_files: totals.changed_files,
                        added_files: totals.added_files,
                        added_dirs: totals.added_dirs,
                        added_bytes: totals.added_bytes,
                        removed_files: totals.removed_files,
                        removed_dirs: totals.removed_dirs,
                        removed_bytes: totals.removed_bytes,
                    }),
                    truncated,
                }))
            }
            _ => None,
        }
    }
}
