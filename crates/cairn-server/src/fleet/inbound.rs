//! What an agent says, in the core's types. The wire edge
//! (`grpc::agent::decode`) makes these from the protocol's messages without
//! judging them; the session checks, cleans and applies them
//! (`session.rs`, `reports.rs`). Times are as the agent sent them: `None`
//! only when they do not fit a millisecond count at all.

use cairn_domain::{BackupSummary, BrowsePart, LogLevel, LogStream, Progress, SnapshotDiff};
use cairn_store::{HostFacts, JobId, Millis, RepositoryId, ScheduleId};

/// The message that opens a session. Its tokens are secrets: `Debug`
/// redacts them, and only their hashes are kept.
#[derive(Clone)]
pub struct Hello {
    /// The agent's identity token.
    pub identity_token: String,
    /// An enrollment token, for a host that enrolls with one (empty: none).
    pub enroll_token: String,
    /// What the agent says about its host, not yet cleaned.
    pub facts: HostFacts,
    /// The highest seq the agent has sent (its spool's end).
    pub last_seq: u64,
    /// The jobs the agent is running.
    pub running: Vec<JobId>,
}

impl std::fmt::Debug for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hello")
            .field("identity_token", &"<redacted>")
            .field("enroll_token", &"<redacted>")
            .field("facts", &self.facts)
            .field("last_seq", &self.last_seq)
            .field("running", &self.running)
            .finish()
    }
}

/// One message of a live session after `Hello`.
#[derive(Debug, Clone)]
pub struct AgentMessage {
    /// The agent's sequence number (0 for heartbeats).
    pub seq: u64,
    pub report: Report,
}

/// What the agent reports.
#[derive(Debug, Clone)]
pub enum Report {
    /// A message without a body.
    Empty,
    /// A second `Hello`.
    Hello,
    Heartbeat {
        running: Vec<JobId>,
        /// When the agent sent it, by its own clock.
        sent_at: Option<Millis>,
    },
    SchedulesApplied {
        version: u64,
    },
    ScheduleFired(Fired),
    JobAccepted {
        job: JobId,
    },
    JobLog {
        job: JobId,
        lines: Vec<ReportedLine>,
    },
    JobProgress {
        job: JobId,
        progress: Progress,
    },
    JobFinished(Finished),
    SnapshotList(SnapshotPart),
    BrowseResult {
        job: JobId,
        part: BrowsePart,
    },
    /// A kind of message this server does not act on; its seq is still
    /// recorded so the agent's spool drains.
    Other,
}

/// A schedule firing the agent reports.
#[derive(Debug, Clone)]
pub struct Fired {
    pub schedule: ScheduleId,
    pub fire_at: Option<Millis>,
    /// Reported long after its time (the host slept or was cut off).
    pub late: bool,
}

/// A log line as the agent sent it.
#[derive(Debug, Clone)]
pub struct ReportedLine {
    pub at: Option<Millis>,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: String,
}

/// How the agent says a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    Failed,
    Cancelled,
}

/// A job's end, as the agent reports it.
#[derive(Debug, Clone)]
pub struct Finished {
    pub job: JobId,
    pub outcome: JobOutcome,
    pub warning: bool,
    pub exit_code: Option<i32>,
    pub error: String,
    pub summary: Option<BackupSummary>,
    /// A diff job's result.
    pub diff: Option<SnapshotDiff>,
}

/// One part of a repository's snapshot list.
#[derive(Debug, Clone)]
pub struct SnapshotPart {
    pub job: JobId,
    pub repository: RepositoryId,
    pub part: u32,
    pub snapshots: Vec<ListedSnapshot>,
}

/// A snapshot as the agent listed it.
#[derive(Debug, Clone, Default)]
pub struct ListedSnapshot {
    pub id: String,
    pub short_id: String,
    pub time: Option<Millis>,
    pub hostname: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    pub parent: String,
    pub tree: String,
}
