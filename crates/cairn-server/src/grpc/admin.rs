//! `cairn.v1.AdminService` over the service layer.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_server::AdminService;
use cairn_store::{ApiTokenId, EnrollmentToken, EnrollmentTokenId, UserId, UserUpdate};
use tonic::{Request, Response, Status};

use super::convert::{
    page_from_pb, page_to_pb, role_from_pb, scope_from_pb, scope_to_pb, timestamp, token_to_pb,
    user_to_pb,
};
use super::{authenticate, authorize};
use crate::Api;
use crate::admin::{SettingsUpdate, TokenRequest};
use cairn_store::Scope;

/// The AdminService implementation.
#[derive(Debug, Clone)]
pub(crate) struct AdminGrpc {
    api: Api,
}

impl AdminGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn settings_to_pb(s: crate::admin::Settings) -> pb::Settings {
    pb::Settings {
        job_log_retention_days: s.job_log_retention_days,
        allow_private_webhook_targets: s.allow_private_webhook_targets,
        audit_retention_days: s.audit_retention_days,
    }
}

fn worker_to_pb(w: &crate::WorkerStatus) -> pb::WorkerStatus {
    use crate::WorkerState as S;
    let (state, message) = match &w.state {
        S::Running => (pb::WorkerState::Running, String::new()),
        S::Stopped => (pb::WorkerState::Stopped, String::new()),
        S::Exited => (pb::WorkerState::Exited, String::new()),
        S::Panicked(message) => (pb::WorkerState::Panicked, message.clone()),
    };
    pb::WorkerStatus {
        name: w.name.to_string(),
        state: state as i32,
        message,
        since: Some(timestamp(w.since)),
    }
}

