//! `cairn ctl`: a CLI over the gRPC API. The token comes from `CAIRN_TOKEN`
//! or a file (`--token-file`, `CAIRN_TOKEN_FILE`), never from a flag: argv is
//! visible to every user of the machine.

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use clap::{Args, Subcommand};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::{init_cli_logging, read_secret};

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
    /// File holding the API token (else CAIRN_TOKEN).
    #[arg(long, env = "CAIRN_TOKEN_FILE", value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Show who the token acts as and what it may do.
    Whoami,
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage operators.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
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

#[derive(Debug, Subcommand)]
enum UsersCommand {
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
}

type Client = AdminServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
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

fn token(args: &CtlArgs) -> anyhow::Result<String> {
    let token = match &args.token_file {
        Some(path) => read_secret(path).map_err(|e| anyhow::anyhow!("cannot read --token-file {}: {e}", path.display()))?,
        None => std::env::var("CAIRN_TOKEN").map_err(|_| {
            anyhow::anyhow!("no API token: set CAIRN_TOKEN or pass --token-file (create one with `cairn admin create-token`)")
        })?,
    };
    let token = token.trim().to_string();
    anyhow::ensure!(!token.is_empty(), "the API token is empty");
    Ok(token)
}

async fn connect(args: &CtlArgs) -> anyhow::Result<Client> {
    let bearer = MetadataValue::try_from(format!("Bearer {}", token(args)?))
        .map_err(|_| anyhow::anyhow!("the API token holds characters a header cannot carry"))?;
    let endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|e| anyhow::anyhow!("invalid --server {:?}: {e}", args.server))?
        .connect_timeout(std::time::Duration::from_secs(10));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", args.server))?;
    Ok(AdminServiceClient::with_interceptor(
        channel,
        Bearer(bearer),
    ))
}

/// A gRPC error as one readable line.
fn call_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", code_name(status.code()), status.message())
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Unauthenticated => "unauthenticated",
        PermissionDenied => "permission denied",
        InvalidArgument => "invalid argument",
        NotFound => "not found",
        AlreadyExists => "already exists",
        ResourceExhausted => "rate limited",
        FailedPrecondition => "refused",
        Unavailable => "server unavailable",
        Unimplemented => "not supported by this server",
        _ => "error",
    }
}

fn role_name(role: i32) -> &'static str {
    match pb::Role::try_from(role) {
        Ok(pb::Role::Viewer) => "viewer",
        Ok(pb::Role::Operator) => "operator",
        Ok(pb::Role::Admin) => "admin",
        _ => "?",
    }
}

fn scope_name(scope: i32) -> &'static str {
    match pb::Scope::try_from(scope) {
        Ok(pb::Scope::Read) => "read",
        Ok(pb::Scope::Operate) => "operate",
        Ok(pb::Scope::Admin) => "admin",
        _ => "?",
    }
}

fn parse_scope(scope: &str) -> anyhow::Result<pb::Scope> {
    match scope {
        "read" => Ok(pb::Scope::Read),
        "operate" => Ok(pb::Scope::Operate),
        "admin" => Ok(pb::Scope::Admin),
        _ => anyhow::bail!("invalid --scope {scope:?}: use read, operate or admin"),
    }
}

fn parse_role(role: &str) -> anyhow::Result<pb::Role> {
    match role {
        "viewer" => Ok(pb::Role::Viewer),
        "operator" => Ok(pb::Role::Operator),
        "admin" => Ok(pb::Role::Admin),
        _ => anyhow::bail!("invalid --role {role:?}: use admin, operator or viewer"),
    }
}

fn date(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| {
        time::OffsetDateTime::from_unix_timestamp(t.seconds)
            .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
            .unwrap_or_else(|_| "?".into())
    })
    .unwrap_or_else(|| "-".into())
}

async fn execute(args: CtlArgs) -> anyhow::Result<()> {
    let mut client = connect(&args).await?;
    match args.command {
        CtlCommand::Whoami => {
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
        }
        CtlCommand::Tokens(TokensCommand::List {
            all,
            include_inactive,
        }) => {
            let mut page_token = String::new();
            println!(
                "{:<6} {:<24} {:<8} {:<16} {:<10} {:<10} {:<10}",
                "ID", "NAME", "SCOPE", "PREFIX", "CREATED", "EXPIRES", "STATE"
            );
            loop {
                let page = client
                    .list_api_tokens(pb::ListApiTokensRequest {
                        all_users: all,
                        include_inactive,
                        page: Some(pb::PageRequest {
                            page_size: 200,
                            page_token,
                        }),
                    })
                    .await
                    .map_err(call_error)?
                    .into_inner();
                for t in &page.tokens {
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
                page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
                if page_token.is_empty() {
                    break;
                }
            }
        }
        CtlCommand::Tokens(TokensCommand::Create {
            name,
            scope,
            ttl_days,
            user_id,
        }) => {
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
        CtlCommand::Tokens(TokensCommand::Revoke { id }) => {
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
        CtlCommand::Users(UsersCommand::List) => {
            let mut page_token = String::new();
            println!(
                "{:<6} {:<32} {:<9} {:<9} {:<10}",
                "ID", "USERNAME", "ROLE", "STATE", "LAST LOGIN"
            );
            loop {
                let page = client
                    .list_users(pb::ListUsersRequest {
                        page: Some(pb::PageRequest {
                            page_size: 200,
                            page_token,
                        }),
                    })
                    .await
                    .map_err(call_error)?
                    .into_inner();
                for u in &page.users {
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
                page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
                if page_token.is_empty() {
                    break;
                }
            }
        }
        CtlCommand::Users(UsersCommand::Create {
            username,
            role,
            password_file,
        }) => {
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
    }
    Ok(())
}
