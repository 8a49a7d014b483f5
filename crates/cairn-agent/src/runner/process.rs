//! One restic run: a cleared environment plus the invocation's, its own
//! process group, output streamed as progress and log lines, and SIGINT then
//! SIGKILL on a cancel.

use std::time::{Duration, Instant};

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_restic::{BackupMessage, Invocation, Operation};
use tokio::process::Command;
use tokio::sync::watch;

use super::convert::{log_line, now_ts};
use super::scrub::Scrubber;
use super::{DEFAULT_GRACE, LOG_BATCH, Runner};
use crate::lines::LossyLines;

/// Progress is reported at most this often per job.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Log lines are sent in batches at least this often.
const LOG_FLUSH_EVERY: Duration = Duration::from_millis(250);
/// The most JSON output kept from one restic run.
const MAX_JSON: usize = 16 * 1024 * 1024;

/// What one restic run produced.
pub(super) struct RunOutput {
    pub(super) exit: Option<i32>,
    /// The signal that ended restic, when one did (an OOM kill, an operator's
    /// `kill`): the job says so rather than "failed without a message".
    pub(super) killed_by: Option<i32>,
    /// JSON documents restic printed (snapshot lists, ls), bounded.
    pub(super) json: String,
    pub(super) stderr: String,
    pub(super) summary: Option<cairn_restic::BackupSummary>,
    pub(super) cancelled: bool,
    pub(super) unreadable: u64,
}

impl Runner {
    /// Runs restic once and streams what it says.
    pub(super) async fn execute(
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
                    killed_by: None,
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
        let status = status.ok();
        RunOutput {
            exit: status.and_then(|s| s.code()),
            killed_by: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
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
