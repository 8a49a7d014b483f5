//! One sweep of the alert engine: gather, decide which conditions hold,
//! open alerts for new ones, resolve the ones that cleared, and tell the
//! notice sink what someone needs to hear (not during a maintenance window,
//! never after an acknowledgement).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use cairn_domain::{AlertKind, AlertState, Millis};
use cairn_store::{
    Alert, AlertOverride, AlertRule, HostId, NewAlert, OUTCOME_HORIZON_MS, OverrideTarget,
    ScheduleId,
};

use super::Alerts;
use super::rules::{self, Condition};
use crate::error::ServiceResult;
use crate::notice::{AlertNotice, Transition};

/// The thresholds of a rule, with its overrides.
pub(super) struct Thresholds<'a> {
    rule: &'a AlertRule,
    overrides: Vec<&'a AlertOverride>,
    default: f64,
}

impl Thresholds<'_> {
    /// A schedule's override beats its host's, which beats the rule's.
    pub(super) fn for_target(&self, host: Option<HostId>, schedule: Option<ScheduleId>) -> f64 {
        let find = |t: OverrideTarget| {
            self.overrides
                .iter()
                .find(|o| o.target == t)
                .map(|o| o.threshold)
        };
        schedule
            .and_then(|s| find(OverrideTarget::Schedule(s)))
            .or_else(|| host.and_then(|h| find(OverrideTarget::Host(h))))
            .or(self.rule.threshold)
            .unwrap_or(self.default)
    }
}

/// The threshold a kind uses when its rule sets none.
pub fn default_threshold(kind: AlertKind, offline_after_secs: f64) -> Option<f64> {
    match kind {
        AlertKind::HostOffline => Some(offline_after_secs),
        AlertKind::BackupOverdue => Some(2.0),
        AlertKind::MissedRuns => Some(1.0),
        AlertKind::Anomaly => Some(10.0),
        AlertKind::JobFailed
        | AlertKind::CheckFailed
        | AlertKind::RepoUnreachable
        | AlertKind::StorageFailing => None,
    }
}

impl Alerts {
    /// Runs one sweep now.
    pub async fn evaluate(&self) -> ServiceResult<()> {
        let _one_at_a_time = self.sweep.lock().await;
        let now = self.clock.now();
        let rules = self.store.alert_rules().await?;
        let overrides = self.store.alert_overrides().await?;
        let hosts = self.store.watched_hosts().await?;
        let names: BTreeMap<HostId, String> =
            hosts.iter().map(|h| (h.id, h.hostname.clone())).collect();
        let hostname = |h: HostId| {
            names
                .get(&h)
                .cloned()
                .unwrap_or_else(|| format!("host {h}"))
        };
        let ends = self
            .store
            .recent_job_ends(now - OUTCOME_HORIZON_MS, 30)
            .await?;
        let schedules = self.store.watched_schedules().await?;
        let offline_default = self.offline_after.as_secs_f64();

        let mut held: Vec<(i64, AlertRule, Condition)> = Vec::new();
        for rule in rules.iter().filter(|r| r.enabled) {
            let t = Thresholds {
                rule,
                overrides: overrides.iter().filter(|o| o.rule_id == rule.id).collect(),
                default: default_threshold(rule.kind, offline_default).unwrap_or(0.0),
            };
            let found = match rule.kind {
                AlertKind::JobFailed | AlertKind::CheckFailed => {
                    rules::failed_jobs(&ends, &hostname)
                        .into_iter()
                        .filter(|c| c.kind == rule.kind)
                        .collect()
                }
                AlertKind::RepoUnreachable => rules::unreachable_repos(&ends, &hostname),
                AlertKind::HostOffline => rules::offline_hosts(
                    &hosts,
                    &|h| self.fleet.is_online(h),
                    &|h| t.for_target(Some(h), None),
                    self.started_at,
                    now,
                ),
                AlertKind::MissedRuns => {
                    rules::missed_runs(&hosts, &|h| t.for_target(Some(h), None))
                }
                AlertKind::BackupOverdue => rules::overdue_schedules(
                    &schedules,
                    &|s| t.for_target(Some(s.host_id), Some(s.id)),
                    &hostname,
                    now,
                ),
                AlertKind::StorageFailing => rules::storage_failing(self.store.storage_fault()),
                AlertKind::Anomaly => rules::anomalies(
                    &ends,
                    &|e| t.for_target(Some(e.host_id), e.schedule_id),
                    &hostname,
                ),
            };
            held.extend(found.into_iter().map(|c| (rule.id, rule.clone(), c)));
        }

        let silenced: BTreeSet<HostId> = self
            .store
            .list_silences(now)
            .await?
            .into_iter()
            .filter(|s| s.starts_at <= now)
            .map(|s| s.host_id)
            .collect();
        let quiet = |a: &Alert| a.host_id.is_some_and(|h| silenced.contains(&h));
        let rule_of: HashMap<AlertKind, &AlertRule> = rules.iter().map(|r| (r.kind, r)).collect();

        let mut changed = false;
        let open = self.store.open_alerts().await?;
        let holding: HashSet<(AlertKind, &str)> = held
            .iter()
            .map(|(_, _, c)| (c.kind, c.subject.as_str()))
            .collect();
        let already: HashSet<(AlertKind, &str)> =
            open.iter().map(|a| (a.kind, a.subject.as_str())).collect();

        for (rule_id, rule, c) in &held {
            if already.contains(&(c.kind, c.subject.as_str())) {
                continue;
            }
            let new = NewAlert {
                rule_id: *rule_id,
                kind: c.kind,
                severity: rule.severity,
                subject: c.subject.clone(),
                host_id: c.host_id,
                schedule_id: c.schedule_id,
                job_id: c.job_id,
                repository_id: c.repository_id,
                message: c.message.clone(),
            };
            // `None`: another writer opened it first; the index kept it one.
            if let Some(alert) = self.store.open_alert(new, now).await? {
                changed = true;
                if !quiet(&alert) {
                    self.tell(&alert, Transition::Fired, now).await?;
                }
            }
        }

        for alert in &open {
            let rule = rule_of.get(&alert.kind);
            if !holding.contains(&(alert.kind, alert.subject.as_str())) {
                if let Some(resolved) = self.store.resolve_alert(alert.id, now).await? {
                    changed = true;
                    let tell = alert.state == AlertState::Firing
                        && alert.fire_notified
                        // A rule turned off resolves its alerts quietly.
                        // A window mutes news, not the end of news already
                        // told: a receiver keeps an incident open until then.
                        && rule.is_none_or(|r| r.enabled && r.notify_on_resolve);
                    if tell {
                        self.tell(&resolved, Transition::Resolved, now).await?;
                    }
                }
                continue;
            }
            if alert.state != AlertState::Firing || quiet(alert) {
                continue;
            }
            if !alert.fire_notified {
                // It fired inside a maintenance window that has now ended.
                self.tell(alert, Transition::Fired, now).await?;
            } else if let Some(every) = rule.and_then(|r| r.repeat_every_seconds) {
                let last = alert.last_notified_at.unwrap_or(alert.fired_at);
                if now >= last.saturating_add((every as Millis).saturating_mul(1000)) {
                    self.tell(alert, Transition::StillFiring, now).await?;
                }
            }
        }
        if changed {
            self.fleet.hub().changed();
        }
        Ok(())
    }

