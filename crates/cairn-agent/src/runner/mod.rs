//! Running jobs: the typed spec is checked again (nothing the server sends is
//! trusted), turned into a restic command line with secrets only in the
//! child's environment, run in its own process group, and reported through
//! the spool: accepted, progress (at most twice a second), log lines (secrets
//! scrubbed), and exactly one finish.
//!
//! This file holds the runner's life (start once, timeout, cancel); `job`
//! runs one job top to bottom, `hooks` and `process` run the host's hooks and
//! restic, `results` sends what a job found, `convert` and `scrub` shape what
//! leaves the host.

mod convert;
mod hooks;
mod job;
mod process;
mod results;
mod scrub;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use tokio::sync::{RwLock, watch};

use crate::policy::Policy;
use crate::spool::Spool;
use convert::{job_of, log_line};

/// A batch holds at most this many lines.
const LOG_BATCH: usize = 200;
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
    fn log(&self, job_id: i64, level: pb::JobLogLevel, text: String) {
        self.report(Body::JobLog(pb::JobLog {
            job_id,
            lines: vec![log_line(pb::JobLogStream::Agent, level, text)],
        }));
    }
}

#[cfg(test)]
mod tests;
