//! Running jobs: the typed spec is checked again (nothing the server sends is
//! trusted), turned into a restic command line with secrets only in the
//! child's environment, run in its own process group, and reported through
//! the spool: accepted, progress (at most twice a second), log lines (secrets
//! scrubbed), and exactly one finish.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_restic::{
    BackupMessage, ExitKind, Invocation, Operation, RepoAccess, ResticFailure, classify_exit,
    classify_stderr,
};
use tokio::process::Command;
use tokio::sync::{RwLock, watch};

use crate::budget;
use crate::lines::{LossyLines, MAX_LOG_LINE, cut};
use crate::policy::{Hook, OnError, Policy};
use crate::spool::Spool;

/// Progress is reported at most this often per job.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Log lines are sent in batches at least this often.
const LOG_FLUSH_EVERY: Duration = Duration::from_millis(250);
/// A batch holds at most this many lines.
const LOG_BATCH: usize = 200;
/// The most JSON output kept from one restic run.
const MAX_JSON: usize = 16 * 1024 * 1024;
/// Entries in one browse result or diff, at most.
const MAX_ENTRIES: usize = 10_000;
/// Snapshots per `SnapshotList` message.
const SNAPSHOTS_PER_PART: usize = 500;
/// How long restic gets to stop after SIGINT before SIGKILL.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Runs the jobs the server sends.
#[derive(Debug)]
pub(crate) struct Runner {
    spool: Arc<Spool>,
    restic: String,
    policy: Policy,
    running: Mutex<HashMap<i64, watch::Sender<Option<Duration>>>>,
    seen: Mutex<HashSet<i64>>,
    repo_locks: Mutex<HashMap<i64, Arc<RwLock<()>>>>,
}

/// Replaces every secret of a run in text that leaves the host.
/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone)]
struct Scrubber(Vec<String>);

impl Scrubber {
    fn new(repo: &RepoAccess) -> Scrubber {
        let mut secrets = vec![repo.password.clone(), repo.url.clone()];
        // The password part of a URL's user info, on its own too, raw and
        // as restic or ssh may print it decoded. User info ends at the
        // authority's last `@`, as Go reads it.
        if let Some(authority) = repo
            .url
            .split("://")
            .nth(1)
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            && let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            secrets.push(password.to_string());
            secrets.push(percent_decoded(password));
        }
        secrets.extend(repo.env.iter().map(|(_, v)| v.clone()));
        secrets.retain(|s| s.len() >= 3);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Scrubber(secrets)
    }

    fn scrub(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
}

fn now_ts() -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: now.as_secs() as i64,
        nanos: now.subsec_nanos() as i32,
    }
}

/// A log line, cut at 4 KiB as the protocol promises.
fn log_line(stream: pb::JobLogStream, level: pb::JobLogLevel, text: String) -> pb::JobLogLine {
    pb::JobLogLine {
        time: Some(now_ts()),
        stream: stream as i32,
        level: level as i32,
        text: cut(text, MAX_LOG_LINE),
    }
}

