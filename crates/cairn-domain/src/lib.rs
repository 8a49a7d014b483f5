//! Cairn's domain types: what the store keeps and the core reasons about.
//!
//! Nothing here knows protobuf or SQL. The wire layer (`cairn-proto`'s
//! `convert` module) maps these to and from the protocol in one place; the
//! store keeps them as versioned JSON (`docs/store.md`); `cairn-restic`
//! checks a [`JobSpec`] and turns it into restic's argv.
//!
//! Specs mirror the protocol's messages field for field, with the same
//! meaning of zero ("not set"), so a conversion never has to guess.

#![forbid(unsafe_code)]

mod kinds;
pub mod protocol;
mod report;
mod results;
mod spec;

pub use kinds::{
    AlertKind, AlertState, CatchUp, JobKind, JobStatus, LogLevel, LogStream, PendingState,
    RestoreOverwrite, Severity, Trigger,
};
pub use report::{BackupSummary, Progress};
pub use results::{
    BrowsePart, ChangeKind, DiffChange, DiffStats, EntryKind, SnapshotDiff, TreeEntry,
};
pub use spec::{
    BackupSpec, BrowseSpec, CheckSpec, DiffSpec, ForgetSpec, InitSpec, JobSpec, MaxUnused,
    PruneSpec, ReadDataSubset, RestoreSpec, RetentionPolicy, RetentionSpan, SnapshotGrouping,
    UnlockSpec,
};

/// Milliseconds since the Unix epoch, UTC: how every time is kept.
pub type Millis = i64;
