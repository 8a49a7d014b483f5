//! The rules gRPC handlers once held live in the service layer, so a caller
//! in process (the web UI) gets them too: a schedule stays with its
//! repository, and schedule and plan lists filter by repository.

use cairn_proto::v1 as pb;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_server::ServiceError;
use cairn_server::auth::Principal;
use cairn_server::schedules::ScheduleFilter;
use cairn_store::{HostId, RepositoryId, Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::fleet::repository;
use tonic::Code;

use crate::with_token;

fn schedule(host: i64, repository: i64, name: &str) -> pb::CreateScheduleRequest {
    pb::CreateScheduleRequest {
        host_id: host,
        repository_id: repository,
        name: name.into(),
        cron: "0 2 * * *".into(),
        paths: vec!["/srv".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_schedule_stays_with_its_repository_and_lists_filter_in_the_service() {
    let server = TestServer::start().await;
    let token = server.token_for("olga", Role::Admin, Scope::Admin).await;
    let host = server.stored_host("db01").await.0;
    let a = repository(&server, &token, "a", "/srv/restic/a", "pw", &[host]).await;
    let b = repository(&server, &token, "b", "/srv/restic/b", "pw", &[host]).await;
    let mut grpc = ScheduleServiceClient::new(server.channel().await);
    let create = |request| {
        let mut grpc = grpc.clone();
        let token = token.clone();
        async move {
            grpc.create_schedule(with_token(request, &token))
                .await
                .expect("create schedule")
                .into_inner()
                .schedule
                .expect("schedule")
        }
    };
    let on_a = create(schedule(host, a, "nightly-a")).await;
    let on_b = create(schedule(host, b, "nightly-b")).await;

    let api = &server.api;
    let p = Principal::local_cli();
    let id = cairn_store::ScheduleId(on_a.id);
    let current = api.schedules.get(&p, id).await.expect("get");
    let moved = api
        .schedules
        .edit(&p, id, Some(RepositoryId(b)), current.fields.clone())
        .await
        .expect_err("a schedule may not move");
    assert!(
        matches!(&moved, ServiceError::FailedPrecondition(m) if m.contains("another repository")),
        "{moved:?}"
    );
    // Restating its own repository is fine; `enabled` stays as it was.
    api.schedules
        .set_enabled(&p, id, false)
        .await
        .expect("disable");
    let mut renamed = current.fields.clone();
    renamed.name = "renamed".into();
    renamed.enabled = true;
    let edited = api
        .schedules
        .edit(&p, id, Some(RepositoryId(a)), renamed)
        .await
        .expect("edit");
    assert_eq!(edited.fields.name, "renamed");
    assert!(!edited.fields.enabled, "an edit does not enable");

    // The gRPC handler answers as before, through the same rule.
    let refused = grpc
        .update_schedule(with_token(
            pb::UpdateScheduleRequest {
                schedule_id: on_a.id,
                repository_id: b,
                name: "renamed".into(),
                cron: "0 2 * * *".into(),
                paths: vec!["/srv".into()],
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("move over gRPC");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let listed = api
        .schedules
        .list(
            &p,
            ScheduleFilter {
                repository: Some(RepositoryId(b)),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.iter().map(|s| s.id.0).collect::<Vec<_>>(), [on_b.id]);
    let everyone = api
        .schedules
        .list(&p, ScheduleFilter::default())
        .await
        .expect("list");
    assert_eq!(everyone.len(), 2);

    for repo in [a, b] {
        grpc.upsert_maintenance_plan(with_token(
            pb::UpsertMaintenancePlanRequest {
                host_id: host,
                repository_id: repo,
                enabled: true,
                check_every_seconds: 86_400,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("plan");
    }
    let plans = api
        .maintenance
        .list(&p, Some(HostId(host)), Some(RepositoryId(a)))
        .await
        .expect("plans");
    assert_eq!(
        plans.iter().map(|p| p.repository_id.0).collect::<Vec<_>>(),
        [a]
    );
}
