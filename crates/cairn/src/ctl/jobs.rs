//! `cairn ctl backup|init|jobs`: start jobs on a host, follow, cancel and
//! inspect them.

use cairn_proto::v1 as pb;
use clap::{Args, Subcommand};
use tokio_stream::StreamExt;

use super::client::{Clients, call_error, each_page};
use super::format::{date, job_kind_name, job_status_name};

/// Where a job runs.
#[derive(Debug, Args)]
pub(super) struct Target {
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
pub(super) struct BackupArgs {
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
pub(super) struct CheckArgs {
    #[command(flatten)]
    target: Target,
    /// Read back every pack file too (slow and costly).
    #[arg(long)]
    read_all_data: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs of this host.
        #[arg(long)]
        host: Option<i64>,
        /// Only jobs of this kind (backup, check, restore, ...).
        #[arg(long)]
        kind: Option<String>,
        /// Only jobs in this state (queued, running, succeeded, failed, ...).
        #[arg(long)]
        status: Option<String>,
        /// Only jobs started this way (manual, api, schedule, catch_up, maintenance).
        #[arg(long)]
        trigger: Option<String>,
    },
    /// Show one job.
    Get {
        /// The job's id.
        id: i64,
    },
    /// Print a job's log.
    Logs {
        /// The job's id.
        id: i64,
    },
    /// Cancel a job.
    Cancel {
        /// The job's id.
        id: i64,
    },
    /// Follow a job to its end; exit 0 only if it succeeded.
    Watch {
        /// The job's id.
        id: i64,
    },
}

fn print_job(job: &pb::Job) {
    println!(
        "job {} {} on host {} repo {}: {}{}{}",
        job.id,
        job_kind_name(job.kind).to_lowercase(),
        job.host_id,
        job.repository_id,
        job_status_name(job.status).to_lowercase(),
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

/// Prints a job just submitted and, with `wait`, follows it to its end.
pub(super) async fn submitted(
    clients: &Clients,
    job: Option<pb::Job>,
    wait: bool,
) -> anyhow::Result<()> {
    let job = job.ok_or_else(|| anyhow::anyhow!("the server returned no job"))?;
    print_job(&job);
    if wait && !watch(clients, job.id).await? {
        anyhow::bail!("job {} did not succeed", job.id);
    }
    Ok(())
}

pub(super) async fn backup(clients: &Clients, args: BackupArgs) -> anyhow::Result<()> {
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

pub(super) async fn init(clients: &Clients, target: Target) -> anyhow::Result<()> {
    let spec = pb::run_maintenance_request::Spec::Init(pb::InitSpec::default());
    maintenance_job(clients, target, spec).await
}

pub(super) async fn check(clients: &Clients, args: CheckArgs) -> anyhow::Result<()> {
    let spec = pb::run_maintenance_request::Spec::Check(pb::CheckSpec {
        read_all_data: args.read_all_data,
        read_data_subset: None,
    });
    maintenance_job(clients, args.target, spec).await
}

async fn maintenance_job(
    clients: &Clients,
    target: Target,
    spec: pb::run_maintenance_request::Spec,
) -> anyhow::Result<()> {
    let job = clients
        .jobs()
        .run_maintenance(pb::RunMaintenanceRequest {
            host_id: target.host,
            repository_id: target.repository,
            spec: Some(spec),
        })
        .await
        .map_err(call_error)?
        .into_inner()
        .job;
    submitted(clients, job, target.wait).await
}

pub(super) async fn run(clients: &Clients, command: JobsCommand) -> anyhow::Result<()> {
    let mut jobs = clients.jobs();
    match command {
        JobsCommand::List {
            host,
            kind,
            status,
            trigger,
        } => {
            use cairn_domain::{JobKind, JobStatus, Trigger};
            use cairn_proto::convert::{job_kind_to_pb, job_status_to_pb, trigger_to_pb};
            fn word<T>(
                what: &str,
                value: Option<String>,
                parse: impl Fn(&str) -> Option<T>,
            ) -> anyhow::Result<Option<T>> {
                value
                    .map(|v| parse(&v).ok_or_else(|| anyhow::anyhow!("unknown {what} {v:?}")))
                    .transpose()
            }
            let kind = word("kind", kind, JobKind::parse)?.map_or(0, |k| job_kind_to_pb(k) as i32);
            let status =
                word("status", status, JobStatus::parse)?.map_or(0, |s| job_status_to_pb(s) as i32);
            let trigger =
                word("trigger", trigger, Trigger::parse)?.map_or(0, |t| trigger_to_pb(t) as i32);
            let listed = jobs
                .list_jobs(pb::ListJobsRequest {
                    host_id: host.unwrap_or(0),
                    kind,
                    status,
                    trigger,
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
                    job_kind_name(j.kind).to_lowercase(),
                    j.host_id,
                    j.repository_id,
                    job_status_name(j.status).to_lowercase(),
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
            each_page(0, |page| {
                let mut jobs = jobs.clone();
                async move {
                    let listed = jobs
                        .get_job_logs(pb::GetJobLogsRequest {
                            job_id: id,
                            page: Some(page),
                        })
                        .await
                        .map_err(call_error)?
                        .into_inner();
                    listed.lines.iter().for_each(|l| println!("{}", l.text));
                    Ok(listed.page)
                }
            })
            .await?;
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
