//! restic's output and the agent's reports as protobuf messages.

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;

use crate::lines::{MAX_LOG_LINE, cut};

/// The time a line or report is made, as the wire carries it.
pub(super) fn now_ts() -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    cairn_proto::convert::timestamp(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
}

/// A log line, cut at 4 KiB as the protocol promises.
pub(super) fn log_line(
    stream: pb::JobLogStream,
    level: pb::JobLogLevel,
    text: String,
) -> pb::JobLogLine {
    pb::JobLogLine {
        time: Some(now_ts()),
        stream: stream as i32,
        level: level as i32,
        text: cut(text, MAX_LOG_LINE),
    }
}

pub(super) fn summary_to_pb(s: &cairn_restic::BackupSummary) -> pb::BackupSummary {
    pb::BackupSummary {
        files_new: s.files_new,
        files_changed: s.files_changed,
        files_unmodified: s.files_unmodified,
        dirs_new: s.dirs_new,
        dirs_changed: s.dirs_changed,
        dirs_unmodified: s.dirs_unmodified,
        data_added: s.data_added,
        data_added_packed: s.data_added_packed,
        total_files_processed: s.total_files_processed,
        total_bytes_processed: s.total_bytes_processed,
        duration: Some(prost_types::Duration {
            seconds: s.total_duration.trunc() as i64,
            nanos: (s.total_duration.fract() * 1e9) as i32,
        }),
        snapshot_id: s.snapshot_id.clone(),
    }
}

pub(super) fn snapshot_to_pb(repository_id: i64, s: &cairn_restic::Snapshot) -> pb::Snapshot {
    pb::Snapshot {
        id: s.id.clone(),
        short_id: s.short_id.clone(),
        repository_id,
        time: parse_rfc3339(&s.time),
        hostname: s.hostname.clone(),
        host_id: 0,
        paths: s.paths.clone(),
        tags: s.tags.clone(),
        parent: s.parent.clone().unwrap_or_default(),
        tree: s.tree.clone(),
        summary: None,
    }
}

/// restic's RFC 3339 times (`2026-11-26T22:09:10.647943359Z`, or with an
/// offset) as a protobuf timestamp.
pub(super) fn parse_rfc3339(text: &str) -> Option<prost_types::Timestamp> {
    text.parse::<prost_types::Timestamp>().ok()
}

/// Unix permission bits from restic's mode, which is Go's `os.FileMode`:
/// the permissions in the low nine bits, but setuid, setgid and sticky as
/// flags of their own (bits 23, 22 and 20), not as 0o4000/0o2000/0o1000.
pub(super) fn unix_mode(go_mode: u64) -> u32 {
    const SETUID: u64 = 1 << 23;
    const SETGID: u64 = 1 << 22;
    const STICKY: u64 = 1 << 20;
    let mut mode = (go_mode & 0o777) as u32;
    for (flag, bit) in [(SETUID, 0o4000), (SETGID, 0o2000), (STICKY, 0o1000)] {
        if go_mode & flag != 0 {
            mode |= bit;
        }
    }
    mode
}

pub(super) fn tree_entry(node: &cairn_restic::LsNode) -> pb::TreeEntry {
    pb::TreeEntry {
        name: node.name.clone(),
        path: node.path.clone(),
        r#type: match node.kind.as_str() {
            "file" => pb::TreeEntryType::File,
            "dir" => pb::TreeEntryType::Dir,
            "symlink" => pb::TreeEntryType::Symlink,
            _ => pb::TreeEntryType::Other,
        } as i32,
        size: node.size,
        mode: unix_mode(node.mode),
        mtime: parse_rfc3339(&node.mtime),
    }
}

/// The job a report is about.
pub(super) fn job_of(body: &Body) -> Option<i64> {
    match body {
        Body::JobAccepted(m) => Some(m.job_id),
        Body::JobProgress(m) => Some(m.job_id),
        Body::JobLog(m) => Some(m.job_id),
        Body::JobFinished(m) => Some(m.job_id),
        Body::SnapshotList(m) => Some(m.job_id),
        Body::BrowseResult(m) => Some(m.job_id),
        _ => None,
    }
}
