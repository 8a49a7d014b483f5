//! A simulated agent on the real wire: its own identity (`cairn_agent`'s),
//! its own TLS connection pinned to the server's certificate, the gateway's
//! `Session` stream, `Hello` with an enrollment token, and on `RunJob` what
//! a backup reports: `JobAccepted`, then restic-shaped `JobProgress` at a set
//! rate, each stamped with its send time in its current file name, until the
//! agent is dropped. It runs no restic: the benchmarks measure the server.

use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_client::AgentGatewayClient;
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::server_message::Body as ServerBody;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::fixture::BenchServer;
use crate::sse::{now_micros, stamped_file};

/// A connected, approved simulated agent; dropping it ends its session.
#[derive(Debug)]
pub struct SimAgent {
    /// The host the server knows it as.
    pub host_id: i64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimAgent {
    /// Enrolls with `enroll_token` under `hostname` (its identity kept in
    /// `state_dir`) and waits until approved; a job it is sent then reports
    /// progress `rate` times a second.
    pub async fn start(
        server: &BenchServer,
        state_dir: &std::path::Path,
        hostname: &str,
        enroll_token: &str,
        rate: u32,
    ) -> anyhow::Result<SimAgent> {
        let (identity, _) =
            cairn_agent::Identity::load_or_create(state_dir).context("agent identity")?;
        let mut client = AgentGatewayClient::new(server.channel().await?);
        let (tx, rx) = mpsc::channel::<pb::AgentMessage>(256);
        let hello = pb::AgentMessage {
            seq: 0,
            body: Some(Body::Hello(pb::Hello {
                identity_token: identity.token().to_string(),
                enroll_token: enroll_token.to_string(),
                facts: Some(pb::HostFacts {
                    hostname: hostname.to_string(),
                    os: "linux".into(),
                    os_version: "Debian 12".into(),
                    arch: "x86_64".into(),
                    kernel: "6.1.0".into(),
                    agent_version: env!("CARGO_PKG_VERSION").into(),
                    restic_version: "0.17.3".into(),
                }),
                ..Default::default()
            })),
        };
        tx.send(hello).await.context("queueing Hello")?;
        let mut inbound = client
            .session(ReceiverStream::new(rx))
            .await
            .context("opening the session")?
            .into_inner();
        let (approved_tx, approved) = oneshot::channel::<Result<i64, String>>();
        let task = tokio::spawn(async move {
            let mut approved_tx = Some(approved_tx);
            let mut seq = 0u64;
            let mut next = || {
                seq += 1;
                seq
            };
            let mut reporting: Option<i64> = None;
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
            let mut beat = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    message = inbound.message() => {
                        let body = match message {
                            Ok(Some(pb::ServerMessage { body: Some(body) })) => body,
                            Ok(Some(_)) => continue,
                            Ok(None) | Err(_) => return,
                        };
                        match body {
                            ServerBody::Welcome(welcome) => {
                                let status = pb::WelcomeStatus::try_from(welcome.status);
                                let answer = match status {
                                    Ok(pb::WelcomeStatus::Approved) => Ok(welcome.host_id),
                                    _ => Err(format!("{:?}: {}", welcome.status, welcome.reason)),
                                };
                                if let Some(tx) = approved_tx.take() {
                                    let _ = tx.send(answer);
                                }
                            }
                            ServerBody::RunJob(job) => {
                                let accepted = Body::JobAccepted(pb::JobAccepted {
                                    job_id: job.job_id,
                                    accepted_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                                });
                                if tx.send(pb::AgentMessage { seq: next(), body: Some(accepted) }).await.is_err() {
                                    return;
                                }
                                reporting = Some(job.job_id);
                            }
                            _ => {}
                        }
                    }
                    _ = tick.tick(), if reporting.is_some() => {
                        let Some(job_id) = reporting else { continue };
                        let progress = Body::JobProgress(progress(job_id));
                        if tx.send(pb::AgentMessage { seq: next(), body: Some(progress) }).await.is_err() {
                            return;
                        }
                    }
                    _ = beat.tick() => {
                        let heartbeat = Body::Heartbeat(pb::Heartbeat {
                            sent_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                            running_job_ids: reporting.into_iter().collect(),
                        });
                        if tx.send(pb::AgentMessage { seq: 0, body: Some(heartbeat) }).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let host_id = match tokio::time::timeout(Duration::from_secs(60), approved).await {
            Ok(Ok(Ok(host))) => host,
            Ok(Ok(Err(refused))) => {
                bail!("the server did not approve the simulated agent: {refused}")
            }
            Ok(Err(_)) => bail!("the simulated agent's session ended before its welcome"),
            Err(_) => bail!("no welcome within 60 s"),
        };
        Ok(SimAgent { host_id, task })
    }
}

/// A restic-shaped progress report, stamped with the time it is made.
fn progress(job_id: i64) -> pb::JobProgress {
    let now = now_micros();
    pb::JobProgress {
        job_id,
        time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        percent: 42.0,
        files_done: 7_702,
        files_total: 18_234,
        bytes_done: 1_043_216_384,
        bytes_total: 4_503_216_384,
        current_files: vec![stamped_file(now)],
        seconds_elapsed: 12,
        seconds_remaining: 40,
        error_count: 0,
    }
}

/// One approved simulated agent with a backup job running, reporting
/// progress `rate` times a second: the source B3's subscribers follow.
pub async fn progress_source(
    server: &BenchServer,
    work: &std::path::Path,
    rate: u32,
) -> anyhow::Result<(i64, SimAgent)> {
    use cairn_proto::v1::admin_service_client::AdminServiceClient;
    use cairn_proto::v1::job_service_client::JobServiceClient;
    use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
    let api = server.api().await?;
    let enroll = AdminServiceClient::new(api.clone())
        .create_enrollment_token(pb::CreateEnrollmentTokenRequest {
            name: "bench".into(),
            ttl_seconds: 3_600,
            max_uses: 0,
            labels: Default::default(),
        })
        .await
        .context("creating an enrollment token")?
        .into_inner()
        .secret;
    let agent = SimAgent::start(
        server,
        &work.join("sim-source"),
        "bench-source",
        &enroll,
        rate,
    )
    .await?;
    let mut repos = RepositoryServiceClient::new(api.clone());
    let repository = repos
        .create_repository(pb::CreateRepositoryRequest {
            name: "bench".into(),
            url: work.join("sim-repository").to_string_lossy().into_owned(),
            password: "bench-repository-password".into(),
            env: Default::default(),
        })
        .await
        .context("creating a repository")?
        .into_inner()
        .repository
        .context("no repository returned")?;
    repos
        .assign_repository(pb::AssignRepositoryRequest {
            repository_id: repository.id,
            host_id: agent.host_id,
        })
        .await
        .context("assigning the repository")?;
    let job = JobServiceClient::new(api)
        .run_backup(pb::RunBackupRequest {
            schedule_id: 0,
            host_id: agent.host_id,
            repository_id: repository.id,
            spec: Some(pb::BackupSpec {
                paths: vec!["/srv".into()],
                ..Default::default()
            }),
        })
        .await
        .context("queueing the backup")?
        .into_inner()
        .job
        .context("no job returned")?;
    Ok((job.id, agent))
}
