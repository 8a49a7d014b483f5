//! What a watcher of a job is told, in the core's own types: the gRPC
//! stream and the UI's SSE each encode these their own way.

use cairn_domain::Progress;
use cairn_store::{Job, JobId, JobStatus, LogLine, Millis};

/// One thing that happened to a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub job: JobId,
    /// When the server saw it.
    pub at: Millis,
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The job as it stands: the first event a watcher gets.
    Current(Job),
    /// It moved between two live states (queued, dispatched, running).
    State { from: JobStatus, to: JobStatus },
    /// The agent's progress report, as stored.
    Progress(Progress),
    /// Log lines, as stored, the first at position `first` of the job's log
    /// (so a watcher that missed some can ask for them, and drop repeats).
    Log { first: u64, lines: Vec<LogLine> },
    /// The job's final record: the last event.
    Finished(Job),
}

impl Event {
    /// Whether this is the last event of a job.
    pub fn is_final(&self) -> bool {
        matches!(self, Event::Finished(_))
    }
}
