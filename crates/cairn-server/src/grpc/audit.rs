//! `cairn.v1.AuditService` over the admin service's audit log (admins only).

use cairn_proto::v1 as pb;
use cairn_proto::v1::audit_service_server::AuditService;
use tonic::{Request, Response, Status};

use super::authenticate;
use super::convert::{audit_filter_from_pb, audit_to_pb, page_from_pb, page_to_pb};
use crate::Api;

/// The AuditService implementation.
#[derive(Debug, Clone)]
pub(crate) struct AuditGrpc {
    api: Api,
}

impl AuditGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

#[tonic::async_trait]
impl AuditService for AuditGrpc {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let p = authenticate(&self.api, &request).await?;
        let r = request.into_inner();
        let filter = audit_filter_from_pb(&r)?;
        let page = page_from_pb(r.page)?;
        let found = self.api.admin.audit_log(&p, filter, page).await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: found.items.iter().map(audit_to_pb).collect(),
            page: Some(page_to_pb(found.next)),
        }))
    }
}
