//! `cairn ctl repos|backup|init|jobs|snapshots|restore`: repositories and the
//! jobs that use them, over the same API as everything else.

use std::path::PathBuf;

use cairn_proto::v1 as pb;
use clap::{Args, Subcommand};
use tokio_stream::StreamExt;

use crate::ctl::{Clients, call_error, date};
use crate::read_secret;

#[derive(Debug, Subcommand)]
pub(crate) enum ReposCommand {
    /// List repositories (optionally those a host may use).
    List {
        #[arg(long)]
        host: Option<i64>,
    },
    /// Create a repository. Its URL and password are sealed on the server.
    Create {
        #[arg(long)]
        name: String,
        /// The restic repository URL (a URL with credentials is better given
        /// with --url-file: argv is visible to every user of the machine).
        #[arg(long, conflicts_with = "url_file")]
        url: Option<String>,
        /// File holding the repository URL.
        #[arg(long, value_name = "FILE")]
        url_file: Option<PathBuf>,
        /// File holding the repository password, or `-` for standard input.
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
        /// File of KEY=VALUE lines: the backend's environment (AWS_*, B2_*…).
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
    },
    /// Delete a repository from Cairn (its data stays where it is).
    Delete { id: i64 },
    /// Let a host use a repository.
    Assign {
        id: i64,
        #[arg(long)]
        host: i64,
    },
    /// Stop a host from using a repository.
    Unassign {
        id: i64,
        #[arg(long)]
        host: i64,
    },
}

/// Where a job runs.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The host that runs it.
    #[arg(long)]
    host: i64,
    /// The repository it uses.
    #[arg(long = "repo")]
    repository: i64,
    /// Follow the job to its end; exit 0 only if it succeeded.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    target: Target,
    /// A path to back up (repeatable).
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// An exclude pattern (repeatable).
    #[arg(long = "exclude")]
    excludes: Vec<String>,
    /// A tag for the snapshot (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The repository holding the snapshot.
    #[arg(long = "repo")]
    repository: i64,
    /// The snapshot id (or `latest`).
    #[arg(long)]
    snapshot: String,
    /// The host that restores (any approved host).
    #[arg(long)]
    host: i64,
    /// The directory to restore into (under that host's restore roots).
    #[arg(long)]
    target: String,
    /// Restore only paths matching this pattern (repeatable).
    #[arg(long = "include")]
    includes: Vec<String>,
    /// Follow the job to its end.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List jobs, newest first.
    List {
        #[arg(long)]
        host: Option<i64>,
    },
    /// Show one job.
    Get { id: i64 },
    /// Print a job's log.
    Logs { id: i64 },
    /// Cancel a job.
    Cancel { id: i64 },
    /// Follow a job to its end; exit 0 only if it succeeded.
    Watch { id: i64 },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SnapshotsCommand {
    /// List a repository's cached snapshots, newest first.
    List {
        #[arg(long = "repo")]
        repository: i64,
        #[arg(long)]
        host: Option<i64>,
    },
    /// List the repository anew on a host.
    Refresh {
        #[arg(long = "repo")]
        repository: i64,
        #[arg(long)]
        host: Option<i64>,
    },
}

fn status_name(status: i32) -> &'static str {
    pb::JobStatus::try_from(status)
        .map_or("?", |s| s.as_str_name().trim_start_matches("JOB_STATUS_"))
}

fn kind_name(kind: i32) -> &'static str {
    pb::JobKind::try_from(kind).map_or("?", |k| k.as_str_name().trim_start_matches("JOB_KIND_"))
}

fn print_job(job: &pb::Job) {
    println!(
        "job {} {} on host {} repo {}: {}{}{}",
        job.id,
        kind_name(job.kind).to_lowercase(),
        job.host_id,
        job.repository_id,
        status_name(job.status).to_lowercase(),
        if job.warning { " (with warnings)" } else { "" },
        if job.error.is_empty() {
            String::new()
        } else {
            format!(": {}", job.error)
        }
    );
    if let Some(summary) = &job.summary {
        println!(
            "  snapshot {}: {} new, {} changed, {} unmodified files; {} bytes added",
            summary.snapshot_id,
            summary.files_new,
            summary.files_changed,
            summary.files_unmodified,
            summary.data_added
        );
    }
}

