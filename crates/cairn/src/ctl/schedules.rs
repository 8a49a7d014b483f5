//! `cairn ctl schedules`: backup schedules and the runs they missed.

use cairn_proto::v1 as pb;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use clap::{Args, Subcommand};

use super::client::{Authed, Clients, call_error};
use super::format::{date, pending_state_name};

#[derive(Debug, Subcommand)]
pub(super) enum SchedulesCommand {
    /// List schedules (with their next firing and whether they are overdue).
    List {
        /// Only this host's (its id).
        #[arg(long)]
        host: Option<i64>,
    },
    /// Create a schedule.
    Create(CreateSchedule),
    /// Replace a schedule's fields (its host and repository stay).
    Edit(EditSchedule),
    /// Turn a schedule on.
    Enable {
        /// The schedule's id.
        id: i64,
    },
    /// Turn a schedule off.
    Disable {
        /// The schedule's id.
        id: i64,
    },
    /// Delete a schedule.
    Delete {
        /// The schedule's id.
        id: i64,
    },
    /// List missed runs and how catch-up settled them.
    Missed {
        /// Only this schedule's (its id).
        #[arg(long)]
        schedule: Option<i64>,
        /// Only this host's (its id).
        #[arg(long)]
        host: Option<i64>,
    },
}

#[derive(Debug, Args)]
pub(super) struct CreateSchedule {
    /// The host that backs up (its id).
    #[arg(long)]
    host: i64,
    /// The repository it backs up to (its id).
    #[arg(long = "repo")]
    repository: i64,
    #[command(flatten)]
    fields: ScheduleArgs,
    /// Create it turned off.
    #[arg(long)]
    disabled: bool,
}

#[derive(Debug, Args)]
pub(super) struct EditSchedule {
    /// The schedule; every field below replaces the one it has (whether it
    /// is on or off stays as it is: see enable and disable).
    id: i64,
    #[command(flatten)]
    fields: ScheduleArgs,
}

/// What a schedule does and when, as create and edit take it.
#[derive(Debug, Args)]
pub(super) struct ScheduleArgs {
    /// A name for it, unique on its host.
    #[arg(long)]
    name: String,
    /// Cron expression: five fields, or six with seconds (write `5-59/5`, not `5/5`).
    #[arg(long)]
    cron: String,
    /// IANA time zone the cron is read in.
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// A path to back up (repeatable).
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// An exclude pattern, as restic's --exclude (repeatable).
    #[arg(long = "exclude")]
    excludes: Vec<String>,
    /// A tag for its snapshots (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// A hook defined in the host's agent.toml (repeatable).
    #[arg(long = "hook")]
    hooks: Vec<String>,
    /// What to do with firings missed while the host was away: once, skip or all.
    #[arg(long, default_value = "once")]
    catch_up: String,
    /// Upload limit in KiB/s (none by default).
    #[arg(long, value_name = "KIB")]
    limit_upload_kib: Option<u32>,
    /// Download limit in KiB/s (none by default).
    #[arg(long, value_name = "KIB")]
    limit_download_kib: Option<u32>,
}

fn catch_up(policy: &str) -> anyhow::Result<pb::CatchUpPolicy> {
    match cairn_domain::CatchUp::parse(policy) {
        Some(policy) => Ok(cairn_proto::convert::catch_up_to_pb(policy)),
        None => anyhow::bail!("invalid --catch-up {policy:?}: use once, skip or all"),
    }
}

fn print_schedule(s: &pb::Schedule) {
    println!(
        "{:<5} {:<6} {:<5} {:<20} {:<18} {:<16} {:<8} {:<10} {}",
        s.id,
        s.host_id,
        s.repository_id,
        s.name,
        s.cron,
        s.timezone,
        if s.enabled { "on" } else { "off" },
        date(s.next_fire_at.as_ref()),
        if s.overdue { "OVERDUE" } else { "" }
    );
}

