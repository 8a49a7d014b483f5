//! The fleet: hosts and their agents. Operators list, approve, reject,
//! revoke, delete and label hosts and manage enrollment tokens here; the
//! agent gateway opens and serves sessions through `session`.

mod announce;
mod catchup;
pub(crate) mod clean;
mod enroll;
mod firing;
mod history;
mod hosts;
mod inbound;
mod outbound;
mod registry;
pub(crate) mod reports;
mod session;
mod wake;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_store::{EnrollmentToken, Host, HostId, Millis, Store};

use crate::audit::Auditor;
use crate::auth::SecretToken;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};

pub(crate) use clean::clean_text;
pub use history::{BackupHistory, FleetHistory, MAX_HISTORY_DAYS};
pub use hosts::HostQuery;
pub use inbound::{
    AgentMessage, Finished, Fired, Hello, JobOutcome, ListedSnapshot, Report, ReportedLine,
    SnapshotPart,
};
pub(crate) use outbound::cancel;
pub use outbound::{Greeting, RunJob, ToAgent, Welcome};
pub use registry::Outbound;
pub use session::{Opened, SessionHandle};
pub(crate) use wake::DispatchWakes;

/// Longest enrollment token lifetime.
const MAX_ENROLL_TTL: Duration = Duration::from_secs(30 * 86_400);

/// Timing of the agent link.
#[derive(Debug, Clone, Copy)]
pub struct FleetSettings {
    /// How often agents send a heartbeat.
    pub heartbeat_interval: Duration,
    /// A session with no sign of life for this long is closed, the host offline.
    pub offline_after: Duration,
    /// A dispatched or running job whose agent says nothing of it for this
    /// long is lost.
    pub job_lease: Duration,
    /// A firing with no job this long after its time is a missed run.
    pub schedule_grace: Duration,
    /// The largest message accepted or sent (told to agents in `Welcome`).
    pub max_message_size: usize,
    /// The agent stops a job that runs longer than this; zero for no limit.
    pub job_timeout: Duration,
    /// Log lines kept per job (then one line saying the rest were dropped).
    pub max_log_lines_per_job: u32,
    /// Hosts waiting for approval at most; new identities beyond are refused.
    pub max_pending_hosts: u32,
    /// New identities one client address may announce per `announce_window`.
    pub max_announces_per_address: u32,
    /// The window `max_announces_per_address` counts in.
    pub announce_window: Duration,
    /// A pending host's stream is closed after this long (the agent dials
    /// again later and is still pending).
    pub pending_session_timeout: Duration,
}

/// A host with what only the live registry knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView {
    pub host: Host,
    pub online: bool,
    /// How far its agent's clock is from the server's (ms, ahead > 0), while
    /// online and once a heartbeat measured it.
    pub clock_offset_ms: Option<i64>,
}

/// An enrollment token just made, with its secret (shown once).
#[derive(Debug, Clone)]
pub struct CreatedEnrollmentToken {
    pub token: EnrollmentToken,
    pub secret: SecretToken,
}

/// The fleet service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fleet {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    registry: Arc<registry::Registry>,
    settings: FleetSettings,
    /// Wakes the dispatcher for a host (it connected, was approved, got a job).
    dispatch: DispatchWakes,
    /// Live job events, published as agents report them.
    hub: crate::jobs::JobHub,
    /// Caps on announces of new identities.
    announces: Arc<announce::AnnounceLimiter>,
}

/// Checks labels: keys of letters, digits, `.`, `_`, `-`, `/` (1–63), values
/// printable (0–255), at most 64 of them.
fn check_labels(labels: &BTreeMap<String, String>) -> ServiceResult<()> {
    if labels.len() > 64 {
        return Err(ServiceError::invalid("labels", "at most 64 labels"));
    }
    for (key, value) in labels {
        let key_ok = (1..=63).contains(&key.len())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if !key_ok {
            return Err(ServiceError::invalid(
                "labels",
                format!("label key {key:?} must be 1-63 of letters, digits, '.', '_', '-', '/'"),
            ));
        }
        if value.len() > 255 || value.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "labels",
                format!("label {key:?} has a value that is too long or not printable"),
            ));
        }
    }
    Ok(())
}

