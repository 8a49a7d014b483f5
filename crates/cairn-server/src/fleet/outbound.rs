//! What the server tells an agent, in the core's types; the wire edge
//! (`grpc::agent::encode`) turns each into the protocol's `ServerMessage`.

use cairn_domain::JobSpec;
use cairn_restic::RepoAccess;
use cairn_store::{Host, HostId, HostStatus, JobId, Millis, RepositoryId, Schedule};

use super::FleetSettings;

/// One message to an agent.
#[derive(Debug, Clone)]
pub enum ToAgent {
    Welcome(Welcome),
    /// Everything up to this seq has been applied.
    Ack(u64),
    /// The host's full schedule set (enabled schedules only).
    SetSchedules {
        version: u64,
        schedules: Vec<Schedule>,
    },
    RunJob(RunJob),
    CancelJob {
        job: JobId,
        reason: String,
        /// Seconds between SIGINT and SIGKILL.
        grace_seconds: u32,
    },
}

/// How the server greets an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greeting {
    Approved,
    PendingApproval,
    Rejected,
    /// The agent's protocol version is outside the server's window.
    Incompatible,
}

/// The first message of a session.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub greeting: Greeting,
    pub reason: String,
    pub host_id: HostId,
    pub fingerprint: String,
    pub heartbeat_interval_seconds: u32,
    pub server_time: Millis,
    pub max_message_bytes: u32,
    /// The protocol version the server speaks, and the oldest agent one it
    /// accepts.
    pub protocol_version: u32,
    pub oldest_agent_protocol: u32,
}

/// A job to run, with its repository's secrets (redacted in `Debug`).
#[derive(Debug, Clone)]
pub struct RunJob {
    pub job: JobId,
    pub spec: JobSpec,
    pub repository: RepositoryId,
    pub access: RepoAccess,
    /// 0: no limit.
    pub timeout_seconds: u32,
}

/// Seconds an agent gives restic to stop after SIGINT.
const CANCEL_GRACE_SECONDS: u32 = 10;

/// Tells an agent to stop a job.
pub(crate) fn cancel(job: JobId, reason: &str) -> ToAgent {
    ToAgent::CancelJob {
        job,
        reason: reason.to_string(),
        grace_seconds: CANCEL_GRACE_SECONDS,
    }
}

fn greet(
    host: &Host,
    greeting: Greeting,
    reason: String,
    s: &FleetSettings,
    now: Millis,
) -> ToAgent {
    ToAgent::Welcome(Welcome {
        greeting,
        reason,
        host_id: host.id,
        fingerprint: host.fingerprint.clone(),
        heartbeat_interval_seconds: s.heartbeat_interval.as_secs().max(1) as u32,
        server_time: now,
        max_message_bytes: u32::try_from(s.max_message_size).unwrap_or(u32::MAX),
        protocol_version: cairn_domain::protocol::PROTOCOL_VERSION,
        oldest_agent_protocol: cairn_domain::protocol::OLDEST_AGENT_PROTOCOL,
    })
}

/// The `Welcome` a host's status calls for.
pub(crate) fn welcome(host: &Host, settings: &FleetSettings, now: Millis) -> ToAgent {
    let (greeting, reason) = match host.status {
        HostStatus::Approved => (Greeting::Approved, String::new()),
        HostStatus::Pending => (
            Greeting::PendingApproval,
            host.status_reason
                .clone()
                .unwrap_or_else(|| "waiting for an operator to approve this host".into()),
        ),
        HostStatus::Rejected | HostStatus::Revoked => (
            Greeting::Rejected,
            host.status_reason
                .clone()
                .unwrap_or_else(|| format!("identity {}", host.status)),
        ),
    };
    greet(host, greeting, reason, settings, now)
}

/// A `Welcome` that turns away an agent whose protocol version is outside
/// the window.
pub(crate) fn incompatible(
    host: &Host,
    why: cairn_domain::protocol::Incompatible,
    settings: &FleetSettings,
    now: Millis,
) -> ToAgent {
    greet(host, Greeting::Incompatible, why.to_string(), settings, now)
}

/// A `Welcome` that turns the agent away for `reason`.
pub(crate) fn rejected(
    host: &Host,
    reason: &str,
    settings: &FleetSettings,
    now: Millis,
) -> ToAgent {
    greet(host, Greeting::Rejected, reason.to_string(), settings, now)
}
