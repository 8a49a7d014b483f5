//! `cairn ctl schedules|maintenance`: backup schedules, missed runs and
//! maintenance plans.

use cairn_proto::v1 as pb;
use clap::{Args, Subcommand};

use crate::ctl::{Clients, call_error, date};

#[derive(Debug, Subcommand)]
pub(crate) enum SchedulesCommand {
    /// List schedules (with their next firing and whether they are overdue).
    List {
        #[arg(long)]
        host: Option<i64>,
    },
    /// Create a schedule.
    Create(CreateSchedule),
    /// Turn a schedule on.
    Enable { id: i64 },
    /// Turn a schedule off.
    Disable { id: i64 },
    /// Delete a schedule.
    Delete { id: i64 },
    /// List missed runs and how catch-up settled them.
    Missed {
        #[arg(long)]
        schedule: Option<i64>,
        #[arg(long)]
        host: Option<i64>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CreateSchedule {
    #[arg(long)]
    host: i64,
    #[arg(long = "repo")]
    repository: i64,
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
    #[arg(long = "exclude")]
    excludes: Vec<String>,
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// A hook defined in the host's agent.toml (repeatable).
    #[arg(long = "hook")]
    hooks: Vec<String>,
    /// What to do with firings missed while the host was away: once, skip or all.
    #[arg(long, default_value = "once")]
    catch_up: String,
    /// Create it turned off.
    #[arg(long)]
    disabled: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MaintenanceCommand {
    /// List maintenance plans.
    List {
        #[arg(long)]
        host: Option<i64>,
    },
    /// Create or replace the plan of a host's use of a repository.
    Set(SetPlan),
    /// Delete a plan.
    Delete { id: i64 },
}

#[derive(Debug, Args)]
pub(crate) struct SetPlan {
    #[arg(long)]
    host: i64,
    #[arg(long = "repo")]
    repository: i64,
    #[arg(long, default_value_t = 0)]
    keep_last: u32,
    #[arg(long, default_value_t = 0)]
    keep_hourly: u32,
    #[arg(long, default_value_t = 0)]
    keep_daily: u32,
    #[arg(long, default_value_t = 0)]
    keep_weekly: u32,
    #[arg(long, default_value_t = 0)]
    keep_monthly: u32,
    #[arg(long, default_value_t = 0)]
    keep_yearly: u32,
    /// Keep snapshots with this tag (repeatable).
    #[arg(long = "keep-tag")]
    keep_tags: Vec<String>,
    /// Forget by the policy this often (e.g. 1d).
    #[arg(long, value_name = "DURATION")]
    forget_every: Option<String>,
    /// Prune this often (e.g. 7d).
    #[arg(long, value_name = "DURATION")]
    prune_every: Option<String>,
    /// Prune's limit on unused space, in percent.
    #[arg(long, value_name = "PERCENT")]
    max_unused_percent: Option<f64>,
    /// Check this often (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    check_every: Option<String>,
    /// Read this percentage of the data at each check.
    #[arg(long, value_name = "PERCENT")]
    read_data_percent: Option<f64>,
    /// Create it turned off.
    #[arg(long)]
    disabled: bool,
}

fn seconds(flag: &str, value: &Option<String>) -> anyhow::Result<u64> {
    match value {
        None => Ok(0),
        Some(text) => cairn_server::config::parse_duration(text)
            .map(|d| d.as_secs())
            .map_err(|e| anyhow::anyhow!("invalid --{flag}: {e}")),
    }
}

fn catch_up(policy: &str) -> anyhow::Result<pb::CatchUpPolicy> {
    match policy {
        "once" => Ok(pb::CatchUpPolicy::Once),
        "skip" => Ok(pb::CatchUpPolicy::Skip),
        "all" => Ok(pb::CatchUpPolicy::All),
        _ => anyhow::bail!("invalid --catch-up {policy:?}: use once, skip or all"),
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

pub(crate) async fn schedules(clients: &Clients, command: SchedulesCommand) -> anyhow::Result<()> {
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
            let created = schedules
                .create_schedule(pb::CreateScheduleRequest {
                    host_id: c.host,
                    repository_id: c.repository,
                    name: c.name,
                    cron: c.cron,
                    timezone: c.timezone,
                    paths: c.paths,
                    excludes: c.excludes,
                    tags: c.tags,
                    hooks: c.hooks,
                    catch_up: catch_up(&c.catch_up)? as i32,
                    disabled: c.disabled,
                    ..Default::default()
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .schedule
                .unwrap_or_default();
            println!("created schedule {}", created.id);
            print_schedule(&created);
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
                let state = pb::PendingRunState::try_from(r.state).map_or("?", |s| {
                    s.as_str_name().trim_start_matches("PENDING_RUN_STATE_")
                });
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
    schedules: &mut cairn_proto::v1::schedule_service_client::ScheduleServiceClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            crate::ctl::Bearer,
        >,
    >,
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

pub(crate) async fn maintenance(
    clients: &Clients,
    command: MaintenanceCommand,
) -> anyhow::Result<()> {
    let mut schedules = clients.schedules();
    match command {
        MaintenanceCommand::List { host } => {
            let plans = schedules
                .list_maintenance_plans(pb::ListMaintenancePlansRequest {
                    host_id: host.unwrap_or(0),
                    ..Default::default()
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .plans;
            println!(
                "{:<5} {:<6} {:<5} {:<8} {:<12} {:<12} {:<12}",
                "ID", "HOST", "REPO", "ENABLED", "NEXT FORGET", "NEXT PRUNE", "NEXT CHECK"
            );
            for p in plans {
                println!(
                    "{:<5} {:<6} {:<5} {:<8} {:<12} {:<12} {:<12}",
                    p.id,
                    p.host_id,
                    p.repository_id,
                    if p.enabled { "on" } else { "off" },
                    date(p.next_forget_at.as_ref()),
                    date(p.next_prune_at.as_ref()),
                    date(p.next_check_at.as_ref())
                );
            }
        }
        MaintenanceCommand::Set(s) => {
            let plan = schedules
                .upsert_maintenance_plan(pb::UpsertMaintenancePlanRequest {
                    host_id: s.host,
                    repository_id: s.repository,
                    enabled: !s.disabled,
                    retention: Some(pb::RetentionPolicy {
                        keep_last: s.keep_last,
                        keep_hourly: s.keep_hourly,
                        keep_daily: s.keep_daily,
                        keep_weekly: s.keep_weekly,
                        keep_monthly: s.keep_monthly,
                        keep_yearly: s.keep_yearly,
                        keep_tags: s.keep_tags,
                        ..Default::default()
                    }),
                    forget_every_seconds: seconds("forget-every", &s.forget_every)?,
                    prune_every_seconds: seconds("prune-every", &s.prune_every)?,
                    prune_max_unused: s.max_unused_percent.map(|p| pb::MaxUnused {
                        limit: Some(pb::max_unused::Limit::Percent(p)),
                    }),
                    check_every_seconds: seconds("check-every", &s.check_every)?,
                    check_read_data_subset: s.read_data_percent.map(|p| pb::ReadDataSubset {
                        subset: Some(pb::read_data_subset::Subset::Percent(p)),
                    }),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .plan
                .unwrap_or_default();
            println!(
                "maintenance plan {} for host {} and repository {}",
                plan.id, plan.host_id, plan.repository_id
            );
        }
        MaintenanceCommand::Delete { id } => {
            schedules
                .delete_maintenance_plan(pb::DeleteMaintenancePlanRequest { plan_id: id })
                .await
                .map_err(call_error)?;
            println!("deleted maintenance plan {id}");
        }
    }
    Ok(())
}
