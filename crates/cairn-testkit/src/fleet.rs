//! Fleet helpers over the gRPC API, as an operator's script would do it.

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
use std::time::Duration;

use cairn_store::{Role, Scope};
use tonic::transport::Channel;

use crate::agents::{self, RunningAgent};
use crate::jobs::{ended, wait_job};
use crate::{Reachable, TestServer};

/// A request carrying `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().expect("header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// Waits for `agent` to announce itself, approves it, and waits for its
/// welcome; returns its host id.
pub async fn approve(server: &impl Reachable, token: &str, agent: &mut RunningAgent) -> i64 {
    let host_id = match agent.welcomed(pb::WelcomeStatus::PendingApproval).await {
        cairn_agent::AgentEvent::Welcomed { host_id, .. } => host_id,
        other => panic!("expected a welcome, got {other:?}"),
    };
    approve_id(server, token, host_id).await;
    agent.welcomed(pb::WelcomeStatus::Approved).await;
    host_id
}

/// Approves host `host_id` (an agent the test did not start in process).
pub async fn approve_id(server: &impl Reachable, token: &str, host_id: i64) {
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
}

/// Creates a repository and assigns it to `hosts`; returns its id.
pub async fn repository(
    server: &impl Reachable,
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
pub async fn init(server: &impl Reachable, token: &str, host_id: i64, repository_id: i64) {
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
    let done = wait_job(server, token, job.id, "init", ended).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
}

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

/// Backs `paths` of `host_id` up into `repository_id` now, waits for the
/// job to end and asserts it succeeded; the job.
pub async fn backup_succeeds(
    server: &impl Reachable,
    token: &str,
    host_id: i64,
    repository_id: i64,
    paths: &[&str],
) -> pb::Job {
    let job = JobServiceClient::new(server.channel().await)
        .run_backup(authorized(backup_now(host_id, repository_id, paths), token))
        .await
        .expect("run now")
        .into_inner()
        .job
        .expect("job");
    let done = wait_job(server, token, job.id, "the backup", ended).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
    done
}

/// One approved agent whose restores may write below its state dir, an
/// admin token, and clients: what most job tests start from.
#[derive(Debug)]
pub struct Fleet {
    pub server: TestServer,
    pub token: String,
    pub jobs: JobServiceClient<Channel>,
    pub repos: RepositoryServiceClient<Channel>,
    pub agent: RunningAgent,
    pub host_id: i64,
    state: tempfile::TempDir,
}

impl Fleet {
    /// A fresh server, an admin token and one approved agent.
    pub async fn start() -> Fleet {
        Fleet::start_with(|_| {}).await
    }

    /// As [`Fleet::start`], with the server's configuration adjusted first.
    pub async fn start_with(adjust: impl FnOnce(&mut cairn_server::ServerConfig)) -> Fleet {
        let server = TestServer::start_with(adjust).await;
        let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
        let state = tempfile::tempdir().expect("state");
        let mut agent = RunningAgent::start(agents::with_restore_root(&server.url, state.path()));
        let host_id = approve(&server, &token, &mut agent).await;
        Fleet::assemble(server, token, agent, host_id, state).await
    }

    /// A fleet of parts the test made itself (say, an agent process it
    /// kills); `state` holds the restore root.
    pub async fn assemble(
        server: TestServer,
        token: String,
        agent: RunningAgent,
        host_id: i64,
        state: tempfile::TempDir,
    ) -> Fleet {
        let channel = server.channel().await;
        Fleet {
            server,
            token,
            jobs: JobServiceClient::new(channel.clone()),
            repos: RepositoryServiceClient::new(channel),
            agent,
            host_id,
            state,
        }
    }

    /// The agent's state dir (its identity, spool and schedules).
    pub fn agent_state_dir(&self) -> std::path::PathBuf {
        self.state.path().join("agent")
    }

    /// Creates a repository at `url` and assigns it to the fleet's host.
    pub async fn repository(&mut self, url: &str, password: &str) -> i64 {
        let name = format!("repo-{}", url.len());
        repository(
            &self.server,
            &self.token,
            &name,
            url,
            password,
            &[self.host_id],
        )
        .await
    }

    /// Runs one maintenance operation on the host and returns the finished job.
    pub async fn maintenance(
        &mut self,
        repository_id: i64,
        spec: pb::run_maintenance_request::Spec,
    ) -> pb::Job {
        crate::jobs::maintenance(&self.server, &self.token, self.host_id, repository_id, spec).await
    }

    /// Submits a backup of `paths` (tagged `cairn-test`) from the host.
    pub async fn backup(
        &mut self,
        repository_id: i64,
        paths: Vec<String>,
    ) -> Result<pb::Job, tonic::Status> {
        self.jobs
            .run_backup(authorized(
                pb::RunBackupRequest {
                    schedule_id: 0,
                    host_id: self.host_id,
                    repository_id,
                    spec: Some(pb::BackupSpec {
                        paths,
                        tags: vec!["cairn-test".into()],
                        ..Default::default()
                    }),
                },
                &self.token,
            ))
            .await
            .map(|r| r.into_inner().job.expect("job"))
    }

    /// Submits a backup of `source` held to 32 KiB/s and returns the job's
    /// id once the job is running and its restic has started on the host, so
    /// the test can act on a backup in mid-upload.
    pub async fn slow_backup(&mut self, repository: i64, source: &std::path::Path) -> i64 {
        let job = self
            .jobs
            .run_backup(authorized(
                pb::RunBackupRequest {
                    schedule_id: 0,
                    host_id: self.host_id,
                    repository_id: repository,
                    spec: Some(pb::BackupSpec {
                        paths: vec![source.display().to_string()],
                        limit_upload_kib: 32,
                        ..Default::default()
                    }),
                },
                &self.token,
            ))
            .await
            .expect("submit")
            .into_inner()
            .job
            .expect("job")
            .id;
        let running = crate::jobs::status_in(&[pb::JobStatus::Running]);
        wait_job(
            &self.server,
            &self.token,
            job,
            "the backup to be running",
            running,
        )
        .await;
        let marker = source.display().to_string();
        crate::eventually(Duration::from_secs(60), "restic started", || {
            crate::restic_running_on(&marker)
        })
        .await;
        job
    }

    /// Runs `restic check` on the repository from the host, which must pass
    /// (the agent removes stale locks first when one is in the way).
    pub async fn check(&mut self, repository_id: i64) -> pb::Job {
        let check = pb::run_maintenance_request::Spec::Check(pb::CheckSpec::default());
        let checked = self.maintenance(repository_id, check).await;
        assert_eq!(
            checked.status,
            pb::JobStatus::Succeeded as i32,
            "restic check: {}",
            checked.error
        );
        checked
    }

    /// Follows a job with `WatchJob` to its end.
    pub async fn finish(&mut self, job_id: i64) -> pb::Job {
        crate::jobs::finish(&self.server, &self.token, job_id).await
    }

    /// The first page of a job's log, as text.
    pub async fn logs(&mut self, job_id: i64) -> Vec<String> {
        self.jobs
            .get_job_logs(authorized(
                pb::GetJobLogsRequest { job_id, page: None },
                &self.token,
            ))
            .await
            .expect("logs")
            .into_inner()
            .lines
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    /// Asks for a restore of `snapshot_id` onto `target` on `target_host_id`.
    pub async fn restore(
        &mut self,
        repository_id: i64,
        snapshot_id: &str,
        target_host_id: i64,
        target: &std::path::Path,
    ) -> Result<pb::Job, tonic::Status> {
        SnapshotServiceClient::new(self.server.channel().await)
            .restore_snapshot(authorized(
                pb::RestoreSnapshotRequest {
                    repository_id,
                    snapshot_id: snapshot_id.into(),
                    target_host_id,
                    target_path: target.display().to_string(),
                    ..Default::default()
                },
                &self.token,
            ))
            .await
            .map(|r| r.into_inner().job.expect("job"))
    }

    /// Where the host's restores may write.
    pub fn restore_root(&self) -> std::path::PathBuf {
        self.state.path().join("restores")
    }
}
