//! Snapshots: the cached list, refreshing it, and restoring from it. Every
//! restic access happens on an agent, through a job; the server never opens a
//! repository.

use cairn_domain::{
    BrowsePart, BrowseSpec, DiffSpec, JobSpec, RestoreOverwrite, RestoreSpec, SnapshotDiff,
};
use cairn_store::{CachedSnapshot, HostId, Job, Page, PageOf, RepositoryId, Scope, SnapshotFilter};

use super::{JobRequest, Jobs};
use crate::auth::Principal;
use crate::error::{ServiceError, ServiceResult};

/// What to restore, and where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub repository: RepositoryId,
    pub snapshot_id: String,
    /// Restore only this path of the snapshot; empty for all.
    pub path: String,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    /// Where to restore: this host (any approved host, not only the one the
    /// snapshot came from).
    pub target_host: HostId,
    /// The directory to restore into; it must lie under the target agent's
    /// restore roots.
    pub target_path: String,
    /// Read back what was written and compare.
    pub verify: bool,
    /// Download limit in KiB/s; 0 for none.
    pub limit_download_kib: u32,
    /// What to do with files already there; other than `Always`, it needs
    /// restic 0.17 on the target host.
    pub overwrite: RestoreOverwrite,
}

/// What a restore would do, checked as [`Jobs::restore`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreCheck {
    /// The target host is not assigned the repository: the job hands it the
    /// repository's secrets (an admin's call, audited when it is queued).
    pub cross_host: bool,
}

/// A restore target must be absolute and must not climb with `..` (the
/// agent then checks it against its restore roots, symlinks resolved).
pub(crate) fn check_target_path(path: &str) -> ServiceResult<()> {
    if !super::plain_absolute(path) {
        return Err(ServiceError::invalid(
            "target_path",
            "must be an absolute path without '..'",
        ));
    }
    Ok(())
}

/// An overwrite mode the target host's restic lacks is refused before
/// anything is queued, when the host has reported its restic; one that has
/// not is left to its agent, which asks its restic and refuses too.
pub(crate) fn check_overwrite(mode: RestoreOverwrite, reported: &str) -> ServiceResult<()> {
    let Ok(version) = cairn_restic::ResticVersion::parse(reported) else {
        return Ok(());
    };
    version
        .check_overwrite(mode)
        .map_err(|err| ServiceError::invalid("overwrite", format!("the target host's {err}")))
}

impl RestoreRequest {
    /// The job that restores.
    fn job(self) -> JobRequest {
        let spec = RestoreSpec {
            snapshot_id: self.snapshot_id,
            path: self.path,
            includes: self.includes,
            excludes: self.excludes,
            target_path: self.target_path,
            target_host_id: self.target_host.0,
            verify: self.verify,
            limit_download_kib: self.limit_download_kib,
            overwrite: self.overwrite,
        };
        JobRequest::api(self.target_host, self.repository, JobSpec::Restore(spec))
    }
}