/// Follows a job; `Ok(true)` if it succeeded.
async fn watch(clients: &Clients, id: i64) -> anyhow::Result<bool> {
    let mut events = clients
        .jobs()
        .watch_job(pb::WatchJobRequest { job_id: id })
        .await
        .map_err(call_error)?
        .into_inner();
    while let Some(event) = events.next().await {
        match event.map_err(call_error)?.event {
            Some(pb::job_event::Event::Progress(p)) => eprintln!(
                "  {:.0}% {} / {} files",
                p.percent, p.files_done, p.files_total
            ),
            Some(pb::job_event::Event::Log(batch)) => {
                batch.lines.iter().for_each(|l| eprintln!("  | {}", l.text))
            }
            Some(pb::job_event::Event::Finished(job)) => {
                print_job(&job);
                return Ok(job.status == pb::JobStatus::Succeeded as i32);
            }
            _ => {}
        }
    }
    anyhow::bail!("the server stopped reporting on job {id}")
}

async fn submitted(clients: &Clients, job: Option<pb::Job>, wait: bool) -> anyhow::Result<()> {
    let job = job.ok_or_else(|| anyhow::anyhow!("the server returned no job"))?;
    print_job(&job);
    if wait && !watch(clients, job.id).await? {
        anyhow::bail!("job {} did not succeed", job.id);
    }
    Ok(())
}

fn read_env_file(
    path: &std::path::Path,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let text = read_secret(path)
        .map_err(|e| anyhow::anyhow!("cannot read --env-file {}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid line in --env-file: expected KEY=VALUE"))
        })
        .collect()
}

pub(crate) async fn repos(clients: &Clients, command: ReposCommand) -> anyhow::Result<()> {
    let mut repos = clients.repos();
    match command {
        ReposCommand::List { host } => {
            let listed = repos
                .list_repositories(pb::ListRepositoriesRequest {
                    host_id: host.unwrap_or(0),
                    page: None,
                })
                .await
                .map_err(call_error)?
                .into_inner();
            println!("{:<6} {:<24} {:<48} HOSTS", "ID", "NAME", "URL");
            for r in listed.repositories {
                let hosts: Vec<String> = r.host_ids.iter().map(i64::to_string).collect();
                println!(
                    "{:<6} {:<24} {:<48} {}",
                    r.id,
                    r.name,
                    r.url_redacted,
                    hosts.join(",")
                );
            }
        }
        ReposCommand::Create {
            name,
            url,
            url_file,
            password_file,
            env_file,
        } => {
            let url = match (url, url_file) {
                (Some(url), _) => url,
                (None, Some(path)) => read_secret(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read --url-file {}: {e}", path.display())
                })?,
                (None, None) => anyhow::bail!("give --url or --url-file"),
            };
            let password = read_secret(&password_file).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read --password-file {}: {e}",
                    password_file.display()
                )
            })?;
            let env = env_file
                .as_deref()
                .map(read_env_file)
                .transpose()?
                .unwrap_or_default();
            let repo = repos
                .create_repository(pb::CreateRepositoryRequest {
                    name,
                    url,
                    password,
                    env,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .repository
                .unwrap_or_default();
            println!(
                "created repository {} ({}) at {}",
                repo.id, repo.name, repo.url_redacted
            );
        }
        ReposCommand::Delete { id } => {
            repos
                .delete_repository(pb::DeleteRepositoryRequest { repository_id: id })
                .await
                .map_err(call_error)?;
            println!("deleted repository {id}");
        }
        ReposCommand::Assign { id, host } => {
            repos
                .assign_repository(pb::AssignRepositoryRequest {
                    repository_id: id,
                    host_id: host,
                })
                .await
                .map_err(call_error)?;
            println!("host {host} may now use repository {id}");
        }
        ReposCommand::Unassign { id, host } => {
            repos
                .unassign_repository(pb::UnassignRepositoryRequest {
                    repository_id: id,
                    host_id: host,
                })
                .await
                .map_err(call_error)?;
            println!("host {host} may no longer use repository {id}");
        }
    }
    Ok(())
}

pub(crate) async fn backup(clients: &Clients, args: BackupArgs) -> anyhow::Result<()> {
    let job = clients
        .jobs()
        .run_backup(pb::RunBackupRequest {
            schedule_id: 0,
            host_id: args.target.host,
            repository_id: args.target.repository,
            spec: Some(pb::BackupSpec {
                paths: args.paths,
                excludes: args.excludes,
                tags: args.tags,
                ..Default::default()
            }),
        })
        .await
        .map_err(call_error)?
        .into_inner()
        .job;
    submitted(clients, job, args.target.wait).await
}

