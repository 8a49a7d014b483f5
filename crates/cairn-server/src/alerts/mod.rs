//! The alert engine and its service: rules watch the fleet (failed jobs,
//! silent hosts, overdue schedules, failed checks, missed runs, unreachable
//! repositories, unusual backups), alerts fire and resolve by themselves,
//! operators acknowledge them, and every transition someone needs to hear
//! about goes to the [`Notices`] sink. See the book's alerts chapter.

mod engine;
mod rules;

use std::sync::Arc;
use std::time::Duration;

use cairn_domain::{AlertKind, AlertState, Millis, Severity};
use cairn_store::{
    Alert, AlertFilter, AlertOverride, AlertRule, HostId, NewSilence, Outcome, OverrideTarget,
    Page, PageOf, RuleChange, Scope, Silence, Store,
};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::audit::Auditor;
use crate::auth::{Principal, Via};
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::fleet::Fleet;
use crate::notice::Notices;

pub use engine::default_threshold;
pub use rules::{ANOMALY_MIN_SAMPLES, ANOMALY_WINDOW};

/// The alert service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Alerts {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    fleet: Fleet,
    notices: Notices,
    offline_after: Duration,
    /// When this server started: no host counts as silent for longer than
    /// the server has been up to hear it (agents need a moment to dial back
    /// after a restart; without this every host would fire and resolve).
    started_at: Millis,
    /// One sweep at a time (the worker's tick and a job's end may coincide).
    sweep: Arc<tokio::sync::Mutex<()>>,
}

/// A change to a rule, as an operator asks for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleUpdate {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    /// `Some(None)`: back to the kind's default.
    pub threshold: Option<Option<f64>>,
    /// `Some(None)`: no reminders.
    pub repeat_every: Option<Option<Duration>>,
    pub notify_on_resolve: Option<bool>,
}

/// A maintenance window as an operator asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRequest {
    pub host: HostId,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub note: String,
}

/// Checks a threshold for `kind`: what it means differs per kind.
pub fn check_threshold(kind: AlertKind, value: f64) -> ServiceResult<f64> {
    let bad = |reason: String| ServiceError::InvalidArgument {
        field: "threshold",
        reason,
    };
    if !value.is_finite() {
        return Err(bad(format!("{value} is not a number")));
    }
    match kind {
        AlertKind::HostOffline if value < 1.0 => {
            Err(bad("seconds offline must be at least 1".into()))
        }
        AlertKind::BackupOverdue if value <= 0.0 => {
            Err(bad("the overdue factor must be more than 0".into()))
        }
        AlertKind::MissedRuns if value < 1.0 || value.fract() != 0.0 => Err(bad(
            "missed runs must be a whole number of at least 1".into(),
        )),
        AlertKind::Anomaly if value <= 1.0 => {
            Err(bad("the anomaly factor must be more than 1".into()))
        }
        AlertKind::JobFailed
        | AlertKind::CheckFailed
        | AlertKind::RepoUnreachable
        | AlertKind::StorageFailing => Err(bad(format!("{kind} has no threshold"))),
        _ => Ok(value),
    }
}

fn note_ok(note: &str) -> ServiceResult<String> {
    if note.chars().count() > 1000 {
        return Err(ServiceError::InvalidArgument {
            field: "note",
            reason: "at most 1000 characters".into(),
        });
    }
    Ok(note.trim().to_string())
}

