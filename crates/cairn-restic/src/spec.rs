//! Typed restic operations, turned into argv and environment. Every value
//! that reaches argv is a [`SafeArg`]; options come from this code only, so
//! `-o …`, `--password-command`, `--repo` and `--insecure-*` cannot be
//! reached. Secrets (password, repository URL, backend keys) go in the
//! environment only.

use std::fmt;

use crate::arg::{ArgError, SafeArg};
use crate::env;

/// Where and how to open a repository: secrets, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoAccess {
    /// The repository URL (may carry credentials).
    pub url: String,
    /// The repository password.
    pub password: String,
    /// Backend environment (e.g. `AWS_ACCESS_KEY_ID`); names are checked.
    pub env: Vec<(String, String)>,
}

impl fmt::Debug for RepoAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoAccess")
            .field("url", &"<redacted>")
            .field("password", &"<redacted>")
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Backend variables a repository may set. Anything else — notably
/// `RESTIC_PASSWORD_COMMAND`, `RESTIC_PASSWORD_FILE`, `LD_PRELOAD`, `PATH` —
/// is refused: it could make restic run a command or read another secret.
const ALLOWED_ENV_PREFIXES: &[&str] = &["AWS_", "B2_", "AZURE_", "GOOGLE_", "OS_", "ST_"];
const ALLOWED_ENV_NAMES: &[&str] = &[
    "RESTIC_REST_USERNAME",
    "RESTIC_REST_PASSWORD",
    "RESTIC_COMPRESSION",
    "RESTIC_PACK_SIZE",
];
const REFUSED_ENV_NAMES: &[&str] = &["GOOGLE_APPLICATION_CREDENTIALS"];

/// Checks a backend variable's name and value.
pub fn check_env(name: &str, value: &str) -> Result<(), ArgError> {
    let named_ok = name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !REFUSED_ENV_NAMES.contains(&name)
        && (ALLOWED_ENV_NAMES.contains(&name)
            || ALLOWED_ENV_PREFIXES.iter().any(|p| name.starts_with(p)));
    if !named_ok {
        return Err(ArgError::ForbiddenEnv {
            name: name.chars().take(64).collect(),
        });
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(ArgError::ControlCharacter {
            field: "environment value",
        });
    }
    Ok(())
}

/// Checks a repository URL: it goes in the environment, but must still not
/// be able to pose as a flag or smuggle a line break.
pub fn check_repository_url(url: &str) -> Result<(), ArgError> {
    SafeArg::new("repository URL", url).map(|_| ())
}

/// A snapshot reference: `latest` or 8 to 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRef(String);

impl SnapshotRef {
    /// Checks a snapshot reference.
    pub fn new(value: &str) -> Result<SnapshotRef, ArgError> {
        let hex = (8..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit());
        if value == "latest" || hex {
            Ok(SnapshotRef(value.to_ascii_lowercase()))
        } else {
            Err(ArgError::Invalid {
                field: "snapshot",
                reason: "expected `latest` or a hex snapshot id".into(),
            })
        }
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to back up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSpec {
    pub paths: Vec<SafeArg>,
    pub excludes: Vec<SafeArg>,
    pub tags: Vec<SafeArg>,
    /// The hostname to record (restic's `--host`); default the machine's.
    pub host: Option<SafeArg>,
    /// KiB/s.
    pub limit_upload: Option<u32>,
    /// KiB/s.
    pub limit_download: Option<u32>,
}

/// What to restore, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSpec {
    pub snapshot: SnapshotRef,
    /// Already resolved and checked against the agent's restore roots.
    pub target: SafeArg,
    pub includes: Vec<SafeArg>,
    pub excludes: Vec<SafeArg>,
}

/// Which snapshots to keep when forgetting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// A restic duration such as `30d` or `1y2m`.
    pub keep_within: Option<SafeArg>,
    pub keep_tags: Vec<SafeArg>,
}

impl RetentionPolicy {
    /// Whether it keeps anything at all (restic refuses an empty policy).
    pub fn is_empty(&self) -> bool {
        self == &RetentionPolicy::default()
    }
}