/// How long a browse or diff call waits for its job.
const RESULT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Jobs {
    /// A host for a repository: the one asked for, or an assigned host that
    /// is connected (else any assigned host, which gets the job later).
    async fn pick_host(
        &self,
        repository: RepositoryId,
        host: Option<HostId>,
    ) -> ServiceResult<HostId> {
        if let Some(host) = host {
            return Ok(host);
        }
        let repo = self.store.repository(repository).await?;
        repo.host_ids
            .iter()
            .copied()
            .find(|h| self.fleet.is_online(*h))
            .or_else(|| repo.host_ids.first().copied())
            .ok_or_else(|| {
                ServiceError::FailedPrecondition(format!(
                    "repository {repository} is assigned to no host"
                ))
            })
    }

    /// Runs a job and waits (up to a minute) for its browse or diff result.
    async fn run_for_result(
        &self,
        p: &Principal,
        request: JobRequest,
    ) -> ServiceResult<(Job, super::JobResult)> {
        let id = self.submit(p, request).await?.id;
        // The job's end comes through its watch; a result racing the end
        // gets a moment to land.
        let mut watch = self.watch(p, id).await?;
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let ended = ended.clone();
            tokio::spawn(async move {
                while let Some(event) = watch.next().await {
                    if event.event.is_final() {
                        break;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                ended.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let waited = tokio::time::timeout(
            RESULT_WAIT,
            self.hub
                .wait_result(id, || ended.load(std::sync::atomic::Ordering::SeqCst)),
        )
        .await;
        watcher.abort();
        let job = self.store.job(id).await?;
        match waited {
            Ok(Some(result)) => Ok((job, result)),
            Ok(None) => Err(ServiceError::FailedPrecondition(format!(
                "job {id} ended {} without a result: {}",
                job.status.as_str(),
                job.error.unwrap_or_default()
            ))),
            Err(_) => Err(ServiceError::FailedPrecondition(format!(
                "job {id} gave no result within a minute; follow it with WatchJob"
            ))),
        }
    }

    /// Lists a directory of a snapshot (restic ls), on a host that may use
    /// the repository.
    pub async fn browse(
        &self,
        p: &Principal,
        repository: RepositoryId,
        snapshot: &str,
        path: &str,
        host: Option<HostId>,
    ) -> ServiceResult<(Job, BrowsePart)> {
        let host = self.pick_host(repository, host).await?;
        let spec = JobSpec::Browse(BrowseSpec {
            snapshot_id: snapshot.to_string(),
            path: path.to_string(),
        });
        let request = JobRequest::api(host, repository, spec);
        match self.run_for_result(p, request).await? {
            (job, super::JobResult::Browse(result)) => Ok((job, result)),
            _ => Err(ServiceError::Internal(
                "a browse job returned another kind of result".into(),
            )),
        }
    }

    /// Compares two snapshots (restic diff).
    pub async fn diff(
        &self,
        p: &Principal,
        repository: RepositoryId,
        a: &str,
        b: &str,
        metadata: bool,
        host: Option<HostId>,
    ) -> ServiceResult<(Job, SnapshotDiff)> {
        let host = self.pick_host(repository, host).await?;
        let spec = JobSpec::Diff(DiffSpec {
            snapshot_a: a.to_string(),
            snapshot_b: b.to_string(),
            metadata,
        });
        let request = JobRequest::api(host, repository, spec);
        match self.run_for_result(p, request).await? {
            (job, super::JobResult::Diff(diff)) => Ok((job, diff)),
            _ => Err(ServiceError::Internal(
                "a diff job returned another kind of result".into(),
            )),
        }
    }

    /// The cached snapshots of a repository matching `filter` (a host's,
    /// those with every tag asked for), newest first.
    pub async fn list_snapshots(
        &self,
        p: &Principal,
        repository: RepositoryId,
        filter: SnapshotFilter,
        page: Page,
    ) -> ServiceResult<PageOf<CachedSnapshot>> {
        p.require(Scope::Read)?;
        self.store.repository(repository).await?;
        Ok(self
            .store
            .list_snapshots_matching(repository, filter, page)
            .await?)
    }

    /// Lists the repository anew on `host` (or any assigned, connected host).
    pub async fn refresh_snapshots(
        &self,
        p: &Principal,
        repository: RepositoryId,
        host: Option<HostId>,
    ) -> ServiceResult<Job> {
        let host = self.pick_host(repository, host).await?;
        self.submit(p, JobRequest::api(host, repository, JobSpec::Snapshots))
            .await
    }

    /// One cached snapshot of a repository, by its id or a unique prefix
    /// of it.
    pub async fn snapshot(
        &self,
        p: &Principal,
        repository: RepositoryId,
        id: &str,
    ) -> ServiceResult<CachedSnapshot> {
        p.require(Scope::Read)?;
        self.store.repository(repository).await?;
        self.store
            .find_snapshot(repository, id)
            .await?
            .ok_or(ServiceError::NotFound("snapshot"))
    }

    /// Checks a restore as [`Jobs::restore`] would, queuing nothing: what
    /// the console's summary step shows before the operator confirms.
    pub async fn check_restore(
        &self,
        p: &Principal,
        request: &RestoreRequest,
    ) -> ServiceResult<RestoreCheck> {
        p.require(Scope::Operate)?;
        let assigned = self.preflight(&request.clone().job()).await?;
        if !assigned {
            p.require(Scope::Admin)?;
        }
        Ok(RestoreCheck {
            cross_host: !assigned,
        })
    }

    /// Restores a snapshot on any approved host.
    pub async fn restore(&self, p: &Principal, request: RestoreRequest) -> ServiceResult<Job> {
        self.submit(p, request.job()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overwrite_mode_is_refused_only_for_a_host_known_to_lack_it() {
        let never = RestoreOverwrite::Never;
        let err = check_overwrite(never, "0.14.0").expect_err("0.14 has no --overwrite");
        assert!(
            matches!(&err, ServiceError::InvalidArgument { field: "overwrite", reason }
                if reason.contains("restic 0.14.0") && reason.contains("0.17.0")),
            "{err}"
        );
        assert!(check_overwrite(RestoreOverwrite::Always, "0.14.0").is_ok());
        assert!(check_overwrite(never, "0.17.3").is_ok());
        // Not reported (or not a version): the agent decides.
        assert!(check_overwrite(never, "").is_ok());
        assert!(check_overwrite(never, "<b>who knows</b>").is_ok());
    }
}
