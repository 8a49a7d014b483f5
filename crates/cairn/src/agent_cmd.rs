//! `cairn agent`: run the agent for this host.

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_agent::{Agent, AgentConfig, AgentEvent, AgentFile, Trust};
use clap::Args;

use crate::{EXIT_USAGE, read_secret};

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// The agent's configuration file (TOML); flags and CAIRN_* win over it.
    #[arg(long, env = "CAIRN_AGENT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The server's URL.
    #[arg(long, env = "CAIRN_SERVER")]
    server: Option<String>,
    /// Where the agent keeps its identity and spool [default: /var/lib/cairn-agent].
    #[arg(long, env = "CAIRN_AGENT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// An enrollment token: a valid one approves this host on first announce.
    /// Prefer --enroll-token-file or CAIRN_ENROLL_TOKEN: argv is visible to
    /// every user of the machine.
    #[arg(long, env = "CAIRN_ENROLL_TOKEN", hide_env_values = true)]
    enroll_token: Option<String>,
    /// File holding an enrollment token.
    #[arg(
        long,
        env = "CAIRN_ENROLL_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "enroll_token"
    )]
    enroll_token_file: Option<PathBuf>,
    /// Trust only the server certificate with this SHA-256 fingerprint
    /// (`sha256:…`, as `cairn server` prints it). Needed for a self-signed server.
    #[arg(long, env = "CAIRN_SERVER_FINGERPRINT", value_name = "FINGERPRINT")]
    server_fingerprint: Option<String>,
    /// Trust server certificates issued by the CAs in this PEM file.
    #[arg(
        long,
        env = "CAIRN_CA_FILE",
        value_name = "FILE",
        conflicts_with = "server_fingerprint"
    )]
    ca_file: Option<PathBuf>,
    /// Allow an http:// server URL: no TLS, everything readable on the wire.
    #[arg(long, env = "CAIRN_ALLOW_PLAINTEXT")]
    allow_plaintext: bool,
    /// Backups may only read below this directory (repeatable; default: anywhere).
    #[arg(long = "backup-root", value_name = "DIR")]
    backup_roots: Vec<PathBuf>,
    /// Restores may only write below this directory (repeatable; default: no restores).
    #[arg(long = "restore-root", value_name = "DIR")]
    restore_roots: Vec<PathBuf>,
    /// The restic program [default: restic from PATH].
    #[arg(long, env = "CAIRN_RESTIC", value_name = "PATH")]
    restic: Option<String>,
    /// Log filter [default: info].
    #[arg(long, env = "CAIRN_LOG_LEVEL")]
    log_level: Option<String>,
    /// Print a locked-down, commented agent.toml and exit.
    #[arg(long)]
    print_example_config: bool,
}

fn usage(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

pub(crate) async fn run(args: AgentArgs) -> ExitCode {
    if args.print_example_config {
        print!("{}", cairn_agent::EXAMPLE_CONFIG);
        return ExitCode::SUCCESS;
    }
    let file = match &args.config {
        Some(path) => match AgentFile::load(path) {
            Ok(file) => file,
            Err(err) => return usage(err.to_string()),
        },
        None => AgentFile::default(),
    };
    let mut policy = match file.policy() {
        Ok(policy) => policy,
        Err(err) => return usage(err.to_string()),
    };
    let log_level = args
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    if let Err(err) = crate::logging::init(&log_level, crate::logging::Format::Text) {
        return usage(format!("invalid log_level: {err}"));
    }

    let Some(server) = args.server.or(file.server) else {
        return usage("no server: pass --server URL (or set server in the config file)".into());
    };
    let state_dir = args
        .state_dir
        .or(file.state_dir)
        .unwrap_or_else(|| PathBuf::from("/var/lib/cairn-agent"));
    let enroll_file = args.enroll_token_file.or(file.enroll_token_file);
    let enroll_token = match (args.enroll_token, enroll_file) {
        (Some(token), _) => Some(token.trim().to_string()),
        (None, Some(path)) => match read_secret(&path) {
            Ok(token) => Some(token.trim().to_string()),
            Err(err) => {
                return usage(format!(
                    "cannot read the enrollment token file {}: {err}",
                    path.display()
                ));
            }
        },
        (None, None) => None,
    };
    let trust = match (
        args.server_fingerprint.or(file.server_fingerprint),
        args.ca_file.or(file.ca_file),
    ) {
        (Some(fingerprint), _) => match cairn_tls::parse_fingerprint(&fingerprint) {
            Ok(pinned) => Trust::Pinned(pinned),
            Err(err) => return usage(format!("--server-fingerprint: {err}")),
        },
        (None, Some(path)) => Trust::CaFile(path),
        (None, None) => Trust::System,
    };
    let allow_plaintext = args.allow_plaintext || file.allow_plaintext.unwrap_or(false);
    if server.starts_with("http://") && !allow_plaintext {
        return usage(format!(
            "--server {server} is plaintext HTTP: use https://, or pass --allow-plaintext if the network is trusted"
        ));
    }
    let mut config = AgentConfig::new(server, state_dir);
    config.enroll_token = enroll_token.filter(|t| !t.is_empty());
    config.trust = trust;
    config.allow_plaintext = allow_plaintext;
    if !args.backup_roots.is_empty() {
        policy.backup_roots = args.backup_roots;
    }
    if !args.restore_roots.is_empty() {
        policy.restore_roots = args.restore_roots;
    }
    config.policy = policy;
    if let Some(restic) = args.restic.or(file.restic) {
        config.restic = restic;
    }

    let mut agent = match Agent::open(config) {
        Ok(agent) => agent,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Printed, not just logged: the operator compares it before approving.
    println!(
        "cairn agent identity fingerprint: {}",
        agent.identity().fingerprint()
    );
    let mut events = agent.subscribe();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let AgentEvent::Welcomed {
                status,
                reason,
                host_id,
                ..
            } = event
            {
                println!(
                    "server says: {} (host {host_id}){}",
                    status.as_str_name(),
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    }
                );
            }
        }
    });
    match agent.run(crate::server_cmd::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
