//! The one pipeline every agent report goes through: range-check (an
//! agent's clock, or an agent, may be wrong), ownership (a report about
//! another host's job is dropped), cleaning (no control characters, bounded
//! sizes), then the store applies it with its seq in one transaction, and
//! watchers are told exactly what was stored.

use cairn_domain::Progress;
use cairn_store::{
    CachedSnapshot, JobEnd, JobId, JobStatus, LogLine, Millis, ProgressTaken, RepositoryId,
};

use super::clean::clean_text;
use super::inbound::{Finished, JobOutcome, ListedSnapshot, Report, ReportedLine, SnapshotPart};
use super::session::SessionHandle;
use crate::error::ServiceResult;
use crate::jobs::{Event, JobResult};

/// The earliest time an agent may report: 2000-01-01T00:00:00Z. Nothing
/// Cairn runs happened before.
const EARLIEST: Millis = 946_684_800_000;
/// How far ahead of the server's clock an agent's time may run (clock skew).
const AHEAD: Millis = 86_400_000;
/// Running jobs read from one `Hello` or `Heartbeat` (an agent runs a few).
pub(super) const MAX_RUNNING_JOBS: usize = 1_024;
/// Log lines accepted in one `JobLog` message.
const MAX_LOG_LINES: usize = 1_000;
/// Longest log line kept: 4 KiB, as the protocol promises.
const MAX_LOG_LINE: usize = 4_096;
/// Parts of one job's `SnapshotList` accepted (at most a million snapshots).
const MAX_SNAPSHOT_PARTS: u32 = 100;
/// Snapshots accepted in one `SnapshotList` part.
const MAX_SNAPSHOTS: usize = 10_000;
/// File names kept in one progress report.
const MAX_CURRENT_FILES: usize = 16;

/// An agent's time, if it lies between 2000 and a day past the server's
/// `now`; `None` otherwise (a clock far off, or no time at all).
pub(crate) fn agent_time(at: Option<Millis>, now: Millis) -> Option<Millis> {
    at.filter(|ms| (EARLIEST..=now.saturating_add(AHEAD)).contains(ms))
}

/// A log line as stored; a line without a valid time gets the time it
/// arrived (`now`).
pub(crate) fn log_line(line: ReportedLine, now: Millis) -> LogLine {
    LogLine {
        at: agent_time(line.at, now).unwrap_or(now),
        stream: line.stream,
        level: line.level,
        line: clean_text(&line.text, MAX_LOG_LINE),
    }
}