    /// Sends a notice and records it.
    async fn tell(&self, alert: &Alert, transition: Transition, now: Millis) -> ServiceResult<()> {
        let notice = AlertNotice {
            alert_id: alert.id,
            kind: alert.kind,
            severity: alert.severity,
            transition,
            subject: alert.subject.clone(),
            host: alert.hostname.clone(),
            host_id: alert.host_id.map(|h| h.0),
            message: alert.message.clone(),
            fired_at: alert.fired_at,
            at: now,
        };
        self.notices.alert_changed(notice).await;
        self.store
            .mark_alert_notified(
                alert.id,
                transition == Transition::Fired,
                transition == Transition::StillFiring,
                now,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::Severity;

    fn rule(threshold: Option<f64>) -> AlertRule {
        AlertRule {
            id: 1,
            kind: AlertKind::BackupOverdue,
            name: "Backup overdue".into(),
            enabled: true,
            severity: Severity::Critical,
            threshold,
            repeat_every_seconds: None,
            notify_on_resolve: true,
            updated_at: 0,
        }
    }

    fn on(target: OverrideTarget, threshold: f64) -> AlertOverride {
        AlertOverride {
            id: 1,
            rule_id: 1,
            kind: AlertKind::BackupOverdue,
            target,
            threshold,
            created_at: 0,
        }
    }

    #[test]
    fn a_schedules_override_beats_its_hosts_which_beats_the_rules_which_beats_the_default() {
        let (host, schedule) = (HostId(4), ScheduleId(7));
        let overrides = [
            on(OverrideTarget::Host(host), 3.0),
            on(OverrideTarget::Schedule(schedule), 10.0),
        ];
        let r = rule(Some(5.0));
        let t = Thresholds {
            rule: &r,
            overrides: overrides.iter().collect(),
            default: 2.0,
        };
        assert_eq!(t.for_target(Some(host), Some(schedule)), 10.0);
        assert_eq!(t.for_target(Some(host), Some(ScheduleId(8))), 3.0);
        assert_eq!(t.for_target(Some(HostId(5)), None), 5.0);
        let r = rule(None);
        let t = Thresholds {
            rule: &r,
            overrides: Vec::new(),
            default: 2.0,
        };
        assert_eq!(t.for_target(Some(host), None), 2.0);
    }

    #[test]
    fn thresholds_are_checked_per_kind() {
        use super::super::check_threshold;
        assert!(check_threshold(AlertKind::Anomaly, 1.0).is_err());
        assert!(check_threshold(AlertKind::Anomaly, 1.5).is_ok());
        assert!(check_threshold(AlertKind::MissedRuns, 2.5).is_err());
        assert!(check_threshold(AlertKind::HostOffline, f64::INFINITY).is_err());
        assert!(check_threshold(AlertKind::JobFailed, 3.0).is_err());
        assert!(check_threshold(AlertKind::BackupOverdue, 0.0).is_err());
    }
}
