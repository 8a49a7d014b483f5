//! Fleet helpers over the gRPC API, as an operator's script would do it.

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;

use crate::TestServer;
use crate::agents::RunningAgent;

/// A request carrying `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().expect("header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// Waits for `agent` to announce itself, approves it, and waits for its
/// welcome; returns its host id.
pub async fn approve(server: &TestServer, token: &str, agent: &mut RunningAgent) -> i64 {
    let host_id = match agent.welcomed(pb::WelcomeStatus::PendingApproval).await {
        cairn_agent::AgentEvent::Welcomed { host_id, .. } => host_id,
        other => panic!("expected a welcome, got {other:?}"),
    };
    HostServiceClient::new(server.channel().await)
        .approve_host(authorized(
            pb::ApproveHostRequest {
                host_id,
                expected_fingerprint: String::new(),
            },
            token,
        ))
        .await
        .expect("approve");
    agent.welcomed(pb::WelcomeStatus::Approved).await;
    host_id
}

/// Creates a repository and assigns it to `hosts`; returns its id.
pub async fn repository(
    server: &TestServer,
    token: &str,
    name: &str,
    url: &str,
    password: &str,
    hosts: &[i64],
) -> i64 {
    let mut repos = RepositoryServiceClient::new(server.channel().await);
    let repo = repos
        .create_repository(authorized(
            pb::CreateRepositoryRequest {
                name: name.into(),
                url: url.into(),
                password: password.into(),
                env: Default::default(),
            },
            token,
        ))
        .await
        .expect("create repository")
        .into_inner()
        .repository
        .expect("repository");
    for host in hosts {
        repos
            .assign_repository(authorized(
                pb::AssignRepositoryRequest {
                    repository_id: repo.id,
                    host_id: *host,
                },
                token,
            ))
            .await
            .expect("assign");
    }
    repo.id
}

/// Initialises `repository` from `host` and waits for it to succeed.
pub async fn init(server: &TestServer, token: &str, host_id: i64, repository_id: i64) {
    let job = JobServiceClient::new(server.channel().await)
        .run_maintenance(authorized(
            pb::RunMaintenanceRequest {
                host_id,
                repository_id,
                spec: Some(pb::run_maintenance_request::Spec::Init(
                    pb::InitSpec::default(),
                )),
            },
            token,
        ))
        .await
        .expect("init")
        .into_inner()
        .job
        .expect("job");
    let done = wait_job(server, token, job.id, INIT_WITHIN, "init", ended).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
}

/// How long a test waits for `restic init` (slow on a loaded machine).
const INIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// A backup of `paths` from `host_id` into `repository_id`, run now.
pub fn backup_now(host_id: i64, repository_id: i64, paths: &[&str]) -> pb::RunBackupRequest {
    pb::RunBackupRequest {
        schedule_id: 0,
        host_id,
        repository_id,
        spec: Some(pb::BackupSpec {
            paths: paths.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }),
    }
}

/// How often a waiting test asks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The pause between two looks of a test that waits on a condition
/// (always under a deadline of its own): one poll interval for all.
pub async fn poll_pause() {
    tokio::time::sleep(POLL).await;
}

/// Asks for job `job_id` until `done` holds for it, and returns it;
/// panics naming `what` (and the job as last seen) after `within`.
pub async fn wait_job(
    server: &TestServer,
    token: &str,
    job_id: i64,
    within: std::time::Duration,
    what: &str,
    done: impl Fn(&pb::Job) -> bool,
) -> pb::Job {
    let mut jobs = JobServiceClient::new(server.channel().await);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let job = jobs
            .get_job(authorized(pb::GetJobRequest { job_id }, token))
            .await
            .expect("get job")
            .into_inner()
            .job
            .expect("job");
        if done(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {job:?}"
        );
        poll_pause().await;
    }
}

/// Whether a job has reached its one terminal state.
pub fn ended(job: &pb::Job) -> bool {
    [
        pb::JobStatus::Succeeded,
        pb::JobStatus::Failed,
        pb::JobStatus::Cancelled,
        pb::JobStatus::Lost,
    ]
    .iter()
    .any(|s| *s as i32 == job.status)
}
