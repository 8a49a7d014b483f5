//! `cairn ctl hosts`: approve, reject, revoke, delete and label hosts.

use std::collections::HashMap;

use cairn_proto::v1 as pb;
use clap::Subcommand;

use super::client::{Clients, call_error, each_page};
use super::format::host_status_name;

#[derive(Debug, Subcommand)]
pub(super) enum HostsCommand {
    /// List hosts.
    List {
        /// Only hosts with this status: pending, approved, rejected or revoked.
        #[arg(long)]
        status: Option<String>,
        /// Only hosts with this label (repeatable): key=value.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// Only hosts connected now (yes) or not (no).
        #[arg(long, value_name = "yes|no", value_parser = ["yes", "no"])]
        online: Option<String>,
        /// Only hosts whose hostname contains this text (ignoring case) or
        /// whose fingerprint starts with it.
        #[arg(long, default_value = "")]
        search: String,
    },
    /// Approve a pending host (compare its fingerprint with the agent's first).
    Approve {
        /// The host's id.
        id: i64,
        /// Approve only if the host's fingerprint is this one.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Reject a pending host.
    Reject {
        /// The host's id.
        id: i64,
        /// Why (the agent is told).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Revoke a host's identity for good; its stream is closed at once.
    Revoke {
        /// The host's id.
        id: i64,
        /// Why (the agent is told).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Delete a host; if its agent announces again it lands in pending.
    Delete {
        /// The host's id.
        id: i64,
    },
    /// Replace a host's labels.
    Label {
        /// The host's id.
        id: i64,
        /// The labels: key=value (repeatable; none clears them).
        #[arg(value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
}

/// `key=value` arguments as labels.
pub(super) fn parse_labels(labels: &[String]) -> anyhow::Result<HashMap<String, String>> {
    labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid label {l:?}: use key=value"))
        })
        .collect()
}

fn parse_host_status(status: &str) -> anyhow::Result<pb::HostStatus> {
    match status {
        "pending" => Ok(pb::HostStatus::Pending),
        "approved" => Ok(pb::HostStatus::Approved),
        "rejected" => Ok(pb::HostStatus::Rejected),
        "revoked" => Ok(pb::HostStatus::Revoked),
        _ => {
            anyhow::bail!("invalid --status {status:?}: use pending, approved, rejected or revoked")
        }
    }
}

fn print_host(host: &pb::Host) {
    let mut labels: Vec<_> = host
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    println!(
        "{:<6} {:<28} {:<9} {:<8} {:<20} {}",
        host.id,
        host.hostname,
        host_status_name(host.status),
        if host.online { "online" } else { "offline" },
        host.fingerprint,
        labels.join(",")
    );
}

pub(super) async fn run(clients: &Clients, command: HostsCommand) -> anyhow::Result<()> {
    let mut hosts = clients.hosts();
    match command {
        HostsCommand::List {
            status,
            labels,
            online,
            search,
        } => {
            let online = online.map(|o| o == "yes");
            let status = status
                .as_deref()
                .map(parse_host_status)
                .transpose()?
                .map_or(0, |s| s as i32);
            let label_selector = parse_labels(&labels)?;
            println!(
                "{:<6} {:<28} {:<9} {:<8} {:<20} LABELS",
                "ID", "HOSTNAME", "STATUS", "LINK", "FINGERPRINT"
            );
            each_page(200, |page| {
                let mut hosts = hosts.clone();
                let label_selector = label_selector.clone();
                let search = search.clone();
                async move {
                    let listed = hosts
                        .list_hosts(pb::ListHostsRequest {
                            status,
                            label_selector,
                            online,
                            page: Some(page),
                            search,
                        })
                        .await
                        .map_err(call_error)?
                        .into_inner();
                    listed.hosts.iter().for_each(print_host);
                    Ok(listed.page)
                }
            })
            .await?;
        }
        HostsCommand::Approve { id, fingerprint } => {
            let host = hosts
                .approve_host(pb::ApproveHostRequest {
                    host_id: id,
                    expected_fingerprint: fingerprint.unwrap_or_default(),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .host
                .unwrap_or_default();
            println!("approved host {} ({})", host.id, host.hostname);
        }
        HostsCommand::Reject { id, reason } => {
            hosts
                .reject_host(pb::RejectHostRequest {
                    host_id: id,
                    reason,
                })
                .await
                .map_err(call_error)?;
            println!("rejected host {id}");
        }
        HostsCommand::Revoke { id, reason } => {
            hosts
                .revoke_host(pb::RevokeHostRequest {
                    host_id: id,
                    reason,
                })
                .await
                .map_err(call_error)?;
            println!("revoked host {id}");
        }
        HostsCommand::Delete { id } => {
            hosts
                .delete_host(pb::DeleteHostRequest { host_id: id })
                .await
                .map_err(call_error)?;
            println!("deleted host {id}");
        }
        HostsCommand::Label { id, labels } => {
            let host = hosts
                .set_host_labels(pb::SetHostLabelsRequest {
                    host_id: id,
                    labels: parse_labels(&labels)?,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .host
                .unwrap_or_default();
            print_host(&host);
        }
    }
    Ok(())
}