/// A listed snapshot, for the cache. A snapshot time outside the accepted
/// range is stored as 0 (unknown) rather than dropping the snapshot. The
/// host is not taken from the snapshot: the store attributes it from its own
/// records (see `CachedSnapshot::host_id`).
///
/// Ids are what restic makes (hex, 8 to 64 digits): they end up in URLs and
/// in the `cairn ctl` lines pages show, so a snapshot whose id is anything
/// else is dropped (`None`), and a parent or tree that is not an id is left
/// out.
pub(crate) fn cached_snapshot(
    repository: RepositoryId,
    s: &ListedSnapshot,
    now: Millis,
) -> Option<CachedSnapshot> {
    let id = |value: &str| {
        ((8..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| value.to_ascii_lowercase())
    };
    let snapshot_id = id(&s.id)?;
    let short_id = match id(&s.short_id) {
        Some(short) if short.len() <= 16 => short,
        _ => snapshot_id[..8].to_string(),
    };
    Some(CachedSnapshot {
        repository_id: repository,
        snapshot_id,
        short_id,
        time: agent_time(s.time, now).unwrap_or(0),
        hostname: clean_text(&s.hostname, 253),
        host_id: None,
        paths: s
            .paths
            .iter()
            .take(256)
            .map(|p| clean_text(p, 4096))
            .collect(),
        tags: s.tags.iter().take(64).map(|t| clean_text(t, 256)).collect(),
        parent: id(&s.parent),
        tree: id(&s.tree),
        seen_at: 0,
        summary: None,
    })
}

/// How a job ended, from the agent's report, cleaned.
pub(crate) fn job_end(finished: &Finished) -> JobEnd {
    let summary = finished.summary.clone().map(|mut s| {
        s.snapshot_id = clean_text(&s.snapshot_id, 64);
        s
    });
    JobEnd {
        status: match finished.outcome {
            JobOutcome::Succeeded => JobStatus::Succeeded,
            JobOutcome::Cancelled => JobStatus::Cancelled,
            JobOutcome::Failed => JobStatus::Failed,
        },
        warning: finished.warning,
        exit_code: finished.exit_code,
        error: (!finished.error.is_empty()).then(|| clean_text(&finished.error, 2_000)),
        snapshot_id: summary
            .as_ref()
            .map(|s| s.snapshot_id.clone())
            .filter(|s| !s.is_empty()),
        summary,
    }
}

/// A progress report cleaned for the store and the watchers alike: file
/// names cleaned and capped, the percentage a finite 0–100, the time checked.
pub(crate) fn clean_progress(mut progress: Progress, now: Millis) -> Progress {
    progress.at = agent_time(progress.at, now);
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

impl SessionHandle {
    /// Applies one report with its seq; `false` when the seq was applied
    /// before (a replay), so nothing took effect again.
    pub(super) async fn apply(&self, seq: u64, report: Report, now: Millis) -> ServiceResult<bool> {
        let fleet = &self.fleet;
        let host = self.guard.host;
        let store = &fleet.store;
        let hub = &fleet.hub;
        let lease_until = now + fleet.settings.job_lease.as_millis() as Millis;
        Ok(match report {
            Report::SchedulesApplied { version } => {
                let effect = cairn_store::schedules_applied(host, version);
                store.apply_agent_message(host, seq, now, effect).await?
            }
            Report::JobLog { job, lines } => {
                // Only lines the store took (this host's live job, under its
                // cap, cleaned and cut) reach the watchers.
                let lines = lines
                    .into_iter()
                    .take(MAX_LOG_LINES)
                    .map(|l| log_line(l, now))
                    .collect();
                let cap = u64::from(fleet.settings.max_log_lines_per_job);
                let effect = cairn_store::append_job_log(host, job, lines, cap);
                match store
                    .apply_agent_message_with(host, seq, now, effect)
                    .await?
                {
                    Some(stored) => {
                        if !stored.lines.is_empty() {
                            let event = Event::Log {
                                first: stored.first,
                                lines: stored.lines,
                            };
                            hub.publish(job, now, event);
                        }
                        true
                    }
                    None => false,
                }
            }
            Report::ScheduleFired(fired) => {
                let applied = self.record_only(seq, now).await?;
                fleet
                    .schedule_fired(host, &fired, now, self.replaying())
                    .await?;
                applied
            }
            Report::JobAccepted { job } => {
                let effect = cairn_store::job_accepted(host, job, now, lease_until);
                match store
                    .apply_agent_message_with(host, seq, now, effect)
                    .await?
                {
                    Some(started) => {
                        if started {
                            let (from, to) = (JobStatus::Dispatched, JobStatus::Running);
                            hub.publish(job, now, Event::State { from, to });
                        }
                        true
                    }
                    None => false,
                }
            }
            Report::JobProgress { job, progress } => {
                self.progress(seq, job, clean_progress(progress, now), now, lease_until)
                    .await?
            }
            Report::JobFinished(finished) => self.finished(seq, finished, now).await?,
            Report::SnapshotList(part) => self.snapshot_part(seq, part, now).await?,
            Report::BrowseResult { job, part } => {
                if self.runs_live(job).await {
                    hub.deliver(job, JobResult::Browse(part));
                }
                self.record_only(seq, now).await?
            }
            // Nothing else carries a seq; recorded so the spool drains.
            Report::Empty | Report::Hello | Report::Heartbeat { .. } | Report::Other => {
                self.record_only(seq, now).await?
            }
        })
    }

    /// Records a seq that has no effect of its own.
    async fn record_only(&self, seq: u64, now: Millis) -> ServiceResult<bool> {
        let host = self.guard.host;
        Ok(self
            .fleet
            .store
            .apply_agent_message(host, seq, now, |_| Ok(()))
            .await?)
    }

    /// Progress is stored at most twice a second per job; the seq is applied
    /// either way so the spool drains. Watchers get every report of this
    /// host's live job, cleaned as the store keeps it.
    async fn progress(
        &self,
        seq: u64,
        job: JobId,
        progress: Progress,
        now: Millis,
        lease_until: Millis,
    ) -> ServiceResult<bool> {
        let (host, store) = (self.guard.host, &self.fleet.store);
        if !self.runs_live(job).await {
            tracing::warn!(%host, %job, "progress for a job this host does not run: dropped");
            return self.record_only(seq, now).await;
        }
        let hub = &self.fleet.hub;
        if !self.progress_due(job, now) {
            let applied = self.record_only(seq, now).await?;
            if applied {
                hub.publish(job, now, Event::Progress(progress));
            }
            return Ok(applied);
        }
        let effect = cairn_store::job_progress(host, job, progress.clone(), now, lease_until);
        let taken = store
            .apply_agent_message_with(host, seq, now, effect)
            .await?;
        if taken == Some(ProgressTaken::Started) {
            let (from, to) = (JobStatus::Dispatched, JobStatus::Running);
            hub.publish(job, now, Event::State { from, to });
        }
        if matches!(taken, Some(ProgressTaken::Stored | ProgressTaken::Started)) {
            hub.publish(job, now, Event::Progress(progress));
        }
        Ok(taken.is_some())
    }

    /// Only the message that ended this host's job tells watchers and closes
    /// the job's channel.
    async fn finished(&self, seq: u64, finished: Finished, now: Millis) -> ServiceResult<bool> {
        let (host, fleet) = (self.guard.host, &self.fleet);
        let job = finished.job;
        self.forget_progress(job);
        let effect = cairn_store::job_finished(host, job, job_end(&finished), now);
        let applied = fleet
            .store
            .apply_agent_message_with(host, seq, now, effect)
            .await?;
        if applied == Some(true) {
            if let Some(diff) = finished.diff {
                fleet.hub.deliver(job, JobResult::Diff(diff));
            }
            fleet.hub.ended(&fleet.store, job, now).await;
        }
        fleet.request_dispatch(host);
        Ok(applied.is_some())
    }

    /// A part of a snapshot list is taken only from a live job of this host
    /// on that repository, still assigned to it, and in a bounded number of
    /// parts: the cache is what every host of the repository is shown.
    async fn snapshot_part(
        &self,
        seq: u64,
        list: SnapshotPart,
        now: Millis,
    ) -> ServiceResult<bool> {
        let (host, store) = (self.guard.host, &self.fleet.store);
        let repository = list.repository;
        let allowed = list.part < MAX_SNAPSHOT_PARTS
            && self.runs_live(list.job).await
            && store
                .job_state(list.job)
                .await
                .is_ok_and(|job| job.repository_id == Some(repository))
            && store.is_assigned(repository, host).await?;
        if !allowed {
            tracing::warn!(%host, %repository, "snapshot list for a repository this host has no job on: dropped");
            return self.record_only(seq, now).await;
        }
        let listed = list.snapshots.len().min(MAX_SNAPSHOTS);
        let snapshots: Vec<_> = list
            .snapshots
            .iter()
            .take(MAX_SNAPSHOTS)
            .filter_map(|s| cached_snapshot(repository, s, now))
            .collect();
        if snapshots.len() < listed {
            tracing::warn!(%host, %repository, dropped = listed - snapshots.len(), "snapshots whose id is not a restic id: dropped");
        }
        let effect = cairn_store::replace_snapshots(repository, list.part == 0, snapshots, now);
        Ok(store.apply_agent_message(host, seq, now, effect).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_767_225_600_000; // 2026-01-01

    #[test]
    fn far_off_times_are_refused() {
        assert_eq!(agent_time(None, NOW), None);
        assert_eq!(agent_time(Some(0), NOW), None, "1970 is before Cairn");
        assert_eq!(agent_time(Some(i64::MIN), NOW), None);
        assert_eq!(
            agent_time(Some(NOW + 2 * 86_400_000), NOW),
            None,
            "two days ahead"
        );
    }

    #[test]
    fn times_in_range_are_kept_exactly() {
        assert_eq!(agent_time(Some(NOW + 5), NOW), Some(NOW + 5));
        assert_eq!(
            agent_time(Some(NOW + 3_600_000), NOW),
            Some(NOW + 3_600_000),
            "an hour of skew is fine"
        );
        assert_eq!(agent_time(Some(EARLIEST), NOW), Some(EARLIEST));
    }

    #[test]
    fn a_snapshot_with_a_far_off_time_is_kept_with_time_unknown() {
        let s = ListedSnapshot {
            id: "a".repeat(64),
            time: Some(i64::MAX),
            hostname: "web01".into(),
            ..Default::default()
        };
        let cached = cached_snapshot(RepositoryId(1), &s, NOW).expect("a restic id");
        assert_eq!(cached.time, 0);
        assert_eq!(cached.host_id, None);
        assert_eq!(
            cached.short_id, "aaaaaaaa",
            "a missing short id is made from the id"
        );
    }

    #[test]
    fn a_snapshot_whose_id_is_not_a_restic_id_is_dropped() {
        for bad in [
            "0badc0de;curl x|sh",
            "../../etc",
            "abc",
            "",
            &"a".repeat(65),
        ] {
            let s = ListedSnapshot {
                id: bad.to_string(),
                ..Default::default()
            };
            assert_eq!(cached_snapshot(RepositoryId(1), &s, NOW), None, "{bad:?}");
        }
        let s = ListedSnapshot {
            id: "ABCDEF0123456789".into(),
            short_id: "$(x)".into(),
            parent: "not an id".into(),
            tree: "b".repeat(64),
            ..Default::default()
        };
        let cached = cached_snapshot(RepositoryId(1), &s, NOW).expect("a restic id");
        assert_eq!(cached.snapshot_id, "abcdef0123456789");
        assert_eq!(cached.short_id, "abcdef01");
        assert_eq!(cached.parent, None);
        assert_eq!(cached.tree, Some("b".repeat(64)));
    }
}
