//! The gRPC API's route inventory: every rpc the proto files declare is
//! called without a token, with a read-scoped token, with an operate-scoped
//! one and with an admin one, and must let in exactly the scopes the table
//! below says. A refused call is refused before anything else is looked at
//! (`PermissionDenied`, not a validation error that would say the check came
//! second). An rpc added to a proto file without a line here fails the test.
//!
//! Each call carries an empty message: what it would do with real fields is
//! the business of the services' own tests; who may make it is this one's.

use std::collections::BTreeSet;

use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

use crate::with_token;

/// The least scope an rpc lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Least {
    Read,
    Operate,
    Admin,
}
use Least::{Admin, Operate, Read};

/// Every rpc but the agents' own stream (`AgentGateway.Session`, which
/// authenticates by identity and is covered by the agent tests).
#[rustfmt::skip]
const RPCS: &[(&str, &str, Least)] = &[
    ("AdminService", "WhoAmI", Read),
    ("AdminService", "ListUsers", Admin),
    ("AdminService", "CreateUser", Admin),
    ("AdminService", "UpdateUser", Admin),
    ("AdminService", "ListApiTokens", Read),
    // Anyone may mint a token up to their own scope; the service refuses more.
    ("AdminService", "CreateApiToken", Read),
    ("AdminService", "RevokeApiToken", Admin),
    ("AdminService", "ListEnrollmentTokens", Admin),
    ("AdminService", "CreateEnrollmentToken", Admin),
    ("AdminService", "RevokeEnrollmentToken", Admin),
    ("AdminService", "GetSettings", Admin),
    ("AdminService", "UpdateSettings", Admin),
    ("AdminService", "GetServerStatus", Admin),
    ("AlertService", "ListAlerts", Read),
    ("AlertService", "GetAlert", Read),
    ("AlertService", "AcknowledgeAlert", Operate),
    ("AlertService", "UnacknowledgeAlert", Operate),
    ("AlertService", "ListAlertRules", Read),
    ("AlertService", "UpdateAlertRule", Admin),
    ("AlertService", "ListAlertOverrides", Read),
    ("AlertService", "SetAlertOverride", Admin),
    ("AlertService", "ClearAlertOverride", Admin),
    ("AlertService", "ListSilences", Read),
    ("AlertService", "CreateSilence", Operate),
    ("AlertService", "DeleteSilence", Operate),
    ("AuditService", "ListAuditEvents", Admin),
    ("HostService", "ListHosts", Read),
    ("HostService", "GetHost", Read),
    ("HostService", "ApproveHost", Operate),
    ("HostService", "RejectHost", Operate),
    ("HostService", "RevokeHost", Operate),
    ("HostService", "DeleteHost", Operate),
    ("HostService", "SetHostLabels", Operate),
    ("JobService", "RunBackup", Operate),
    ("JobService", "RunMaintenance", Operate),
    ("JobService", "CancelJob", Operate),
    ("JobService", "GetJob", Read),
    ("JobService", "ListJobs", Read),
    ("JobService", "WatchJob", Read),
    ("JobService", "GetJobLogs", Read),
    ("NotificationService", "ListChannels", Read),
    ("NotificationService", "CreateChannel", Admin),
    ("NotificationService", "UpdateChannel", Admin),
    ("NotificationService", "DeleteChannel", Admin),
    ("NotificationService", "TestChannel", Operate),
    ("NotificationService", "ListDeliveries", Read),
    ("RepositoryService", "ListRepositories", Read),
    ("RepositoryService", "GetRepository", Read),
    ("RepositoryService", "CreateRepository", Admin),
    ("RepositoryService", "UpdateRepository", Admin),
    ("RepositoryService", "DeleteRepository", Admin),
    ("RepositoryService", "AssignRepository", Admin),
    ("RepositoryService", "UnassignRepository", Operate),
    ("RepositoryService", "TestRepository", Operate),
    ("ScheduleService", "ListSchedules", Read),
    ("ScheduleService", "GetSchedule", Read),
    ("ScheduleService", "CreateSchedule", Operate),
    ("ScheduleService", "UpdateSchedule", Operate),
    ("ScheduleService", "DeleteSchedule", Operate),
    ("ScheduleService", "SetScheduleEnabled", Operate),
    ("ScheduleService", "ListPendingRuns", Read),
    ("ScheduleService", "ListMaintenancePlans", Read),
    ("ScheduleService", "GetMaintenancePlan", Read),
    ("ScheduleService", "UpsertMaintenancePlan", Operate),
    ("ScheduleService", "DeleteMaintenancePlan", Operate),
    ("SnapshotService", "ListSnapshots", Read),
    ("SnapshotService", "RefreshSnapshots", Operate),
    ("SnapshotService", "BrowseSnapshot", Operate),
    ("SnapshotService", "DiffSnapshots", Operate),
    ("SnapshotService", "RestoreSnapshot", Operate),
];

