//! Background workers run under one named runner: an admin sees each one and
//! its state, and the server is ready while all of them run.

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use tonic::Code;

use crate::with_token;

#[tokio::test]
async fn an_admin_sees_every_background_worker_running() {
    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let reader = server.token_for("vera", Role::Viewer, Scope::Read).await;
    let mut client = AdminServiceClient::new(server.channel().await);

    let status = client
        .get_server_status(with_token(pb::GetServerStatusRequest {}, &admin))
        .await
        .expect("server status")
        .into_inner();
    assert!(status.database_ok);
    assert!(!status.degraded);
    assert_eq!(status.storage_fault, "", "writes commit");
    let workers: Vec<(&str, i32)> = status
        .workers
        .iter()
        .map(|w| (w.name.as_str(), w.state))
        .collect();
    let running = pb::WorkerState::Running as i32;
    assert_eq!(
        workers,
        [
            ("agent reaper", running),
            ("dispatcher", running),
            ("notification deliveries", running),
            ("healthchecks pings", running),
            ("maintenance ticker", running),
            ("alert engine", running),
            ("log retention", running),
            ("storage watch", running),
        ]
    );
    assert!(status.workers.iter().all(|w| w.since.is_some()));

    let denied = client
        .get_server_status(with_token(pb::GetServerStatusRequest {}, &reader))
        .await
        .expect_err("admins only");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let ready = server
        .http()
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    assert_eq!(ready.text().await.expect("body"), "ready\n");

    // At shutdown every worker stops as asked: none is reported failed.
    let api = server.api.clone();
    server.stop().await.expect("stop");
    let states: Vec<_> = api.workers.status().into_iter().map(|w| w.state).collect();
    assert_eq!(states, vec![cairn_server::WorkerState::Stopped; 8]);
    assert!(api.workers.failed().is_empty());
}