pub(crate) async fn init(clients: &Clients, target: Target) -> anyhow::Result<()> {
    let job = clients
        .jobs()
        .run_maintenance(pb::RunMaintenanceRequest {
            host_id: target.host,
            repository_id: target.repository,
            spec: Some(pb::run_maintenance_request::Spec::Init(
                pb::InitSpec::default(),
            )),
        })
        .await
        .map_err(call_error)?
        .into_inner()
        .job;
    submitted(clients, job, target.wait).await
}

pub(crate) async fn restore(clients: &Clients, args: RestoreArgs) -> anyhow::Result<()> {
    let job = clients
        .snapshots()
        .restore_snapshot(pb::RestoreSnapshotRequest {
            repository_id: args.repository,
            snapshot_id: args.snapshot,
            includes: args.includes,
            target_host_id: args.host,
            target_path: args.target,
            ..Default::default()
        })
        .await
        .map_err(call_error)?
        .into_inner()
        .job;
    submitted(clients, job, args.wait).await
}

pub(crate) async fn jobs(clients: &Clients, command: JobsCommand) -> anyhow::Result<()> {
    let mut jobs = clients.jobs();
    match command {
        JobsCommand::List { host } => {
            let listed = jobs
                .list_jobs(pb::ListJobsRequest {
                    host_id: host.unwrap_or(0),
                    ..Default::default()
                })
                .await
                .map_err(call_error)?
                .into_inner();
            println!(
                "{:<6} {:<10} {:<6} {:<6} {:<11} {:<10} ERROR",
                "ID", "KIND", "HOST", "REPO", "STATUS", "CREATED"
            );
            for j in listed.jobs {
                println!(
                    "{:<6} {:<10} {:<6} {:<6} {:<11} {:<10} {}",
                    j.id,
                    kind_name(j.kind).to_lowercase(),
                    j.host_id,
                    j.repository_id,
                    status_name(j.status).to_lowercase(),
                    date(j.created_at.as_ref()),
                    j.error
                );
            }
        }
        JobsCommand::Get { id } => {
            let job = jobs
                .get_job(pb::GetJobRequest { job_id: id })
                .await
                .map_err(call_error)?
                .into_inner()
                .job
                .unwrap_or_default();
            print_job(&job);
        }
        JobsCommand::Logs { id } => {
            // The log comes in pages; follow them to the end.
            let mut page_token = String::new();
            loop {
                let logs = jobs
                    .get_job_logs(pb::GetJobLogsRequest {
                        job_id: id,
                        page: Some(pb::PageRequest {
                            page_size: 0,
                            page_token,
                        }),
                    })
                    .await
                    .map_err(call_error)?
                    .into_inner();
                logs.lines.iter().for_each(|l| println!("{}", l.text));
                page_token = logs.page.map(|p| p.next_page_token).unwrap_or_default();
                if page_token.is_empty() {
                    break;
                }
            }
        }
        JobsCommand::Cancel { id } => {
            let job = jobs
                .cancel_job(pb::CancelJobRequest {
                    job_id: id,
                    reason: "cancelled from cairn ctl".into(),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .job
                .unwrap_or_default();
            print_job(&job);
        }
        JobsCommand::Watch { id } => {
            if !watch(clients, id).await? {
                anyhow::bail!("job {id} did not succeed");
            }
        }
    }
    Ok(())
}

pub(crate) async fn snapshots(clients: &Clients, command: SnapshotsCommand) -> anyhow::Result<()> {
    let mut snapshots = clients.snapshots();
    match command {
        SnapshotsCommand::List { repository, host } => {
            let listed = snapshots
                .list_snapshots(pb::ListSnapshotsRequest {
                    repository_id: repository,
                    host_id: host.unwrap_or(0),
                    ..Default::default()
                })
                .await
                .map_err(call_error)?
                .into_inner();
            println!(
                "{:<10} {:<10} {:<24} {:<24} PATHS",
                "ID", "TIME", "HOST", "TAGS"
            );
            for s in listed.snapshots {
                println!(
                    "{:<10} {:<10} {:<24} {:<24} {}",
                    s.short_id,
                    date(s.time.as_ref()),
                    s.hostname,
                    s.tags.join(","),
                    s.paths.join(" ")
                );
            }
        }
        SnapshotsCommand::Refresh { repository, host } => {
            let job = snapshots
                .refresh_snapshots(pb::RefreshSnapshotsRequest {
                    repository_id: repository,
                    host_id: host.unwrap_or(0),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .job;
            submitted(clients, job, true).await?;
        }
    }
    Ok(())
}
