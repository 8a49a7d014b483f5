//! `cairn ctl`: a CLI over the gRPC API. The token comes from `CAIRN_TOKEN`
//! or a file (`--token-file`, `CAIRN_TOKEN_FILE`), never from a flag: argv is
//! visible to every user of the machine.

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
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
    Tokens(TokensCommand),
    /// Manage operators.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage hosts: approve, reject, revoke, delete, label.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Manage enrollment tokens for agents.
    #[command(subcommand, name = "enroll-tokens")]
    EnrollTokens(EnrollCommand),
    /// Manage repositories.
    #[command(subcommand)]
    Repos(crate::ctl_jobs::ReposCommand),
    /// Initialise a repository, from a host.
    Init(crate::ctl_jobs::Target),
    /// Back a host up now.
    Backup(crate::ctl_jobs::BackupArgs),
    /// Follow, cancel and inspect jobs.
    #[command(subcommand)]
    Jobs(crate::ctl_jobs::JobsCommand),
    /// List and refresh snapshots.
    #[command(subcommand)]
    Snapshots(crate::ctl_jobs::SnapshotsCommand),
    /// Restore a snapshot on any approved host.
    Restore(crate::ctl_jobs::RestoreArgs),
    /// Manage backup schedules and see missed runs.
    #[command(subcommand)]
    Schedules(crate::ctl_schedules::SchedulesCommand),
    /// Manage forget, prune and check plans.
    #[command(subcommand)]
    Maintenance(crate::ctl_schedules::MaintenanceCommand),
}