/// One restic operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create the repository.
    Init,
    /// Back up paths.
    Backup(BackupSpec),
    /// List snapshots (optionally one host's).
    Snapshots { host: Option<SafeArg> },
    /// Restore a snapshot.
    Restore(RestoreSpec),
    /// List a directory of a snapshot.
    Ls {
        snapshot: SnapshotRef,
        path: Option<SafeArg>,
    },
    /// Compare two snapshots.
    Diff { from: SnapshotRef, to: SnapshotRef },
    /// Forget snapshots by policy (never prunes: prune is its own operation).
    Forget {
        policy: RetentionPolicy,
        host: Option<SafeArg>,
    },
    /// Remove unreferenced data.
    Prune { max_unused: Option<SafeArg> },
    /// Verify the repository, optionally reading a subset of the data.
    Check { read_data_subset: Option<SafeArg> },
    /// Remove stale locks (never `--remove-all`).
    Unlock,
    /// Repository size statistics.
    Stats,
}

/// A restic command line and environment, ready to spawn.
#[derive(Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Environment to set (the child starts from a cleared environment plus
    /// these and `PATH`/`HOME`/`TMPDIR` from the agent).
    pub env: Vec<(String, String)>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("args", &self.args)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn push_each(args: &mut Vec<String>, flag: &str, values: &[SafeArg]) {
    for value in values {
        args.push(flag.to_string());
        args.push(value.as_str().to_string());
    }
}

fn push_opt(args: &mut Vec<String>, flag: &str, value: Option<impl ToString>) {
    if let Some(value) = value {
        args.push(flag.to_string());
        args.push(value.to_string());
    }
}

