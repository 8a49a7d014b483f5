//! The dashboard's fleet table: every host in the fleet, worst first, with
//! the age of its last good backup and a strip of its last 30 days.

use std::collections::{BTreeMap, BTreeSet};

use cairn_domain::JobStatus;
use cairn_server::fleet::{BackupHistory, FleetHistory, HostView};
use cairn_store::{BackupDay, DAY_MS, HostId, HostStatus};

use crate::format::{iso, time};

/// Days the strip shows, today included.
pub(crate) const STRIP_DAYS: u32 = 30;

/// What is worst about a host, in the order the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Problem {
    /// Its last backup failed.
    Failing,
    /// One of its schedules has not succeeded in time.
    Overdue,
    /// Firings were missed and wait for catch-up.
    Missed,
    /// Approved, but its agent is not connected.
    Offline,
    /// Waits for an operator's approval.
    Pending,
    /// Approved and in touch, but never backed up.
    NoBackup,
    Ok,
}

impl Problem {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Problem::Failing => "failing",
            Problem::Overdue => "overdue",
            Problem::Missed => "missed",
            Problem::Offline => "offline",
            Problem::Pending => "pending",
            Problem::NoBackup => "no-backup",
            Problem::Ok => "ok",
        }
    }

    /// What the table says.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Problem::Failing => "last backup failed",
            Problem::Overdue => "overdue",
            Problem::Missed => "missed runs",
            Problem::Offline => "offline",
            Problem::Pending => "waits for approval",
            Problem::NoBackup => "no backup yet",
            Problem::Ok => "ok",
        }
    }
}

/// One day of the strip.
pub(crate) struct DayCell {
    /// `ok`, `failed`, `missed` or `none`.
    pub(crate) class: &'static str,
    /// What happened that day, for the tooltip.
    pub(crate) title: String,
}

/// One host as a row of the fleet table.
pub(crate) struct FleetRow {
    pub(crate) id: i64,
    pub(crate) hostname: String,
    pub(crate) problem: Problem,
    pub(crate) last_good: String,
    pub(crate) last_good_iso: String,
    pub(crate) days: Vec<DayCell>,
    /// The strip in words, for screen readers.
    pub(crate) summary: String,
}

/// What the fleet table needs beyond the hosts.
pub(crate) struct FleetFacts<'a> {
    pub(crate) history: &'a FleetHistory,
    pub(crate) overdue: &'a BTreeSet<HostId>,
    pub(crate) missed: &'a BTreeSet<HostId>,
}

fn problem(view: &HostView, history: Option<&BackupHistory>, facts: &FleetFacts<'_>) -> Problem {
    let id = view.host.id;
    let failed = history
        .and_then(|h| h.last)
        .is_some_and(|(status, _)| matches!(status, JobStatus::Failed | JobStatus::Lost));
    match view.host.status {
        HostStatus::Pending => Problem::Pending,
        _ if failed => Problem::Failing,
        _ if facts.overdue.contains(&id) => Problem::Overdue,
        _ if facts.missed.contains(&id) => Problem::Missed,
        _ if !view.online => Problem::Offline,
        _ if history.and_then(|h| h.last_good).is_none() => Problem::NoBackup,
        _ => Problem::Ok,
    }
}

fn day_cell(day: i64, found: Option<&BackupDay>) -> DayCell {
    let date = time(Some(day * DAY_MS));
    let date = date.split(' ').next().unwrap_or_default().to_string();
    let Some(d) = found else {
        return DayCell {
            class: "none",
            title: format!("{date}: no backup"),
        };
    };
    let class = if d.failed > 0 {
        "failed"
    } else if d.missed > 0 {
        "missed"
    } else if d.succeeded > 0 {
        "ok"
    } else {
        "none"
    };
    DayCell {
        class,
        title: format!(
            "{date}: {} succeeded, {} failed, {} missed",
            d.succeeded, d.failed, d.missed
        ),
    }
}

/// The hosts that belong to the fleet (not rejected or revoked), worst
/// first, then by name: cheap for every host, as it needs no day cells.
pub(crate) fn rank_hosts<'h>(
    hosts: &'h [HostView],
    facts: &FleetFacts<'_>,
) -> Vec<(Problem, &'h HostView)> {
    let mut ranked: Vec<(Problem, &HostView)> = hosts
        .iter()
        .filter(|v| matches!(v.host.status, HostStatus::Pending | HostStatus::Approved))
        .map(|view| {
            let history = facts.history.hosts.get(&view.host.id);
            (problem(view, history, facts), view)
        })
        .collect();
    ranked.sort_by(|(pa, a), (pb, b)| {
        (*pa, &a.host.facts.hostname, a.host.id).cmp(&(*pb, &b.host.facts.hostname, b.host.id))
    });
    ranked
}

/// The fleet table's rows for `ranked` hosts (see [`rank_hosts`]), in that
/// order, with their strips from `facts.history`.
pub(crate) fn fleet_rows(ranked: &[(Problem, &HostView)], facts: &FleetFacts<'_>) -> Vec<FleetRow> {
    let today = facts.history.today;
    let first = today - i64::from(STRIP_DAYS) + 1;
    ranked
        .iter()
        .map(|&(problem, view)| {
            let history = facts.history.hosts.get(&view.host.id);
            let by_day: BTreeMap<i64, &BackupDay> = history
                .map(|h| h.days.iter().map(|d| (d.day, d)).collect())
                .unwrap_or_default();
            let days: Vec<DayCell> = (first..=today)
                .map(|day| day_cell(day, by_day.get(&day).copied()))
                .collect();
            let count = |class: &str| days.iter().filter(|d| d.class == class).count();
            let summary = format!(
                "last {STRIP_DAYS} days: {} with backups, {} with failures, {} with missed runs",
                count("ok"),
                count("failed"),
                count("missed")
            );
            let last_good = history.and_then(|h| h.last_good);
            FleetRow {
                id: view.host.id.0,
                hostname: view.host.facts.hostname.clone(),
                problem,
                last_good: time(last_good),
                last_good_iso: last_good.map(iso).unwrap_or_default(),
                days,
                summary,
            }
        })
        .collect()
}

/// The fleet's state as the favicon shows it: `bad` when a host fails, is
/// overdue or offline; `warn` when runs were missed or a host waits;
/// otherwise `ok`.
pub(crate) fn fleet_state(ranked: &[(Problem, &HostView)]) -> &'static str {
    match ranked.iter().map(|(problem, _)| *problem).min() {
        Some(Problem::Failing | Problem::Overdue | Problem::Offline) => "bad",
        Some(Problem::Missed | Problem::Pending) => "warn",
        _ => "ok",
    }
}
