//! Alerts and the rules that raise them (`alerts`, `alert_rules`,
//! `alert_overrides`): what the alert engine keeps. At most one unresolved
//! alert exists per (kind, subject); the unique index enforces it, and
//! [`Store::open_alert`] answers `None` when one already holds.

pub use cairn_domain::{AlertKind, AlertState, Severity};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{HostId, JobId, RepositoryId, ScheduleId, UserId};
use crate::{Millis, Page, PageOf, Store};

/// A rule of the alert engine (one per kind).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub id: i64,
    pub kind: AlertKind,
    pub name: String,
    pub enabled: bool,
    pub severity: Severity,
    /// The kind's threshold; `None` means the kind's default.
    pub threshold: Option<f64>,
    /// Reminders while an alert fires unacknowledged; `None`: never.
    pub repeat_every_seconds: Option<u64>,
    pub notify_on_resolve: bool,
    pub updated_at: Millis,
}

/// A change to a rule; `None` fields stay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleChange {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    /// `Some(None)` goes back to the default.
    pub threshold: Option<Option<f64>>,
    /// `Some(None)` turns reminders off.
    pub repeat_every_seconds: Option<Option<u64>>,
    pub notify_on_resolve: Option<bool>,
}

/// What an override applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideTarget {
    Host(HostId),
    Schedule(ScheduleId),
}

/// A rule's threshold for one host or one schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOverride {
    pub id: i64,
    pub rule_id: i64,
    pub kind: AlertKind,
    pub target: OverrideTarget,
    pub threshold: f64,
    pub created_at: Millis,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: i64,
    pub rule_id: Option<i64>,
    pub kind: AlertKind,
    pub state: AlertState,
    pub severity: Severity,
    pub subject: String,
    pub host_id: Option<HostId>,
    pub schedule_id: Option<ScheduleId>,
    pub job_id: Option<JobId>,
    pub repository_id: Option<RepositoryId>,
    pub message: String,
    pub fired_at: Millis,
    pub acknowledged_at: Option<Millis>,
    pub acknowledged_by: Option<UserId>,
    pub ack_note: Option<String>,
    pub resolved_at: Option<Millis>,
    pub last_notified_at: Option<Millis>,
    /// Whether its firing was told.
    pub fire_notified: bool,
    pub reminders_sent: u32,
    /// For display: the host's hostname.
    pub hostname: Option<String>,
    /// For display: who acknowledged it.
    pub acknowledged_by_name: Option<String>,
}

/// An alert to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub rule_id: i64,
    pub kind: AlertKind,
    pub severity: Severity,
    pub subject: String,
    pub host_id: Option<HostId>,
    pub schedule_id: Option<ScheduleId>,
    pub job_id: Option<JobId>,
    pub repository_id: Option<RepositoryId>,
    pub message: String,
}

/// Which alerts to list; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub states: Vec<AlertState>,
    pub kind: Option<AlertKind>,
    pub host: Option<HostId>,
    pub severity: Option<Severity>,
}

fn parsed<T>(value: Option<T>, column: &'static str, text: &str) -> rusqlite::Result<T> {
    value.ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown {column} {text:?}").into(),
        )
    })
}

const RULE_COLUMNS: &str = "id, kind, name, enabled, severity, threshold, repeat_every_seconds, notify_on_resolve, updated_at";

