//! Secrets go only where they are needed: a job carries a repository's
//! password and keys only to a host the repository is assigned to (assigning
//! is an admin's grant), a cross-host restore is an admin's audited call, and
//! a pending host is told nothing of its schedules.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::{approve, backup_now, repository};
use cairn_testkit::jobs::{ended, wait_job};
use tonic::Code;

use crate::with_token;

fn restore_onto(repository_id: i64, host: i64) -> pb::RestoreSnapshotRequest {
    pb::RestoreSnapshotRequest {
        repository_id,
        snapshot_id: "latest".into(),
        target_host_id: host,
        target_path: "/var/restores/elsewhere".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cannot_send_a_repositorys_secrets_to_a_host_of_its_own() {
    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let operator = server
        .token_for("ops", Role::Operator, Scope::Operate)
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let mut owner = RunningAgent::start(agents::config(&server.url, &dir.path().join("owner")));
    let owner_id = approve(&server, &admin, &mut owner).await;
    let repo_path = dir.path().join("repo").display().to_string();
    let repository_id = repository(&server, &admin, "prod", &repo_path, "pw", &[owner_id]).await;

    // The operator approves a host it controls…
    let mut mine = RunningAgent::start(agents::config(&server.url, &dir.path().join("mine")));
    let mine_id = approve(&server, &operator, &mut mine).await;
    let channel = server.channel().await;

    // …but may not assign the repository to it (that hands over its secrets)…
    let err = RepositoryServiceClient::new(channel.clone())
        .assign_repository(with_token(
            pb::AssignRepositoryRequest {
                repository_id,
                host_id: mine_id,
            },
            &operator,
        ))
        .await
        .expect_err("an operator may not grant a repository");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // …nor restore onto it, nor back up to it.
    let mut snapshots = SnapshotServiceClient::new(channel.clone());
    let err = snapshots
        .restore_snapshot(with_token(restore_onto(repository_id, mine_id), &operator))
        .await
        .expect_err("a cross-host restore needs an admin");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = JobServiceClient::new(channel.clone())
        .run_backup(with_token(
            backup_now(mine_id, repository_id, &["/etc"]),
            &operator,
        ))
        .await
        .expect_err("not assigned");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // Onto the repository's own host, an operator restores as before.
    snapshots
        .restore_snapshot(with_token(restore_onto(repository_id, owner_id), &operator))
        .await
        .expect("restore onto an assigned host");

    // An admin may restore anywhere; the job goes out, and the grant is audited.
    let job = snapshots
        .restore_snapshot(with_token(
            pb::RestoreSnapshotRequest {
                verify: true,
                limit_download_kib: 512,
                ..restore_onto(repository_id, mine_id)
            },
            &admin,
        ))
        .await
        .expect("an admin's cross-host restore")
        .into_inner()
        .job
        .expect("job");
    // Every option of the request reaches the job's spec.
    match job.spec.as_ref().and_then(|s| s.spec.as_ref()) {
        Some(pb::job_spec::Spec::Restore(r)) => {
            assert!(r.verify);
            assert_eq!(r.limit_download_kib, 512);
        }
        other => panic!("not a restore: {other:?}"),
    }
    let job = wait_job(&server, &admin, job.id, "the restore", ended).await;
    assert!(job.dispatched_at.is_some(), "{job:?}");
    let store = server.store().await;
    let audit = store
        .list_audit(
            cairn_store::AuditFilter::default(),
            cairn_store::Page::after(500, None),
        )
        .await
        .expect("audit")
        .items;
    let denied = audit
        .iter()
        .filter(|e| e.entry.action == "job.restore.cross_host")
        .map(|e| e.entry.outcome)
        .collect::<Vec<_>>();
    assert!(
        denied.contains(&cairn_store::Outcome::Denied)
            && denied.contains(&cairn_store::Outcome::Success),
        "{denied:?}"
    );
    owner.stop().await.expect("stop");
    mine.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_repository_was_unassigned_while_it_waited_is_not_sent() {
    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("agent");
    let mut agent = RunningAgent::start(agents::config(&server.url, &state));
    let host_id = approve(&server, &admin, &mut agent).await;
    let repo_path = dir.path().join("repo").display().to_string();
    let repository_id = repository(&server, &admin, "r", &repo_path, "pw", &[host_id]).await;
    agent.stop().await.expect("the host goes away");

    let channel = server.channel().await;
    let job = JobServiceClient::new(channel.clone())
        .run_backup(with_token(
            backup_now(host_id, repository_id, &["/etc"]),
            &admin,
        ))
        .await
        .expect("queued while the host is away")
        .into_inner()
        .job
        .expect("job");
    RepositoryServiceClient::new(channel)
        .unassign_repository(with_token(
            pb::UnassignRepositoryRequest {
                repository_id,
                host_id,
            },
            &admin,
        ))
        .await
        .expect("unassign");

    let mut agent = RunningAgent::start(agents::config(&server.url, &state));
    agent.welcomed(pb::WelcomeStatus::Approved).await;
    let job = wait_job(&server, &admin, job.id, "the refusal", ended).await;
    assert_eq!(job.status, pb::JobStatus::Failed as i32, "{job:?}");
    assert!(job.error.contains("no longer assigned"), "{}", job.error);
    assert!(job.dispatched_at.is_none(), "never sent: {job:?}");
    agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_host_receives_no_schedules() {
    use cairn_testkit::agents::{hello, new_identity, open};

    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let mut session = open(&server.url, hello(&new_identity(), "pending-host"))
        .await
        .expect("open");
    let host_id = match session.next(Duration::from_secs(30)).await {
        Ok(Some(pb::ServerMessage {
            body: Some(pb::server_message::Body::Welcome(w)),
        })) => {
            assert_eq!(w.status, pb::WelcomeStatus::PendingApproval as i32);
            w.host_id
        }
        other => panic!("expected a pending welcome, got {other:?}"),
    };
    let dir = tempfile::tempdir().expect("dir");
    let repo_path = dir.path().join("repo").display().to_string();
    let repository_id = repository(&server, &admin, "r", &repo_path, "pw", &[host_id]).await;
    ScheduleServiceClient::new(server.channel().await)
        .create_schedule(with_token(
            pb::CreateScheduleRequest {
                host_id,
                repository_id,
                name: "nightly".into(),
                cron: "30 2 * * *".into(),
                timezone: "UTC".into(),
                paths: vec!["/srv/secret-project".into()],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("a schedule may wait for its host's approval");

    // What reaches the session next comes after approval: had the schedule
    // set been pushed while pending, it would come first.
    cairn_proto::v1::host_service_client::HostServiceClient::new(server.channel().await)
        .approve_host(with_token(
            pb::ApproveHostRequest {
                host_id,
                expected_fingerprint: String::new(),
            },
            &admin,
        ))
        .await
        .expect("approve");
    match session.next(Duration::from_secs(30)).await {
        Ok(Some(pb::ServerMessage {
            body: Some(pb::server_message::Body::Welcome(w)),
        })) => assert_eq!(w.status, pb::WelcomeStatus::Approved as i32),
        other => panic!("a pending host was sent something: {other:?}"),
    }
    // Once approved, the set arrives.
    loop {
        match session.next(Duration::from_secs(30)).await {
            Ok(Some(pb::ServerMessage {
                body: Some(pb::server_message::Body::SetSchedules(set)),
            })) => {
                assert_eq!(set.schedules.len(), 1);
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("no schedule set after approval: {other:?}"),
        }
    }
}
