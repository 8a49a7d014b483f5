//! `cairn ctl tokens`: API tokens, listed, created (the secret shown once)
//! and revoked.

use cairn_proto::v1 as pb;
use clap::Subcommand;

use super::client::{Clients, call_error, each_page};
use super::format::{date, scope_name};

#[derive(Debug, Subcommand)]
pub(super) enum TokensCommand {
    /// List API tokens (yours, or everyone's with --all).
    List {
        /// Every user's tokens (admin).
        #[arg(long)]
        all: bool,
        /// Include revoked and expired tokens.
        #[arg(long)]
        include_inactive: bool,
    },
    /// Create an API token and print its secret (shown once).
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// read, operate or admin.
        #[arg(long, default_value = "read")]
        scope: String,
        /// Days until it expires; 0 means never.
        #[arg(long, default_value_t = 90)]
        ttl_days: u64,
        /// Make it for another operator (admin); default yourself.
        #[arg(long)]
        user_id: Option<i64>,
    },
    /// Revoke an API token by id.
    Revoke {
        /// The token's id.
        id: i64,
    },
}

fn parse_scope(scope: &str) -> anyhow::Result<pb::Scope> {
    match scope {
        "read" => Ok(pb::Scope::Read),
        "operate" => Ok(pb::Scope::Operate),
        "admin" => Ok(pb::Scope::Admin),
        _ => anyhow::bail!("invalid --scope {scope:?}: use read, operate or admin"),
    }
}

pub(super) async fn run(clients: &Clients, command: TokensCommand) -> anyhow::Result<()> {
    let mut client = clients.admin();
    match command {
        TokensCommand::List {
            all,
            include_inactive,
        } => {
            println!(
                "{:<6} {:<24} {:<8} {:<16} {:<10} {:<10} {:<10}",
                "ID", "NAME", "SCOPE", "PREFIX", "CREATED", "EXPIRES", "STATE"
            );
            each_page(200, |page| {
                let mut client = client.clone();
                async move {
                    let listed = client
                        .list_api_tokens(pb::ListApiTokensRequest {
                            all_users: all,
                            include_inactive,
                            page: Some(page),
                        })
                        .await
                        .map_err(call_error)?
                        .into_inner();
                    for t in &listed.tokens {
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{:<6} {:<24} {:<8} {:<16} {:<10} {:<10} {:<10}",
                            t.id,
                            t.name,
                            scope_name(t.scope),
                            t.prefix,
                            date(t.created_at.as_ref()),
                            date(t.expires_at.as_ref()),
                            state
                        );
                    }
                    Ok(listed.page)
                }
            })
            .await?;
        }
        TokensCommand::Create {
            name,
            scope,
            ttl_days,
            user_id,
        } => {
            let created = client
                .create_api_token(pb::CreateApiTokenRequest {
                    name,
                    scope: parse_scope(&scope)? as i32,
                    ttl_seconds: ttl_days.saturating_mul(86_400),
                    user_id: user_id.unwrap_or(0),
                })
                .await
                .map_err(call_error)?
                .into_inner();
            let token = created.token.unwrap_or_default();
            eprintln!(
                "created {} token {:?} (id {}); it is shown only now:",
                scope_name(token.scope),
                token.name,
                token.id
            );
            println!("{}", created.secret);
        }
        TokensCommand::Revoke { id } => {
            let revoked = client
                .revoke_api_token(pb::RevokeApiTokenRequest { token_id: id })
                .await
                .map_err(call_error)?
                .into_inner();
            println!(
                "revoked token {}",
                revoked.token.map(|t| t.name).unwrap_or_default()
            );
        }
    }
    Ok(())
}