/// `(service, rpc, server_streaming)` for every rpc in `proto/cairn/v1`.
fn declared_rpcs() -> Vec<(String, String, bool)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/cairn/v1");
    let mut rpcs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the proto directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a proto file");
        let mut service = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("service ") {
                service = rest.split_whitespace().next().unwrap_or("").to_string();
            } else if let Some(rest) = line.strip_prefix("rpc ") {
                let name = rest.split('(').next().unwrap_or("").trim().to_string();
                let streaming = line.contains("returns (stream");
                rpcs.push((service.clone(), name, streaming));
            }
        }
    }
    rpcs
}

/// Calls `/cairn.v1.{service}/{rpc}` with an empty message; the status, or
/// `Ok` when the call was let in and answered.
async fn call(
    server: &TestServer,
    service: &str,
    rpc: &str,
    streaming: bool,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.expect("channel ready");
    let path = PathAndQuery::try_from(format!("/cairn.v1.{service}/{rpc}")).expect("path");
    let request = match token {
        Some(token) => with_token((), token),
        None => tonic::Request::new(()),
    };
    // `()` is protobuf's empty message: zero bytes, read by any request
    // type as all defaults, and any answer reads as it.
    let codec = ProstCodec::<(), ()>::default();
    if streaming {
        let mut stream = grpc
            .server_streaming(request, path, codec)
            .await?
            .into_inner();
        // A stream that was let in may fail on its first message for another
        // reason (no such job); a refusal comes before any message.
        return match stream.message().await {
            Err(status) if is_refusal(status.code()) => Err(status),
            _ => Ok(()),
        };
    }
    grpc.unary(request, path, codec).await.map(|_| ())
}

fn is_refusal(code: Code) -> bool {
    matches!(code, Code::Unauthenticated | Code::PermissionDenied)
}

#[tokio::test]
async fn every_rpc_lets_in_exactly_the_scopes_its_line_names() {
    let declared = declared_rpcs();
    let declared_names: BTreeSet<(String, String)> = declared
        .iter()
        .filter(|(service, _, _)| service != "AgentGateway")
        .map(|(s, r, _)| (s.clone(), r.clone()))
        .collect();
    let listed: BTreeSet<(String, String)> = RPCS
        .iter()
        .map(|(s, r, _)| (s.to_string(), r.to_string()))
        .collect();
    let unlisted: Vec<_> = declared_names.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&declared_names).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "the inventory and the proto files disagree: add {unlisted:?} (with the least scope each lets in), drop {gone:?}"
    );
    assert!(declared.len() > 60, "the proto files were not read");

    let server = TestServer::start().await;
    let tokens = [
        (
            Read,
            server.token_for("rita", Role::Admin, Scope::Read).await,
        ),
        (
            Operate,
            server.token_for("otis", Role::Admin, Scope::Operate).await,
        ),
        (
            Admin,
            server.token_for("adam", Role::Admin, Scope::Admin).await,
        ),
    ];
    let mut wrong = Vec::new();
    for (service, rpc, streaming) in declared.iter().filter(|(s, _, _)| s != "AgentGateway") {
        let least = RPCS
            .iter()
            .find(|(s, r, _)| s == service && r == rpc)
            .map(|(_, _, least)| *least)
            .expect("listed");
        match call(&server, service, rpc, *streaming, None).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => wrong.push(format!(
                "{service}.{rpc} without a token: {other:?}, not Unauthenticated"
            )),
        }
        for (scope, token) in &tokens {
            let result = call(&server, service, rpc, *streaming, Some(token)).await;
            let let_in = *scope >= least;
            match (&result, let_in) {
                (Err(status), true) if is_refusal(status.code()) => wrong.push(format!(
                    "{service}.{rpc} refused a {scope:?} token ({}): the table says {least:?} may call it",
                    status.message()
                )),
                (Err(status), false) if status.code() == Code::PermissionDenied => {}
                (_, false) => wrong.push(format!(
                    "{service}.{rpc} gave a {scope:?} token {result:?}: it needs {least:?}, and a refusal must come first (PermissionDenied)"
                )),
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
