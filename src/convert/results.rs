//! Reports: progress, backup summaries, browse listings and diffs.

use cairn_domain::{
    BackupSummary, BrowsePart, ChangeKind, DiffChange, DiffStats, EntryKind, Progress,
    SnapshotDiff, TreeEntry,
};

use super::time::{duration, duration_ms, millis, timestamp};
use crate::v1 as pb;

/// A progress report from the wire (its time as sent: not yet judged).
pub fn progress_from_pb(p: &pb::JobProgress) -> Progress {
    let pb::JobProgress {
        job_id: _,
        time,
        percent,
        files_done,
        files_total,
        bytes_done,
        bytes_total,
        current_files,
        seconds_elapsed,
        seconds_remaining,
        error_count,
    } = p;
    Progress {
        at: time.as_ref().and_then(millis),
        percent: *percent,
        files_done: *files_done,
        files_total: *files_total,
        bytes_done: *bytes_done,
        bytes_total: *bytes_total,
        current_files: current_files.clone(),
        seconds_elapsed: *seconds_elapsed,
        seconds_remaining: *seconds_remaining,
        error_count: *error_count,
    }
}

/// A job's progress for the wire.
pub fn progress_to_pb(job_id: i64, p: &Progress) -> pb::JobProgress {
    let Progress {
        at,
        percent,
        files_done,
        files_total,
        bytes_done,
        bytes_total,
        current_files,
        seconds_elapsed,
        seconds_remaining,
        error_count,
    } = p;
    pb::JobProgress {
        job_id,
        time: at.map(timestamp),
        percent: *percent,
        files_done: *files_done,
        files_total: *files_total,
        bytes_done: *bytes_done,
        bytes_total: *bytes_total,
        current_files: current_files.clone(),
        seconds_elapsed: *seconds_elapsed,
        seconds_remaining: *seconds_remaining,
        error_count: *error_count,
    }
}

/// A backup summary from the wire.
pub fn summary_from_pb(s: &pb::BackupSummary) -> BackupSummary {
    let pb::BackupSummary {
        files_new,
        files_changed,
        files_unmodified,
        dirs_new,
        dirs_changed,
        dirs_unmodified,
        data_added,
        data_added_packed,
        total_files_processed,
        total_bytes_processed,
        duration,
        snapshot_id,
    } = s;
    BackupSummary {
        files_new: *files_new,
        files_changed: *files_changed,
        files_unmodified: *files_unmodified,
        dirs_new: *dirs_new,
        dirs_changed: *dirs_changed,
        dirs_unmodified: *dirs_unmodified,
        data_added: *data_added,
        data_added_packed: *data_added_packed,
        total_files_processed: *total_files_processed,
        total_bytes_processed: *total_bytes_processed,
        duration_ms: duration.as_ref().map(duration_ms).unwrap_or(0),
        snapshot_id: snapshot_id.clone(),
    }
}

/// A backup summary for the wire.
pub fn summary_to_pb(s: &BackupSummary) -> pb::BackupSummary {
    let BackupSummary {
        files_new,
        files_changed,
        files_unmodified,
        dirs_new,
        dirs_changed,
        dirs_unmodified,
        data_added,
        data_added_packed,
        total_files_processed,
        total_bytes_processed,
        duration_ms,
        snapshot_id,
    } = s;
    pb::BackupSummary {
        files_new: *files_new,
        files_changed: *files_changed,
        files_unmodified: *files_unmodified,
        dirs_new: *dirs_new,
        dirs_changed: *dirs_changed,
        dirs_unmodified: *dirs_unmodified,
        data_added: *data_added,
        data_added_packed: *data_added_packed,
        total_files_processed: *total_files_processed,
        total_bytes_processed: *total_bytes_processed,
        duration: Some(duration(*duration_ms)),
        snapshot_id: snapshot_id.clone(),
    }
}

fn entry_from_pb(e: &pb::TreeEntry) -> TreeEntry {
    TreeEntry {
        name: e.name.clone(),
        path: e.path.clone(),
        kind: match pb::TreeEntryType::try_from(e.r#type) {
            Ok(pb::TreeEntryType::File) => EntryKind::File,
            Ok(pb::TreeEntryType::Dir) => EntryKind::Dir,
            Ok(pb::TreeEntryType::Symlink) => EntryKind::Symlink,
            _ => EntryKind::Other,
        },
        size: e.size,
        mode: e.mode,
        mtime: e.mtime.as_ref().and_then(millis),
    }
}

