//! What the fuzzers feed. Each target is one function from raw bytes, run
//! through the decoding and checking that Cairn applies to bytes it did not
//! choose: what an agent sends the server, what a client sends the API,
//! what a (possibly compromised) server sends an agent, what restic prints,
//! a repository URL, and the server's and the agent's configuration files.
//!
//! A target panics only when a promise breaks (a panic of the code under
//! test, or an assertion on what it let through). `make fuzz` runs each
//! under cargo-fuzz; `tests/replay.rs` replays, on the stable toolchain in
//! `make test`, the seed corpus, every input a fuzzer ever crashed on
//! (`regressions/<target>/`), and a fixed series of mutations of the seeds.

#![forbid(unsafe_code)]

use cairn_proto::v1 as pb;
use prost::Message;

pub mod seeds;

/// The server's own targets, by their names here.
pub use cairn_server::fuzz::{agent_message, client_request, config_file as server_config};

/// A fuzz target: a name and the function that takes its input.
#[derive(Debug)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, by the name `make fuzz` and the corpus folders use.
pub const TARGETS: &[Target] = &[
    Target {
        name: "agent_message",
        run: agent_message,
    },
    Target {
        name: "client_request",
        run: client_request,
    },
    Target {
        name: "server_config",
        run: server_config,
    },
    Target {
        name: "run_job",
        run: run_job,
    },
    Target {
        name: "restic_output",
        run: restic_output,
    },
    Target {
        name: "repository_url",
        run: repository_url,
    },
    Target {
        name: "agent_config",
        run: agent_config,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Every flag the agent may put on restic's command line. Anything else
/// that begins with `-` is a value that became a flag: an injection.
const FLAGS: &[&str] = &[
    "--",
    "--dry-run",
    "--exclude",
    "--group-by",
    "--host",
    "--include",
    "--json",
    "--keep-daily",
    "--keep-hourly",
    "--keep-last",
    "--keep-monthly",
    "--keep-tag",
    "--keep-weekly",
    "--keep-within",
    "--keep-within-daily",
    "--keep-within-hourly",
    "--keep-within-monthly",
    "--keep-within-weekly",
    "--keep-within-yearly",
    "--keep-yearly",
    "--limit-download",
    "--limit-upload",
    "--max-repack-size",
    "--max-unused",
    "--metadata",
    "--overwrite",
    "--path",
    "--prune",
    "--read-data",
    "--read-data-subset",
    "--repository-version",
    "--tag",
    "--target",
    "--verify",
];

/// A `RunJob` as a hostile server might send it: the agent's own checks
/// (the repository URL and environment, the spec's values) either refuse it
/// or give a restic invocation whose every flag is one the agent chose, and
/// with no secret on the command line.
pub fn run_job(data: &[u8]) {
    let _ = run_job_invocation(data);
}

/// `run_job`'s work: `true` when the input got as far as an invocation
/// (whose flags were then checked).
pub fn run_job_invocation(data: &[u8]) -> bool {
    let Ok(run) = pb::RunJob::decode(data) else {
        return false;
    };
    let (Some(spec), Some(access)) = (run.spec.as_ref(), run.repository) else {
        return false;
    };
    let Some(spec) = cairn_proto::convert::spec_from_pb(spec) else {
        return false;
    };
    let Ok(operation) = cairn_restic::operation(&spec, Some("/var/restore")) else {
        return false;
    };
    let repo = cairn_restic::RepoAccess {
        url: access.url,
        password: access.password,
        env: access.env.into_iter().collect(),
    };
    let Ok(invocation) = operation.invocation(&repo) else {
        return false;
    };
    for arg in &invocation.args {
        assert!(
            !arg.starts_with('-') || FLAGS.contains(&arg.as_str()),
            "a value became a flag: {arg:?}"
        );
    }
    if repo.password.len() >= 8 {
        assert!(
            !invocation.args.iter().any(|a| a.contains(&repo.password)),
            "the password reached argv"
        );
    }
    true
}

/// What restic prints, as the agent reads it: JSON lines of a backup, the
/// snapshot list, `ls`, `diff`, and the error text it classifies.
pub fn restic_output(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = cairn_restic::BackupMessage::parse(line);
    }
    let _ = cairn_restic::parse_snapshots(&text);
    let _ = cairn_restic::parse_ls(&text);
    let _ = cairn_restic::parse_diff(&text);
    let _ = cairn_restic::classify_stderr(&text);
}

/// A repository URL, and a backend environment variable (`NAME=value` on
/// the second line), as the server and the agent check them.
pub fn repository_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(2, '\n');
    let url = lines.next().unwrap_or_default();
    if cairn_restic::check_repository_url(url).is_ok() {
        assert!(
            !url.starts_with('-'),
            "an accepted URL reads as a flag: {url:?}"
        );
        assert!(!url.contains('\0'), "an accepted URL holds a NUL");
    }
    if let Some((name, value)) = lines.next().and_then(|l| l.split_once('=')) {
        let _ = cairn_restic::check_env(name, value);
    }
}

/// `agent.toml`, as the agent reads it, and the policy it makes.
pub fn agent_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = toml::from_str::<cairn_agent::AgentFile>(text) {
        let _ = file.policy();
    }
}