impl Alerts {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        fleet: Fleet,
        notices: Notices,
        offline_after: Duration,
    ) -> Self {
        let started_at = clock.now();
        Self {
            store,
            clock,
            auditor,
            fleet,
            notices,
            offline_after,
            started_at,
            sweep: Arc::default(),
        }
    }

    /// The same service, telling `notices`.
    pub(crate) fn with_notices(self, notices: Notices) -> Self {
        Self { notices, ..self }
    }

    /// The engine: sweeps every `every`, whenever the (manual) clock moves,
    /// and at once when a job ends; a lagged job stream means a sweep too.
    pub(crate) async fn run(
        self,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ends = self.fleet.hub().lifecycle();
        let mut moves = self.clock.moves();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            moves.seen();
            tokio::select! {
                _ = tick.tick() => {}
                () = moves.moved() => {}
                event = ends.recv() => match event {
                    Ok(e) if !e.event.is_final() => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                () = &mut shutdown => return,
            }
            // One sweep reads every job's end: those that came meanwhile
            // (a burst across a big fleet) need no sweep of their own.
            while let Ok(_) | Err(TryRecvError::Lagged(_)) = ends.try_recv() {}
            if let Err(err) = self.evaluate().await {
                tracing::warn!(error = %err, "alert sweep failed");
            }
        }
    }

    /// The time as the engine reads it.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Alerts, newest first. Needs read.
    pub async fn list(
        &self,
        p: &Principal,
        filter: AlertFilter,
        page: Page,
    ) -> ServiceResult<PageOf<Alert>> {
        p.require(Scope::Read)?;
        Ok(self.store.list_alerts(filter, page).await?)
    }

    /// One alert. Needs read.
    pub async fn get(&self, p: &Principal, id: i64) -> ServiceResult<Alert> {
        p.require(Scope::Read)?;
        Ok(self.store.alert(id).await?)
    }

    /// How many alerts fire unacknowledged. Needs read.
    pub async fn firing_count(&self, p: &Principal) -> ServiceResult<u64> {
        p.require(Scope::Read)?;
        Ok(self.store.firing_alert_count().await?)
    }

    /// Acknowledges an open alert: it notifies no more. Needs operate.
    pub async fn acknowledge(&self, p: &Principal, id: i64, note: &str) -> ServiceResult<Alert> {
        self.change_state(p, id, note, true).await
    }

    /// Takes an acknowledgement back: it fires (and reminds) again. Needs operate.
    pub async fn unacknowledge(&self, p: &Principal, id: i64, note: &str) -> ServiceResult<Alert> {
        self.change_state(p, id, note, false).await
    }

    async fn change_state(
        &self,
        p: &Principal,
        id: i64,
        note: &str,
        ack: bool,
    ) -> ServiceResult<Alert> {
        let action = if ack {
            "alert.acknowledge"
        } else {
            "alert.unacknowledge"
        };
        let target = Some(format!("alert:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, action, target.clone())
            .await?;
        let note = note_ok(note)?;
        // Not while a sweep runs: it read the alert as firing and could
        // still remind or resolve aloud after the acknowledgement.
        let _no_sweep = self.sweep.lock().await;
        let alert = self.store.alert(id).await?;
        if alert.state == AlertState::Resolved {
            return Err(ServiceError::FailedPrecondition(format!(
                "alert {id} is resolved"
            )));
        }
        let now = self.clock.now();
        let by = matches!(p.via, Via::Session { .. } | Via::ApiToken { .. }).then_some(p.user.id);
        let changed = if ack {
            self.store
                .acknowledge_alert(id, by, note.clone(), now)
                .await?
        } else {
            self.store
                .unacknowledge_alert(id, note.clone(), now)
                .await?
        };
        let alert = changed
            .ok_or_else(|| ServiceError::FailedPrecondition(format!("alert {id} is resolved")))?;
        self.done(p, action, target, (!note.is_empty()).then_some(note))
            .await;
        Ok(alert)
    }

    /// The rules. Needs read.
    pub async fn rules(&self, p: &Principal) -> ServiceResult<Vec<AlertRule>> {
        p.require(Scope::Read)?;
        Ok(self.store.alert_rules().await?)
    }

    /// The threshold a kind uses when its rule sets none (`None`: no threshold).
    pub fn default_threshold(&self, kind: AlertKind) -> Option<f64> {
        default_threshold(kind, self.offline_after.as_secs_f64())
    }

    /// Changes a rule. Needs admin.
    pub async fn update_rule(
        &self,
        p: &Principal,
        id: i64,
        u: RuleUpdate,
    ) -> ServiceResult<AlertRule> {
        let target = Some(format!("alert_rule:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "alert_rule.update", target.clone())
            .await?;
        let rule = self.store.alert_rule(id).await?;
        if let Some(Some(value)) = u.threshold {
            check_threshold(rule.kind, value)?;
        }
        let repeat = match u.repeat_every {
            Some(Some(d)) if d.as_secs() == 0 => {
                return Err(ServiceError::InvalidArgument {
                    field: "repeat_every",
                    reason: "at least 1 s".into(),
                });
            }
            other => other.map(|d| d.map(|d| d.as_secs())),
        };
        let change = RuleChange {
            enabled: u.enabled,
            severity: u.severity,
            threshold: u.threshold,
            repeat_every_seconds: repeat,
            notify_on_resolve: u.notify_on_resolve,
        };
        let rule = self
            .store
            .update_alert_rule(id, change, self.clock.now())
            .await?;
        self.done(p, "alert_rule.update", target, None).await;
        Ok(rule)
    }

    /// Every override. Needs read.
    pub async fn overrides(&self, p: &Principal) -> ServiceResult<Vec<AlertOverride>> {
        p.require(Scope::Read)?;
        Ok(self.store.alert_overrides().await?)
    }

    /// Sets a rule's threshold for a host or a schedule. Needs admin.
    pub async fn set_override(
        &self,
        p: &Principal,
        rule: i64,
        on: OverrideTarget,
        threshold: f64,
    ) -> ServiceResult<()> {
        let target = Some(format!("alert_rule:{rule}:{}", target_name(on)));
        self.auditor
            .authorize(p, Scope::Admin, "alert_override.set", target.clone())
            .await?;
        let kind = self.store.alert_rule(rule).await?.kind;
        check_threshold(kind, threshold)?;
        match on {
            OverrideTarget::Host(h) => drop(self.store.host(h).await?),
            OverrideTarget::Schedule(s) => drop(self.store.schedule(s).await?),
        }
        self.store
            .set_alert_override(rule, on, threshold, self.clock.now())
            .await?;
        self.done(
            p,
            "alert_override.set",
            target,
            Some(format!("threshold {threshold}")),
        )
        .await;
        Ok(())
    }

    /// Clears an override. Needs admin.
    pub async fn clear_override(
        &self,
        p: &Principal,
        rule: i64,
        on: OverrideTarget,
    ) -> ServiceResult<()> {
        let target = Some(format!("alert_rule:{rule}:{}", target_name(on)));
        self.auditor
            .authorize(p, Scope::Admin, "alert_override.clear", target.clone())
            .await?;
        if !self.store.clear_alert_override(rule, on).await? {
            return Err(ServiceError::NotFound("alert override"));
        }
        self.done(p, "alert_override.clear", target, None).await;
        Ok(())
    }

    /// Maintenance windows not yet over. Needs read.
    pub async fn silences(&self, p: &Principal) -> ServiceResult<Vec<Silence>> {
        p.require(Scope::Read)?;
        Ok(self.store.list_silences(self.clock.now()).await?)
    }

    /// Opens a maintenance window on a host. Needs operate.
    pub async fn create_silence(&self, p: &Principal, r: SilenceRequest) -> ServiceResult<Silence> {
        let target = Some(format!("host:{}", r.host));
        self.auditor
            .authorize(p, Scope::Operate, "silence.create", target.clone())
            .await?;
        let note = note_ok(&r.note)?;
        if r.ends_at <= r.starts_at {
            return Err(ServiceError::InvalidArgument {
                field: "ends_at",
                reason: "the window must end after it starts".into(),
            });
        }
        if r.ends_at <= self.clock.now() {
            return Err(ServiceError::InvalidArgument {
                field: "ends_at",
                reason: "the window is already over".into(),
            });
        }
        self.store.host(r.host).await?;
        let by = matches!(p.via, Via::Session { .. } | Via::ApiToken { .. }).then_some(p.user.id);
        let new = NewSilence {
            host_id: r.host,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            note,
            created_by: by,
        };
        let silence = self.store.create_silence(new, self.clock.now()).await?;
        self.done(
            p,
            "silence.create",
            target,
            Some(format!("silence:{}", silence.id)),
        )
        .await;
        Ok(silence)
    }

    /// Ends a maintenance window now (deletes it). Needs operate.
    pub async fn delete_silence(&self, p: &Principal, id: i64) -> ServiceResult<()> {
        let target = Some(format!("silence:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "silence.delete", target.clone())
            .await?;
        self.store.delete_silence(id).await?;
        self.done(p, "silence.delete", target, None).await;
        Ok(())
    }
}

impl Alerts {
    /// A change went through: audited once, and live views told.
    async fn done(
        &self,
        p: &Principal,
        action: &str,
        target: Option<String>,
        detail: Option<String>,
    ) {
        self.auditor
            .record(p, action, target, Outcome::Success, detail)
            .await;
        self.fleet.hub().changed();
    }
}

fn target_name(t: OverrideTarget) -> String {
    match t {
        OverrideTarget::Host(h) => format!("host:{h}"),
        OverrideTarget::Schedule(s) => format!("schedule:{s}"),
    }
}
