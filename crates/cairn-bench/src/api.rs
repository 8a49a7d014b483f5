//! The API calls the benchmarks make of a running server: enrollment
//! tokens, repositories, run now, and following a job to its end.

use anyhow::{Context as _, bail};
use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;

use crate::fixture::{Authed, BenchServer};
use crate::sse::now_micros;

/// The password of every repository the benchmarks make.
pub const REPOSITORY_PASSWORD: &str = "bench-repository-password";

/// An enrollment token (unlimited uses, an hour) whose hosts get `labels`.
pub async fn enrollment_token(
    server: &BenchServer,
    labels: &[(&str, &str)],
) -> anyhow::Result<String> {
    use cairn_proto::v1::admin_service_client::AdminServiceClient;
    Ok(AdminServiceClient::new(server.api().await?)
        .create_enrollment_token(pb::CreateEnrollmentTokenRequest {
            name: "bench".into(),
            ttl_seconds: 3_600,
            max_uses: 0,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .await
        .context("creating an enrollment token")?
        .into_inner()
        .secret)
}

/// A repository named `name` (a local path under `work`; nothing opens it)
/// assigned to `hosts`; returns its id.
pub async fn assigned_repository(
    server: &BenchServer,
    work: &std::path::Path,
    name: &str,
    hosts: &[i64],
) -> anyhow::Result<i64> {
    use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
    let mut repos = RepositoryServiceClient::new(server.api().await?);
    let repository = repos
        .create_repository(pb::CreateRepositoryRequest {
            name: name.into(),
            url: work.join(name).to_string_lossy().into_owned(),
            password: REPOSITORY_PASSWORD.into(),
            env: Default::default(),
        })
        .await
        .context("creating a repository")?
        .into_inner()
        .repository
        .context("no repository returned")?;
    for &host_id in hosts {
        repos
            .assign_repository(pb::AssignRepositoryRequest {
                repository_id: repository.id,
                host_id,
            })
            .await
            .context("assigning the repository")?;
    }
    Ok(repository.id)
}

/// Queues a backup of `path` on `host_id` (run now); returns the job id.
pub async fn run_backup(
    jobs: &mut JobServiceClient<Authed>,
    host_id: i64,
    repository_id: i64,
    path: &str,
) -> anyhow::Result<i64> {
    Ok(jobs
        .run_backup(pb::RunBackupRequest {
            schedule_id: 0,
            host_id,
            repository_id,
            spec: Some(pb::BackupSpec {
                paths: vec![path.into()],
                ..Default::default()
            }),
        })
        .await
        .context("queueing the backup")?
        .into_inner()
        .job
        .context("no job returned")?
        .id)
}

/// What following a job showed.
#[derive(Debug)]
pub struct Followed {
    /// When (µs) the first progress event arrived.
    pub first_progress: Option<u64>,
    /// The job as it ended.
    pub job: pb::Job,
}

/// Follows job `job_id` over `WatchJob` until it ends.
pub async fn follow(jobs: &mut JobServiceClient<Authed>, job_id: i64) -> anyhow::Result<Followed> {
    let mut stream = jobs
        .watch_job(pb::WatchJobRequest { job_id })
        .await
        .context("WatchJob")?
        .into_inner();
    let mut first_progress = None;
    while let Some(event) = stream.message().await.context("the WatchJob stream")? {
        match event.event {
            Some(pb::job_event::Event::Progress(_)) => {
                first_progress.get_or_insert(now_micros());
            }
            Some(pb::job_event::Event::Finished(job)) => {
                return Ok(Followed {
                    first_progress,
                    job,
                });
            }
            _ => {}
        }
    }
    bail!("job {job_id}'s stream ended before the job did")
}
