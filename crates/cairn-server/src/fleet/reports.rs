//! What agents report, turned into the store's types: cleaned, cut to size,
//! and with every timestamp range-checked (an agent's clock, or an agent,
//! may be wrong; an overflowing time must never panic or land in the store).

use cairn_proto::v1 as pb;
use cairn_store::{JobEnd, JobStatus, Millis, RepositoryId};

use super::clean::clean_text;

/// The earliest time an agent may report: 2000-01-01T00:00:00Z. Nothing
/// Cairn runs happened before.
const EARLIEST: Millis = 946_684_800_000;
/// How far ahead of the server's clock an agent's time may run (clock skew).
const AHEAD: Millis = 86_400_000;

/// An agent's timestamp in milliseconds, if it is a valid timestamp between
/// 2000 and a day past the server's `now`; `None` otherwise (overflowing
/// seconds, nanos out of range, a clock far off).
pub(crate) fn agent_time(t: &prost_types::Timestamp, now: Millis) -> Option<Millis> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    let ms = t
        .seconds
        .checked_mul(1000)?
        .checked_add(i64::from(t.nanos) / 1_000_000)?;
    (EARLIEST..=now.saturating_add(AHEAD))
        .contains(&ms)
        .then_some(ms)
}

/// A listed snapshot, for the cache. A snapshot time outside the accepted
/// range is stored as 0 (unknown) rather than dropping the snapshot. The
/// host is not taken from the snapshot: the store attributes it from its own
/// records (see `CachedSnapshot::host_id`).
pub(crate) fn cached_snapshot(
    repository: RepositoryId,
    s: &pb::Snapshot,
    now: Millis,
) -> cairn_store::CachedSnapshot {
    cairn_store::CachedSnapshot {
        repository_id: repository,
        snapshot_id: clean_text(&s.id, 64),
        short_id: clean_text(&s.short_id, 16),
        time: s
            .time
            .as_ref()
            .and_then(|t| agent_time(t, now))
            .unwrap_or(0),
        hostname: clean_text(&s.hostname, 253),
        host_id: None,
        paths: s
            .paths
            .iter()
            .take(256)
            .map(|p| clean_text(p, 4096))
            .collect(),
        tags: s.tags.iter().take(64).map(|t| clean_text(t, 256)).collect(),
        parent: (!s.parent.is_empty()).then(|| clean_text(&s.parent, 64)),
        tree: (!s.tree.is_empty()).then(|| clean_text(&s.tree, 64)),
        seen_at: 0,
        summary: None,
    }
}

/// How a job ended, from the agent's report.
pub(crate) fn job_end(finished: &pb::JobFinished) -> JobEnd {
    let status = match pb::JobOutcome::try_from(finished.outcome) {
        Ok(pb::JobOutcome::Succeeded) => JobStatus::Succeeded,
        Ok(pb::JobOutcome::Cancelled) => JobStatus::Cancelled,
        _ => JobStatus::Failed,
    };
    JobEnd {
        status,
        warning: finished.warning,
        exit_code: finished.exit_code,
        error: (!finished.error.is_empty()).then(|| clean_text(&finished.error, 2_000)),
        summary: finished.summary.as_ref().map(crate::jobs::encode),
        snapshot_id: finished
            .summary
            .as_ref()
            .map(|s| clean_text(&s.snapshot_id, 64))
            .filter(|s| !s.is_empty()),
    }
}

/// A progress report cleaned for the store and the watchers alike: file
/// names cleaned and capped, the percentage a finite 0–100, the time checked.
pub(crate) fn clean_progress(mut progress: pb::JobProgress, now: Millis) -> pb::JobProgress {
    progress.time = progress.time.filter(|t| agent_time(t, now).is_some());
    progress.percent = if progress.percent.is_finite() {
        progress.percent.clamp(0.0, 100.0)
    } else {
        0.0
    };
    progress.current_files = progress
        .current_files
        .iter()
        .take(MAX_CURRENT_FILES)
        .map(|f| clean_text(f, 4096))
        .collect();
    progress
}

/// File names kept in one progress report.
const MAX_CURRENT_FILES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_767_225_600_000; // 2026-01-01

    fn ts(seconds: i64, nanos: i32) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos }
    }

    #[test]
    fn overflowing_and_far_off_times_are_refused_not_panicking() {
        assert_eq!(agent_time(&ts(i64::MAX, 999_999_999), NOW), None);
        assert_eq!(agent_time(&ts(i64::MIN, 0), NOW), None);
        assert_eq!(agent_time(&ts(0, 0), NOW), None, "1970 is before Cairn");
        assert_eq!(agent_time(&ts(NOW / 1000, -1), NOW), None);
        assert_eq!(agent_time(&ts(NOW / 1000, 1_000_000_000), NOW), None);
        assert_eq!(
            agent_time(&ts(NOW / 1000 + 2 * 86_400, 0), NOW),
            None,
            "two days ahead"
        );
    }

    #[test]
    fn times_in_range_convert_exactly() {
        assert_eq!(agent_time(&ts(NOW / 1000, 5_000_000), NOW), Some(NOW + 5));
        assert_eq!(
            agent_time(&ts(NOW / 1000 + 3_600, 0), NOW),
            Some(NOW + 3_600_000),
            "an hour of skew is fine"
        );
        assert_eq!(agent_time(&ts(946_684_800, 0), NOW), Some(EARLIEST));
    }

    #[test]
    fn a_snapshot_with_an_overflowing_time_is_kept_with_time_unknown() {
        let s = pb::Snapshot {
            id: "a".repeat(64),
            time: Some(ts(i64::MAX, 0)),
            hostname: "web01".into(),
            ..Default::default()
        };
        let cached = cached_snapshot(RepositoryId(1), &s, NOW);
        assert_eq!(cached.time, 0);
        assert_eq!(cached.host_id, None);
    }
}