impl Fleet {
    /// The fleet service, and the receiving end of its dispatch wake-ups.
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        metrics: crate::metrics::Metrics,
        settings: FleetSettings,
    ) -> (Self, DispatchWakes) {
        let dispatch = DispatchWakes::default();
        let wake = dispatch.clone();
        let pulse = crate::pulse::Pulse::default();
        let fleet = Self {
            store,
            clock,
            auditor,
            registry: Arc::new(registry::Registry::with_pulse(pulse.clone())),
            settings,
            dispatch,
            hub: crate::jobs::JobHub::with_pulse(settings.max_message_size, pulse, metrics),
            announces: Arc::new(announce::AnnounceLimiter::new(
                settings.announce_window,
                settings.max_announces_per_address,
                settings.max_pending_hosts,
            )),
        };
        (fleet, wake)
    }

    /// The live job events.
    pub(crate) fn hub(&self) -> &crate::jobs::JobHub {
        &self.hub
    }

    /// Follows the fleet's pulse: it beats whenever a job's state or
    /// progress changes, a host connects or goes, or an operator changes a
    /// host. See [`crate::pulse`].
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.hub.pulse().subscribe()
    }

    /// Asks the dispatcher to send `host` its queued jobs.
    pub(crate) fn request_dispatch(&self, host: HostId) {
        // A wake follows a job queued or a host connected or approved: what
        // an overview shows has changed.
        self.hub.changed();
        self.dispatch.wake(host);
    }

    /// Queues a message to a connected host; `false` if it is not connected.
    pub(crate) fn send(&self, host: HostId, message: ToAgent) -> bool {
        self.registry.send(host, message)
    }

    /// Sends a connected host its full, versioned schedule set.
    pub(crate) async fn push_schedules(&self, host: HostId) -> ServiceResult<()> {
        if !self.registry.is_online(host) {
            return Ok(());
        }
        // A pending host is told nothing of its schedules (paths, tags, hook
        // names) until an operator approves it; approval pushes the set.
        if self.store.host(host).await?.status != cairn_store::HostStatus::Approved {
            return Ok(());
        }
        let version = self.store.desired_schedule_version(host).await?;
        let schedules = self
            .store
            .list_schedules(Some(host))
            .await?
            .into_iter()
            .filter(|s| s.fields.enabled)
            .collect();
        self.registry
            .send(host, ToAgent::SetSchedules { version, schedules });
        Ok(())
    }

    /// Whether a host's agent is connected now.
    pub fn is_online(&self, host: HostId) -> bool {
        self.registry.is_online(host)
    }

    /// The fleet's timing.
    pub fn settings(&self) -> FleetSettings {
        self.settings
    }

    /// How many agents are connected now.
    pub fn connected(&self) -> usize {
        self.registry.count()
    }

    /// Closes sessions that have been silent for longer than `offline_after`,
    /// every second, until `shutdown` resolves; then closes every session.
    pub(crate) async fn run_reaper(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(
            Duration::from_millis(250)
                .min(self.settings.offline_after / 4)
                .max(Duration::from_millis(10)),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let deadline = self.clock.now() - self.settings.offline_after.as_millis() as Millis;
                    let secs = self.settings.offline_after.as_secs();
                    for host in self.registry.close_silent(deadline, || ServiceError::Unavailable(format!("no sign of life for {secs} s"))) {
                        tracing::info!(%host, "agent silent for too long: marked offline, stream closed");
                    }
                    // A pending host dials again later; meanwhile it holds
                    // no stream (and no slot) here.
                    let timeout = self.settings.pending_session_timeout;
                    let deadline = self.clock.now() - timeout.as_millis() as Millis;
                    for host in self.registry.close_pending_since(deadline, || ServiceError::Unavailable(format!("still waiting for approval after {} s: dial again later", timeout.as_secs()))) {
                        tracing::info!(%host, "pending session timed out: stream closed");
                    }
                }
                () = &mut shutdown => break,
            }
        }
        self.registry
            .close_all(|| ServiceError::Unavailable("server shutting down".into()));
    }
}
