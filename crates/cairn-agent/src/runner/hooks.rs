//! The host's own hooks around a backup: run directly (no shell) with a
//! cleared environment, under a timeout and their on-error policy.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use tokio::process::Command;
use tokio::sync::watch;

use super::convert::log_line;
use super::{LOG_BATCH, Runner};
use crate::policy::{Hook, OnError};

impl Runner {
    /// Runs one side of a hook under its on-error policy; `Err` means the
    /// job must fail with that message. With `cancel`, a cancel stops the
    /// hook (pre hooks); without, it runs to its end (post hooks clean up
    /// even after a cancel).
    pub(super) async fn run_hook_with_policy(
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
}
