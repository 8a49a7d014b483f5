//! The API says what is true and speaks to every client: reflection v1 and
//! v1alpha, health for every service, fields that are filled, and RunBackup
//! with a schedule.

use tokio_stream::StreamExt;

use cairn_testkit::TestServer;

#[tokio::test]
async fn a_v1alpha_reflection_client_lists_every_service_and_health_knows_each() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let channel = server.channel().await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection is served")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "cairn.v1.AdminService",
        "cairn.v1.HostService",
        "cairn.v1.RepositoryService",
        "cairn.v1.JobService",
        "cairn.v1.SnapshotService",
        "cairn.v1.ScheduleService",
        "cairn.v1.NotificationService",
        "cairn.v1.AgentGateway",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // Every service reflection names (bar reflection itself) reports SERVING.
    let mut health = HealthClient::new(channel);
    for service in names.iter().filter(|n| !n.starts_with("grpc.reflection.")) {
        let status = health
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

#[tokio::test]
async fn run_backup_with_a_schedule_runs_it_now_and_hosts_and_schedules_fill_their_fields() {
    use cairn_proto::v1 as pb;
    use cairn_proto::v1::host_service_client::HostServiceClient;
    use cairn_proto::v1::job_service_client::JobServiceClient;
    use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
    use cairn_store::{Role, Scope};
    use cairn_testkit::fleet::authorized;

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut peer = crate::isolation::Peer::approved(&server, &token, "alpha").await;
    let host = peer.host;
    let mut hosts = HostServiceClient::new(server.channel().await);
    let repo =
        cairn_testkit::fleet::repository(&server, &token, "r", "/srv/repo", "pw", &[host]).await;
    let shown = hosts
        .get_host(authorized(pb::GetHostRequest { host_id: host }, &token))
        .await
        .expect("host")
        .into_inner()
        .host
        .expect("host");
    assert_eq!(
        shown.repository_ids,
        [repo],
        "the assigned repository is shown"
    );

    let mut schedules = ScheduleServiceClient::new(server.channel().await);
    let schedule = schedules
        .create_schedule(authorized(
            pb::CreateScheduleRequest {
                host_id: host,
                repository_id: repo,
                name: "nightly".into(),
                cron: "0 3 * * *".into(),
                timezone: "UTC".into(),
                paths: vec!["/srv/data".into()],
                catch_up: pb::CatchUpPolicy::Once as i32,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("create")
        .into_inner()
        .schedule
        .expect("schedule");
    assert_eq!(schedule.last_job_id, 0, "never ran");

    let mut jobs = JobServiceClient::new(server.channel().await);
    let job = jobs
        .run_backup(authorized(
            pb::RunBackupRequest {
                schedule_id: schedule.id,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("run the schedule now")
        .into_inner()
        .job
        .expect("job");
    assert_eq!((job.host_id, job.repository_id), (host, repo));
    match job.spec.and_then(|s| s.spec) {
        Some(pb::job_spec::Spec::Backup(backup)) => assert_eq!(backup.paths, ["/srv/data"]),
        other => panic!("not the schedule's backup: {other:?}"),
    }
    let mixed = jobs
        .run_backup(authorized(
            pb::RunBackupRequest {
                schedule_id: schedule.id,
                host_id: host,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("a schedule brings its own host");
    assert_eq!(mixed.code(), tonic::Code::InvalidArgument);

    // A firing's job becomes the schedule's last job.
    let day = 86_400;
    let fire_at = cairn_store::now_millis() / 1000 / day * day - day + 3 * 3_600;
    peer.send(pb::agent_message::Body::ScheduleFired(pb::ScheduleFired {
        schedule_id: schedule.id,
        fire_at: Some(prost_types::Timestamp {
            seconds: fire_at,
            nanos: 0,
        }),
        schedule_set_version: 1,
        late: false,
    }))
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let shown = schedules
            .get_schedule(authorized(
                pb::GetScheduleRequest {
                    schedule_id: schedule.id,
                },
                &token,
            ))
            .await
            .expect("schedule")
            .into_inner()
            .schedule
            .expect("schedule");
        if shown.last_job_id != 0 {
            assert_ne!(shown.last_job_id, job.id, "the run-now job is no firing");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no last job shown");
        cairn_testkit::poll_pause().await;
    }
}

#[tokio::test]
async fn jobs_name_their_host_repository_and_maker_and_list_by_every_filter() {
    use cairn_proto::v1 as pb;
    use cairn_proto::v1::job_service_client::JobServiceClient;
    use cairn_store::{Role, Scope};
    use cairn_testkit::fleet::{authorized, backup_now};

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let peer = crate::isolation::Peer::approved(&server, &token, "alpha").await;
    let repo = cairn_testkit::fleet::repository(
        &server,
        &token,
        "offsite",
        "/srv/repo",
        "pw",
        &[peer.host],
    )
    .await;
    let mut jobs = JobServiceClient::new(server.channel().await);
    let backup = jobs
        .run_backup(authorized(backup_now(peer.host, repo, &["/srv"]), &token))
        .await
        .expect("backup")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(backup.hostname, "alpha");
    assert_eq!(backup.repository_name, "offsite");
    assert_eq!(backup.created_by, "ops");
    let check = jobs
        .run_maintenance(authorized(
            pb::RunMaintenanceRequest {
                host_id: peer.host,
                repository_id: repo,
                spec: Some(pb::run_maintenance_request::Spec::Check(
                    pb::CheckSpec::default(),
                )),
            },
            &token,
        ))
        .await
        .expect("check")
        .into_inner()
        .job
        .expect("job");
    jobs.cancel_job(authorized(
        pb::CancelJobRequest {
            job_id: check.id,
            reason: String::new(),
        },
        &token,
    ))
    .await
    .expect("cancel");

    let list = |request: pb::ListJobsRequest| {
        let mut jobs = jobs.clone();
        let token = token.clone();
        async move {
            jobs.list_jobs(authorized(request, &token))
                .await
                .expect("list")
                .into_inner()
                .jobs
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(pb::ListJobsRequest {
            kind: pb::JobKind::Check as i32,
            ..Default::default()
        })
        .await,
        [check.id]
    );
    // The cancelled check has ended; the backup (its host never runs it) has not.
    let active = list(pb::ListJobsRequest {
        active_only: true,
        ..Default::default()
    })
    .await;
    assert!(
        active.contains(&backup.id) && !active.contains(&check.id),
        "{active:?}"
    );
    assert!(
        list(pb::ListJobsRequest {
            schedule_id: 999,
            ..Default::default()
        })
        .await
        .is_empty()
    );
}
