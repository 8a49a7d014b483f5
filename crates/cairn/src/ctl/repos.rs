//! `cairn ctl repos`: repositories (their URL and password sealed on the
//! server) and which hosts may use them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cairn_proto::v1 as pb;
use clap::Subcommand;

use super::client::{Clients, call_error};
use crate::read_secret;

#[derive(Debug, Subcommand)]
pub(super) enum ReposCommand {
    /// List repositories (optionally those a host may use).
    List {
        /// Only those this host may use (its id).
        #[arg(long)]
        host: Option<i64>,
    },
    /// Create a repository. Its URL and password are sealed on the server.
    Create {
        /// A name for it, unique on this server.
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
    /// Change a repository: only what is given changes. Its URL, password
    /// and backend keys stay sealed on the server.
    Update {
        /// The repository's id.
        id: i64,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new repository URL (one with credentials is better given with
        /// --url-file).
        #[arg(long, conflicts_with = "url_file")]
        url: Option<String>,
        /// File holding the new repository URL.
        #[arg(long, value_name = "FILE")]
        url_file: Option<PathBuf>,
        /// File holding the new password, or `-` for standard input. (What
        /// Cairn sends to agents; the repository's key is `restic key`'s.)
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// File of KEY=VALUE lines to add to or overwrite in the backend's environment.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// A backend variable to remove (repeatable).
        #[arg(long = "unset-env", value_name = "KEY")]
        unset_env: Vec<String>,
    },
    /// Delete a repository from Cairn (its data stays where it is).
    Delete {
        /// The repository's id.
        id: i64,
    },
    /// Let a host use a repository.
    Assign {
        /// The repository's id.
        id: i64,
        /// The host (its id).
        #[arg(long)]
        host: i64,
    },
    /// Stop a host from using a repository.
    Unassign {
        /// The repository's id.
        id: i64,
        /// The host (its id).
        #[arg(long)]
        host: i64,
    },
}

/// A file of `KEY=VALUE` lines (blank lines and `#` comments skipped).
fn read_env_file(path: &Path) -> anyhow::Result<HashMap<String, String>> {
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

/// The URL given with `--url`, or read from `--url-file`.
fn url_of(url: Option<String>, url_file: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    match (url, url_file) {
        (Some(url), _) => Ok(Some(url)),
        (None, Some(path)) => read_secret(&path)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("cannot read --url-file {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
}

/// The password in `--password-file` (`-`: standard input).
fn password_of(path: &Path) -> anyhow::Result<String> {
    read_secret(path)
        .map_err(|e| anyhow::anyhow!("cannot read --password-file {}: {e}", path.display()))
}

/// The backend environment in `--env-file`, if given.
fn env_of(path: Option<&Path>) -> anyhow::Result<HashMap<String, String>> {
    Ok(path.map(read_env_file).transpose()?.unwrap_or_default())
}

pub(super) async fn run(clients: &Clients, command: ReposCommand) -> anyhow::Result<()> {
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
            let Some(url) = url_of(url, url_file)? else {
                anyhow::bail!("give --url or --url-file");
            };
            let password = password_of(&password_file)?;
            let env = env_of(env_file.as_deref())?;
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
        ReposCommand::Update {
            id,
            name,
            url,
            url_file,
            password_file,
            env_file,
            unset_env,
        } => {
            let url = url_of(url, url_file)?;
            let password = password_file.as_deref().map(password_of).transpose()?;
            let set_env = env_of(env_file.as_deref())?;
            let repo = repos
                .update_repository(pb::UpdateRepositoryRequest {
                    repository_id: id,
                    name,
                    url,
                    password,
                    set_env,
                    unset_env,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .repository
                .unwrap_or_default();
            println!(
                "updated repository {} ({}) at {}",
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