fn summary_to_pb(s: &cairn_restic::BackupSummary) -> pb::BackupSummary {
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

fn snapshot_to_pb(repository_id: i64, s: &cairn_restic::Snapshot) -> pb::Snapshot {
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
fn parse_rfc3339(text: &str) -> Option<prost_types::Timestamp> {
    text.parse::<prost_types::Timestamp>().ok()
}

/// Unix permission bits from restic's mode, which is Go's `os.FileMode`:
/// the permissions in the low nine bits, but setuid, setgid and sticky as
/// flags of their own (bits 23, 22 and 20), not as 0o4000/0o2000/0o1000.
fn unix_mode(go_mode: u64) -> u32 {
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

fn tree_entry(node: &cairn_restic::LsNode) -> pb::TreeEntry {
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
fn job_of(body: &Body) -> Option<i64> {
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

/// What one restic run produced.
struct RunOutput {
    exit: Option<i32>,
    /// JSON documents restic printed (snapshot lists, ls), bounded.
    json: String,
    stderr: String,
    summary: Option<cairn_restic::BackupSummary>,
    cancelled: bool,
    unreadable: u64,
}

impl Runner {
    pub(crate) fn new(spool: Arc<Spool>, restic: String, policy: Policy) -> Runner {
        Runner {
            spool,
            restic,
            policy,
            running: Mutex::default(),
            seen: Mutex::default(),
            repo_locks: Mutex::default(),
        }
    }

    fn report(&self, body: Body) {
        let job_id = job_of(&body);
        match self.spool.push(body) {
            Ok(_) => {}
            // The job hears of it: a message it could never send is refused,
            // not resent forever (which would hold up everything after it).
            Err(err @ crate::spool::SpoolError::TooLarge { .. }) => {
                tracing::error!(job = job_id, error = %err, "a job report was too large to send");
                // Once, straight to the spool: if even this short line were
                // refused, nothing more is tried (no loop).
                if let Some(job_id) = job_id {
                    let line = log_line(
                        pb::JobLogStream::Agent,
                        pb::JobLogLevel::Error,
                        err.to_string(),
                    );
                    if let Err(again) = self.spool.push(Body::JobLog(pb::JobLog {
                        job_id,
                        lines: vec![line],
                    })) {
                        tracing::error!(job = job_id, error = %again, "could not tell the job either");
                    }
                }
            }
            Err(err) => tracing::error!(error = %err, "could not spool a job report"),
        }
    }

    /// The ids of the jobs running now.
    pub(crate) fn running(&self) -> Vec<i64> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Starts a job, once: a `RunJob` for a job already seen is ignored.
    pub(crate) fn start(self: &Arc<Self>, run: pb::RunJob) {
        if !self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run.job_id)
        {
            tracing::info!(
                job = run.job_id,
                "job already taken on; ignoring the repeat"
            );
            return;
        }
        let (cancel_tx, cancel_rx) = watch::channel(None);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run.job_id, cancel_tx);
        let runner = self.clone();
        let limit =
            (run.timeout_seconds > 0).then(|| Duration::from_secs(run.timeout_seconds.into()));
        tokio::spawn(async move {
            let job_id = run.job_id;
            let job = runner.run(run, cancel_rx);
            let finished = match limit {
                None => job.await,
                Some(limit) => runner.within(job_id, limit, job).await,
            };
            runner
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&job_id);
            runner.report(Body::JobFinished(finished));
        });
    }

    /// Runs `job` under the server's timeout: past it, the job is cancelled
    /// as a `CancelJob` would (hooks and restic stopped) and says why.
    async fn within(
        &self,
        job_id: i64,
        limit: Duration,
        job: impl std::future::Future<Output = pb::JobFinished>,
    ) -> pb::JobFinished {
        tokio::pin!(job);
        tokio::select! {
            finished = &mut job => finished,
            () = tokio::time::sleep(limit) => {
                let why = format!("stopped: the job ran longer than its timeout of {} s", limit.as_secs());
                self.log(job_id, pb::JobLogLevel::Warn, why.clone());
                self.cancel(job_id, DEFAULT_GRACE);
                let mut finished = job.await;
                if finished.outcome == pb::JobOutcome::Cancelled as i32 {
                    finished.error = why;
                }
                finished
            }
        }
    }

    /// Stops a running job: SIGINT to restic's process group, SIGKILL after
    /// the grace period.
    pub(crate) fn cancel(&self, job_id: i64, grace: Duration) {
        if let Some(cancel) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&job_id)
        {
            let _ = cancel.send(Some(grace));
        }
    }

    /// Stops every running job (the agent is shutting down): restic gets
    /// SIGINT, then SIGKILL after `grace`; each job reports `cancelled`.
    pub(crate) fn cancel_all(&self, grace: Duration) {
        for cancel in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let _ = cancel.send(Some(grace));
        }
    }

    fn repo_lock(&self, repository: i64) -> Arc<RwLock<()>> {
        self.repo_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(repository)
            .or_default()
            .clone()
    }

    async fn run(
        &self,
        run: pb::RunJob,
        cancel: watch::Receiver<Option<Duration>>,
    ) -> pb::JobFinished {
        let job_id = run.job_id;
        let failed = |error: String| pb::JobFinished {
            job_id,
            outcome: pb::JobOutcome::Failed as i32,
            error,
            finished_at: Some(now_ts()),
            ..Default::default()
        };
        let Some(spec) = run.spec.as_ref() else {
            return failed("the job came without a spec".into());
        };
        let Some(access) = run.repository.clone() else {
            return failed("the job came without a repository".into());
        };
        let repo = RepoAccess {
            url: access.url,
            password: access.password,
            env: access.env.into_iter().collect(),
        };
        // The repository first: its URL reaches ssh and rclone (its
        // environment is checked with the invocation, before anything runs).
        if let Err(err) = self.policy.check_repository(&repo.url) {
            return failed(format!("refused: {err}"));
        }
        // Then where backups may read, restores write.
        let restore_target = match &spec.spec {
            Some(pb::job_spec::Spec::Restore(restore)) => {
                match self.policy.check_restore(&restore.target_path) {
                    Ok(target) => Some(target.display().to_string()),
                    Err(err) => return failed(format!("refused: {err}")),
                }
            }
            Some(pb::job_spec::Spec::Backup(backup)) => {
                if let Some(err) = backup
                    .paths
                    .iter()
                    .find_map(|p| self.policy.check_backup(p).err())
                {
                    return failed(format!("refused: {err}"));
                }
                None
            }
            _ => None,
        };
        let Some(checked) = cairn_proto::convert::spec_from_pb(spec) else {
            return failed("the job came without a spec".into());
        };
        let operation = match cairn_restic::operation(&checked, restore_target.as_deref()) {
            Ok(op) => op,
            Err(err) => return failed(format!("refused: {err}")),
        };
        // A dry run deletes nothing, so a host that allows no deletion still
        // lets one show what a policy would remove.
        let deletes = match &operation {
            Operation::Forget(forget) => !forget.dry_run,
            Operation::Prune(prune) => !prune.dry_run,
            _ => false,
        };
        if deletes && !self.policy.allow_destructive {
            return failed(
                "refused: this host does not allow forget or prune (allow_destructive = false in its agent.toml)".into(),
            );
        }
        let hooks = match &spec.spec {
            Some(pb::job_spec::Spec::Backup(backup)) => {
                let mut hooks = Vec::new();
                for name in &backup.hooks {
                    match self.policy.hooks.get(name) {
                        Some(hook) => hooks.push((name.clone(), hook.clone())),
                        None => {
                            return failed(format!(
                                "refused: unknown hook {name:?} (hooks are defined in this host's agent.toml)"
                            ));
                        }
                    }
                }
                hooks
            }
            _ => Vec::new(),
        };
        let invocation = match operation.invocation(&repo) {
            Ok(inv) => inv,
            Err(err) => return failed(format!("refused: {err}")),
        };
        let scrubber = Scrubber::new(&repo);
        self.report(Body::JobAccepted(pb::JobAccepted {
            job_id,
            accepted_at: Some(now_ts()),
        }));

        // One exclusive operation per repository at a time on this host;
        // backups and reads share.
        // Waiting for the lock, a cancel (or the job's timeout) still stops it.
        let lock = self.repo_lock(access.repository_id);
        let mut waiting = cancel.clone();
        let stopped = async move {
            if waiting.wait_for(Option::is_some).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let cancelled_waiting = pb::JobFinished {
            outcome: pb::JobOutcome::Cancelled as i32,
            error: "cancelled while waiting for the repository".into(),
            ..failed(String::new())
        };
        tokio::pin!(stopped);
        let (_guard, _shared) = if operation.is_exclusive() {
            tokio::select! {
                guard = lock.write() => (Some(guard), None),
                () = &mut stopped => return cancelled_waiting,
            }
        } else {
            tokio::select! {
                shared = lock.read() => (None, Some(shared)),
                () = &mut stopped => return cancelled_waiting,
            }
        };

        for (name, hook) in &hooks {
            if let Err(err) = self
                .run_hook_with_policy(job_id, name, "pre", &hook.pre, hook, Some(&cancel))
                .await
            {
                // A cancel (or the job's timeout) stops a pre hook too.
                let outcome = if cancel.borrow().is_some() {
                    pb::JobOutcome::Cancelled
                } else {
                    pb::JobOutcome::Failed
                };
                return pb::JobFinished {
                    outcome: outcome as i32,
                    error: err,
                    ..failed(String::new())
                };
            }
        }
        let cancel_for_refresh = cancel.clone();
        let mut output = self
            .execute(job_id, &operation, &invocation, &scrubber, cancel.clone())
            .await;
        if classify_exit(output.exit) == ExitKind::Failed
            && !output.cancelled
            && classify_stderr(&output.stderr) == ResticFailure::Locked
            && operation != Operation::Unlock
        {
            // A lock left by a killed run: remove stale locks only (never
            // --remove-all, which would break a live run elsewhere), retry once.
            self.log(
                job_id,
                pb::JobLogLevel::Warn,
                "repository locked: running `restic unlock` (stale locks only) and retrying once"
                    .into(),
            );
            if let Ok(unlock) = Operation::Unlock.invocation(&repo) {
                self.execute(
                    job_id,
                    &Operation::Unlock,
                    &unlock,
                    &scrubber,
                    cancel.clone(),
                )
                .await;
            }
            output = self
                .execute(job_id, &operation, &invocation, &scrubber, cancel)
                .await;
        }

        let kind = classify_exit(output.exit);
        let (outcome, error) = if output.cancelled {
            (pb::JobOutcome::Cancelled, "cancelled".to_string())
        } else {
            match kind {
                ExitKind::Success | ExitKind::Incomplete => {
                    (pb::JobOutcome::Succeeded, String::new())
                }
                ExitKind::Failed => (
                    pb::JobOutcome::Failed,
                    scrubber.scrub(&classify_stderr(&output.stderr).to_string()),
                ),
            }
        };
        let mut outcome = outcome;
        let mut error = error;
        for (name, hook) in &hooks {
            if let Err(err) = self
                .run_hook_with_policy(job_id, name, "post", &hook.post, hook, None)
                .await
                && outcome == pb::JobOutcome::Succeeded
            {
                outcome = pb::JobOutcome::Failed;
                error = err;
            }
        }
        if outcome == pb::JobOutcome::Succeeded
            && matches!(
                operation,
                Operation::Backup(_)
                    | Operation::Forget { .. }
                    | Operation::Prune { .. }
                    | Operation::Snapshots { .. }
            )
        {
            self.refresh_snapshots(
                job_id,
                access.repository_id,
                &operation,
                &output,
                &repo,
                &scrubber,
                cancel_for_refresh,
            )
            .await;
        }
        let details = if outcome == pb::JobOutcome::Succeeded {
            self.results(job_id, &operation, &output)
        } else {
            None
        };
        pb::JobFinished {
            job_id,
            outcome: outcome as i32,
            warning: kind == ExitKind::Incomplete || output.unreadable > 0,
            exit_code: output.exit,
            error,
            finished_at: Some(now_ts()),
            summary: output.summary.as_ref().map(summary_to_pb),
            details,
        }
    }

    /// Sends the repository's snapshot list: from the job's own output for a
    /// snapshots job, else from a `restic snapshots` run right after.
    #[allow(clippy::too_many_arguments)]
    async fn refresh_snapshots(
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
    fn results(
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

    /// Runs one side of a hook under its on-error policy; `Err` means the
    /// job must fail with that message. With `cancel`, a cancel stops the
    /// hook (pre hooks); without, it runs to its end (post hooks clean up
    /// even after a cancel).
    async fn run_hook_with_policy(
        &self,
        job_id: i64,
        name: &str,
        side: &str,
        argv: &[String],
        hook: &Hook,
        cancel: Option<&watch::Receiver<Option<Duration>>>,
    ) -> Result<(), String> {
        if argv.is_empty() {
            return Ok(());
        }
        let attempts = if hook.on_error == OnError::Retry {
            2
        } else {
            1
        };
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self
                .run_hook(job_id, name, side, argv, hook.timeout, cancel)
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) if cancel.is_some_and(|c| c.borrow().is_some()) => return Err(err),
                Err(err) => {
                    last = format!("{side} hook {name:?} failed: {err}");
                    self.log(
                        job_id,
                        pb::JobLogLevel::Warn,
                        format!("{last} (attempt {attempt} of {attempts})"),
                    );
                }
            }
        }
        match hook.on_error {
            OnError::Continue => Ok(()),
            OnError::Fail | OnError::Retry => Err(last),
        }
    }

    /// Runs a hook command directly (no shell), with a cleared environment
    /// and no secrets; its output goes to the job's log.
    async fn run_hook(
        &self,
        job_id: i64,
        name: &str,
        side: &str,
        argv: &[String],
        timeout: Duration,
        cancel: Option<&watch::Receiver<Option<Duration>>>,
    ) -> Result<(), String> {
        let Some((program, args)) = argv.split_first() else {
            return Ok(());
        };
        self.log(
            job_id,
            pb::JobLogLevel::Info,
            format!("running {side} hook {name:?}"),
        );
        let child =
            Command::new(program)
                .args(args)
                .env_clear()
                .envs(std::env::vars().filter(|(k, _)| {
                    matches!(k.as_str(), "PATH" | "HOME" | "TMPDIR" | "TZ" | "LANG")
                }))
                .env("CAIRN_JOB_ID", job_id.to_string())
                .env("CAIRN_HOOK", format!("{name}.{side}"))
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
        let mut cancel = cancel.cloned();
        let cancelled = async {
            let stopped = match cancel.as_mut() {
                Some(cancel) => cancel.wait_for(Option::is_some).await.is_ok(),
                None => false,
            };
            if !stopped {
                std::future::pending::<()>().await;
            }
        };
        // Dropping the hook's future kills it (kill_on_drop).
        let output = match tokio::select! {
            output = tokio::time::timeout(timeout, child) => output,
            () = cancelled => return Err(format!("{side} hook {name:?} stopped: the job was cancelled")),
        } {
            Err(_) => return Err(format!("timed out after {} s", timeout.as_secs())),
            Ok(Err(err)) => return Err(format!("cannot run {program}: {err}")),
            Ok(Ok(output)) => output,
        };
        let lines: Vec<pb::JobLogLine> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| {
                log_line(
                    pb::JobLogStream::Agent,
                    pb::JobLogLevel::Info,
                    format!("[{name}.{side}] {l}"),
                )
            })
            .chain(String::from_utf8_lossy(&output.stderr).lines().map(|l| {
                log_line(
                    pb::JobLogStream::Agent,
                    pb::JobLogLevel::Warn,
                    format!("[{name}.{side}] {l}"),
                )
            }))
            .take(LOG_BATCH)
            .collect();
        if !lines.is_empty() {
            self.report(Body::JobLog(pb::JobLog { job_id, lines }));
        }
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "exit status {}",
                output
                    .status
                    .code()
                    .map_or("killed".to_string(), |c| c.to_string())
            ))
        }
    }

    fn log(&self, job_id: i64, level: pb::JobLogLevel, text: String) {
        self.report(Body::JobLog(pb::JobLog {
            job_id,
            lines: vec![log_line(pb::JobLogStream::Agent, level, text)],
        }));
    }

    /// Runs restic once and streams what it says.
    async fn execute(
        &self,
        job_id: i64,
        operation: &Operation,
        invocation: &Invocation,
        scrubber: &Scrubber,
        mut cancel: watch::Receiver<Option<Duration>>,
    ) -> RunOutput {
        let mut command = Command::new(&self.restic);
        command
            .args(&invocation.args)
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "PATH" | "HOME" | "TMPDIR" | "TZ" | "XDG_CACHE_HOME"
                )
            }))
            .envs(invocation.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        die_with_parent(&mut command);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                return RunOutput {
                    exit: None,
                    json: String::new(),
                    stderr: format!("cannot start restic ({}): {err}", self.restic),
                    summary: None,
                    cancelled: false,
                    unreadable: 0,
                };
            }
        };
        let pid = child.id();
        let mut stdout = child.stdout.take().map(LossyLines::new);
        let mut stderr = child.stderr.take().map(LossyLines::new);
        let is_backup = matches!(operation, Operation::Backup(_));

        let mut batch: Vec<pb::JobLogLine> = Vec::new();
        let mut stderr_text = String::new();
        let mut json = String::new();
        let mut summary = None;
        let mut unreadable = 0;
        let mut last_progress: Option<Instant> = None;
        let mut flush = tokio::time::interval(LOG_FLUSH_EVERY);
        let mut cancelled = false;
        let mut kill_at: Option<tokio::time::Instant> = None;

        let status = loop {
            let mut flush_now = false;
            tokio::select! {
                line = async { stdout.as_mut()?.next_line().await }, if stdout.is_some() => match line {
                    Some(line) => {
                        match (is_backup, BackupMessage::parse(&line)) {
                            (true, Some(BackupMessage::Status(status))) => {
                                if last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                                    last_progress = Some(Instant::now());
                                    self.report(Body::JobProgress(pb::JobProgress {
                                        job_id,
                                        time: Some(now_ts()),
                                        percent: status.percent_done * 100.0,
                                        files_done: status.files_done,
                                        files_total: status.total_files,
                                        bytes_done: status.bytes_done,
                                        bytes_total: status.total_bytes,
                                        current_files: status.current_files.iter().take(4).map(|f| scrubber.scrub(f)).collect(),
                                        seconds_elapsed: status.seconds_elapsed,
                                        seconds_remaining: status.seconds_remaining,
                                        error_count: status.error_count,
                                    }));
                                }
                            }
                            (true, Some(BackupMessage::Summary(s))) => summary = Some(s),
                            (true, Some(BackupMessage::Error { item, message })) => {
                                unreadable += 1;
                                batch.push(log_line(pb::JobLogStream::Agent, pb::JobLogLevel::Warn, scrubber.scrub(&format!("could not read {item}: {message}"))));
                            }
                            (true, Some(BackupMessage::Other)) => {}
                            // JSON documents (snapshot lists, ls) are results, not log lines.
                            (_, _) if line.starts_with('[') || line.starts_with('{') => {
                                if json.len() + line.len() < MAX_JSON {
                                    json.push_str(&line);
                                    json.push('\n');
                                }
                            }
                            _ => batch.push(log_line(pb::JobLogStream::Stdout, pb::JobLogLevel::Info, scrubber.scrub(&line))),
                        }
                    }
                    None => stdout = None,
                },
                line = async { stderr.as_mut()?.next_line().await }, if stderr.is_some() => match line {
                    Some(line) => {
                        if stderr_text.len() < 64 * 1024 {
                            stderr_text.push_str(&line);
                            stderr_text.push('\n');
                        }
                        batch.push(log_line(pb::JobLogStream::Stderr, pb::JobLogLevel::Warn, scrubber.scrub(&line)));
                    }
                    None => stderr = None,
                },
                _ = flush.tick() => flush_now = true,
                changed = cancel.changed(), if !cancelled => {
                    if changed.is_ok()
                        && let Some(grace) = *cancel.borrow()
                    {
                        cancelled = true;
                        signal(pid, nix::sys::signal::Signal::SIGINT);
                        kill_at = Some(tokio::time::Instant::now() + if grace.is_zero() { DEFAULT_GRACE } else { grace });
                    }
                }
                () = async { tokio::time::sleep_until(kill_at.unwrap_or_else(tokio::time::Instant::now)).await }, if kill_at.is_some() => {
                    signal(pid, nix::sys::signal::Signal::SIGKILL);
                    kill_at = None;
                }
                status = child.wait(), if stdout.is_none() && stderr.is_none() => break status,
            }
            if batch.len() >= LOG_BATCH || (flush_now && !batch.is_empty()) {
                self.report(Body::JobLog(pb::JobLog {
                    job_id,
                    lines: std::mem::take(&mut batch),
                }));
            }
        };
        if !batch.is_empty() {
            self.report(Body::JobLog(pb::JobLog {
                job_id,
                lines: batch,
            }));
        }
        RunOutput {
            exit: status.ok().and_then(|s| s.code()),
            json,
            stderr: stderr_text,
            summary,
            cancelled,
            unreadable,
        }
    }
}

/// Makes the kernel kill restic if the agent dies (even by SIGKILL, when
/// `kill_on_drop` cannot run), so a killed agent never leaves an orphaned
/// restic holding a repository lock. restic runs in its own process group
/// (for clean cancellation), so it would not otherwise share the agent's fate.
///
/// The signal is tied to the thread that spawns restic: tokio's core worker
/// threads live as long as the runtime, which is the agent's life.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl(2), which is async-signal-safe; it touches no memory of the
    // parent.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// Signals restic's whole process group (restic may have children, e.g. ssh).
fn signal(pid: Option<u32>, signal: nix::sys::signal::Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubber_removes_every_secret_of_the_run() {
        let repo = RepoAccess {
            url: "rest:http://ann:urlpass@host:8000/repo".into(),
            password: "hunter2".into(),
            env: vec![("AWS_SECRET_ACCESS_KEY".into(), "awssecret".into())],
        };
        let s = Scrubber::new(&repo);
        let text = "Fatal: unable to open rest:http://ann:urlpass@host:8000/repo with hunter2 and awssecret; urlpass";
        let clean = s.scrub(text);
        for secret in ["urlpass", "hunter2", "awssecret"] {
            assert!(!clean.contains(secret), "{clean}");
        }
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod runner_tests;
