//! Typed restic invocations.
//!
//! The agent builds every restic command line itself, from typed specs; the
//! server never sends raw flags. This crate owns the rules that make that
//! safe (no value can become a flag, no secret reaches argv) and the
//! knowledge of restic's versions and output. It knows nothing of the network.

#![forbid(unsafe_code)]

mod arg;
mod backend_env;
mod from_spec;
mod output;
mod spec;
mod url;
mod version;

pub use arg::{ArgError, SafeArg};
pub use backend_env::check_env;
pub use from_spec::operation;
pub use output::{
    BackupMessage, BackupStatus, BackupSummary, DiffChange, DiffTotals, ExitKind, LsNode,
    ResticFailure, Snapshot, classify_exit, classify_stderr, parse_diff, parse_ls, parse_snapshots,
};
pub use spec::{
    BackupSpec, CheckSpec, ForgetSpec, Grouping, Invocation, Operation, PruneSpec, RepoAccess,
    RestoreSpec, RetentionPolicy, SnapshotRef,
};
pub use url::{Backend, check_repository_url};
pub use version::{
    MIN_SUPPORTED, OverwriteUnsupported, RESTORE_OVERWRITE_SINCE, ResticVersion, VersionError,
};

/// Environment variables through which secrets reach restic. Secrets never go
/// in argv (visible in `/proc/*/cmdline` to every user of the host).
pub mod env {
    /// The repository password.
    pub const PASSWORD: &str = "RESTIC_PASSWORD";
    /// The repository URL (it can carry credentials).
    pub const REPOSITORY: &str = "RESTIC_REPOSITORY";
}

#[cfg(test)]
mod argv_tests;
