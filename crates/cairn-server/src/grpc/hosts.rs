//! `cairn.v1.HostService` over the fleet service.

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_server::HostService;
use cairn_store::{HostId, HostStatus};
use tonic::{Request, Response, Status};

use super::convert::{page_from_pb, page_to_pb, timestamp};
use super::{authenticate, authorize};
use crate::Api;
use crate::fleet::{HostQuery, HostView};
use cairn_store::Scope;

/// The HostService implementation.
#[derive(Debug, Clone)]
pub(crate) struct HostsGrpc {
    api: Api,
}

impl HostsGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn status_from_pb(value: i32) -> Option<HostStatus> {
    match pb::HostStatus::try_from(value) {
        Ok(pb::HostStatus::Pending) => Some(HostStatus::Pending),
        Ok(pb::HostStatus::Approved) => Some(HostStatus::Approved),
        Ok(pb::HostStatus::Rejected) => Some(HostStatus::Rejected),
        Ok(pb::HostStatus::Revoked) => Some(HostStatus::Revoked),
        _ => None,
    }
}

fn one(view: HostView) -> Option<pb::Host> {
    Some(host_to_pb(&view))
}

/// The host as the API shows it.
pub(crate) fn host_to_pb(view: &HostView) -> pb::Host {
    let h = &view.host;
    pb::Host {
        id: h.id.0,
        hostname: h.facts.hostname.clone(),
        status: match h.status {
            HostStatus::Pending => pb::HostStatus::Pending,
            HostStatus::Approved => pb::HostStatus::Approved,
            HostStatus::Rejected => pb::HostStatus::Rejected,
            HostStatus::Revoked => pb::HostStatus::Revoked,
        } as i32,
        status_reason: h.status_reason.clone().unwrap_or_default(),
        status_changed_at: Some(timestamp(h.status_changed_at)),
        online: view.online,
        fingerprint: h.fingerprint.clone(),
        facts: Some(facts_to_pb(&h.facts)),
        labels: h.labels.clone().into_iter().collect(),
        enrollment_token_id: h.enrollment_token_id.map_or(0, |t| t.0),
        last_seen_at: h.last_seen_at.map(timestamp),
        last_address: h.last_addr.clone().unwrap_or_default(),
        created_at: Some(timestamp(h.created_at)),
        desired_schedule_set_version: h.schedules_desired_version,
        applied_schedule_set_version: h.schedules_applied_version,
        repository_ids: h.repository_ids.iter().map(|r| r.0).collect(),
        clock_offset_ms: view.clock_offset_ms,
        agent_protocol_version: h.facts.protocol_version,
        protocol_incompatible: cairn_domain::protocol::incompatibility_here(
            h.facts.protocol_version,
        )
        .unwrap_or_default(),
    }
}

fn facts_to_pb(f: &cairn_store::HostFacts) -> pb::HostFacts {
    pb::HostFacts {
        hostname: f.hostname.clone(),
        os: f.os.clone(),
        os_version: f.os_version.clone(),
        arch: f.arch.clone(),
        kernel: f.kernel.clone(),
        agent_version: f.agent_version.clone(),
        restic_version: f.restic_version.clone(),
    }
}

#[tonic::async_trait]
impl HostService for HostsGrpc {
    async fn list_hosts(
        &self,
        request: Request<pb::ListHostsRequest>,
    ) -> Reply<pb::ListHostsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let query = HostQuery {
            status: status_from_pb(req.status),
            labels: req.label_selector.into_iter().collect(),
            online: req.online,
            search: req.search,
        };
        let hosts = self
            .api
            .fleet
            .list_hosts(&p, &query, page_from_pb(req.page)?)
            .await?;
        Ok(Response::new(pb::ListHostsResponse {
            hosts: hosts.items.iter().map(host_to_pb).collect(),
            page: Some(page_to_pb(hosts.next)),
        }))
    }

    async fn get_host(&self, request: Request<pb::GetHostRequest>) -> Reply<pb::GetHostResponse> {
        let p = authenticate(&self.api, &request).await?;
        let host = self
            .api
            .fleet
            .get_host(&p, HostId(request.into_inner().host_id))
            .await?;
        Ok(Response::new(pb::GetHostResponse { host: one(host) }))
    }

    async fn approve_host(
        &self,
        request: Request<pb::ApproveHostRequest>,
    ) -> Reply<pb::ApproveHostResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "HostService/ApproveHost",
        )
        .await?;
        let req = request.into_inner();
        let host = self
            .api
            .fleet
            .approve(&p, HostId(req.host_id), Some(&req.expected_fingerprint))
            .await?;
        Ok(Response::new(pb::ApproveHostResponse { host: one(host) }))
    }

    async fn reject_host(
        &self,
        request: Request<pb::RejectHostRequest>,
    ) -> Reply<pb::RejectHostResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "HostService/RejectHost",
        )
        .await?;
        let req = request.into_inner();
        let host = self
            .api
            .fleet
            .reject(&p, HostId(req.host_id), &req.reason)
            .await?;
        Ok(Response::new(pb::RejectHostResponse { host: one(host) }))
    }

    async fn revoke_host(
        &self,
        request: Request<pb::RevokeHostRequest>,
    ) -> Reply<pb::RevokeHostResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "HostService/RevokeHost",
        )
        .await?;
        let req = request.into_inner();
        let host = self
            .api
            .fleet
            .revoke(&p, HostId(req.host_id), &req.reason)
            .await?;
        Ok(Response::new(pb::RevokeHostResponse { host: one(host) }))
    }

    async fn delete_host(
        &self,
        request: Request<pb::DeleteHostRequest>,
    ) -> Reply<pb::DeleteHostResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "HostService/DeleteHost",
        )
        .await?;
        self.api
            .fleet
            .delete(&p, HostId(request.into_inner().host_id))
            .await?;
        Ok(Response::new(pb::DeleteHostResponse {}))
    }

    async fn set_host_labels(
        &self,
        request: Request<pb::SetHostLabelsRequest>,
    ) -> Reply<pb::SetHostLabelsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let host = self
            .api
            .fleet
            .set_labels(&p, HostId(req.host_id), req.labels.into_iter().collect())
            .await?;
        Ok(Response::new(pb::SetHostLabelsResponse { host: one(host) }))
    }
}
