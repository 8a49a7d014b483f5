//! A running job is never lost while its agent is connected and runs it:
//! heartbeats name the running jobs and renew their leases, however long
//! restic or a hook stays silent. The server's clock is moved by hand, so
//! the test does not depend on how fast this machine is.

use std::time::Duration;

use cairn_agent::{Hook, OnError};
use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::{approve, backup_now, init, repository};
use cairn_testkit::jobs::{ended, wait_job};

use crate::with_token;

const PASSWORD: &str = "lease test password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_pre_hook_outlives_many_leases_while_its_agent_is_connected() {
    let lease = Duration::from_secs(60);
    let (server, clock) = TestServer::start_manual(cairn_store::now_millis(), |c| {
        c.job_lease = lease;
        c.agent_heartbeat_interval = Duration::from_secs(1);
        // Liveness is not under test: moving the clock must not close the stream.
        c.agent_offline_after = Duration::from_secs(24 * 3600);
    })
    .await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("data"), "x").expect("write");
    let gate = dir.path().join("dump-may-finish");

    // A "database dump" that says nothing until the test lets it finish.
    let mut config = agents::config(&server.url, &dir.path().join("agent"));
    config.policy.hooks.insert(
        "silent-dump".into(),
        Hook {
            pre: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("while [ ! -e '{}' ]; do sleep 0.2; done", gate.display()),
            ],
            post: vec![],
            on_error: OnError::Fail,
            timeout: Duration::from_secs(3600),
        },
    );
    let mut agent = RunningAgent::start(config);
    let host_id = approve(&server, &token, &mut agent).await;
    let repo_path = dir.path().join("repo").display().to_string();
    let repository_id =
        repository(&server, &token, "leases", &repo_path, PASSWORD, &[host_id]).await;
    init(&server, &token, host_id, repository_id).await;
    let mut jobs = JobServiceClient::new(server.channel().await);
    let job = jobs
        .run_backup(with_token(
            {
                let mut request =
                    backup_now(host_id, repository_id, &[&source.display().to_string()]);
                if let Some(spec) = request.spec.as_mut() {
                    spec.hooks = vec!["silent-dump".into()];
                }
                request
            },
            &token,
        ))
        .await
        .expect("backup")
        .into_inner()
        .job
        .expect("job");
    let mut seen = wait_job(&server, &token, job.id, "the backup to run", |j| {
        j.status == pb::JobStatus::Running as i32
    })
    .await;

    // Three leases' worth of silence, half a lease at a time: each step waits
    // for a heartbeat to renew the lease beyond the new "now".
    for step in 0..6 {
        clock.advance(lease / 2);
        let previous = seen.lease_expires_at.map_or(0, |t| t.seconds);
        seen = wait_job(
            &server,
            &token,
            job.id,
            &format!("a heartbeat to renew the lease (step {step})"),
            |j| {
                j.status != pb::JobStatus::Running as i32
                    || j.lease_expires_at
                        .as_ref()
                        .is_some_and(|t| t.seconds > previous)
            },
        )
        .await;
        assert_eq!(
            seen.status,
            pb::JobStatus::Running as i32,
            "the job was given up while its agent ran it: {seen:?}"
        );
    }

    std::fs::write(&gate, "").expect("open the gate");
    let done = wait_job(&server, &token, job.id, "the backup", ended).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
    agent.stop().await.expect("stop");
}

/// An agent whose one hook never ends by itself (it waits for a file that
/// never comes), for a job that can only end by being stopped.
fn agent_with_a_hook_that_never_ends(url: &str, dir: &std::path::Path) -> cairn_agent::AgentConfig {
    let mut config = agents::config(url, &dir.join("agent"));
    config.policy.hooks.insert(
        "endless".into(),
        Hook {
            pre: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!(
                    "while [ ! -e '{}' ]; do sleep 0.2; done",
                    dir.join("never").display()
                ),
            ],
            post: vec![],
            on_error: OnError::Fail,
            timeout: Duration::from_secs(3600),
        },
    );
    config
}