fn rule_from_row(row: &Row<'_>) -> rusqlite::Result<AlertRule> {
    let kind: String = row.get(1)?;
    let severity: String = row.get(4)?;
    Ok(AlertRule {
        id: row.get(0)?,
        kind: parsed(AlertKind::parse(&kind), "alert kind", &kind)?,
        name: row.get(2)?,
        enabled: row.get(3)?,
        severity: parsed(Severity::parse(&severity), "severity", &severity)?,
        threshold: row.get(5)?,
        repeat_every_seconds: row.get::<_, Option<i64>>(6)?.map(|v| v as u64),
        notify_on_resolve: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

const ALERT_COLUMNS: &str = "a.id, a.rule_id, a.kind, a.state, a.severity, a.subject, a.host_id, a.schedule_id,
     a.job_id, a.repository_id, a.message, a.fired_at, a.acknowledged_at, a.acknowledged_by, a.ack_note,
     a.resolved_at, a.last_notified_at, a.fire_notified, a.reminders_sent, h.hostname, u.username
     FROM alerts a LEFT JOIN hosts h ON h.id = a.host_id LEFT JOIN users u ON u.id = a.acknowledged_by";

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let kind: String = row.get(2)?;
    let state: String = row.get(3)?;
    let severity: String = row.get(4)?;
    Ok(Alert {
        id: row.get(0)?,
        rule_id: row.get(1)?,
        kind: parsed(AlertKind::parse(&kind), "alert kind", &kind)?,
        state: parsed(AlertState::parse(&state), "alert state", &state)?,
        severity: parsed(Severity::parse(&severity), "severity", &severity)?,
        subject: row.get(5)?,
        host_id: row.get(6)?,
        schedule_id: row.get(7)?,
        job_id: row.get(8)?,
        repository_id: row.get(9)?,
        message: row.get(10)?,
        fired_at: row.get(11)?,
        acknowledged_at: row.get(12)?,
        acknowledged_by: row.get(13)?,
        ack_note: row.get(14)?,
        resolved_at: row.get(15)?,
        last_notified_at: row.get(16)?,
        fire_notified: row.get(17)?,
        reminders_sent: row.get::<_, i64>(18)? as u32,
        hostname: row.get(19)?,
        acknowledged_by_name: row.get(20)?,
    })
}

fn alert_in(c: &Connection, id: i64) -> StoreResult<Alert> {
    c.query_row(
        &format!("SELECT {ALERT_COLUMNS} WHERE a.id = ?1"),
        [id],
        alert_from_row,
    )
    .map_err(StoreError::about("alert"))
}

fn rule_in(c: &Connection, id: i64) -> StoreResult<AlertRule> {
    c.query_row(
        &format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1"),
        [id],
        rule_from_row,
    )
    .map_err(StoreError::about("alert rule"))
}

impl Store {
    /// Every rule, in kind order of the migration (by id).
    pub async fn alert_rules(&self) -> StoreResult<Vec<AlertRule>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"
            ))?;
            let rows = stmt
                .query_map([], rule_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One rule.
    pub async fn alert_rule(&self, id: i64) -> StoreResult<AlertRule> {
        self.read(move |c| rule_in(c, id)).await
    }

    /// Changes a rule.
    pub async fn update_alert_rule(
        &self,
        id: i64,
        change: RuleChange,
        now: Millis,
    ) -> StoreResult<AlertRule> {
        self.write(move |c| {
            let old = rule_in(c, id)?;
            let threshold = change.threshold.unwrap_or(old.threshold);
            let repeat = change.repeat_every_seconds.unwrap_or(old.repeat_every_seconds);
            c.execute(
                "UPDATE alert_rules SET enabled = ?2, severity = ?3, threshold = ?4, repeat_every_seconds = ?5,
                        notify_on_resolve = ?6, updated_at = ?7 WHERE id = ?1",
                params![
                    id,
                    change.enabled.unwrap_or(old.enabled),
                    change.severity.unwrap_or(old.severity).as_str(),
                    threshold,
                    repeat.map(|s| s as i64),
                    change.notify_on_resolve.unwrap_or(old.notify_on_resolve),
                    now
                ],
            )?;
            rule_in(c, id)
        })
        .await
    }

    /// Every override.
    pub async fn alert_overrides(&self) -> StoreResult<Vec<AlertOverride>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT o.id, o.rule_id, r.kind, o.host_id, o.schedule_id, o.threshold, o.created_at
                 FROM alert_overrides o JOIN alert_rules r ON r.id = o.rule_id ORDER BY o.id",
            )?;
            let rows = stmt
                .query_map([], |row| {
                    let kind: String = row.get(2)?;
                    let host: Option<HostId> = row.get(3)?;
                    let schedule: Option<ScheduleId> = row.get(4)?;
                    let target = match (host, schedule) {
                        (Some(h), _) => OverrideTarget::Host(h),
                        (None, Some(s)) => OverrideTarget::Schedule(s),
                        // The table's CHECK makes exactly one of them set.
                        (None, None) => OverrideTarget::Host(HostId(0)),
                    };
                    Ok(AlertOverride {
                        id: row.get(0)?,
                        rule_id: row.get(1)?,
                        kind: parsed(AlertKind::parse(&kind), "alert kind", &kind)?,
                        target,
                        threshold: row.get(5)?,
                        created_at: row.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Sets (or replaces) a rule's threshold for one host or schedule.
    pub async fn set_alert_override(
        &self,
        rule: i64,
        target: OverrideTarget,
        threshold: f64,
        now: Millis,
    ) -> StoreResult<()> {
        let (host, schedule) = split(target);
        self.write(move |c| {
            c.execute(
                "DELETE FROM alert_overrides WHERE rule_id = ?1 AND host_id IS ?2 AND schedule_id IS ?3",
                params![rule, host, schedule],
            )?;
            c.execute(
                "INSERT INTO alert_overrides (rule_id, host_id, schedule_id, threshold, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![rule, host, schedule, threshold, now],
            )
            .map_err(StoreError::about("alert override target"))?;
            Ok(())
        })
        .await
    }

    /// Clears an override; whether there was one.
    pub async fn clear_alert_override(
        &self,
        rule: i64,
        target: OverrideTarget,
    ) -> StoreResult<bool> {
        let (host, schedule) = split(target);
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM alert_overrides WHERE rule_id = ?1 AND host_id IS ?2 AND schedule_id IS ?3",
                params![rule, host, schedule],
            )? > 0)
        })
        .await
    }

    /// Alerts, newest first.
    pub async fn list_alerts(&self, filter: AlertFilter, page: Page) -> StoreResult<PageOf<Alert>> {
        let states =
            serde_json::to_string(&filter.states.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into());
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ALERT_COLUMNS}
                 WHERE (?1 = '[]' OR a.state IN (SELECT value FROM json_each(?1)))
                   AND (?2 IS NULL OR a.kind = ?2) AND (?3 IS NULL OR a.host_id = ?3)
                   AND (?4 IS NULL OR a.severity = ?4) AND (?5 IS NULL OR a.id < ?5)
                 ORDER BY a.id DESC LIMIT ?6"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        states,
                        filter.kind.map(|k| k.as_str()),
                        filter.host,
                        filter.severity.map(|s| s.as_str()),
                        page.cursor,
                        page.probe_limit()
                    ],
                    alert_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page.finish(rows, |a| a.id))
        })
        .await
    }

    /// One alert.
    pub async fn alert(&self, id: i64) -> StoreResult<Alert> {
        self.read(move |c| alert_in(c, id)).await
    }

    /// Every unresolved alert.
    pub async fn open_alerts(&self) -> StoreResult<Vec<Alert>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ALERT_COLUMNS} WHERE a.state <> 'resolved' ORDER BY a.id"
            ))?;
            let rows = stmt
                .query_map([], alert_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// How many alerts fire unacknowledged.
    pub async fn firing_alert_count(&self) -> StoreResult<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM alerts WHERE state = 'firing'",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    /// Opens an alert; `None` when one is already open for its kind and
    /// subject (the unique index decides, so two writers cannot both open).
    pub async fn open_alert(&self, new: NewAlert, now: Millis) -> StoreResult<Option<Alert>> {
        self.write(move |c| {
            let id: Option<i64> = c
                .query_row(
                    "INSERT INTO alerts (rule_id, kind, state, severity, subject, host_id, schedule_id, job_id,
                            repository_id, message, fired_at)
                     VALUES (?1, ?2, 'firing', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (kind, subject) WHERE state <> 'resolved' DO NOTHING RETURNING id",
                    params![
                        new.rule_id,
                        new.kind.as_str(),
                        new.severity.as_str(),
                        new.subject,
                        new.host_id,
                        new.schedule_id,
                        new.job_id,
                        new.repository_id,
                        new.message,
                        now
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|id| alert_in(c, id)).transpose()
        })
        .await
    }

    /// Resolves an open alert; `None` if it was already resolved.
    pub async fn resolve_alert(&self, id: i64, now: Millis) -> StoreResult<Option<Alert>> {
        self.set_state(id, "state = 'resolved', resolved_at = ?2", None, now)
            .await
    }

    /// Acknowledges an open alert with a note; `None` if it is resolved.
    pub async fn acknowledge_alert(
        &self,
        id: i64,
        by: Option<UserId>,
        note: String,
        now: Millis,
    ) -> StoreResult<Option<Alert>> {
        let note = (!note.is_empty()).then_some(note);
        self.set_state(
            id,
            "state = 'acknowledged', acknowledged_at = ?2, acknowledged_by = ?3, ack_note = ?4",
            Some((by, note)),
            now,
        )
        .await
    }

    /// Takes an acknowledgement back; `None` if the alert is resolved.
    pub async fn unacknowledge_alert(
        &self,
        id: i64,
        note: String,
        now: Millis,
    ) -> StoreResult<Option<Alert>> {
        let note = (!note.is_empty()).then_some(note);
        self.set_state(
            id,
            "state = 'firing', acknowledged_at = NULL, acknowledged_by = ?3, ack_note = ?4, last_notified_at = coalesce(last_notified_at, ?2)",
            Some((None, note)),
            now,
        )
        .await
    }

    async fn set_state(
        &self,
        id: i64,
        set: &'static str,
        who: Option<(Option<UserId>, Option<String>)>,
        now: Millis,
    ) -> StoreResult<Option<Alert>> {
        self.write(move |c| {
            alert_in(c, id)?;
            let (by, note) = who.unwrap_or((None, None));
            let sql = format!("UPDATE alerts SET {set} WHERE id = ?1 AND state <> 'resolved'");
            let changed = if set.contains("?3") {
                c.execute(&sql, params![id, now, by, note])?
            } else {
                c.execute(&sql, params![id, now])?
            };
            if changed == 0 {
                return Ok(None);
            }
            alert_in(c, id).map(Some)
        })
        .await
    }

    /// Records that a notice about an alert went out: its firing (`fired`),
    /// or a reminder.
    pub async fn mark_alert_notified(
        &self,
        id: i64,
        fired: bool,
        reminder: bool,
        now: Millis,
    ) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE alerts SET last_notified_at = ?2, fire_notified = fire_notified OR ?3,
                        reminders_sent = reminders_sent + ?4 WHERE id = ?1",
                params![id, now, fired, i64::from(reminder)],
            )?;
            Ok(())
        })
        .await
    }
}

fn split(target: OverrideTarget) -> (Option<HostId>, Option<ScheduleId>) {
    match target {
        OverrideTarget::Host(h) => (Some(h), None),
        OverrideTarget::Schedule(s) => (None, Some(s)),
    }
}
