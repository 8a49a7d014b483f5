//! `cairn ctl`: a CLI over the gRPC API. The token comes from `CAIRN_TOKEN`
//! or a file (`--token-file`, `CAIRN_TOKEN_FILE`), never from a flag: argv is
//! visible to every user of the machine.

mod alerts;
mod audit;
mod client;
mod enroll;
mod format;
mod hosts;
mod jobs;
mod maintenance;
mod notifications;
mod repos;
mod schedules;
mod server;
mod snapshots;
mod tokens;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::init_cli_logging;

#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// The server's URL.
    #[arg(
        long,
        env = "CAIRN_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// Pin the server's TLS certificate by fingerprint (`sha256:…`), as a
    /// self-signed server needs.
    #[arg(
        long,
        env = "CAIRN_SERVER_FINGERPRINT",
        global = true,
        value_name = "FINGERPRINT"
    )]
    server_fingerprint: Option<String>,
    /// Trust server certificates from the CAs in this PEM file.
    #[arg(long, env = "CAIRN_CA_FILE", global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// File holding the API token (else CAIRN_TOKEN).
    #[arg(long, env = "CAIRN_TOKEN_FILE", value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// Send the token over plain `http://` to a server that is not on this
    /// machine (anyone on the path can read it). Loopback needs no flag.
    #[arg(long, env = "CAIRN_ALLOW_PLAINTEXT", global = true)]
    allow_plaintext: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Show who the token acts as and what it may do.
    Whoami,
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Manage operators.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage hosts: approve, reject, revoke, delete, label.
    #[command(subcommand)]
    Hosts(hosts::HostsCommand),
    /// Manage enrollment tokens for agents.
    #[command(subcommand, name = "enroll-tokens")]
    EnrollTokens(enroll::EnrollCommand),
    /// Manage repositories.
    #[command(subcommand)]
    Repos(repos::ReposCommand),
    /// Initialise a repository, from a host.
    Init(jobs::Target),
    /// Check a repository's integrity now, from a host.
    Check(jobs::CheckArgs),
    /// Back a host up now.
    Backup(jobs::BackupArgs),
    /// Follow, cancel and inspect jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// List and refresh snapshots.
    #[command(subcommand)]
    Snapshots(snapshots::SnapshotsCommand),
    /// Restore a snapshot on any approved host.
    Restore(snapshots::RestoreArgs),
    /// Manage backup schedules and see missed runs.
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// Manage forget, prune and check plans.
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// See and acknowledge alerts; tune their rules and maintenance windows.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Manage notification channels, test them, see their deliveries.
    #[command(subcommand)]
    Notifications(notifications::NotificationsCommand),
    /// Show or change the server's run-time settings (admin).
    #[command(subcommand)]
    Settings(server::SettingsCommand),
    /// Read and export the audit log (admin).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The server's health: its database and background workers (admin).
    /// Exits non-zero when it is degraded.
    Status,
}

pub(crate) async fn run(args: CtlArgs) -> ExitCode {
    init_cli_logging();
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(args: CtlArgs) -> anyhow::Result<()> {
    let clients = client::connect(&args).await?;
    match args.command {
        CtlCommand::Whoami => users::whoami(&clients).await,
        CtlCommand::Tokens(command) => tokens::run(&clients, command).await,
        CtlCommand::Users(command) => users::run(&clients, command).await,
        CtlCommand::Hosts(command) => hosts::run(&clients, command).await,
        CtlCommand::EnrollTokens(command) => enroll::run(&clients, command).await,
        CtlCommand::Repos(command) => repos::run(&clients, command).await,
        CtlCommand::Settings(command) => server::settings(&clients, command).await,
        CtlCommand::Status => server::status(&clients).await,
        CtlCommand::Audit(command) => audit::run(&clients, command).await,
        CtlCommand::Init(target) => jobs::init(&clients, target).await,
        CtlCommand::Check(args) => jobs::check(&clients, args).await,
        CtlCommand::Backup(args) => jobs::backup(&clients, args).await,
        CtlCommand::Jobs(command) => jobs::run(&clients, command).await,
        CtlCommand::Snapshots(command) => snapshots::run(&clients, command).await,
        CtlCommand::Restore(args) => snapshots::restore(&clients, args).await,
        CtlCommand::Schedules(command) => schedules::run(&clients, command).await,
        CtlCommand::Maintenance(command) => maintenance::run(&clients, command).await,
        CtlCommand::Alerts(command) => alerts::run(&clients, command).await,
        CtlCommand::Notifications(command) => notifications::run(&clients, command).await,
    }
}