fn endless_backup(
    host_id: i64,
    repository_id: i64,
    source: &std::path::Path,
) -> pb::RunBackupRequest {
    let mut request = backup_now(host_id, repository_id, &[&source.display().to_string()]);
    if let Some(spec) = request.spec.as_mut() {
        spec.hooks = vec!["endless".into()];
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_timeout_is_stopped_hooks_included_and_says_why() {
    // The timeout is what is under test: the job cannot end any other way.
    let server = TestServer::start_with(|c| c.job_timeout = Duration::from_secs(3)).await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut agent = RunningAgent::start(agent_with_a_hook_that_never_ends(&server.url, dir.path()));
    let host_id = approve(&server, &token, &mut agent).await;
    let repo_path = dir.path().join("repo").display().to_string();
    let repository_id = repository(
        &server,
        &token,
        "timeouts",
        &repo_path,
        PASSWORD,
        &[host_id],
    )
    .await;
    let job = JobServiceClient::new(server.channel().await)
        .run_backup(with_token(
            endless_backup(host_id, repository_id, dir.path()),
            &token,
        ))
        .await
        .expect("backup")
        .into_inner()
        .job
        .expect("job");
    let done = wait_job(&server, &token, job.id, "the timeout", ended).await;
    assert_eq!(done.status, pb::JobStatus::Cancelled as i32, "{done:?}");
    assert!(done.error.contains("timeout of 3 s"), "{}", done.error);
    agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_a_job_still_in_its_pre_hook() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut agent = RunningAgent::start(agent_with_a_hook_that_never_ends(&server.url, dir.path()));
    let host_id = approve(&server, &token, &mut agent).await;
    let repo_path = dir.path().join("repo").display().to_string();
    let repository_id =
        repository(&server, &token, "cancels", &repo_path, PASSWORD, &[host_id]).await;
    let mut jobs = JobServiceClient::new(server.channel().await);
    let job = jobs
        .run_backup(with_token(
            endless_backup(host_id, repository_id, dir.path()),
            &token,
        ))
        .await
        .expect("backup")
        .into_inner()
        .job
        .expect("job");
    wait_job(&server, &token, job.id, "the hook to run", |j| {
        j.status == pb::JobStatus::Running as i32
    })
    .await;
    jobs.cancel_job(with_token(
        pb::CancelJobRequest {
            job_id: job.id,
            reason: "operator changed their mind".into(),
        },
        &token,
    ))
    .await
    .expect("cancel");
    let done = wait_job(&server, &token, job.id, "the cancel", ended).await;
    assert_eq!(done.status, pb::JobStatus::Cancelled as i32, "{done:?}");
    assert_eq!(
        done.error, "cancelled: operator changed their mind",
        "the reason is kept"
    );
    agent.stop().await.expect("stop");
}

#[tokio::test]
async fn an_agent_back_with_a_job_the_server_gave_up_on_is_told_to_stop_it() {
    use cairn_testkit::agents::{hello, new_identity, open};

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let identity = new_identity();
    let mut first = open(&server.url, hello(&identity, "away"))
        .await
        .expect("open");
    let host_id = match first.next(Duration::from_secs(60)).await {
        Ok(Some(pb::ServerMessage {
            body: Some(pb::server_message::Body::Welcome(w)),
        })) => w.host_id,
        other => panic!("expected a welcome, got {other:?}"),
    };
    cairn_proto::v1::host_service_client::HostServiceClient::new(server.channel().await)
        .approve_host(with_token(
            pb::ApproveHostRequest {
                host_id,
                expected_fingerprint: String::new(),
            },
            &token,
        ))
        .await
        .expect("approve");
    drop(first);

    // A job it was running when it went away, lost since (its lease ran out).
    let store = server.store().await;
    let job = store
        .create_job(
            cairn_store::NewJob {
                host_id: cairn_store::HostId(host_id),
                repository_id: None,
                trigger: cairn_domain::Trigger::Api,
                spec: cairn_domain::JobSpec::Check(Default::default()),
                created_by: None,
            },
            0,
        )
        .await
        .expect("job");
    assert!(store.mark_dispatched(job, 0, 1).await.expect("dispatch"));
    assert_eq!(store.expire_leases(2).await.expect("expire").len(), 1);

    // It comes back still running it: the server tells it to stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut back = loop {
        let mut message = hello(&identity, "away");
        if let Some(pb::agent_message::Body::Hello(h)) = message.body.as_mut() {
            h.running_job_ids = vec![job.0];
        }
        // The first stream may not be gone yet: then this one is refused.
        if let Ok(mut session) = open(&server.url, message).await
            && let Ok(Some(pb::ServerMessage {
                body: Some(pb::server_message::Body::Welcome(_)),
            })) = session.next(Duration::from_secs(60)).await
        {
            break session;
        }
        assert!(tokio::time::Instant::now() < deadline, "cannot reconnect");
        cairn_testkit::poll_pause().await;
    };
    loop {
        match back.next(Duration::from_secs(60)).await {
            Ok(Some(pb::ServerMessage {
                body: Some(pb::server_message::Body::CancelJob(cancel)),
            })) => {
                assert_eq!(cancel.job_id, job.0);
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("no CancelJob for the lost job: {other:?}"),
        }
    }
}
