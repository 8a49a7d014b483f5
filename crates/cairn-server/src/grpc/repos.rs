//! `cairn.v1.RepositoryService` over the repository service.

use cairn_proto::v1 as pb;
use cairn_proto::v1::repository_service_server::RepositoryService;
use cairn_store::{HostId, Repository, RepositoryId};
use tonic::{Request, Response, Status};

use super::convert::{page_from_pb, page_to_pb, timestamp};
use super::{authenticate, authorize};
use crate::Api;
use crate::repos::{NewRepository, RepositoryUpdate};
use cairn_store::Scope;

/// The RepositoryService implementation.
#[derive(Debug, Clone)]
pub(crate) struct ReposGrpc {
    api: Api,
}

impl ReposGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn repo_to_pb(r: &Repository) -> pb::Repository {
    pb::Repository {
        id: r.id.0,
        name: r.name.clone(),
        url_redacted: r.url_redacted.clone(),
        has_password: true,
        env_keys: r.env_keys.clone(),
        host_ids: r.host_ids.iter().map(|h| h.0).collect(),
        created_at: Some(timestamp(r.created_at)),
        updated_at: Some(timestamp(r.updated_at)),
    }
}

#[tonic::async_trait]
impl RepositoryService for ReposGrpc {
    async fn list_repositories(
        &self,
        request: Request<pb::ListRepositoriesRequest>,
    ) -> Reply<pb::ListRepositoriesResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let host = (req.host_id != 0).then_some(HostId(req.host_id));
        let repos = self
            .api
            .repos
            .list(&p, host, page_from_pb(req.page)?)
            .await?;
        Ok(Response::new(pb::ListRepositoriesResponse {
            repositories: repos.items.iter().map(repo_to_pb).collect(),
            page: Some(page_to_pb(repos.next)),
        }))
    }

    async fn get_repository(
        &self,
        request: Request<pb::GetRepositoryRequest>,
    ) -> Reply<pb::GetRepositoryResponse> {
        let p = authenticate(&self.api, &request).await?;
        let repo = self
            .api
            .repos
            .get(&p, RepositoryId(request.into_inner().repository_id))
            .await?;
        Ok(Response::new(pb::GetRepositoryResponse {
            repository: Some(repo_to_pb(&repo)),
        }))
    }

    async fn create_repository(
        &self,
        request: Request<pb::CreateRepositoryRequest>,
    ) -> Reply<pb::CreateRepositoryResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let repo = self
            .api
            .repos
            .create(
                &p,
                NewRepository {
                    name: req.name,
                    url: req.url,
                    password: req.password,
                    env: req.env.into_iter().collect(),
                },
            )
            .await?;
        Ok(Response::new(pb::CreateRepositoryResponse {
            repository: Some(repo_to_pb(&repo)),
        }))
    }

    async fn update_repository(
        &self,
        request: Request<pb::UpdateRepositoryRequest>,
    ) -> Reply<pb::UpdateRepositoryResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let update = RepositoryUpdate {
            name: req.name,
            url: req.url,
            password: req.password,
            set_env: req.set_env.into_iter().collect(),
            unset_env: req.unset_env,
        };
        let repo = self
            .api
            .repos
            .update(&p, RepositoryId(req.repository_id), update)
            .await?;
        Ok(Response::new(pb::UpdateRepositoryResponse {
            repository: Some(repo_to_pb(&repo)),
        }))
    }

    async fn delete_repository(
        &self,
        request: Request<pb::DeleteRepositoryRequest>,
    ) -> Reply<pb::DeleteRepositoryResponse> {
        let p = authenticate(&self.api, &request).await?;
        self.api
            .repos
            .delete(&p, RepositoryId(request.into_inner().repository_id))
            .await?;
        Ok(Response::new(pb::DeleteRepositoryResponse {}))
    }

    async fn assign_repository(
        &self,
        request: Request<pb::AssignRepositoryRequest>,
    ) -> Reply<pb::AssignRepositoryResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let repo = self
            .api
            .repos
            .assign(&p, RepositoryId(req.repository_id), HostId(req.host_id))
            .await?;
        Ok(Response::new(pb::AssignRepositoryResponse {
            repository: Some(repo_to_pb(&repo)),
        }))
    }

    async fn unassign_repository(
        &self,
        request: Request<pb::UnassignRepositoryRequest>,
    ) -> Reply<pb::UnassignRepositoryResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "RepositoryService/UnassignRepository",
        )
        .await?;
        let req = request.into_inner();
        let repo = self
            .api
            .repos
            .unassign(&p, RepositoryId(req.repository_id), HostId(req.host_id))
            .await?;
        Ok(Response::new(pb::UnassignRepositoryResponse {
            repository: Some(repo_to_pb(&repo)),
        }))
    }

    /// A connection test is a snapshots job on a host that may use the
    /// repository: the server itself never opens a repository.
    async fn test_repository(
        &self,
        request: Request<pb::TestRepositoryRequest>,
    ) -> Reply<pb::TestRepositoryResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "RepositoryService/TestRepository",
        )
        .await?;
        let req = request.into_inner();
        let host = (req.host_id != 0).then_some(HostId(req.host_id));
        let job = self
            .api
            .jobs
            .refresh_snapshots(&p, RepositoryId(req.repository_id), host)
            .await?;
        Ok(Response::new(pb::TestRepositoryResponse {
            job: Some(super::jobs::job_to_pb(&job)),
        }))
    }
}
