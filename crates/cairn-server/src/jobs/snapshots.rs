//! Snapshots: the cached list, refreshing it, and restoring from it. Every
//! restic access happens on an agent, through a job; the server never opens a
//! repository.

use cairn_proto::v1 as pb;
use cairn_store::{CachedSnapshot, HostId, Job, Page, PageOf, RepositoryId, Scope};

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
}

impl Jobs {
    /// The cached snapshots of a repository, newest first.
    pub async fn list_snapshots(
        &self,
        p: &Principal,
        repository: RepositoryId,
        host: Option<HostId>,
        page: Page,
    ) -> ServiceResult<PageOf<CachedSnapshot>> {
        p.require(Scope::Read)?;
        self.store.repository(repository).await?;
        Ok(self.store.list_snapshots(repository, host, page).await?)
    }

    /// Lists the repository anew on `host` (or any assigned, connected host).
    pub async fn refresh_snapshots(
        &self,
        p: &Principal,
        repository: RepositoryId,
        host: Option<HostId>,
    ) -> ServiceResult<Job> {
        let host = match host {
            Some(host) => host,
            None => {
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
                    })?
            }
        };
        self.submit(
            p,
            JobRequest {
                host,
                repository,
                spec: pb::JobSpec {
                    spec: Some(pb::job_spec::Spec::Snapshots(pb::SnapshotsSpec {})),
                },
                trigger: "api",
            },
        )
        .await
    }

    /// Restores a snapshot on any approved host.
    pub async fn restore(&self, p: &Principal, request: RestoreRequest) -> ServiceResult<Job> {
        let spec = pb::RestoreSpec {
            snapshot_id: request.snapshot_id,
            path: request.path,
            includes: request.includes,
            excludes: request.excludes,
            target_path: request.target_path,
            target_host_id: request.target_host.0,
            verify: false,
            limit_download_kib: 0,
        };
        self.submit(
            p,
            JobRequest {
                host: request.target_host,
                repository: request.repository,
                spec: pb::JobSpec {
                    spec: Some(pb::job_spec::Spec::Restore(spec)),
                },
                trigger: "api",
            },
        )
        .await
    }
}