pub(super) async fn run(clients: &Clients, command: SchedulesCommand) -> anyhow::Result<()> {
    let mut schedules = clients.schedules();
    match command {
        SchedulesCommand::List { host } => {
            let listed = schedules
                .list_schedules(pb::ListSchedulesRequest {
                    host_id: host.unwrap_or(0),
                    ..Default::default()
                })
                .await
                .map_err(call_error)?
                .into_inner();
            println!(
                "{:<5} {:<6} {:<5} {:<20} {:<18} {:<16} {:<8} {:<10} STATE",
                "ID", "HOST", "REPO", "NAME", "CRON", "TIMEZONE", "ENABLED", "NEXT"
            );
            listed.schedules.iter().for_each(print_schedule);
        }
        SchedulesCommand::Create(c) => {
            let f = c.fields;
            let created = schedules
                .create_schedule(pb::CreateScheduleRequest {
                    host_id: c.host,
                    repository_id: c.repository,
                    catch_up: catch_up(&f.catch_up)? as i32,
                    name: f.name,
                    cron: f.cron,
                    timezone: f.timezone,
                    paths: f.paths,
                    excludes: f.excludes,
                    tags: f.tags,
                    hooks: f.hooks,
                    limit_upload_kib: f.limit_upload_kib.unwrap_or(0),
                    limit_download_kib: f.limit_download_kib.unwrap_or(0),
                    disabled: c.disabled,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .schedule
                .unwrap_or_default();
            println!("created schedule {}", created.id);
            print_schedule(&created);
        }
        SchedulesCommand::Edit(e) => {
            let f = e.fields;
            let edited = schedules
                .update_schedule(pb::UpdateScheduleRequest {
                    schedule_id: e.id,
                    repository_id: 0,
                    catch_up: catch_up(&f.catch_up)? as i32,
                    name: f.name,
                    cron: f.cron,
                    timezone: f.timezone,
                    paths: f.paths,
                    excludes: f.excludes,
                    tags: f.tags,
                    hooks: f.hooks,
                    limit_upload_kib: f.limit_upload_kib.unwrap_or(0),
                    limit_download_kib: f.limit_download_kib.unwrap_or(0),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .schedule
                .unwrap_or_default();
            println!("edited schedule {}", edited.id);
            print_schedule(&edited);
        }
        SchedulesCommand::Enable { id } => set_enabled(&mut schedules, id, true).await?,
        SchedulesCommand::Disable { id } => set_enabled(&mut schedules, id, false).await?,
        SchedulesCommand::Delete { id } => {
            schedules
                .delete_schedule(pb::DeleteScheduleRequest { schedule_id: id })
                .await
                .map_err(call_error)?;
            println!("deleted schedule {id}");
        }
        SchedulesCommand::Missed { schedule, host } => {
            let runs = schedules
                .list_pending_runs(pb::ListPendingRunsRequest {
                    schedule_id: schedule.unwrap_or(0),
                    host_id: host.unwrap_or(0),
                    include_resolved: true,
                    ..Default::default()
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .pending_runs;
            println!(
                "{:<6} {:<9} {:<6} {:<12} {:<9} {:<6} REASON",
                "ID", "SCHEDULE", "HOST", "FIRE DATE", "STATE", "JOB"
            );
            for r in runs {
                let state = pending_state_name(r.state);
                println!(
                    "{:<6} {:<9} {:<6} {:<12} {:<9} {:<6} {}",
                    r.id,
                    r.schedule_id,
                    r.host_id,
                    date(r.fire_at.as_ref()),
                    state.to_lowercase(),
                    r.job_id,
                    r.reason
                );
            }
        }
    }
    Ok(())
}

async fn set_enabled(
    schedules: &mut ScheduleServiceClient<Authed>,
    id: i64,
    enabled: bool,
) -> anyhow::Result<()> {
    let s = schedules
        .set_schedule_enabled(pb::SetScheduleEnabledRequest {
            schedule_id: id,
            enabled,
        })
        .await
        .map_err(call_error)?
        .into_inner()
        .schedule
        .unwrap_or_default();
    print_schedule(&s);
    Ok(())
}
