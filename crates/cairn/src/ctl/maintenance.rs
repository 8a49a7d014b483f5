//! `cairn ctl maintenance`: forget, prune and check plans per host and
//! repository.

use cairn_proto::v1 as pb;
use clap::{Args, Subcommand};

use super::client::{Clients, call_error};
use super::format::date;

#[derive(Debug, Subcommand)]
pub(super) enum MaintenanceCommand {
    /// List maintenance plans.
    List {
        /// Only this host's plans (its id).
        #[arg(long)]
        host: Option<i64>,
    },
    /// Create or replace the plan of a host's use of a repository.
    Set(SetPlan),
    /// Delete a plan.
    Delete {
        /// The plan's id.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub(super) struct SetPlan {
    /// The host whose snapshots it keeps and forgets (its id).
    #[arg(long)]
    host: i64,
    /// The repository (its id).
    #[arg(long = "repo")]
    repository: i64,
    /// Keep the last N snapshots (0: not by this rule).
    #[arg(long, default_value_t = 0)]
    keep_last: u32,
    /// Keep the last snapshot of each of the last N hours (0: not by this rule).
    #[arg(long, default_value_t = 0)]
    keep_hourly: u32,
    /// Keep the last snapshot of each of the last N days (0: not by this rule).
    #[arg(long, default_value_t = 0)]
    keep_daily: u32,
    /// Keep the last snapshot of each of the last N weeks (0: not by this rule).
    #[arg(long, default_value_t = 0)]
    keep_weekly: u32,
    /// Keep the last snapshot of each of the last N months (0: not by this rule).
    #[arg(long, default_value_t = 0)]
    keep_monthly: u32,
    /// Keep the last snapshot of each of the last N years (0: not by this rule).
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

pub(super) async fn run(clients: &Clients, command: MaintenanceCommand) -> anyhow::Result<()> {
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
