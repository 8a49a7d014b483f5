//! Jobs over the gRPC API, as a script would run them: queue one, follow it
//! to its end (with `WatchJob`) or wait for a state (the one polling helper,
//! [`wait_job`]), and a real `restic` on the side to look at the repository.

use std::path::Path;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;
use tokio_stream::StreamExt;

use crate::Reachable;
use crate::fleet::authorized;

/// A generous end for one job on a loaded 2-core machine.
pub const JOB_DEADLINE: Duration = Duration::from_secs(120);

/// Follows a job with `WatchJob` to its end and returns the final record.
pub async fn finish(server: &impl Reachable, token: &str, job_id: i64) -> pb::Job {
    let mut events = JobServiceClient::new(server.channel().await)
        .watch_job(authorized(pb::WatchJobRequest { job_id }, token))
        .await
        .expect("watch")
        .into_inner();
    tokio::time::timeout(JOB_DEADLINE, async {
        while let Some(event) = events.next().await {
            if let Some(pb::job_event::Event::Finished(job)) = event.expect("event").event {
                return job;
            }
        }
        panic!("the watch of job {job_id} ended without a finish")
    })
    .await
    .expect("the job finished in time")
}

/// Asks for job `job_id` until `done` holds for it, and returns it;
/// panics naming `what` (and the job as last seen) after [`JOB_DEADLINE`].
pub async fn wait_job(
    server: &impl Reachable,
    token: &str,
    job_id: i64,
    what: &str,
    done: impl Fn(&pb::Job) -> bool,
) -> pb::Job {
    let mut jobs = JobServiceClient::new(server.channel().await);
    let deadline = tokio::time::Instant::now() + JOB_DEADLINE;
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
        crate::poll_pause().await;
    }
}

/// Whether a job has reached its one terminal state.
pub fn ended(job: &pb::Job) -> bool {
    status_in(&[
        pb::JobStatus::Succeeded,
        pb::JobStatus::Failed,
        pb::JobStatus::Cancelled,
        pb::JobStatus::Lost,
    ])(job)
}

/// Whether a job is in one of `want`, for [`wait_job`].
pub fn status_in(want: &[pb::JobStatus]) -> impl Fn(&pb::Job) -> bool + '_ {
    move |job| want.iter().any(|s| *s as i32 == job.status)
}

/// Runs one maintenance operation on `host`'s use of `repository` and
/// returns the finished job.
pub async fn maintenance(
    server: &impl Reachable,
    token: &str,
    host: i64,
    repository: i64,
    spec: pb::run_maintenance_request::Spec,
) -> pb::Job {
    let job = JobServiceClient::new(server.channel().await)
        .run_maintenance(authorized(
            pb::RunMaintenanceRequest {
                host_id: host,
                repository_id: repository,
                spec: Some(spec),
            },
            token,
        ))
        .await
        .expect("run maintenance")
        .into_inner()
        .job
        .expect("job");
    finish(server, token, job.id).await
}

/// Backs up `spec` from `host` into `repository` and returns the finished job.
pub async fn backup(
    server: &impl Reachable,
    token: &str,
    host: i64,
    repository: i64,
    spec: pb::BackupSpec,
) -> pb::Job {
    let job = JobServiceClient::new(server.channel().await)
        .run_backup(authorized(
            pb::RunBackupRequest {
                schedule_id: 0,
                host_id: host,
                repository_id: repository,
                spec: Some(spec),
            },
            token,
        ))
        .await
        .expect("run backup")
        .into_inner()
        .job
        .expect("job");
    finish(server, token, job.id).await
}

/// Runs the real `restic` on a local repository and returns its stdout;
/// fails the test if restic fails.
pub fn restic(repo: &Path, password: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("restic")
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", password)
        .output()
        .expect("run restic");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The hostnames of a local repository's snapshots, sorted (one entry per
/// snapshot), as restic itself lists them.
pub fn snapshot_hostnames(repo: &Path, password: &str) -> Vec<String> {
    let text = restic(repo, password, &["snapshots", "--json"]);
    let mut hosts: Vec<String> = cairn_restic::parse_snapshots(&text)
        .expect("restic's snapshot list")
        .into_iter()
        .map(|s| s.hostname)
        .collect();
    hosts.sort();
    hosts
}

/// Waits for a job of `kind` on `host` to exist (queued by the server's own
/// ticker, say) and returns it as first seen.
pub async fn queued_of_kind(
    server: &impl Reachable,
    token: &str,
    host: i64,
    kind: pb::JobKind,
) -> pb::Job {
    let mut client = JobServiceClient::new(server.channel().await);
    let deadline = tokio::time::Instant::now() + JOB_DEADLINE;
    loop {
        let listed = client
            .list_jobs(authorized(
                pb::ListJobsRequest {
                    host_id: host,
                    ..Default::default()
                },
                token,
            ))
            .await
            .expect("list jobs")
            .into_inner()
            .jobs;
        // Filtered here: the request's kind filter is not relied on.
        if let Some(job) = listed.into_iter().find(|j| j.kind == kind as i32) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind:?} job was queued for host {host}"
        );
        crate::poll_pause().await;
    }
}
