//! The JobHub: live fan-out of what agents report about running jobs, to
//! every watcher (gRPC `WatchJob`, the UI's SSE). Each job has a bounded
//! broadcast channel; a watcher that falls behind loses the oldest events
//! (and is told it lagged) instead of slowing the agent or other watchers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_domain::{BrowsePart, EntryKind, SnapshotDiff};
use cairn_store::{JobId, Millis};
use tokio::sync::broadcast;

use super::events::{Event, JobEvent};

/// Events buffered per job for slow watchers.
const DEPTH: usize = 256;

/// Results kept for waiters at most (the oldest go first).
const MAX_RESULTS: usize = 1_000;

/// What a browse or diff job produced, for the call waiting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobResult {
    Browse(BrowsePart),
    Diff(SnapshotDiff),
}

/// One watcher's following of a job; see [`JobHub::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    hub: JobHub,
    job: JobId,
    rx: Option<broadcast::Receiver<JobEvent>>,
}

impl Subscription {
    /// The next event (as `broadcast::Receiver::recv`).
    pub async fn recv(&mut self) -> Result<JobEvent, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut topics = self.hub.lock();
        // Under the lock no one can subscribe in between: if nobody else
        // follows the job, its channel goes.
        if topics
            .get(&self.job)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            topics.remove(&self.job);
        }
    }
}

/// The most entry bytes of one assembled listing: what a call's answer can
/// carry under the default 4 MiB message limit. More is marked truncated.
const MAX_ASSEMBLED: usize = 3 * 1024 * 1024;

/// Live job events, and the results of browse and diff jobs.
#[derive(Debug, Clone)]
pub struct JobHub {
    /// The most entry bytes of one joined listing: what the answer to the
    /// waiting call can carry under the server's message limit.
    answer_limit: usize,
    topics: Arc<Mutex<HashMap<JobId, broadcast::Sender<JobEvent>>>>,
    results: Arc<Mutex<std::collections::BTreeMap<JobId, JobResult>>>,
    /// Browse results whose last part has not come yet.
    partial: Arc<Mutex<HashMap<JobId, BrowsePart>>>,
    delivered: Arc<tokio::sync::Notify>,
    /// Beats on every change of a job's state or progress.
    pulse: crate::pulse::Pulse,
    /// Every job's state changes and ends, for fleet-wide followers (the
    /// alert engine, healthchecks pings); see [`JobHub::lifecycle`].
    lifecycle: broadcast::Sender<JobEvent>,
    /// Counts each job's end (kind, status, duration, bytes added).
    metrics: crate::metrics::Metrics,
}

/// Lifecycle events buffered for a slow fleet-wide follower.
const LIFECYCLE_DEPTH: usize = 1024;

/// Adds `part` to what came before; `None` while parts are missing. A part
/// out of order (a replay, a gap) starts over from part 0 or is dropped.
fn join(sofar: Option<BrowsePart>, part: BrowsePart, limit: usize) -> Option<BrowsePart> {
    // About what an entry costs in the answer: its strings and a few fields.
    let size = |e: &cairn_domain::TreeEntry| e.name.len() + e.path.len() + 32;
    match sofar {
        _ if part.part == 0 => Some(part),
        Some(mut whole) if whole.part + 1 == part.part => {
            whole.part = part.part;
            whole.more = part.more;
            whole.truncated |= part.truncated;
            let mut used: usize = whole.entries.iter().map(size).sum();
            for entry in part.entries {
                used += size(&entry);
                if used > limit {
                    whole.truncated = true;
                    break;
                }
                whole.entries.push(entry);
            }
            Some(whole)
        }
        _ => None,
    }
}

/// Directories first, then by name: the order the API promises (restic
/// lists in its tree's order).
fn sort_entries(entries: &mut [cairn_domain::TreeEntry]) {
    entries.sort_by(|a, b| {
        (b.kind == EntryKind::Dir)
            .cmp(&(a.kind == EntryKind::Dir))
            .then_with(|| a.name.cmp(&b.name))
    });
}

impl Default for JobHub {
    fn default() -> JobHub {
        JobHub::with_message_limit(4 * 1024 * 1024)
    }
}

impl JobHub {
    /// A hub whose joined answers fit a message of `max_message_size` bytes
    /// (a quarter is left for the envelope and the rest of the answer).
    pub(crate) fn with_message_limit(max_message_size: usize) -> JobHub {
        JobHub::with_pulse(
            max_message_size,
            crate::pulse::Pulse::default(),
            crate::metrics::Metrics::default(),
        )
    }

