//! What a browse or diff job found: handed to the operator who asked, never
//! stored.

use crate::Millis;

/// One part of a snapshot directory's listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowsePart {
    /// The directory listed.
    pub path: String,
    pub entries: Vec<TreeEntry>,
    /// The agent stopped at its limit: the directory has more entries.
    pub truncated: bool,
    /// 0-based part number.
    pub part: u32,
    /// More parts follow.
    pub more: bool,
}

/// What a tree entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EntryKind {
    #[default]
    Other,
    File,
    Dir,
    Symlink,
}

/// One entry of a snapshot directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeEntry {
    pub name: String,
    /// The full path inside the snapshot.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
    pub mtime: Option<Millis>,
}

/// How a path differs between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChangeKind {
    #[default]
    Unknown,
    Added,
    Removed,
    Modified,
    Metadata,
    TypeChanged,
}

/// One changed path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffChange {
    pub path: String,
    pub kind: ChangeKind,
}

/// Totals of a comparison, as restic reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    pub changed_files: u64,
    pub added_files: u64,
    pub added_dirs: u64,
    pub added_bytes: u64,
    pub removed_files: u64,
    pub removed_dirs: u64,
    pub removed_bytes: u64,
}

/// The result of comparing two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotDiff {
    pub snapshot_a: String,
    pub snapshot_b: String,
    pub changes: Vec<DiffChange>,
    pub stats: Option<DiffStats>,
    /// The agent stopped listing changes at its limit.
    pub truncated: bool,
}
