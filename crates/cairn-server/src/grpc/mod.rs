//! The gRPC surface: services, authentication of calls, health and
//! reflection. Protobuf types stop here: everything below speaks the store's
//! and the service layer's own types.

mod admin;
pub(crate) mod agent;
mod alerts;
mod audit;
pub(crate) mod convert;
mod hosts;
mod jobs;
pub(crate) mod legacy;
pub(crate) mod notifications;
mod repos;
pub(crate) mod schedules;
mod snapshots;
mod status;

use cairn_proto::v1::admin_service_server::AdminServiceServer;
use cairn_proto::v1::agent_gateway_server::AgentGatewayServer;
use cairn_proto::v1::alert_service_server::AlertServiceServer;
use cairn_proto::v1::audit_service_server::AuditServiceServer;
use cairn_proto::v1::host_service_server::HostServiceServer;
use cairn_proto::v1::job_service_server::JobServiceServer;
use cairn_proto::v1::notification_service_server::NotificationServiceServer;
use cairn_proto::v1::repository_service_server::RepositoryServiceServer;
use cairn_proto::v1::schedule_service_server::ScheduleServiceServer;
use cairn_proto::v1::snapshot_service_server::SnapshotServiceServer;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

use crate::auth::Principal;
use crate::config::ServerConfig;
use crate::{Api, ServiceError};

pub use crate::serve::ClientAddr;

/// Every gRPC service as an axum router, and the health reporter to flip at
/// shutdown.
pub(crate) async fn routes(api: &Api, config: &ServerConfig) -> (axum::Router, Health) {
    let limit = config.max_message_size;
    let admin = AdminServiceServer::new(admin::AdminGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);

    let audit = AuditServiceServer::new(audit::AuditGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let hosts = HostServiceServer::new(hosts::HostsGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let repos = RepositoryServiceServer::new(repos::ReposGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let jobs = JobServiceServer::new(jobs::JobsGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let snapshots = SnapshotServiceServer::new(snapshots::SnapshotsGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let schedules = ScheduleServiceServer::new(schedules::SchedulesGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let alerts = AlertServiceServer::new(alerts::AlertsGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let notifications =
        NotificationServiceServer::new(notifications::NotificationsGrpc::new(api.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
    let agents = AgentGatewayServer::new(agent::AgentGatewayGrpc::new(api.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);

    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health(reporter);
    health.set_all(tonic_health::ServingStatus::Serving).await;

    // v1 for current clients; v1alpha for those that speak only it (Python's
    // grpcio-reflection, Postman, older grpcurl). Each advertises exactly
    // the services served (the descriptor set also holds planned ones).
    let reflection = |itself: &str| {
        SERVICES.iter().chain(&[itself]).fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(cairn_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(*name),
        )
    };
    let mut routes = Routes::new(admin)
        .add_service(audit)
        .add_service(hosts)
        .add_service(repos)
        .add_service(jobs)
        .add_service(snapshots)
        .add_service(schedules)
        .add_service(alerts)
        .add_service(notifications)
        .add_service(agents)
        .add_service(health_service);
    // The descriptor set is compiled in; if it did not parse, the API still
    // works, only discovery does not.
    match reflection("grpc.reflection.v1.ServerReflection").build_v1() {
        Ok(reflection) => routes = routes.add_service(reflection),
        Err(err) => tracing::error!(error = %err, "gRPC reflection v1 unavailable"),
    }
    match reflection("grpc.reflection.v1alpha.ServerReflection").build_v1alpha() {
        Ok(reflection) => routes = routes.add_service(reflection),
        Err(err) => tracing::error!(error = %err, "gRPC reflection v1alpha unavailable"),
    }
    (routes.prepare().into_axum_router(), health)
}

/// The gRPC health reporter.
pub(crate) struct Health(HealthReporter);

/// Every service served, by its full gRPC name, for health.
const SERVICES: &[&str] = &[
    cairn_proto::v1::admin_service_server::SERVICE_NAME,
    cairn_proto::v1::audit_service_server::SERVICE_NAME,
    cairn_proto::v1::host_service_server::SERVICE_NAME,
    cairn_proto::v1::repository_service_server::SERVICE_NAME,
    cairn_proto::v1::job_service_server::SERVICE_NAME,
    cairn_proto::v1::snapshot_service_server::SERVICE_NAME,
    cairn_proto::v1::schedule_service_server::SERVICE_NAME,
    cairn_proto::v1::alert_service_server::SERVICE_NAME,
    cairn_proto::v1::notification_service_server::SERVICE_NAME,
    cairn_proto::v1::agent_gateway_server::SERVICE_NAME,
    HEALTH,
];

/// The health service's own name.
const HEALTH: &str = "grpc.health.v1.Health";

impl Health {
    /// Sets every service, and the server as a whole (""), to `status`.
    async fn set_all(&self, status: tonic_health::ServingStatus) {
        for service in SERVICES.iter().chain(&[""]) {
            self.0.set_service_status(*service, status).await;
        }
    }

    /// Marks the server as a whole ("") NOT_SERVING while each service
    /// still serves: a background worker is gone (degraded).
    pub(crate) async fn set_server_not_serving(&self) {
        self.0
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    }

    /// Marks every service NOT_SERVING, so clients stop sending new calls.
    pub(crate) async fn set_not_serving(&self) {
        self.set_all(tonic_health::ServingStatus::NotServing).await;
    }
}

/// The principal behind a gRPC call, refused (and the refusal audited as
/// `rpc:<service>/<method>`) unless its scope is at least `need`; see
/// [`Api::at_least`]. The service checks again, and checks what depends on
/// the fields (such as minting a token above one's own scope).
pub(crate) async fn authorize<T>(
    api: &Api,
    request: &tonic::Request<T>,
    need: cairn_store::Scope,
    rpc: &str,
) -> Result<Principal, tonic::Status> {
    let principal = authenticate(api, request).await?;
    api.at_least(&principal, need, &format!("rpc:{rpc}"), None)
        .await?;
    Ok(principal)
}

/// The principal behind a gRPC call, from `authorization: Bearer <token>`.
pub(crate) async fn authenticate<T>(
    api: &Api,
    request: &tonic::Request<T>,
) -> Result<Principal, tonic::Status> {
    let source = request
        .extensions()
        .get::<ClientAddr>()
        .map(|addr| addr.0.ip().to_string());
    let header = request
        .metadata()
        .get("authorization")
        .ok_or(ServiceError::Unauthenticated(
            "no authorization: send `authorization: Bearer <token>`",
        ))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ServiceError::Unauthenticated(
            "malformed authorization: expected `Bearer <token>`",
        ))?;
    Ok(api.auth.authenticate_bearer(token, source).await?)
}
