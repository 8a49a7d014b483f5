//! Typed restic operations, turned into argv and environment. Every value
//! that reaches argv is a [`SafeArg`]; options come from this code only, so
//! `-o …`, `--password-command`, `--repo` and `--insecure-*` cannot be
//! reached. Secrets (password, repository URL, backend keys) go in the
//! environment only.

use std::fmt;

use crate::arg::{ArgError, SafeArg};
use crate::backend_env::check_env;
use crate::env;
use crate::url::check_repository_url;

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
    /// Read back what was written and compare (`--verify`).
    pub verify: bool,
    /// KiB/s (`--limit-download`).
    pub limit_download: Option<u32>,
    /// What to do with files already there (`--overwrite`, restic 0.17+;
    /// only passed when it is not restic's default, so older restic runs
    /// an `Always` restore as it always did).
    pub overwrite: cairn_domain::RestoreOverwrite,
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
    pub keep_within_hourly: Option<SafeArg>,
    pub keep_within_daily: Option<SafeArg>,
    pub keep_within_weekly: Option<SafeArg>,
    pub keep_within_monthly: Option<SafeArg>,
    pub keep_within_yearly: Option<SafeArg>,
    pub keep_tags: Vec<SafeArg>,
}

impl RetentionPolicy {
    /// Whether it keeps anything at all (restic refuses an empty policy).
    pub fn is_empty(&self) -> bool {
        self == &RetentionPolicy::default()
    }
}

/// How `forget` groups snapshots (`--group-by`). All false disables
/// grouping: the policy then applies to all the selected snapshots at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grouping {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl Grouping {
    /// restic's spelling: `host,paths`, or empty for no grouping.
    pub fn as_restic(&self) -> String {
        [
            (self.host, "host"),
            (self.paths, "paths"),
            (self.tags, "tags"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// Which snapshots to forget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgetSpec {
    pub policy: RetentionPolicy,
    /// Only these hosts' snapshots (`--host` each); empty means every host's.
    pub hosts: Vec<SafeArg>,
    /// Only snapshots with one of these tags (`--tag` each).
    pub tags: Vec<SafeArg>,
    /// Only snapshots of exactly these paths (`--path` each).
    pub paths: Vec<SafeArg>,
    /// `None` keeps restic's default grouping (host and paths).
    pub group_by: Option<Grouping>,
    /// Also prune in the same run (`--prune`).
    pub prune: bool,
    /// Only report what would go (`--dry-run`).
    pub dry_run: bool,
}

/// What to prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneSpec {
    /// restic's `--max-unused` value (`5%`, a size, `unlimited`).
    pub max_unused: Option<SafeArg>,
    /// Bytes (`--max-repack-size`).
    pub max_repack_bytes: Option<u64>,
    /// Only report what would be done (`--dry-run`).
    pub dry_run: bool,
}

/// How much a check reads back. At most one of the two is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSpec {
    /// Every pack file (`--read-data`).
    pub read_data: bool,
    /// restic's `--read-data-subset` value (`n/t`, `x%`, a size).
    pub read_data_subset: Option<SafeArg>,
}

/// One restic operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create the repository, optionally in a given format version.
    Init { repository_version: Option<u32> },
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
    /// Compare two snapshots (`metadata`: also metadata-only changes).
    Diff {
        from: SnapshotRef,
        to: SnapshotRef,
        metadata: bool,
    },
    /// Forget snapshots by policy.
    Forget(ForgetSpec),
    /// Remove unreferenced data.
    Prune(PruneSpec),
    /// Verify the repository, optionally reading back data.
    Check(CheckSpec),
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

fn push_flag(args: &mut Vec<String>, flag: &str, on: bool) {
    if on {
        args.push(flag.to_string());
    }
}

fn push_policy(args: &mut Vec<String>, policy: &RetentionPolicy) {
    for (flag, count) in [
        ("--keep-last", policy.keep_last),
        ("--keep-hourly", policy.keep_hourly),
        ("--keep-daily", policy.keep_daily),
        ("--keep-weekly", policy.keep_weekly),
        ("--keep-monthly", policy.keep_monthly),
        ("--keep-yearly", policy.keep_yearly),
    ] {
        push_opt(args, flag, count);
    }
    for (flag, span) in [
        ("--keep-within", &policy.keep_within),
        ("--keep-within-hourly", &policy.keep_within_hourly),
        ("--keep-within-daily", &policy.keep_within_daily),
        ("--keep-within-weekly", &policy.keep_within_weekly),
        ("--keep-within-monthly", &policy.keep_within_monthly),
        ("--keep-within-yearly", &policy.keep_within_yearly),
    ] {
        push_opt(args, flag, span.as_ref());
    }
    push_each(args, "--keep-tag", &policy.keep_tags);
}

