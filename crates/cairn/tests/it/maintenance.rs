//! Fleet-aware maintenance: forget by a retention policy exactly as restic
//! would, and prune that waits while another host backs up into the repository.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::{self, approve};
use cairn_testkit::jobs::{status_in, wait_job};

use crate::with_token;

const PASSWORD: &str = "maintenance-password";

fn restic(repo: &std::path::Path, args: &[&str]) -> String {
    cairn_testkit::jobs::restic(repo, PASSWORD, args)
}

async fn repository_for(
    server: &TestServer,
    token: &str,
    path: &std::path::Path,
    hosts: &[i64],
) -> i64 {
    fleet::repository(
        server,
        token,
        "shared",
        &path.display().to_string(),
        PASSWORD,
        hosts,
    )
    .await
}

#[tokio::test]
async fn forget_keeps_exactly_what_restics_own_policy_keeps() {
    let server = TestServer::start_with(|c| c.maintenance_tick = Duration::from_millis(200)).await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut agent = RunningAgent::start(agents::config(&server.url, &dir.path().join("agent")));
    let host = approve(&server, &token, &mut agent).await;
    let repo_path = dir.path().join("repo");
    let repository = repository_for(&server, &token, &repo_path, &[host]).await;

    let mut jobs = JobServiceClient::new(server.channel().await);
    let init = jobs
        .run_maintenance(with_token(
            pb::RunMaintenanceRequest {
                host_id: host,
                repository_id: repository,
                spec: Some(pb::run_maintenance_request::Spec::Init(
                    pb::InitSpec::default(),
                )),
            },
            &token,
        ))
        .await
        .expect("init")
        .into_inner()
        .job
        .expect("job");
    wait_job(
        &server,
        &token,
        init.id,
        "init",
        status_in(&[pb::JobStatus::Succeeded]),
    )
    .await;
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    for round in 0..4 {
        std::fs::write(source.join("f"), format!("round {round}")).expect("write");
        let job = jobs
            .run_backup(with_token(
                pb::RunBackupRequest {
                    schedule_id: 0,
                    host_id: host,
                    repository_id: repository,
                    spec: Some(pb::BackupSpec {
                        paths: vec![source.display().to_string()],
                        tags: vec![if round % 2 == 0 {
                            "even".into()
                        } else {
                            "odd".into()
                        }],
                        ..Default::default()
                    }),
                },
                &token,
            ))
            .await
            .expect("backup")
            .into_inner()
            .job
            .expect("job");
        wait_job(
            &server,
            &token,
            job.id,
            "the backup",
            status_in(&[pb::JobStatus::Succeeded]),
        )
        .await;
    }

    // What restic itself would keep under the same policy.
    let dry = restic(
        &repo_path,
        &[
            "forget",
            "--dry-run",
            "--json",
            "--keep-last",
            "1",
            "--keep-tag",
            "even",
        ],
    );
    let groups: serde_json::Value = serde_json::from_str(&dry).expect("forget json");
    let mut expected: Vec<String> = groups
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["keep"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    expected.sort();
    assert_eq!(
        expected.len(),
        3,
        "newest, plus both 'even' snapshots: {expected:?}"
    );

    let plan = ScheduleServiceClient::new(server.channel().await)
        .upsert_maintenance_plan(with_token(
            pb::UpsertMaintenancePlanRequest {
                host_id: host,
                repository_id: repository,
                enabled: true,
                retention: Some(pb::RetentionPolicy {
                    keep_last: 1,
                    keep_tags: vec!["even".into()],
                    ..Default::default()
                }),
                forget_every_seconds: 3600,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("plan")
        .into_inner()
        .plan
        .expect("plan");
    assert!(plan.next_forget_at.is_some());

    // Due an hour after the plan's creation: move the clock by making it due now.
    let store = server.store().await;
    store
        .mark_chore(
            plan.id,
            cairn_store::Chore::Forget,
            cairn_store::now_millis() - 3_700_000,
        )
        .await
        .expect("make due");
    let forget =
        cairn_testkit::jobs::queued_of_kind(&server, &token, host, pb::JobKind::Forget).await;
    let forget = wait_job(
        &server,
        &token,
        forget.id,
        "the forget",
        status_in(&[pb::JobStatus::Succeeded, pb::JobStatus::Failed]),
    )
    .await;
    assert_eq!(
        forget.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        forget.error
    );
    assert_eq!(forget.trigger, pb::JobTrigger::Maintenance as i32);

    let remaining: serde_json::Value =
        serde_json::from_str(&restic(&repo_path, &["snapshots", "--json"])).expect("snapshots");
    let mut kept: Vec<String> = remaining
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    kept.sort();
    assert_eq!(
        kept, expected,
        "Cairn's forget kept exactly what restic's policy keeps"
    );
    agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_waits_while_another_host_backs_up_into_the_repository() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut pruner = RunningAgent::start(agents::config(&server.url, &dir.path().join("a")));
    let host_a = approve(&server, &token, &mut pruner).await;
    let mut backer = RunningAgent::start(agents::config(&server.url, &dir.path().join("b")));
    let host_b = approve(&server, &token, &mut backer).await;
    let repository =
        repository_for(&server, &token, &dir.path().join("repo"), &[host_a, host_b]).await;
    let mut jobs = JobServiceClient::new(server.channel().await);
    let init = jobs
        .run_maintenance(with_token(
            pb::RunMaintenanceRequest {
                host_id: host_a,
                repository_id: repository,
                spec: Some(pb::run_maintenance_request::Spec::Init(
                    pb::InitSpec::default(),
                )),
            },
            &token,
        ))
        .await
        .expect("init")
        .into_inner()
        .job
        .expect("job");
    wait_job(
        &server,
        &token,
        init.id,
        "init",
        status_in(&[pb::JobStatus::Succeeded]),
    )
    .await;

    // Host B backs up slowly into the shared repository.
    let source = dir.path().join("slow");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("data"), cairn_testkit::noise(7, 400_000)).expect("write");
    let backup = jobs
        .run_backup(with_token(
            pb::RunBackupRequest {
                schedule_id: 0,
                host_id: host_b,
                repository_id: repository,
                spec: Some(pb::BackupSpec {
                    paths: vec![source.display().to_string()],
                    limit_upload_kib: 48,
                    ..Default::default()
                }),
            },
            &token,
        ))
        .await
        .expect("backup")
        .into_inner()
        .job
        .expect("job");
    wait_job(
        &server,
        &token,
        backup.id,
        "the backup",
        status_in(&[pb::JobStatus::Running]),
    )
    .await;

    // Host A's prune is held back while B's backup runs…
    let prune = jobs
        .run_maintenance(with_token(
            pb::RunMaintenanceRequest {
                host_id: host_a,
                repository_id: repository,
                spec: Some(pb::run_maintenance_request::Spec::Prune(
                    pb::PruneSpec::default(),
                )),
            },
            &token,
        ))
        .await
        .expect("prune")
        .into_inner()
        .job
        .expect("job");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = wait_job(
            &server,
            &token,
            prune.id,
            "the prune",
            status_in(&[
                pb::JobStatus::Queued,
                pb::JobStatus::Dispatched,
                pb::JobStatus::Running,
                pb::JobStatus::Succeeded,
                pb::JobStatus::Failed,
            ]),
        )
        .await;
        let backup_now = wait_job(
            &server,
            &token,
            backup.id,
            "the backup",
            status_in(&[pb::JobStatus::Running, pb::JobStatus::Succeeded]),
        )
        .await;
        if backup_now.status == pb::JobStatus::Running as i32 {
            assert_eq!(
                status.status,
                pb::JobStatus::Queued as i32,
                "prune must wait for the backup"
            );
        }
    }
    // …and runs once it is done.
    let backup = wait_job(
        &server,
        &token,
        backup.id,
        "the backup",
        status_in(&[pb::JobStatus::Succeeded]),
    )
    .await;
    let prune = wait_job(
        &server,
        &token,
        prune.id,
        "the prune",
        status_in(&[pb::JobStatus::Succeeded]),
    )
    .await;
    let (ended, started) = (
        backup.finished_at.expect("end"),
        prune.started_at.expect("start"),
    );
    assert!(
        (ended.seconds, ended.nanos) <= (started.seconds, started.nanos),
        "prune started before the backup ended"
    );
    pruner.stop().await.expect("stop");
    backer.stop().await.expect("stop");
}
