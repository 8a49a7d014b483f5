//! What restic prints: `--json` messages (one object per line, or one array)
//! and, on failure, text on stderr. Parsed leniently: unknown fields and
//! message types are skipped, so newer restic versions keep working.

use serde::Deserialize;

/// A progress report during `backup`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BackupStatus {
    pub seconds_elapsed: u64,
    pub seconds_remaining: u64,
    pub percent_done: f64,
    pub total_files: u64,
    pub files_done: u64,
    pub total_bytes: u64,
    pub bytes_done: u64,
    pub error_count: u64,
    pub current_files: Vec<String>,
}

/// The end of a successful `backup`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BackupSummary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unmodified: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    pub data_added: u64,
    /// As stored, after compression; restic 0.17+ only (0 before).
    pub data_added_packed: u64,
    pub total_files_processed: u64,
    pub total_bytes_processed: u64,
    pub total_duration: f64,
    /// Short (restic 0.14–0.16) or full (0.17+) id of the new snapshot.
    pub snapshot_id: String,
}

/// One line of `backup --json`.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupMessage {
    Status(BackupStatus),
    Summary(BackupSummary),
    /// A file or directory restic could not read (the backup goes on).
    Error {
        item: String,
        message: String,
    },
    /// Anything else (`verbose_status`, newer types).
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
enum RawBackupMessage {
    Status(BackupStatus),
    Summary(BackupSummary),
    Error {
        #[serde(default)]
        item: String,
        #[serde(default)]
        error: Option<serde_json::Value>,
    },
    #[serde(other)]
    Other,
}

impl BackupMessage {
    /// Parses one line; `None` for a line that is not a JSON message (restic
    /// 0.14 prints some warnings as text).
    pub fn parse(line: &str) -> Option<BackupMessage> {
        let raw: RawBackupMessage = serde_json::from_str(line.trim()).ok()?;
        Some(match raw {
            RawBackupMessage::Status(s) => BackupMessage::Status(s),
            RawBackupMessage::Summary(s) => BackupMessage::Summary(s),
            RawBackupMessage::Error { item, error } => BackupMessage::Error {
                item,
                message: match error {
                    Some(serde_json::Value::Object(map)) => map
                        .get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or("unreadable")
                        .to_string(),
                    Some(other) => other.to_string(),
                    None => "unreadable".into(),
                },
            },
            RawBackupMessage::Other => BackupMessage::Other,
        })
    }
}

/// A snapshot as `snapshots --json` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    pub time: String,
    pub hostname: String,
    pub username: String,
    pub paths: Vec<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    pub parent: Option<String>,
    pub tree: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Parses `snapshots --json` (one JSON array).
pub fn parse_snapshots(output: &str) -> Result<Vec<Snapshot>, serde_json::Error> {
    serde_json::from_str(output.trim())
}

/// A file or directory in `ls --json` output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LsNode {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub size: u64,
    pub mode: u64,
    pub mtime: String,
}

/// Parses `ls --json`: the first line describes the snapshot, each further
/// line a node.
pub fn parse_ls(output: &str) -> Vec<LsNode> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v.get("struct_type").and_then(|t| t.as_str()) == Some("node"))
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// How restic's exit code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 0: done.
    Success,
    /// 3: a snapshot was made, but some source files could not be read. A
    /// warning, not a failure.
    Incomplete,
    /// Anything else.
    Failed,
}

/// Classifies restic's exit code.
pub fn classify_exit(code: Option<i32>) -> ExitKind {
    match code {
        Some(0) => ExitKind::Success,
        Some(3) => ExitKind::Incomplete,
        _ => ExitKind::Failed,
    }
}

/// Why restic failed, read from its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResticFailure {
    /// The password does not open the repository.
    WrongPassword,
    /// Another (possibly dead) process holds a lock.
    Locked,
    /// There is no repository at the URL.
    NoRepository,
    /// Something else; the first meaningful stderr line.
    Other(String),
}

/// Reads restic's stderr for the reason it failed.
pub fn classify_stderr(stderr: &str) -> ResticFailure {
    let lower = stderr.to_lowercase();
    if lower.contains("wrong password") {
        ResticFailure::WrongPassword
    } else if lower.contains("repository is already locked")
        || lower.contains("unable to create lock")
    {
        ResticFailure::Locked
    } else if lower.contains("does not exist") && lower.contains("repository")
        || lower.contains("unable to open config file")
    {
        ResticFailure::NoRepository
    } else {
        // restic 0.17+ ends with a JSON `exit_error` message under --json.
        let json_message = stderr.lines().rev().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
            (value.get("message_type")?.as_str()? == "exit_error")
                .then(|| value.get("message")?.as_str().map(str::to_string))?
        });
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
        let line = json_message
            .as_deref()
            .or(first)
            .unwrap_or("restic failed without a message");
        ResticFailure::Other(
            line.strip_prefix("Fatal: ")
                .unwrap_or(line)
                .chars()
                .take(500)
                .collect(),
        )
    }
}

impl std::fmt::Display for ResticFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResticFailure::WrongPassword => f.write_str("wrong password or no key found"),
            ResticFailure::Locked => f.write_str("repository is locked by another restic process"),
            ResticFailure::NoRepository => {
                f.write_str("no repository at this URL (initialise it first)")
            }
            ResticFailure::Other(line) => f.write_str(line),
        }
    }
}

/// One changed path in `diff --json`; `modifier` is restic's letter: `+`
/// added, `-` removed, `M` content, `U` metadata, `T` type, `?` unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffChange {
    pub path: String,
    pub modifier: String,
}

/// The totals of `diff --json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffTotals {
    pub changed_files: u64,
    pub added_files: u64,
    pub added_dirs: u64,
    pub added_bytes: u64,
    pub removed_files: u64,
    pub removed_dirs: u64,
    pub removed_bytes: u64,
}

/// Parses `diff --json`: `change` lines, then one `statistics` line.
pub fn parse_diff(output: &str) -> (Vec<DiffChange>, DiffTotals) {
    let mut changes = Vec::new();
    let mut totals = DiffTotals::default();
    for line in output.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
            continue;
        };
        let text = |v: &serde_json::Value, key: &str| {
            v.get(key)
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string()
        };
        let number =
            |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_u64()).unwrap_or(0);
        match value.get("message_type").and_then(|t| t.as_str()) {
            Some("change") => changes.push(DiffChange {
                path: text(&value, "path"),
                modifier: text(&value, "modifier"),
            }),
            Some("statistics") => {
                let empty = serde_json::Value::Null;
                let added = value.get("added").unwrap_or(&empty);
                let removed = value.get("removed").unwrap_or(&empty);
                totals = DiffTotals {
                    changed_files: number(&value, "changed_files"),
                    added_files: number(added, "files"),
                    added_dirs: number(added, "dirs"),
                    added_bytes: number(added, "bytes"),
                    removed_files: number(removed, "files"),
                    removed_dirs: number(removed, "dirs"),
                    removed_bytes: number(removed, "bytes"),
                };
            }
            _ => {}
        }
    }
    (changes, totals)
}
