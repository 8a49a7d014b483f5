//! `cairn.v1.SnapshotService` over the job service.

use cairn_proto::v1 as pb;
use cairn_proto::v1::snapshot_service_server::SnapshotService;
use cairn_store::{CachedSnapshot, HostId, RepositoryId, SnapshotFilter};
use tonic::{Request, Response, Status};

use super::convert::{page_from_pb, page_to_pb, timestamp};
use super::jobs::job_to_pb;
use super::{authenticate, authorize};
use crate::Api;
use crate::jobs::RestoreRequest;
use cairn_store::Scope;

/// The SnapshotService implementation.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotsGrpc {
    api: Api,
}

impl SnapshotsGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn snapshot_to_pb(s: &CachedSnapshot) -> pb::Snapshot {
    pb::Snapshot {
        id: s.snapshot_id.clone(),
        short_id: s.short_id.clone(),
        repository_id: s.repository_id.0,
        time: Some(timestamp(s.time)),
        hostname: s.hostname.clone(),
        host_id: s.host_id.map_or(0, |h| h.0),
        paths: s.paths.clone(),
        tags: s.tags.clone(),
        parent: s.parent.clone().unwrap_or_default(),
        tree: s.tree.clone().unwrap_or_default(),
        summary: s.summary.as_ref().map(cairn_proto::convert::summary_to_pb),
    }
}

fn host(id: i64) -> Option<HostId> {
    (id != 0).then_some(HostId(id))
}

#[tonic::async_trait]
impl SnapshotService for SnapshotsGrpc {
    async fn list_snapshots(
        &self,
        request: Request<pb::ListSnapshotsRequest>,
    ) -> Reply<pb::ListSnapshotsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let page = self
            .api
            .jobs
            .list_snapshots(
                &p,
                RepositoryId(req.repository_id),
                SnapshotFilter {
                    host: host(req.host_id),
                    tags: req.tags,
                },
                page_from_pb(req.page)?,
            )
            .await?;
        let refreshed_at = page.items.iter().map(|s| s.seen_at).max().map(timestamp);
        Ok(Response::new(pb::ListSnapshotsResponse {
            snapshots: page.items.iter().map(snapshot_to_pb).collect(),
            page: Some(page_to_pb(page.next)),
            refreshed_at,
        }))
    }

    async fn refresh_snapshots(
        &self,
        request: Request<pb::RefreshSnapshotsRequest>,
    ) -> Reply<pb::RefreshSnapshotsResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "SnapshotService/RefreshSnapshots",
        )
        .await?;
        let req = request.into_inner();
        let job = self
            .api
            .jobs
            .refresh_snapshots(&p, RepositoryId(req.repository_id), host(req.host_id))
            .await?;
        Ok(Response::new(pb::RefreshSnapshotsResponse {
            job: Some(job_to_pb(&job)),
        }))
    }

    async fn browse_snapshot(
        &self,
        request: Request<pb::BrowseSnapshotRequest>,
    ) -> Reply<pb::BrowseSnapshotResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "SnapshotService/BrowseSnapshot",
        )
        .await?;
        let req = request.into_inner();
        let (job, result) = self
            .api
            .jobs
            .browse(
                &p,
                RepositoryId(req.repository_id),
                &req.snapshot_id,
                &req.path,
                host(req.host_id),
            )
            .await?;
        Ok(Response::new(pb::BrowseSnapshotResponse {
            path: result.path,
            entries: result
                .entries
                .iter()
                .map(cairn_proto::convert::entry_to_pb)
                .collect(),
            truncated: result.truncated,
            job_id: job.id.0,
        }))
    }

    async fn diff_snapshots(
        &self,
        request: Request<pb::DiffSnapshotsRequest>,
    ) -> Reply<pb::DiffSnapshotsResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "SnapshotService/DiffSnapshots",
        )
        .await?;
        let req = request.into_inner();
        let (job, diff) = self
            .api
            .jobs
            .diff(
                &p,
                RepositoryId(req.repository_id),
                &req.snapshot_a,
                &req.snapshot_b,
                req.metadata,
                host(req.host_id),
            )
            .await?;
        Ok(Response::new(pb::DiffSnapshotsResponse {
            diff: Some(cairn_proto::convert::diff_to_pb(&diff)),
            job_id: job.id.0,
        }))
    }

    async fn restore_snapshot(
        &self,
        request: Request<pb::RestoreSnapshotRequest>,
    ) -> Reply<pb::RestoreSnapshotResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "SnapshotService/RestoreSnapshot",
        )
        .await?;
        let req = request.into_inner();
        let target_host = host(req.target_host_id).ok_or_else(|| {
            Status::invalid_argument("invalid target_host_id: say which host restores")
        })?;
        let overwrite =
            cairn_proto::convert::overwrite_from_pb(req.overwrite).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "invalid overwrite: unknown mode {} (always, if-changed, if-newer or never)",
                    req.overwrite
                ))
            })?;
        let job = self
            .api
            .jobs
            .restore(
                &p,
                RestoreRequest {
                    repository: RepositoryId(req.repository_id),
                    snapshot_id: req.snapshot_id,
                    path: req.path,
                    includes: req.includes,
                    excludes: req.excludes,
                    target_host,
                    target_path: req.target_path,
                    verify: req.verify,
                    limit_download_kib: req.limit_download_kib,
                    overwrite,
                },
            )
            .await?;
        Ok(Response::new(pb::RestoreSnapshotResponse {
            job: Some(job_to_pb(&job)),
        }))
    }
}