    /// As [`JobHub::with_message_limit`], beating `pulse` on every change.
    pub(crate) fn with_pulse(
        max_message_size: usize,
        pulse: crate::pulse::Pulse,
        metrics: crate::metrics::Metrics,
    ) -> JobHub {
        JobHub {
            pulse,
            metrics,
            answer_limit: MAX_ASSEMBLED.min(max_message_size / 4 * 3),
            topics: Arc::default(),
            results: Arc::default(),
            partial: Arc::default(),
            delivered: Arc::default(),
            lifecycle: broadcast::channel(LIFECYCLE_DEPTH).0,
        }
    }

    /// Follows every job's state changes (`Event::State`) and ends
    /// (`Event::Finished`) from now on, whoever watches them. A follower
    /// that falls behind is told it lagged and must re-read what it needs
    /// from the store: this is a prompt, not a ledger.
    pub fn lifecycle(&self) -> broadcast::Receiver<JobEvent> {
        self.lifecycle.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, broadcast::Sender<JobEvent>>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows a job's live events from now on. The job's channel lives as
    /// long as someone follows it: dropping the last subscription (a watcher
    /// of an unknown or finished job, a client gone) removes it.
    pub fn subscribe(&self, job: JobId) -> Subscription {
        let rx = self
            .lock()
            .entry(job)
            .or_insert_with(|| broadcast::channel(DEPTH).0)
            .subscribe();
        Subscription {
            hub: self.clone(),
            job,
            rx: Some(rx),
        }
    }

    /// Something an overview shows changed outside a job's events (a job
    /// was queued, say).
    pub(crate) fn changed(&self) {
        self.pulse.beat();
    }

    /// The pulse this hub beats.
    pub(crate) fn pulse(&self) -> &crate::pulse::Pulse {
        &self.pulse
    }

    /// How many jobs have a live channel (watched, not yet finished).
    pub fn topic_count(&self) -> usize {
        self.lock().len()
    }

    /// Hands an event, seen at `at`, to the job's watchers, if any.
    pub fn publish(&self, job: JobId, at: Millis, event: Event) {
        // Log lines change no overview; a state or progress does.
        if !matches!(event, Event::Log { .. }) {
            self.pulse.beat();
        }
        if matches!(event, Event::State { .. } | Event::Finished(_)) {
            // No follower is not an error.
            let _ = self.lifecycle.send(JobEvent {
                job,
                at,
                event: event.clone(),
            });
        }
        let mut topics = self.lock();
        if let Some(tx) = topics.get(&job) {
            let sent = tx.send(JobEvent { job, at, event });
            if sent.is_err() {
                // Nobody watches any more.
                topics.remove(&job);
            }
        }
    }

    /// Tells a job's watchers its final record and closes its channel: the
    /// one way a job's end is told, whoever ended it (its agent, the lease,
    /// a cancel while queued).
    pub fn finished(&self, job: &cairn_store::Job, at: Millis) {
        self.metrics.job_finished(job);
        self.publish(job.id, at, Event::Finished(job.clone()));
        self.close(job.id);
    }

    /// Tells a job's end, read back from the store; a job that can no longer
    /// be read (deleted with its host, a row that does not decode) still has
    /// its channel closed, so its watchers end.
    pub async fn ended(&self, store: &cairn_store::Store, job: JobId, at: Millis) {
        match store.job(job).await {
            Ok(done) => self.finished(&done, at),
            Err(err) => {
                tracing::warn!(%job, error = %err, "an ended job cannot be read back: its watchers are closed");
                self.close(job);
            }
        }
    }

    /// Keeps a job's result for the call waiting on it. A browse result in
    /// parts is joined first and handed over with its last part.
    pub fn deliver(&self, job: JobId, result: JobResult) {
        let result = match result {
            JobResult::Browse(part) => {
                let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
                let Some(whole) = join(partial.remove(&job), part, self.answer_limit) else {
                    return;
                };
                if whole.more {
                    // Bounded like the results: a peer cannot grow it forever.
                    if partial.len() >= MAX_RESULTS
                        && let Some(any) = partial.keys().next().copied()
                    {
                        partial.remove(&any);
                    }
                    partial.insert(job, whole);
                    return;
                }
                let mut whole = whole;
                sort_entries(&mut whole.entries);
                JobResult::Browse(whole)
            }
            diff => diff,
        };
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.insert(job, result);
        while results.len() > MAX_RESULTS {
            results.pop_first();
        }
        drop(results);
        self.delivered.notify_waiters();
    }

    /// Takes a job's result once it is there (or `None` when `done` says the
    /// job ended without one).
    pub async fn wait_result(
        &self,
        job: JobId,
        mut ended: impl FnMut() -> bool,
    ) -> Option<JobResult> {
        loop {
            let notified = self.delivered.notified();
            if let Some(result) = self
                .results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&job)
            {
                return Some(result);
            }
            if ended() {
                return None;
            }
            // Woken by a delivery, or checks again shortly for the job's end.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), notified).await;
        }
    }