/// A tree entry for the wire.
pub fn entry_to_pb(e: &TreeEntry) -> pb::TreeEntry {
    pb::TreeEntry {
        name: e.name.clone(),
        path: e.path.clone(),
        r#type: match e.kind {
            EntryKind::File => pb::TreeEntryType::File,
            EntryKind::Dir => pb::TreeEntryType::Dir,
            EntryKind::Symlink => pb::TreeEntryType::Symlink,
            EntryKind::Other => pb::TreeEntryType::Other,
        } as i32,
        size: e.size,
        mode: e.mode,
        mtime: e.mtime.map(timestamp),
    }
}

/// A part of a browse listing from the wire.
pub fn browse_from_pb(r: &pb::BrowseResult) -> BrowsePart {
    BrowsePart {
        path: r.path.clone(),
        entries: r.entries.iter().map(entry_from_pb).collect(),
        truncated: r.truncated,
        part: r.part,
        more: r.more,
    }
}

/// A browse listing for the wire.
pub fn browse_to_pb(job_id: i64, b: &BrowsePart) -> pb::BrowseResult {
    pb::BrowseResult {
        job_id,
        path: b.path.clone(),
        entries: b.entries.iter().map(entry_to_pb).collect(),
        truncated: b.truncated,
        part: b.part,
        more: b.more,
    }
}

const CHANGE_KINDS: [(ChangeKind, pb::DiffChangeKind); 5] = [
    (ChangeKind::Added, pb::DiffChangeKind::Added),
    (ChangeKind::Removed, pb::DiffChangeKind::Removed),
    (ChangeKind::Modified, pb::DiffChangeKind::Modified),
    (ChangeKind::Metadata, pb::DiffChangeKind::Metadata),
    (ChangeKind::TypeChanged, pb::DiffChangeKind::TypeChanged),
];

fn stats_from_pb(s: &pb::DiffStats) -> DiffStats {
    let pb::DiffStats {
        changed_files,
        added_files,
        added_dirs,
        added_bytes,
        removed_files,
        removed_dirs,
        removed_bytes,
    } = *s;
    DiffStats {
        changed_files,
        added_files,
        added_dirs,
        added_bytes,
        removed_files,
        removed_dirs,
        removed_bytes,
    }
}

fn stats_to_pb(s: &DiffStats) -> pb::DiffStats {
    let DiffStats {
        changed_files,
        added_files,
        added_dirs,
        added_bytes,
        removed_files,
        removed_dirs,
        removed_bytes,
    } = *s;
    pb::DiffStats {
        changed_files,
        added_files,
        added_dirs,
        added_bytes,
        removed_files,
        removed_dirs,
        removed_bytes,
    }
}

/// A diff from the wire.
pub fn diff_from_pb(d: &pb::SnapshotDiff) -> SnapshotDiff {
    SnapshotDiff {
        snapshot_a: d.snapshot_a.clone(),
        snapshot_b: d.snapshot_b.clone(),
        changes: d
            .changes
            .iter()
            .map(|c| DiffChange {
                path: c.path.clone(),
                kind: CHANGE_KINDS
                    .iter()
                    .find(|(_, w)| *w as i32 == c.kind)
                    .map_or(ChangeKind::Unknown, |(k, _)| *k),
            })
            .collect(),
        stats: d.stats.as_ref().map(stats_from_pb),
        truncated: d.truncated,
    }
}

/// A diff for the wire.
pub fn diff_to_pb(d: &SnapshotDiff) -> pb::SnapshotDiff {
    pb::SnapshotDiff {
        snapshot_a: d.snapshot_a.clone(),
        snapshot_b: d.snapshot_b.clone(),
        changes: d
            .changes
            .iter()
            .map(|c| pb::DiffChange {
                path: c.path.clone(),
                kind: CHANGE_KINDS
                    .iter()
                    .find(|(k, _)| *k == c.kind)
                    .map_or(pb::DiffChangeKind::Unspecified, |(_, w)| *w)
                    as i32,
            })
            .collect(),
        stats: d.stats.as_ref().map(stats_to_pb),
        truncated: d.truncated,
    }
}
