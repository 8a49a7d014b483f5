//! The one Cairn binary: `cairn server`, `cairn ctl …`, `cairn admin …`.
//!
//! Wiring only: parse the command line, set up logging, hand over to the
//! crates that do the work, and turn their outcome into an exit status.

#![forbid(unsafe_code)]

mod admin_cmd;
mod agent_cmd;
mod ctl;
mod demo_cmd;
mod docs_cmd;
mod logging;
mod server_cmd;
mod server_flags;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for bad usage or configuration (EX_USAGE).
const EXIT_USAGE: u8 = 64;

/// Cairn: a control plane for fleets of hosts backed up with restic.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Cairn server (gRPC API, web UI, probes on one port).
    Server(server_flags::ServerArgs),
    /// Run the agent for this host: it dials the server and keeps a session.
    Agent(agent_cmd::AgentArgs),
    /// Talk to a running server over its gRPC API, with an API token.
    Ctl(ctl::CtlArgs),
    /// Provision a server's data directory directly, without a browser.
    Admin(admin_cmd::AdminArgs),
    /// Run the whole product on this machine: server, approved local agent,
    /// local repository, and a first backup.
    Demo(demo_cmd::DemoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(docs_cmd::CompletionsArgs),
    /// Write a man page for every command into a directory.
    Man(docs_cmd::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let usage_error = err.use_stderr();
            let _ = err.print();
            return if usage_error {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Neither needs the runtime, a config or a network.
    let cli = match cli.command {
        Command::Completions(args) => return docs_cmd::completions(args),
        Command::Man(args) => return docs_cmd::man(args),
        _ => cli,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Server(flags) => server_cmd::run(flags).await,
            Command::Agent(args) => agent_cmd::run(args).await,
            Command::Ctl(args) => ctl::run(args).await,
            Command::Admin(args) => admin_cmd::run(args).await,
            Command::Demo(args) => demo_cmd::run(args).await,
            Command::Completions(args) => docs_cmd::completions(args),
            Command::Man(args) => docs_cmd::man(args),
        }
    })
}

/// Logging for the short-lived commands: warnings and errors to stderr.
fn init_cli_logging() {
    let filter = logging::cli_filter();
    if logging::init(&filter, logging::Format::Text).is_err() {
        let _ = logging::init("warn", logging::Format::Text);
    }
}

/// Reads a secret from a file, or from standard input for `-`, without the
/// trailing newline.
fn read_secret(path: &std::path::Path) -> std::io::Result<String> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        std::fs::read_to_string(path)?
    };
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}