#[tonic::async_trait]
impl AdminService for AdminGrpc {
    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Reply<pb::WhoAmIResponse> {
        let p = authenticate(&self.api, &request).await?;
        let who = self.api.admin.whoami(&p).await?;
        Ok(Response::new(pb::WhoAmIResponse {
            user: Some(user_to_pb(&who.user)),
            token: who.token.as_ref().map(token_to_pb),
            effective_scope: scope_to_pb(who.scope) as i32,
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Reply<pb::ListUsersResponse> {
        let p = authenticate(&self.api, &request).await?;
        let page = page_from_pb(request.into_inner().page)?;
        let users = self.api.admin.list_users(&p, page).await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: users.items.iter().map(user_to_pb).collect(),
            page: Some(page_to_pb(users.next)),
        }))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Reply<pb::CreateUserResponse> {
        let p = authorize(&self.api, &request, Scope::Admin, "AdminService/CreateUser").await?;
        let req = request.into_inner();
        let role = role_from_pb(req.role)?;
        let user = self
            .api
            .admin
            .create_user(&p, &req.username, &req.password, role)
            .await?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(user_to_pb(&user)),
        }))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Reply<pb::UpdateUserResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let update = UserUpdate {
            role: req.role.map(role_from_pb).transpose()?,
            disabled: req.disabled,
        };
        let user = self
            .api
            .admin
            .update_user(&p, UserId(req.user_id), update)
            .await?;
        Ok(Response::new(pb::UpdateUserResponse {
            user: Some(user_to_pb(&user)),
        }))
    }

    async fn list_api_tokens(
        &self,
        request: Request<pb::ListApiTokensRequest>,
    ) -> Reply<pb::ListApiTokensResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let page = page_from_pb(req.page)?;
        let tokens = self
            .api
            .admin
            .list_api_tokens(&p, req.all_users, req.include_inactive, page)
            .await?;
        Ok(Response::new(pb::ListApiTokensResponse {
            tokens: tokens.items.iter().map(token_to_pb).collect(),
            page: Some(page_to_pb(tokens.next)),
        }))
    }

    async fn create_api_token(
        &self,
        request: Request<pb::CreateApiTokenRequest>,
    ) -> Reply<pb::CreateApiTokenResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let created = self
            .api
            .admin
            .create_api_token(
                &p,
                TokenRequest {
                    name: req.name,
                    scope: scope_from_pb(req.scope)?,
                    ttl: (req.ttl_seconds > 0).then(|| Duration::from_secs(req.ttl_seconds)),
                    user_id: (req.user_id != 0).then_some(UserId(req.user_id)),
                },
            )
            .await?;
        Ok(Response::new(pb::CreateApiTokenResponse {
            token: Some(token_to_pb(&created.token)),
            secret: created.secret.expose().to_string(),
        }))
    }

    async fn revoke_api_token(
        &self,
        request: Request<pb::RevokeApiTokenRequest>,
    ) -> Reply<pb::RevokeApiTokenResponse> {
        let p = authenticate(&self.api, &request).await?;
        let id = ApiTokenId(request.into_inner().token_id);
        let token = self.api.admin.revoke_api_token(&p, id).await?;
        Ok(Response::new(pb::RevokeApiTokenResponse {
            token: Some(token_to_pb(&token)),
        }))
    }

    async fn list_enrollment_tokens(
        &self,
        request: Request<pb::ListEnrollmentTokensRequest>,
    ) -> Reply<pb::ListEnrollmentTokensResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let tokens = self
            .api
            .fleet
            .list_enrollment_tokens(&p, req.include_inactive, page_from_pb(req.page)?)
            .await?;
        Ok(Response::new(pb::ListEnrollmentTokensResponse {
            tokens: tokens.items.iter().map(enrollment_to_pb).collect(),
            page: Some(page_to_pb(tokens.next)),
        }))
    }

    async fn create_enrollment_token(
        &self,
        request: Request<pb::CreateEnrollmentTokenRequest>,
    ) -> Reply<pb::CreateEnrollmentTokenResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let created = self
            .api
            .fleet
            .create_enrollment_token(
                &p,
                &req.name,
                Duration::from_secs(req.ttl_seconds),
                req.max_uses,
                req.labels.into_iter().collect(),
            )
            .await?;
        Ok(Response::new(pb::CreateEnrollmentTokenResponse {
            token: Some(enrollment_to_pb(&created.token)),
            secret: created.secret.expose().to_string(),
        }))
    }

    async fn revoke_enrollment_token(
        &self,
        request: Request<pb::RevokeEnrollmentTokenRequest>,
    ) -> Reply<pb::RevokeEnrollmentTokenResponse> {
        let p = authenticate(&self.api, &request).await?;
        let id = EnrollmentTokenId(request.into_inner().token_id);
        let token = self.api.fleet.revoke_enrollment_token(&p, id).await?;
        Ok(Response::new(pb::RevokeEnrollmentTokenResponse {
            token: Some(enrollment_to_pb(&token)),
        }))
    }

    async fn get_settings(
        &self,
        request: Request<pb::GetSettingsRequest>,
    ) -> Reply<pb::GetSettingsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let settings = self.api.admin.settings(&p).await?;
        Ok(Response::new(pb::GetSettingsResponse {
            settings: Some(settings_to_pb(settings)),
        }))
    }

    async fn update_settings(
        &self,
        request: Request<pb::UpdateSettingsRequest>,
    ) -> Reply<pb::UpdateSettingsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let update = SettingsUpdate {
            job_log_retention_days: req.job_log_retention_days,
            allow_private_webhook_targets: req.allow_private_webhook_targets,
            audit_retention_days: req.audit_retention_days,
        };
        let settings = self.api.admin.update_settings(&p, update).await?;
        Ok(Response::new(pb::UpdateSettingsResponse {
            settings: Some(settings_to_pb(settings)),
        }))
    }

    async fn get_server_status(
        &self,
        request: Request<pb::GetServerStatusRequest>,
    ) -> Reply<pb::GetServerStatusResponse> {
        let p = authenticate(&self.api, &request).await?;
        let report = self.api.server_status(&p).await?;
        Ok(Response::new(pb::GetServerStatusResponse {
            database_ok: report.database,
            degraded: report.degraded(),
            workers: report.workers.iter().map(worker_to_pb).collect(),
            storage_fault: report.storage.clone().unwrap_or_default(),
        }))
    }
}

fn enrollment_to_pb(t: &EnrollmentToken) -> pb::EnrollmentToken {
    pb::EnrollmentToken {
        id: t.id.0,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        labels: t.labels.clone().into_iter().collect(),
        max_uses: t.max_uses,
        uses: t.uses,
        created_at: Some(timestamp(t.created_at)),
        expires_at: Some(timestamp(t.expires_at)),
        revoked_at: t.revoked_at.map(timestamp),
    }
}
