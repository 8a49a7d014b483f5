//! `cairn admin`: provisioning a data directory without a browser, for
//! configuration management and tests. It acts through the same service layer
//! as the API (same validation, same audit log, as actor `cli`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cairn_server::admin::TokenRequest;
use cairn_server::auth::Principal;
use cairn_server::{Server, ServerConfig};
use cairn_store::{Role, Scope};
use clap::{Args, Subcommand};

use crate::{init_cli_logging, read_secret};

#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The server's data directory (created if missing).
    #[arg(
        long,
        env = "CAIRN_DATA_DIR",
        default_value = "./cairn-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an operator account.
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Role: admin, operator or viewer.
        #[arg(long, default_value = "admin")]
        role: String,
        /// File holding the password, or `-` for standard input (never a flag:
        /// argv is visible to every user of the machine).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
    /// Create an API token for an operator and print it (once).
    CreateToken {
        /// The operator the token acts as.
        #[arg(long)]
        user: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// Scope: read, operate or admin (at most the operator's role).
        #[arg(long, default_value = "read")]
        scope: String,
        /// Days until it expires; 0 means never.
        #[arg(long, default_value_t = 0)]
        ttl_days: u64,
    },
    /// Copy the database, consistently, while the server runs (the sealing
    /// key is not in the copy: back `seal.key` up separately).
    BackupDatabase {
        /// Where to write the copy; it must not exist yet.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

pub(crate) async fn run(args: AdminArgs) -> ExitCode {
    init_cli_logging();
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(args: AdminArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::for_data_dir(&args.data_dir);
    let command = match args.command {
        AdminCommand::BackupDatabase { out } => return backup_database(&config, &out),
        provisioning => provisioning,
    };
    // This command never serves: it needs no certificate.
    config.tls = cairn_server::config::TlsMode::Plaintext;
    let server = Server::open(config).await?;
    let api = server.api();
    let cli = Principal::local_cli();
    match command {
        // Handled above, before anything was opened.
        AdminCommand::BackupDatabase { .. } => {}
        AdminCommand::CreateUser {
            username,
            role,
            password_file,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("invalid --role {role:?}: use admin, operator or viewer")
            })?;
            let password = read_secret(&password_file).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read --password-file {}: {e}",
                    password_file.display()
                )
            })?;
            let user = api
                .admin
                .create_user(&cli, &username, &password, role)
                .await?;
            println!("created {} {} (id {})", user.role, user.username, user.id);
        }
        AdminCommand::CreateToken {
            user,
            name,
            scope,
            ttl_days,
        } => {
            let scope = Scope::parse(&scope).ok_or_else(|| {
                anyhow::anyhow!("invalid --scope {scope:?}: use read, operate or admin")
            })?;
            let owner = api.admin.user_by_username(&user).await?;
            let created = api
                .admin
                .create_api_token(
                    &cli,
                    TokenRequest {
                        name,
                        scope,
                        ttl: (ttl_days > 0).then(|| Duration::from_secs(ttl_days * 86_400)),
                        user_id: Some(owner.id),
                    },
                )
                .await?;
            eprintln!(
                "created {} token {:?} (id {}) for {}; it is shown only now:",
                created.token.scope, created.token.name, created.token.id, owner.username
            );
            println!("{}", created.secret.expose());
        }
    }
    Ok(())
}

/// Never through `Server::open`: a copy must not create, migrate or unseal
/// anything.
fn backup_database(config: &ServerConfig, out: &std::path::Path) -> anyhow::Result<()> {
    let copy = cairn_store::copy_database(&config.database_path(), out)?;
    println!(
        "copied the database to {} ({} bytes, schema version {}); back up {} separately",
        out.display(),
        copy.bytes,
        copy.schema_version,
        config.key_path().display()
    );
    Ok(())
}