#[derive(Debug, Subcommand)]
enum HostsCommand {
    /// List hosts.
    List {
        /// Only hosts with this status: pending, approved, rejected or revoked.
        #[arg(long)]
        status: Option<String>,
        /// Only hosts with this label (repeatable): key=value.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
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

#[derive(Debug, Subcommand)]
enum EnrollCommand {
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
type Hosts = HostServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub(crate) struct Bearer(MetadataValue<tonic::metadata::Ascii>);

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

/// The channel to the server and the bearer every call carries.
pub(crate) struct Clients {
    channel: Channel,
    bearer: Bearer,
}

impl Clients {
    fn admin(&self) -> Client {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    fn hosts(&self) -> Hosts {
        HostServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(crate) fn repos(&self) -> RepositoryServiceClient<InterceptedService<Channel, Bearer>> {
        RepositoryServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(crate) fn jobs(&self) -> JobServiceClient<InterceptedService<Channel, Bearer>> {
        JobServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(crate) fn schedules(&self) -> ScheduleServiceClient<InterceptedService<Channel, Bearer>> {
        ScheduleServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub(crate) fn snapshots(&self) -> SnapshotServiceClient<InterceptedService<Channel, Bearer>> {
        SnapshotServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }
}

/// Whether `url` names this machine (127.0.0.0/8, ::1 or localhost), where
/// plaintext never leaves the host.
fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<tonic::codegen::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn connect(args: &CtlArgs) -> anyhow::Result<Clients> {
    if !args.server.starts_with("https://") && !is_loopback(&args.server) && !args.allow_plaintext {
        anyhow::bail!(
            "refusing to send the API token in plaintext to {}: use https://, or pass \
             --allow-plaintext if the network between is trusted",
            args.server
        );
    }
    let bearer = MetadataValue::try_from(format!("Bearer {}", token(args)?))
        .map_err(|_| anyhow::anyhow!("the API token holds characters a header cannot carry"))?;
    let endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|e| anyhow::anyhow!("invalid --server {:?}: {e}", args.server))?
        .connect_timeout(std::time::Duration::from_secs(10));
    let connected = if args.server.starts_with("https://") {
        let trust = match (&args.server_fingerprint, &args.ca_file) {
            (Some(fp), _) => cairn_tls::Trust::Pinned(
                cairn_tls::parse_fingerprint(fp)
                    .map_err(|e| anyhow::anyhow!("--server-fingerprint: {e}"))?,
            ),
            (None, Some(path)) => cairn_tls::Trust::CaFile(path.clone()),
            (None, None) => cairn_tls::Trust::System,
        };
        let (config, probe) = cairn_tls::client_config(&trust)?;
        endpoint
            .connect_with_connector(cairn_tls::connector(config))
            .await
            .map_err(|e| match probe.mismatch() {
                Some(seen) => anyhow::anyhow!(
                    "the server's certificate fingerprint is {seen}, not the pinned one"
                ),
                None => anyhow::anyhow!("cannot reach {}: {e}", args.server),
            })?
    } else {
        endpoint
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", args.server))?
    };
    Ok(Clients {
        channel: connected,
        bearer: Bearer(bearer),
    })
}

/// A gRPC error as one readable line.
pub(crate) fn call_error(status: tonic::Status) -> anyhow::Error {
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

pub(crate) fn date(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| {
        time::OffsetDateTime::from_unix_timestamp(t.seconds)
            .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
            .unwrap_or_else(|_| "?".into())
    })
    .unwrap_or_else(|| "-".into())
}

async fn execute(args: CtlArgs) -> anyhow::Result<()> {
    let clients = connect(&args).await?;
    let mut client = clients.admin();
    let mut hosts = clients.hosts();
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
        CtlCommand::Hosts(command) => hosts_command(&mut hosts, command).await?,
        CtlCommand::EnrollTokens(command) => enroll_command(&mut client, command).await?,
        CtlCommand::Repos(command) => crate::ctl_jobs::repos(&clients, command).await?,
        CtlCommand::Init(target) => crate::ctl_jobs::init(&clients, target).await?,
        CtlCommand::Backup(args) => crate::ctl_jobs::backup(&clients, args).await?,
        CtlCommand::Jobs(command) => crate::ctl_jobs::jobs(&clients, command).await?,
        CtlCommand::Snapshots(command) => crate::ctl_jobs::snapshots(&clients, command).await?,
        CtlCommand::Restore(args) => crate::ctl_jobs::restore(&clients, args).await?,
        CtlCommand::Schedules(command) => {
            crate::ctl_schedules::schedules(&clients, command).await?
        }
        CtlCommand::Maintenance(command) => {
            crate::ctl_schedules::maintenance(&clients, command).await?
        }
    }
    Ok(())
}

fn parse_labels(labels: &[String]) -> anyhow::Result<std::collections::HashMap<String, String>> {
    labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid label {l:?}: use key=value"))
        })
        .collect()
}

fn host_status_name(status: i32) -> &'static str {
    match pb::HostStatus::try_from(status) {
        Ok(pb::HostStatus::Pending) => "pending",
        Ok(pb::HostStatus::Approved) => "approved",
        Ok(pb::HostStatus::Rejected) => "rejected",
        Ok(pb::HostStatus::Revoked) => "revoked",
        _ => "?",
    }
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

async fn hosts_command(hosts: &mut Hosts, command: HostsCommand) -> anyhow::Result<()> {
    match command {
        HostsCommand::List { status, labels } => {
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
            let mut page_token = String::new();
            loop {
                let page = hosts
                    .list_hosts(pb::ListHostsRequest {
                        status,
                        label_selector: label_selector.clone(),
                        online: None,
                        page: Some(pb::PageRequest {
                            page_size: 200,
                            page_token,
                        }),
                    })
                    .await
                    .map_err(call_error)?
                    .into_inner();
                page.hosts.iter().for_each(print_host);
                page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
                if page_token.is_empty() {
                    break;
                }
            }
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

async fn enroll_command(client: &mut Client, command: EnrollCommand) -> anyhow::Result<()> {
    match command {
        EnrollCommand::List { include_inactive } => {
            println!(
                "{:<6} {:<24} {:<20} {:<7} {:<10} STATE",
                "ID", "NAME", "PREFIX", "USES", "EXPIRES"
            );
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_enrollment_tokens(pb::ListEnrollmentTokensRequest {
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
                page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
                if page_token.is_empty() {
                    break;
                }
            }
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