    /// Forgets a finished job's channel (watchers see it close) and any
    /// parts of a result that will now never be whole.
    pub fn close(&self, job: JobId) {
        self.lock().remove(&job);
        self.partial
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_store::JobStatus;

    fn part(part: u32, last: bool, names: &[&str]) -> JobResult {
        let more = !last;
        JobResult::Browse(BrowsePart {
            path: "/".into(),
            entries: names
                .iter()
                .map(|n| cairn_domain::TreeEntry {
                    name: n.to_string(),
                    ..Default::default()
                })
                .collect(),
            truncated: false,
            part,
            more,
        })
    }

    #[tokio::test]
    async fn the_lifecycle_carries_every_jobs_state_changes_and_ends_but_not_logs() {
        let hub = JobHub::default();
        let mut all = hub.lifecycle();
        let (from, to) = (JobStatus::Dispatched, JobStatus::Running);
        hub.publish(JobId(1), 10, Event::State { from, to });
        hub.publish(
            JobId(2),
            11,
            Event::Log {
                first: 0,
                lines: vec![],
            },
        );
        hub.publish(JobId(2), 12, Event::State { from, to });
        let first = all.recv().await.expect("first");
        let second = all.recv().await.expect("second");
        assert_eq!((first.job, second.job), (JobId(1), JobId(2)));
        assert!(all.try_recv().is_err(), "no log line is carried");
    }

    #[tokio::test]
    async fn a_browse_result_in_parts_is_handed_over_whole_with_its_last_part() {
        let hub = JobHub::default();
        let job = JobId(7);
        hub.deliver(job, part(0, false, &["a", "b"]));
        hub.deliver(job, part(2, true, &["x"])); // a gap: dropped, starts nothing
        hub.deliver(job, part(0, false, &["a", "b"])); // a replay starts over
        hub.deliver(job, part(1, false, &["c"]));
        assert!(
            hub.results.lock().expect("lock").is_empty(),
            "not whole yet"
        );
        hub.deliver(job, part(2, true, &["d"]));
        let Some(JobResult::Browse(whole)) = hub.wait_result(job, || true).await else {
            panic!("a whole result")
        };
        let names: Vec<_> = whole.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert!(!whole.truncated);
    }

    #[tokio::test]
    async fn a_listing_in_one_message_is_whole_as_an_agent_without_parts_sends_it() {
        let hub = JobHub::default();
        hub.deliver(JobId(7), part(0, true, &["only"]));
        let Some(JobResult::Browse(whole)) = hub.wait_result(JobId(7), || true).await else {
            panic!("a whole result")
        };
        assert_eq!(whole.entries.len(), 1);
    }

    #[test]
    fn entries_are_directories_first_then_by_name() {
        let entry = |name: &str, kind: EntryKind| cairn_domain::TreeEntry {
            name: name.into(),
            kind,
            ..Default::default()
        };
        let mut entries = vec![
            entry("zeta", EntryKind::File),
            entry("beta", EntryKind::Dir),
            entry("alpha", EntryKind::File),
            entry("alpha-dir", EntryKind::Dir),
        ];
        sort_entries(&mut entries);
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["alpha-dir", "beta", "alpha", "zeta"]);
    }

    #[tokio::test]
    async fn a_channel_lives_only_while_someone_watches() {
        let hub = JobHub::default();
        let first = hub.subscribe(JobId(1));
        let second = hub.subscribe(JobId(1));
        drop(hub.subscribe(JobId(2)));
        assert_eq!(hub.topic_count(), 1, "nobody watches job 2");
        drop(first);
        assert_eq!(hub.topic_count(), 1, "job 1 is still watched");
        drop(second);
        assert_eq!(hub.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_closed_job_then_its_last_watcher_leaves_nothing() {
        let hub = JobHub::default();
        let mut watcher = hub.subscribe(JobId(7));
        hub.publish(
            JobId(7),
            0,
            Event::Log {
                first: 0,
                lines: Vec::new(),
            },
        );
        assert!(watcher.recv().await.is_ok());
        hub.close(JobId(7));
        assert!(watcher.recv().await.is_err(), "closed with the job");
        drop(watcher);
        assert_eq!(hub.topic_count(), 0);
    }
}
