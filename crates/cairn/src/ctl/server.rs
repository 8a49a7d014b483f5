//! `cairn ctl settings` and `cairn ctl status`: the server's run-time
//! settings and its health, as the console shows them.

use cairn_proto::v1 as pb;
use clap::Subcommand;

use super::client::{Clients, call_error};

#[derive(Debug, Subcommand)]
pub(super) enum SettingsCommand {
    /// Show the run-time settings.
    Get,
    /// Change run-time settings; those not named stay as they are.
    Set {
        /// Days job logs are kept.
        #[arg(long)]
        job_log_retention_days: Option<u32>,
        /// Days audit entries are kept (0: forever).
        #[arg(long)]
        audit_retention_days: Option<u32>,
    },
}

fn print_settings(settings: Option<pb::Settings>) {
    let s = settings.unwrap_or_default();
    println!("job_log_retention_days = {}", s.job_log_retention_days);
    println!(
        "allow_private_webhook_targets = {} (server configuration: allow_private_notification_targets)",
        s.allow_private_webhook_targets
    );
    println!("audit_retention_days = {}", s.audit_retention_days);
}

pub(super) async fn settings(clients: &Clients, command: SettingsCommand) -> anyhow::Result<()> {
    let mut admin = clients.admin();
    let settings = match command {
        SettingsCommand::Get => {
            admin
                .get_settings(pb::GetSettingsRequest {})
                .await
                .map_err(call_error)?
                .into_inner()
                .settings
        }
        SettingsCommand::Set {
            job_log_retention_days,
            audit_retention_days,
        } => {
            admin
                .update_settings(pb::UpdateSettingsRequest {
                    job_log_retention_days,
                    // Server configuration, not a run-time setting.
                    allow_private_webhook_targets: None,
                    audit_retention_days,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .settings
        }
    };
    print_settings(settings);
    Ok(())
}

fn worker_state(state: i32) -> &'static str {
    match pb::WorkerState::try_from(state) {
        Ok(pb::WorkerState::Running) => "running",
        Ok(pb::WorkerState::Stopped) => "stopped",
        Ok(pb::WorkerState::Exited) => "exited",
        Ok(pb::WorkerState::Panicked) => "panicked",
        _ => "?",
    }
}

/// Prints the server's health; fails when it is degraded, so scripts can
/// alert on the exit status.
pub(super) async fn status(clients: &Clients) -> anyhow::Result<()> {
    let status = clients
        .admin()
        .get_server_status(pb::GetServerStatusRequest {})
        .await
        .map_err(call_error)?
        .into_inner();
    println!(
        "database: {}",
        if status.database_ok {
            "ok"
        } else {
            "NOT ANSWERING"
        }
    );
    println!(
        "database writes: {}",
        if status.storage_fault.is_empty() {
            "ok".to_string()
        } else {
            format!("FAILING: {}", status.storage_fault)
        }
    );
    for w in &status.workers {
        let detail = if w.message.is_empty() {
            String::new()
        } else {
            format!(": {}", w.message)
        };
        println!("worker {:<24} {}{detail}", w.name, worker_state(w.state));
    }
    if status.degraded || !status.database_ok {
        anyhow::bail!("the server is degraded");
    }
    Ok(())
}
