//! `cairn ctl snapshots|restore`: a repository's snapshots as the server
//! last saw them, a fresh listing from a host, and restores.

use cairn_domain::RestoreOverwrite;
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
    /// Read back what was written and compare (restic's `--verify`).
    #[arg(long)]
    verify: bool,
    /// Download limit in KiB/s.
    #[arg(long = "limit-download", default_value_t = 0)]
    limit_download: u32,
    /// What to do with files already there (restic's `--overwrite`): always,
    /// if-changed, if-newer or never. Other than always, it needs restic 0.17
    /// on the host.
    #[arg(long, value_name = "MODE", default_value = "always", value_parser = overwrite_mode)]
    overwrite: RestoreOverwrite,
    /// Follow the job to its end.
    #[arg(long)]
    wait: bool,
}

/// An overwrite mode, spelled as restic spells it.
fn overwrite_mode(text: &str) -> Result<RestoreOverwrite, String> {
    RestoreOverwrite::parse(text).ok_or_else(|| {
        let modes: Vec<&str> = RestoreOverwrite::ALL.iter().map(|m| m.as_str()).collect();
        format!("not a mode: say {}", modes.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub(super) enum SnapshotsCommand {
    /// List a repository's cached snapshots, newest first.
    List {
        /// The repository (its id).
        #[arg(long = "repo")]
        repository: i64,
        /// Only those this host made.
        #[arg(long)]
        host: Option<i64>,
        /// Only those carrying this tag (repeatable: every one).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// List one directory of a snapshot (restic ls, run on a host).
    Browse {
        /// The repository (its id).
        #[arg(long = "repo")]
        repository: i64,
        /// The snapshot's id (or its short form).
        #[arg(long)]
        snapshot: String,
        /// The directory; the snapshot's root when left out.
        #[arg(long, default_value = "/")]
        path: String,
        /// The host that lists it (default: one that uses the repository).
        #[arg(long)]
        host: Option<i64>,
    },
    /// Compare two snapshots (restic diff, run on a host).
    Diff {
        /// The repository (its id).
        #[arg(long = "repo")]
        repository: i64,
        /// The older snapshot.
        a: String,
        /// The newer snapshot.
        b: String,
        /// The host that compares them (default: one that uses the repository).
        #[arg(long)]
        host: Option<i64>,
    },
    /// List the repository anew on a host.
    Refresh {
        /// The repository (its id).
        #[arg(long = "repo")]
        repository: i64,
        /// The host that lists it (default: one that uses the repository).
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
            verify: args.verify,
            limit_download_kib: args.limit_download,
            overwrite: cairn_proto::convert::overwrite_to_pb(args.overwrite) as i32,
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
        SnapshotsCommand::List {
            repository,
            host,
            tags,
        } => {
            let listed = snapshots
                .list_snapshots(pb::ListSnapshotsRequest {
                    repository_id: repository,
                    host_id: host.unwrap_or(0),
                    tags,
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
        SnapshotsCommand::Browse {
            repository,
            snapshot,
            path,
            host,
        } => {
            let listed = snapshots
                .browse_snapshot(pb::BrowseSnapshotRequest {
                    repository_id: repository,
                    snapshot_id: snapshot,
                    path,
                    host_id: host.unwrap_or(0),
                })
                .await
                .map_err(call_error)?
                .into_inner();
            println!("{:<8} {:>14} {:<10} PATH", "TYPE", "SIZE", "MODIFIED");
            for e in &listed.entries {
                let kind = pb::TreeEntryType::try_from(e.r#type).map_or("?", |t| {
                    t.as_str_name().trim_start_matches("TREE_ENTRY_TYPE_")
                });
                println!(
                    "{:<8} {:>14} {:<10} {}",
                    kind.to_lowercase(),
                    e.size,
                    date(e.mtime.as_ref()),
                    e.path
                );
            }
            if listed.truncated {
                eprintln!("(the directory has more entries than one listing holds)");
            }
        }
        SnapshotsCommand::Diff {
            repository,
            a,
            b,
            host,
        } => {
            let diff = snapshots
                .diff_snapshots(pb::DiffSnapshotsRequest {
                    repository_id: repository,
                    snapshot_a: a,
                    snapshot_b: b,
                    metadata: false,
                    host_id: host.unwrap_or(0),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .diff
                .unwrap_or_default();
            for c in &diff.changes {
                // restic's own markers.
                let mark = match pb::DiffChangeKind::try_from(c.kind) {
                    Ok(pb::DiffChangeKind::Added) => "+",
                    Ok(pb::DiffChangeKind::Removed) => "-",
                    Ok(pb::DiffChangeKind::Modified) => "M",
                    Ok(pb::DiffChangeKind::Metadata) => "U",
                    Ok(pb::DiffChangeKind::TypeChanged) => "T",
                    _ => "?",
                };
                println!("{mark}    {}", c.path);
            }
            if let Some(s) = diff.stats {
                println!(
                    "changed {} files; added {} files, {} dirs, {} bytes; removed {} files, {} dirs, {} bytes",
                    s.changed_files,
                    s.added_files,
                    s.added_dirs,
                    s.added_bytes,
                    s.removed_files,
                    s.removed_dirs,
                    s.removed_bytes
                );
            }
            if diff.truncated {
                eprintln!("(more changes than one answer holds)");
            }
        }
    }
    Ok(())
}
