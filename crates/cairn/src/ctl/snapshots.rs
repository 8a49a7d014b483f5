//! `cairn ctl snapshots|restore`: a repository's snapshots as the server
//! last saw them, a fresh listing from a host, and restores.

use cairn_proto::v1 as pb;
use clap::{Args, Subcommand};

use super::client::{Clients, call_error};
use super::format::date;
use super::jobs::submitted;

#[derive(Debug, Args)]
pub(super) struct RestoreArgs {
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
pub(super) enum SnapshotsCommand {
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

pub(super) async fn restore(clients: &Clients, args: RestoreArgs) -> anyhow::Result<()> {
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

pub(super) async fn run(clients: &Clients, command: SnapshotsCommand) -> anyhow::Result<()> {
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
