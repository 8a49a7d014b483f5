//! One job from the server's message to its finish: every check against the
//! host's policy before anything runs, the repository lock, the hooks,
//! restic (with one retry after a stale lock), then the outcome.

use std::time::Duration;

use cairn_domain::RestoreOverwrite;
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_restic::{
    ExitKind, Operation, RESTORE_OVERWRITE_SINCE, RepoAccess, ResticFailure, classify_exit,
    classify_stderr,
};
use tokio::sync::watch;

use super::Runner;
use super::convert::{now_ts, summary_to_pb};
use super::scrub::Scrubber;

impl Runner {
    /// Whether this host's restic can honour a restore's overwrite mode.
    /// Asked of restic itself, whatever the server believes: a mode it
    /// lacks is refused, never passed as a flag restic does not know, and
    /// never dropped (older restic would write over files the operator
    /// asked to keep).
    async fn check_overwrite(&self, wire: i32) -> Result<(), String> {
        let Some(mode) = cairn_proto::convert::overwrite_from_pb(wire) else {
            return Err(format!(
                "unknown overwrite mode {wire} (this agent knows always, if-changed, if-newer and never)"
            ));
        };
        if mode == RestoreOverwrite::Always {
            return Ok(());
        }
        let Some(version) = crate::facts::restic_version(&self.restic).await else {
            return Err(format!(
                "cannot tell the version of restic ({:?}) on this host, so it will not restore with --overwrite {mode}: that needs restic {RESTORE_OVERWRITE_SINCE} or later",
                self.restic
            ));
        };
        version.check_overwrite(mode).map_err(|err| err.to_string())
    }

    pub(super) async fn run(
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
                if let Err(err) = self.check_overwrite(restore.overwrite).await {
                    return failed(format!("refused: {err}"));
                }
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
                    match output.killed_by {
                        Some(signal) => killed_message(signal),
                        None => scrubber.scrub(&classify_stderr(&output.stderr).to_string()),
                    },
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
}

/// What a job says when a signal, not Cairn, ended restic.
fn killed_message(signal: i32) -> String {
    let name =
        nix::sys::signal::Signal::try_from(signal).map_or("an unknown signal", |s| s.as_str());
    format!(
        "restic was killed by {name} ({signal}) before it finished (out of memory, or killed on the host); \
         a lock it left is removed by the next run"
    )
}