impl Operation {
    /// The restic subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Init => "init",
            Operation::Backup(_) => "backup",
            Operation::Snapshots { .. } => "snapshots",
            Operation::Restore(_) => "restore",
            Operation::Ls { .. } => "ls",
            Operation::Diff { .. } => "diff",
            Operation::Forget { .. } => "forget",
            Operation::Prune { .. } => "prune",
            Operation::Check { .. } => "check",
            Operation::Unlock => "unlock",
            Operation::Stats => "stats",
        }
    }

    /// Whether restic takes an exclusive lock for it (one at a time per
    /// repository, fleet-wide).
    pub fn is_exclusive(&self) -> bool {
        matches!(
            self,
            Operation::Prune { .. }
                | Operation::Check { .. }
                | Operation::Forget { .. }
                | Operation::Unlock
        )
    }

    /// The argv and environment for this operation on `repo`.
    pub fn invocation(&self, repo: &RepoAccess) -> Result<Invocation, ArgError> {
        check_repository_url(&repo.url)?;
        for (name, value) in &repo.env {
            check_env(name, value)?;
        }
        let mut args = vec![self.name().to_string()];
        match self {
            Operation::Init | Operation::Unlock => {}
            Operation::Backup(spec) => {
                if spec.paths.is_empty() {
                    return Err(ArgError::Empty { field: "paths" });
                }
                args.push("--json".into());
                push_each(&mut args, "--tag", &spec.tags);
                push_each(&mut args, "--exclude", &spec.excludes);
                push_opt(&mut args, "--host", spec.host.as_ref());
                push_opt(&mut args, "--limit-upload", spec.limit_upload);
                push_opt(&mut args, "--limit-download", spec.limit_download);
                args.push("--".into());
                args.extend(spec.paths.iter().map(|p| p.as_str().to_string()));
            }
            Operation::Snapshots { host } => {
                args.push("--json".into());
                push_opt(&mut args, "--host", host.as_ref());
            }
            Operation::Restore(spec) => {
                args.push(spec.snapshot.as_str().to_string());
                args.push("--target".into());
                args.push(spec.target.as_str().to_string());
                push_each(&mut args, "--include", &spec.includes);
                push_each(&mut args, "--exclude", &spec.excludes);
            }
            Operation::Ls { snapshot, path } => {
                args.push("--json".into());
                args.push(snapshot.as_str().to_string());
                if let Some(path) = path {
                    args.push("--".into());
                    args.push(path.as_str().to_string());
                }
            }
            Operation::Diff { from, to } => {
                args.push("--json".into());
                args.push(from.as_str().to_string());
                args.push(to.as_str().to_string());
            }
            Operation::Forget { policy, host } => {
                if policy.is_empty() {
                    return Err(ArgError::Invalid {
                        field: "retention policy",
                        reason: "keeps nothing: set at least one keep rule".into(),
                    });
                }
                args.push("--json".into());
                push_opt(&mut args, "--keep-last", policy.keep_last);
                push_opt(&mut args, "--keep-hourly", policy.keep_hourly);
                push_opt(&mut args, "--keep-daily", policy.keep_daily);
                push_opt(&mut args, "--keep-weekly", policy.keep_weekly);
                push_opt(&mut args, "--keep-monthly", policy.keep_monthly);
                push_opt(&mut args, "--keep-yearly", policy.keep_yearly);
                push_opt(&mut args, "--keep-within", policy.keep_within.as_ref());
                push_each(&mut args, "--keep-tag", &policy.keep_tags);
                push_opt(&mut args, "--host", host.as_ref());
            }
            Operation::Prune { max_unused } => {
                push_opt(&mut args, "--max-unused", max_unused.as_ref())
            }
            Operation::Check { read_data_subset } => {
                push_opt(&mut args, "--read-data-subset", read_data_subset.as_ref())
            }
            Operation::Stats => args.push("--json".into()),
        }
        let mut env_out = vec![
            (env::REPOSITORY.to_string(), repo.url.clone()),
            (env::PASSWORD.to_string(), repo.password.clone()),
        ];
        env_out.extend(repo.env.iter().cloned());
        Ok(Invocation { args, env: env_out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoAccess {
        RepoAccess {
            url: "rest:http://user:s3cret@127.0.0.1:8000/repo".into(),
            password: "hunter2".into(),
            env: vec![("AWS_ACCESS_KEY_ID".into(), "AKIA".into())],
        }
    }

    fn arg(v: &str) -> SafeArg {
        SafeArg::new("test", v).expect("safe")
    }

    #[test]
    fn backup_puts_paths_after_the_end_of_options_and_secrets_in_the_environment() {
        let op = Operation::Backup(BackupSpec {
            paths: vec![arg("/srv"), arg("/etc")],
            excludes: vec![arg("*.tmp")],
            tags: vec![arg("nightly")],
            limit_upload: Some(512),
            ..Default::default()
        });
        let inv = op.invocation(&repo()).expect("invocation");
        assert_eq!(
            inv.args,
            [
                "backup",
                "--json",
                "--tag",
                "nightly",
                "--exclude",
                "*.tmp",
                "--limit-upload",
                "512",
                "--",
                "/srv",
                "/etc"
            ]
        );
        let joined = inv.args.join(" ");
        assert!(
            !joined.contains("hunter2") && !joined.contains("s3cret"),
            "no secret in argv"
        );
        assert!(
            inv.env
                .contains(&("RESTIC_PASSWORD".into(), "hunter2".into()))
        );
        assert!(!format!("{inv:?}").contains("hunter2"));
        assert!(!format!("{:?}", repo()).contains("s3cret"));
    }

    #[test]
    fn dangerous_environment_is_refused() {
        for name in [
            "RESTIC_PASSWORD_COMMAND",
            "RESTIC_PASSWORD_FILE",
            "LD_PRELOAD",
            "PATH",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "aws_lower",
        ] {
            let mut r = repo();
            r.env = vec![(name.into(), "x".into())];
            assert!(
                Operation::Init.invocation(&r).is_err(),
                "{name} must be refused"
            );
        }
        let mut r = repo();
        r.url = "--password-command=sh".into();
        assert!(Operation::Init.invocation(&r).is_err());
    }

    #[test]
    fn snapshot_refs_forget_and_empty_backups_are_checked() {
        assert!(SnapshotRef::new("latest").is_ok());
        assert!(SnapshotRef::new("03bfeb45").is_ok());
        for bad in ["--target=/", "0x12", "abc", "latest;rm"] {
            assert!(SnapshotRef::new(bad).is_err(), "{bad}");
        }
        let empty = Operation::Forget {
            policy: RetentionPolicy::default(),
            host: None,
        };
        assert!(empty.invocation(&repo()).is_err());
        assert!(
            Operation::Backup(BackupSpec::default())
                .invocation(&repo())
                .is_err()
        );
        let unlock = Operation::Unlock.invocation(&repo()).expect("unlock");
        assert_eq!(unlock.args, ["unlock"], "never --remove-all");
    }
}