impl Operation {
    /// The restic subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Init { .. } => "init",
            Operation::Backup(_) => "backup",
            Operation::Snapshots { .. } => "snapshots",
            Operation::Restore(_) => "restore",
            Operation::Ls { .. } => "ls",
            Operation::Diff { .. } => "diff",
            Operation::Forget(_) => "forget",
            Operation::Prune(_) => "prune",
            Operation::Check(_) => "check",
            Operation::Unlock => "unlock",
            Operation::Stats => "stats",
        }
    }

    /// Whether restic takes an exclusive lock for it (one at a time per
    /// repository, fleet-wide).
    pub fn is_exclusive(&self) -> bool {
        matches!(
            self,
            Operation::Prune(_) | Operation::Check(_) | Operation::Forget(_) | Operation::Unlock
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
            Operation::Unlock => {}
            Operation::Init { repository_version } => {
                push_opt(&mut args, "--repository-version", *repository_version)
            }
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
                push_flag(&mut args, "--verify", spec.verify);
                push_opt(&mut args, "--limit-download", spec.limit_download);
                if spec.overwrite != cairn_domain::RestoreOverwrite::Always {
                    args.push("--overwrite".into());
                    args.push(spec.overwrite.as_str().into());
                }
            }
            Operation::Ls { snapshot, path } => {
                args.push("--json".into());
                args.push(snapshot.as_str().to_string());
                if let Some(path) = path {
                    args.push("--".into());
                    args.push(path.as_str().to_string());
                }
            }
            Operation::Diff { from, to, metadata } => {
                args.push("--json".into());
                push_flag(&mut args, "--metadata", *metadata);
                args.push(from.as_str().to_string());
                args.push(to.as_str().to_string());
            }
            Operation::Forget(spec) => {
                if spec.policy.is_empty() {
                    return Err(ArgError::Invalid {
                        field: "retention policy",
                        reason: "keeps nothing: set at least one keep rule".into(),
                    });
                }
                args.push("--json".into());
                push_flag(&mut args, "--dry-run", spec.dry_run);
                push_policy(&mut args, &spec.policy);
                push_each(&mut args, "--host", &spec.hosts);
                push_each(&mut args, "--tag", &spec.tags);
                push_each(&mut args, "--path", &spec.paths);
                if let Some(grouping) = spec.group_by {
                    args.push("--group-by".into());
                    args.push(grouping.as_restic());
                }
                push_flag(&mut args, "--prune", spec.prune);
            }
            Operation::Prune(spec) => {
                push_flag(&mut args, "--dry-run", spec.dry_run);
                push_opt(&mut args, "--max-unused", spec.max_unused.as_ref());
                push_opt(&mut args, "--max-repack-size", spec.max_repack_bytes);
            }
            Operation::Check(spec) => {
                if spec.read_data && spec.read_data_subset.is_some() {
                    return Err(ArgError::Invalid {
                        field: "check",
                        reason: "read_all_data and read_data_subset cannot both be set".into(),
                    });
                }
                push_flag(&mut args, "--read-data", spec.read_data);
                push_opt(
                    &mut args,
                    "--read-data-subset",
                    spec.read_data_subset.as_ref(),
                );
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
                Operation::Init {
                    repository_version: None
                }
                .invocation(&r)
                .is_err(),
                "{name} must be refused"
            );
        }
        let mut r = repo();
        r.url = "--password-command=sh".into();
        assert!(
            Operation::Init {
                repository_version: None
            }
            .invocation(&r)
            .is_err()
        );
    }

    #[test]
    fn snapshot_refs_forget_and_empty_backups_are_checked() {
        assert!(SnapshotRef::new("latest").is_ok());
        assert!(SnapshotRef::new("03bfeb45").is_ok());
        for bad in ["--target=/", "0x12", "abc", "latest;rm"] {
            assert!(SnapshotRef::new(bad).is_err(), "{bad}");
        }
        let empty = Operation::Forget(ForgetSpec::default());
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
