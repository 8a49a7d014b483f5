//! `cairn ctl users` and `cairn ctl whoami`: operators and who a token acts
//! as.

use std::path::PathBuf;

use cairn_proto::v1 as pb;
use clap::Subcommand;

use super::client::{Clients, call_error, each_page};
use super::format::{date, role_name, scope_name};
use crate::read_secret;

#[derive(Debug, Subcommand)]
pub(super) enum UsersCommand {
    /// List operators.
    List,
    /// Create an operator.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// File holding the password, or `-` for standard input.
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
    /// Change an operator's role, or disable or re-enable the account.
    Update {
        /// The operator's id.
        id: i64,
        /// A new role: admin, operator or viewer.
        #[arg(long)]
        role: Option<String>,
        /// Disable the account (its sessions and tokens stop working).
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable a disabled account again.
        #[arg(long)]
        enable: bool,
    },
}

fn parse_role(role: &str) -> anyhow::Result<pb::Role> {
    match role {
        "viewer" => Ok(pb::Role::Viewer),
        "operator" => Ok(pb::Role::Operator),
        "admin" => Ok(pb::Role::Admin),
        _ => anyhow::bail!("invalid --role {role:?}: use admin, operator or viewer"),
    }
}

/// Who the token acts as and what it may do.
pub(super) async fn whoami(clients: &Clients) -> anyhow::Result<()> {
    let mut client = clients.admin();
    let who = client
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .map_err(call_error)?
        .into_inner();
    let user = who.user.unwrap_or_default();
    println!("user:   {} (id {})", user.username, user.id);
    println!("role:   {}", role_name(user.role));
    if let Some(token) = who.token {
        println!(
            "token:  {} (id {}, scope {})",
            token.name,
            token.id,
            scope_name(token.scope)
        );
    }
    println!("may:    {}", scope_name(who.effective_scope));
    Ok(())
}

pub(super) async fn run(clients: &Clients, command: UsersCommand) -> anyhow::Result<()> {
    let mut client = clients.admin();
    match command {
        UsersCommand::List => {
            println!(
                "{:<6} {:<32} {:<9} {:<9} {:<10}",
                "ID", "USERNAME", "ROLE", "STATE", "LAST LOGIN"
            );
            each_page(200, |page| {
                let mut client = client.clone();
                async move {
                    let listed = client
                        .list_users(pb::ListUsersRequest { page: Some(page) })
                        .await
                        .map_err(call_error)?
                        .into_inner();
                    for u in &listed.users {
                        let state = if u.disabled { "disabled" } else { "enabled" };
                        println!(
                            "{:<6} {:<32} {:<9} {:<9} {:<10}",
                            u.id,
                            u.username,
                            role_name(u.role),
                            state,
                            date(u.last_login_at.as_ref())
                        );
                    }
                    Ok(listed.page)
                }
            })
            .await?;
        }
        UsersCommand::Create {
            username,
            role,
            password_file,
        } => {
            let password = read_secret(&password_file).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read --password-file {}: {e}",
                    password_file.display()
                )
            })?;
            let user = client
                .create_user(pb::CreateUserRequest {
                    username,
                    password,
                    role: parse_role(&role)? as i32,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .user
                .unwrap_or_default();
            println!(
                "created {} {} (id {})",
                role_name(user.role),
                user.username,
                user.id
            );
        }
        UsersCommand::Update {
            id,
            role,
            disable,
            enable,
        } => {
            let role = role.as_deref().map(parse_role).transpose()?;
            if role.is_none() && !disable && !enable {
                anyhow::bail!("say what to change: --role, --disable or --enable");
            }
            let user = client
                .update_user(pb::UpdateUserRequest {
                    user_id: id,
                    role: role.map(|r| r as i32),
                    disabled: (disable || enable).then_some(disable),
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .user
                .unwrap_or_default();
            let state = if user.disabled { "disabled" } else { "enabled" };
            println!("{} is {} and {state}", user.username, role_name(user.role));
        }
    }
    Ok(())
}
