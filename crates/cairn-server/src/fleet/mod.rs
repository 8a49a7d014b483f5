//! The fleet: hosts and their agents. Operators list, approve, reject,
//! revoke, delete and label hosts and manage enrollment tokens here; the
//! agent gateway opens and serves sessions through `session`.

mod announce;
mod catchup;
mod clean;
mod firing;
mod inbound;
mod outbound;
mod registry;
mod reports;
mod session;
mod wake;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_store::{
    EnrollmentToken, EnrollmentTokenId, Host, HostFilter, HostId, HostIds, HostStatus, Millis,
    NewEnrollmentToken, Outcome, Page, PageOf, Scope, Store, StoreError,
};

use crate::audit::Auditor;
use crate::auth::{Principal, SecretToken, TokenKind};
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};

pub(crate) use clean::clean_text;
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
        settings: FleetSettings,
    ) -> (Self, DispatchWakes) {
        let dispatch = DispatchWakes::default();
        let wake = dispatch.clone();
        let fleet = Self {
            store,
            clock,
            auditor,
            registry: Arc::default(),
            settings,
            dispatch,
            hub: crate::jobs::JobHub::with_message_limit(settings.max_message_size),
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

    /// Asks the dispatcher to send `host` its queued jobs.
    pub(crate) fn request_dispatch(&self, host: HostId) {
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

    fn view(&self, host: Host) -> HostView {
        let online = self.registry.is_online(host.id);
        HostView { host, online }
    }

    /// Hosts, filtered by status, labels (all must match) and liveness.
    pub async fn list_hosts(
        &self,
        p: &Principal,
        status: Option<HostStatus>,
        label_selector: &BTreeMap<String, String>,
        online: Option<bool>,
        page: Page,
    ) -> ServiceResult<PageOf<HostView>> {
        p.require(Scope::Read)?;
        // Every filter is part of the store's query, so pages are full while
        // a next one exists. One look at the registry both filters and shows
        // liveness, so a host listed as online is shown online.
        let live = self.registry.online_hosts();
        let ids = online.map(|wanted| match wanted {
            true => HostIds::In(live.iter().copied().collect()),
            false => HostIds::NotIn(live.iter().copied().collect()),
        });
        let filter = HostFilter {
            status,
            labels: label_selector.clone(),
            ids,
        };
        let hosts = self.store.list_hosts(filter, page).await?;
        let items = hosts
            .items
            .into_iter()
            .map(|host| HostView {
                online: live.contains(&host.id),
                host,
            })
            .collect();
        Ok(PageOf {
            items,
            next: hosts.next,
        })
    }

    /// One host.
    pub async fn get_host(&self, p: &Principal, id: HostId) -> ServiceResult<HostView> {
        p.require(Scope::Read)?;
        Ok(self.view(self.store.host(id).await?))
    }

    /// Approves a pending (or rejected) host. If its agent is connected it is
    /// welcomed at once, without a restart. With `expected_fingerprint`, the
    /// approval only happens if the host's fingerprint matches it.
    pub async fn approve(
        &self,
        p: &Principal,
        id: HostId,
        expected_fingerprint: Option<&str>,
    ) -> ServiceResult<HostView> {
        let target = Some(format!("host:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "host.approve", target.clone())
            .await?;
        if let Some(expected) = expected_fingerprint.filter(|e| !e.is_empty()) {
            let host = self.store.host(id).await?;
            if !host.fingerprint.eq_ignore_ascii_case(expected.trim()) {
                self.auditor
                    .record(
                        p,
                        "host.approve",
                        target,
                        Outcome::Failed,
                        Some("fingerprint mismatch".into()),
                    )
                    .await;
                return Err(ServiceError::FailedPrecondition(format!(
                    "fingerprint mismatch: the host shows {}, not {expected}",
                    host.fingerprint
                )));
            }
        }
        let host = self
            .change_status(
                p,
                id,
                &[HostStatus::Pending, HostStatus::Rejected],
                HostStatus::Approved,
                None,
                "host.approve",
            )
            .await?;
        self.registry.approved(id);
        if self.registry.send(
            id,
            outbound::welcome(&host, &self.settings, self.clock.now()),
        ) {
            // Start the replay: tell the agent where the server stands.
            let last = self.store.last_applied_seq(id).await?;
            self.registry.send(id, ToAgent::Ack(last));
            self.push_schedules(id).await?;
            self.request_dispatch(id);
        }
        Ok(self.view(host))
    }

    /// Rejects a pending host; its agent is told why and its stream closed.
    pub async fn reject(&self, p: &Principal, id: HostId, reason: &str) -> ServiceResult<HostView> {
        self.auditor
            .authorize(p, Scope::Operate, "host.reject", Some(format!("host:{id}")))
            .await?;
        let reason = clean::clean_text(reason, 500);
        let reason = if reason.is_empty() {
            "rejected by an operator".to_string()
        } else {
            reason
        };
        let host = self
            .change_status(
                p,
                id,
                &[HostStatus::Pending],
                HostStatus::Rejected,
                Some(reason.clone()),
                "host.reject",
            )
            .await?;
        self.end_session(&host, &reason);
        Ok(self.view(host))
    }

    /// Revokes a host's identity for good; its live stream is closed at once.
    pub async fn revoke(&self, p: &Principal, id: HostId, reason: &str) -> ServiceResult<HostView> {
        self.auditor
            .authorize(p, Scope::Operate, "host.revoke", Some(format!("host:{id}")))
            .await?;
        let reason = clean::clean_text(reason, 500);
        let reason = if reason.is_empty() {
            "identity revoked by an operator".to_string()
        } else {
            reason
        };
        let host = self
            .change_status(
                p,
                id,
                &[HostStatus::Pending, HostStatus::Approved],
                HostStatus::Revoked,
                Some(reason.clone()),
                "host.revoke",
            )
            .await?;
        self.end_session(&host, &reason);
        Ok(self.view(host))
    }

    /// Deletes a host. Its identity is forgotten: if the agent announces
    /// again, it lands in pending like any new host.
    pub async fn delete(&self, p: &Principal, id: HostId) -> ServiceResult<()> {
        let target = Some(format!("host:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "host.delete", target.clone())
            .await?;
        let host = self.store.delete_host(id).await?;
        self.registry.close(
            id,
            ServiceError::Refused("this host was deleted on the server".into()),
        );
        self.auditor
            .record(
                p,
                "host.delete",
                target,
                Outcome::Success,
                Some(host.facts.hostname),
            )
            .await;
        Ok(())
    }

    /// Replaces a host's labels.
    pub async fn set_labels(
        &self,
        p: &Principal,
        id: HostId,
        labels: BTreeMap<String, String>,
    ) -> ServiceResult<HostView> {
        let target = Some(format!("host:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "host.label", target.clone())
            .await?;
        check_labels(&labels)?;
        let detail = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let host = self.store.set_host_labels(id, labels).await?;
        self.auditor
            .record(p, "host.label", target, Outcome::Success, Some(detail))
            .await;
        Ok(self.view(host))
    }

    async fn change_status(
        &self,
        p: &Principal,
        id: HostId,
        from: &'static [HostStatus],
        to: HostStatus,
        reason: Option<String>,
        action: &str,
    ) -> ServiceResult<Host> {
        let target = Some(format!("host:{id}"));
        match self
            .store
            .set_host_status(id, from, to, reason, p.operator_id(), self.clock.now())
            .await
        {
            Ok(host) => {
                self.auditor
                    .record(
                        p,
                        action,
                        target,
                        Outcome::Success,
                        Some(host.facts.hostname.clone()),
                    )
                    .await;
                Ok(host)
            }
            Err(StoreError::Conflict { .. }) => {
                let current = self.store.host(id).await?;
                self.auditor
                    .record(
                        p,
                        action,
                        target,
                        Outcome::Failed,
                        Some(format!("host is {}", current.status)),
                    )
                    .await;
                Err(ServiceError::FailedPrecondition(format!(
                    "host {id} is {}: cannot {}",
                    current.status,
                    action.trim_start_matches("host.")
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Tells a connected agent it is refused, then closes its stream.
    fn end_session(&self, host: &Host, reason: &str) {
        let refused = outbound::rejected(host, reason, &self.settings, self.clock.now());
        self.registry.send(host.id, refused);
        self.registry
            .close(host.id, ServiceError::Refused(reason.to_string()));
    }

    /// Creates an enrollment token; the secret is returned once.
    pub async fn create_enrollment_token(
        &self,
        p: &Principal,
        name: &str,
        ttl: Duration,
        max_uses: u32,
        labels: BTreeMap<String, String>,
    ) -> ServiceResult<CreatedEnrollmentToken> {
        self.auditor
            .authorize(p, Scope::Admin, "enrollment_token.create", None)
            .await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "name",
                "must be 1 to 100 printable characters",
            ));
        }
        if ttl.is_zero() || ttl > MAX_ENROLL_TTL {
            return Err(ServiceError::invalid(
                "ttl",
                "must be more than 0 and at most 30 days",
            ));
        }
        check_labels(&labels)?;
        let secret = SecretToken::generate(TokenKind::Enroll);
        let now = self.clock.now();
        let token = self
            .store
            .create_enrollment_token(
                NewEnrollmentToken {
                    name: name.to_string(),
                    prefix: secret.display_prefix(),
                    token_hash: secret.hash(),
                    labels,
                    max_uses,
                    expires_at: now + ttl.as_millis() as Millis,
                    created_by: p.operator_id(),
                },
                now,
            )
            .await?;
        self.auditor
            .record(
                p,
                "enrollment_token.create",
                Some(format!("enrollment_token:{}", token.id)),
                Outcome::Success,
                Some(token.name.clone()),
            )
            .await;
        Ok(CreatedEnrollmentToken { token, secret })
    }

    /// Enrollment tokens, newest first.
    pub async fn list_enrollment_tokens(
        &self,
        p: &Principal,
        include_inactive: bool,
        page: Page,
    ) -> ServiceResult<PageOf<EnrollmentToken>> {
        self.auditor
            .authorize(p, Scope::Admin, "enrollment_token.list", None)
            .await?;
        Ok(self
            .store
            .list_enrollment_tokens(include_inactive, page, self.clock.now())
            .await?)
    }

    /// Revokes an enrollment token.
    pub async fn revoke_enrollment_token(
        &self,
        p: &Principal,
        id: EnrollmentTokenId,
    ) -> ServiceResult<EnrollmentToken> {
        let target = Some(format!("enrollment_token:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "enrollment_token.revoke", target.clone())
            .await?;
        let token = self
            .store
            .revoke_enrollment_token(id, self.clock.now())
            .await?;
        self.auditor
            .record(
                p,
                "enrollment_token.revoke",
                target,
                Outcome::Success,
                Some(token.name.clone()),
            )
            .await;
        Ok(token)
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
