//! `cairn ctl enroll-tokens`: the tokens new agents enroll with.

use cairn_proto::v1 as pb;
use clap::Subcommand;

use super::client::{Clients, call_error, each_page};
use super::format::date;
use super::hosts::parse_labels;

#[derive(Debug, Subcommand)]
pub(super) enum EnrollCommand {
    /// List enrollment tokens.
    List {
        /// Include revoked, expired and used-up tokens.
        #[arg(long)]
        include_inactive: bool,
    },
    /// Create an enrollment token and print it (shown once).
    Create {
        /// What it is for.
        #[arg(long)]
        name: String,
        /// Hours until it expires (at most 720).
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Enrollments allowed; 0 means no limit while it lives.
        #[arg(long, default_value_t = 1)]
        max_uses: u32,
        /// Labels for hosts that enroll with it (repeatable): key=value.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Revoke an enrollment token.
    Revoke {
        /// The token's id.
        id: i64,
    },
}

pub(super) async fn run(clients: &Clients, command: EnrollCommand) -> anyhow::Result<()> {
    let mut client = clients.admin();
    match command {
        EnrollCommand::List { include_inactive } => {
            println!(
                "{:<6} {:<24} {:<20} {:<7} {:<10} STATE",
                "ID", "NAME", "PREFIX", "USES", "EXPIRES"
            );
            each_page(200, |page| {
                let mut client = client.clone();
                async move {
                    let listed = client
                        .list_enrollment_tokens(pb::ListEnrollmentTokensRequest {
                            include_inactive,
                            page: Some(page),
                        })
                        .await
                        .map_err(call_error)?
                        .into_inner();
                    for t in &listed.tokens {
                        let uses = if t.max_uses == 0 {
                            format!("{}/-", t.uses)
                        } else {
                            format!("{}/{}", t.uses, t.max_uses)
                        };
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{:<6} {:<24} {:<20} {:<7} {:<10} {}",
                            t.id,
                            t.name,
                            t.prefix,
                            uses,
                            date(t.expires_at.as_ref()),
                            state
                        );
                    }
                    Ok(listed.page)
                }
            })
            .await?;
        }
        EnrollCommand::Create {
            name,
            ttl_hours,
            max_uses,
            labels,
        } => {
            let created = client
                .create_enrollment_token(pb::CreateEnrollmentTokenRequest {
                    name,
                    ttl_seconds: ttl_hours.saturating_mul(3600),
                    max_uses,
                    labels: parse_labels(&labels)?,
                })
                .await
                .map_err(call_error)?
                .into_inner();
            let token = created.token.unwrap_or_default();
            eprintln!(
                "created enrollment token {:?} (id {}); it is shown only now:",
                token.name, token.id
            );
            println!("{}", created.secret);
        }
        EnrollCommand::Revoke { id } => {
            client
                .revoke_enrollment_token(pb::RevokeEnrollmentTokenRequest { token_id: id })
                .await
                .map_err(call_error)?;
            println!("revoked enrollment token {id}");
        }
    }
    Ok(())
}
