//! The rules' conditions, as pure functions of what the store gathered: each
//! yields the conditions that hold now. The engine opens an alert for each
//! new one and resolves every open alert whose condition no longer holds.

use std::collections::BTreeMap;

use cairn_domain::{AlertKind, JobKind, JobStatus, Millis};
use cairn_store::{
    HostId, JobId, RecentEnd, RepositoryId, ScheduleId, WatchedHost, WatchedSchedule,
};

/// A condition that holds: one alert's worth.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub kind: AlertKind,
    pub subject: String,
    pub host_id: Option<HostId>,
    pub schedule_id: Option<ScheduleId>,
    pub job_id: Option<JobId>,
    pub repository_id: Option<RepositoryId>,
    pub message: String,
}

/// The samples an anomaly needs before it judges a backup: fewer, and a
/// new schedule never alerts.
pub const ANOMALY_MIN_SAMPLES: usize = 5;
/// The backups "usual" is the median of.
pub const ANOMALY_WINDOW: usize = 10;
/// Medians below these count as these, so a quiet schedule (no files
/// changed, no bytes added) is not flagged for a handful of files.
const FLOOR_FILES: f64 = 10.0;
const FLOOR_BYTES: f64 = 1024.0 * 1024.0;
const FLOOR_MS: f64 = 1000.0;

/// What a job's end is about: its schedule, or its host, repository and kind.
fn thing(end: &RecentEnd) -> String {
    match end.schedule_id {
        Some(s) => format!("schedule:{s}:{}", end.kind),
        None => format!(
            "host:{}:repo:{}:{}",
            end.host_id,
            end.repository_id.map_or(0, |r| r.0),
            end.kind
        ),
    }
}

fn condition(kind: AlertKind, subject: String, end: &RecentEnd, message: String) -> Condition {
    Condition {
        kind,
        subject,
        host_id: Some(end.host_id),
        schedule_id: end.schedule_id,
        job_id: Some(end.job_id),
        repository_id: end.repository_id,
        message,
    }
}

fn why(end: &RecentEnd) -> String {
    match (&end.error, end.exit_code) {
        (Some(e), _) if !e.is_empty() => e.clone(),
        (_, Some(code)) => format!("exit {code}"),
        _ if end.status == JobStatus::Lost => "lost (the agent stopped reporting)".into(),
        _ => "no reason given".into(),
    }
}

/// Job failed and check failed: the newest end of each thing failed.
pub fn failed_jobs(ends: &[RecentEnd], hostname: &dyn Fn(HostId) -> String) -> Vec<Condition> {
    let mut newest: BTreeMap<String, &RecentEnd> = BTreeMap::new();
    // `ends` is newest first: the first of each thing is its newest.
    for end in ends {
        newest.entry(thing(end)).or_insert(end);
    }
    newest
        .into_iter()
        .filter(|(_, e)| matches!(e.status, JobStatus::Failed | JobStatus::Lost))
        .filter_map(|(subject, e)| {
            let kind = match e.kind {
                JobKind::Backup | JobKind::Forget | JobKind::Prune => AlertKind::JobFailed,
                JobKind::Check => AlertKind::CheckFailed,
                _ => return None,
            };
            let message = format!("{} on {} failed: {}", e.kind, hostname(e.host_id), why(e));
            Some(condition(kind, subject, e, message))
        })
        .collect()
}

/// Whether a failed job failed because its repository could not be reached
/// or opened: restic 0.17's exit codes 10 (no repository), 11 (locked
/// fails are not that) and 12 (wrong password), or 0.14's words.
pub fn unreachable(end: &RecentEnd) -> bool {
    if end.status != JobStatus::Failed {
        return false;
    }
    if matches!(end.exit_code, Some(10) | Some(12)) {
        return true;
    }
    const WORDS: &[&str] = &[
        "unable to open config file",
        "unable to open repository",
        "repository does not exist",
        "connection refused",
        "no such host",
        "dial tcp",
        "wrong password",
        "i/o timeout",
        "network is unreachable",
        "server response unexpected",
    ];
    let said = |text: &str| {
        let text = text.to_ascii_lowercase();
        WORDS.iter().any(|w| text.contains(w))
    };
    end.error.as_deref().is_some_and(said) || end.stderr_tail.iter().any(|l| said(l))
}

/// Repository unreachable: a host's newest unreachable failure on a
/// repository is newer than its newest success there.
pub fn unreachable_repos(
    ends: &[RecentEnd],
    hostname: &dyn Fn(HostId) -> String,
) -> Vec<Condition> {
    let mut by_pair: BTreeMap<(HostId, RepositoryId), Vec<&RecentEnd>> = BTreeMap::new();
    for end in ends {
        if let Some(repo) = end.repository_id {
            by_pair.entry((end.host_id, repo)).or_default().push(end);
        }
    }
    let mut out = Vec::new();
    for ((host, repo), mut list) in by_pair {
        list.sort_by_key(|e| std::cmp::Reverse((e.finished_at, e.job_id.0)));
        let newest_ok = list.iter().position(|e| e.status == JobStatus::Succeeded);
        let before_ok = &list[..newest_ok.unwrap_or(list.len())];
        if let Some(e) = before_ok.iter().find(|e| unreachable(e)) {
            let message = format!(
                "{} cannot reach repository {repo}: {}",
                hostname(host),
                why(e)
            );
            out.push(condition(
                AlertKind::RepoUnreachable,
                format!("host:{host}:repo:{repo}"),
                e,
                message,
            ));
        }
    }
    out
}

/// The server's own database: one condition, about the server, while it
/// cannot be written.
pub fn storage_failing(fault: Option<String>) -> Vec<Condition> {
    fault
        .map(|why| Condition {
            kind: AlertKind::StorageFailing,
            subject: "server".into(),
            host_id: None,
            schedule_id: None,
            job_id: None,
            repository_id: None,
            message: format!(
                "The server cannot write its database: {why}. Changes are refused until it can \
                 (nothing acknowledged is lost); free space on the data directory's filesystem"
            ),
        })
        .into_iter()
        .collect()
}

/// Host offline: silent longer than its threshold (seconds), counting from
/// `listening_since` at the earliest (when the server started).
pub fn offline_hosts(
    hosts: &[WatchedHost],
    online: &dyn Fn(HostId) -> bool,
    threshold: &dyn Fn(HostId) -> f64,
    listening_since: Millis,
    now: Millis,
) -> Vec<Condition> {
    hosts
        .iter()
        .filter(|h| !online(h.id))
        .filter_map(|h| {
            let seen = h.last_seen_at?;
            let silent_ms = now.saturating_sub(seen);
            let unheard_ms = now.saturating_sub(seen.max(listening_since));
            (unheard_ms as f64 > threshold(h.id) * 1000.0).then(|| Condition {
                kind: AlertKind::HostOffline,
                subject: format!("host:{}", h.id),
                host_id: Some(h.id),
                schedule_id: None,
                job_id: None,
                repository_id: None,
                message: format!(
                    "{} has not been seen for {} s",
                    h.hostname,
                    silent_ms / 1000
                ),
            })
        })
        .collect()
}

/// Missed runs waiting: at least the threshold of firings missed.
pub fn missed_runs(hosts: &[WatchedHost], threshold: &dyn Fn(HostId) -> f64) -> Vec<Condition> {
    hosts
        .iter()
        .filter(|h| h.missed_runs > 0 && f64::from(h.missed_runs) >= threshold(h.id))
        .map(|h| Condition {
            kind: AlertKind::MissedRuns,
            subject: format!("host:{}", h.id),
            host_id: Some(h.id),
            schedule_id: None,
            job_id: None,
            repository_id: None,
            message: format!("{} has {} missed runs waiting", h.hostname, h.missed_runs),
        })
        .collect()
}

/// Backup overdue: no success within `factor` times the schedule's interval
/// (counted from its creation until its first success).
pub fn overdue_schedules(
    schedules: &[WatchedSchedule],
    factor: &dyn Fn(&WatchedSchedule) -> f64,
    hostname: &dyn Fn(HostId) -> String,
    now: Millis,
) -> Vec<Condition> {
    schedules
        .iter()
        .filter_map(|s| {
            let cron = cairn_cron::CronSpec::parse(&s.cron, &s.timezone).ok()?;
            let interval = cron.interval_after(now)?;
            let since = s.last_success_at.unwrap_or(s.created_at);
            let late = now.saturating_sub(since) as f64 > factor(s) * interval as f64;
            late.then(|| Condition {
                kind: AlertKind::BackupOverdue,
                subject: format!("schedule:{}", s.id),
                host_id: Some(s.host_id),
                schedule_id: Some(s.id),
                job_id: None,
                repository_id: Some(s.repository_id),
                message: format!(
                    "schedule {:?} on {} has not succeeded since {}",
                    s.name,
                    hostname(s.host_id),
                    if s.last_success_at.is_some() {
                        "its last success"
                    } else {
                        "it was created"
                    }
                ),
            })
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// How a backup compares with usual: the first measure that is out of
/// bounds, with its value and usual.
pub fn unusual(latest: &RecentEnd, earlier: &[&RecentEnd], factor: f64) -> Option<String> {
    if earlier.len() < ANOMALY_MIN_SAMPLES {
        return None;
    }
    let summary = |e: &RecentEnd| e.summary.clone().unwrap_or_default();
    type Measure = (&'static str, fn(&cairn_domain::BackupSummary) -> f64, f64);
    let measures: [Measure; 3] = [
        (
            "files new or changed",
            |s| (s.files_new + s.files_changed) as f64,
            FLOOR_FILES,
        ),
        ("bytes added", |s| s.data_added as f64, FLOOR_BYTES),
        ("duration in ms", |s| s.duration_ms as f64, FLOOR_MS),
    ];
    for (name, measure, floor) in measures {
        let usual = median(earlier.iter().map(|e| measure(&summary(e))).collect());
        let value = measure(&summary(latest));
        let high = value > factor * usual.max(floor);
        let low = usual > floor && value * factor < usual;
        if high || low {
            return Some(format!("{name}: {value} where {usual} is usual"));
        }
    }
    None
}

/// Anomaly: the newest successful backup of a schedule (or of a host,
/// repository and paths) is far from the median of the ones before it.
pub fn anomalies(
    ends: &[RecentEnd],
    factor: &dyn Fn(&RecentEnd) -> f64,
    hostname: &dyn Fn(HostId) -> String,
) -> Vec<Condition> {
    let mut groups: BTreeMap<String, Vec<&RecentEnd>> = BTreeMap::new();
    for end in ends.iter().filter(|e| {
        e.kind == JobKind::Backup && e.status == JobStatus::Succeeded && e.summary.is_some()
    }) {
        let key = match end.schedule_id {
            Some(s) => format!("schedule:{s}"),
            None => format!(
                "host:{}:repo:{}:paths:{}",
                end.host_id,
                end.repository_id.map_or(0, |r| r.0),
                end.paths.join("\u{1f}")
            ),
        };
        groups.entry(key).or_default().push(end);
    }
    let mut out = Vec::new();
    for (key, list) in groups {
        let Some((latest, rest)) = list.split_first() else {
            continue;
        };
        let earlier: Vec<&RecentEnd> = rest.iter().take(ANOMALY_WINDOW).copied().collect();
        if let Some(what) = unusual(latest, &earlier, factor(latest)) {
            let message = format!("unusual backup on {}: {what}", hostname(latest.host_id));
            out.push(condition(AlertKind::Anomaly, key, latest, message));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::BackupSummary;

    #[test]
    fn after_a_restart_a_host_is_silent_only_from_when_the_server_listened() {
        let hosts = [WatchedHost {
            id: HostId(1),
            hostname: "web-1".into(),
            last_seen_at: Some(0),
            missed_runs: 0,
        }];
        let start = 3_600_000; // the server came back an hour later
        let check = |now| offline_hosts(&hosts, &|_| false, &|_| 90.0, start, now);
        assert!(check(start + 60_000).is_empty(), "it may still dial back");
        let fired = check(start + 91_000);
        assert_eq!(fired.len(), 1);
        assert!(fired[0].message.contains("3691 s"), "{}", fired[0].message);
    }

    fn backup(id: i64, files: u64) -> RecentEnd {
        RecentEnd {
            job_id: JobId(id),
            kind: JobKind::Backup,
            status: JobStatus::Succeeded,
            host_id: HostId(1),
            repository_id: Some(RepositoryId(1)),
            schedule_id: Some(ScheduleId(1)),
            finished_at: id * 1000,
            exit_code: Some(0),
            error: None,
            stderr_tail: Vec::new(),
            summary: Some(BackupSummary {
                files_changed: files,
                duration_ms: 5000,
                data_added: 1 << 30,
                ..Default::default()
            }),
            paths: vec!["/srv".into()],
        }
    }

    fn name(_: HostId) -> String {
        "ops1".into()
    }

    #[test]
    fn fifty_times_the_usual_files_is_an_anomaly_and_usual_runs_are_not() {
        // Newest first: the first is judged against the rest.
        let mut ends: Vec<RecentEnd> = (1..=8).rev().map(|i| backup(i, 100 + i as u64)).collect();
        assert!(anomalies(&ends, &|_| 10.0, &name).is_empty(), "usual runs");
        ends.insert(0, backup(9, 5_000));
        let found = anomalies(&ends, &|_| 10.0, &name);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.contains("files new or changed"),
            "{}",
            found[0].message
        );
        assert!(
            anomalies(&ends, &|_| 100.0, &name).is_empty(),
            "a larger factor tolerates it"
        );
    }

    #[test]
    fn a_new_schedule_never_alerts() {
        let mut ends: Vec<RecentEnd> = (1..=4).rev().map(|i| backup(i, 100)).collect();
        ends.insert(0, backup(5, 100_000));
        assert!(anomalies(&ends, &|_| 10.0, &name).is_empty());
    }

    #[test]
    fn unreachable_by_exit_code_or_words() {
        let mut end = backup(1, 0);
        end.status = JobStatus::Failed;
        end.exit_code = Some(1);
        assert!(!unreachable(&end));
        end.stderr_tail = vec!["Fatal: unable to open config file: Stat: dial tcp 10.0.0.1:8000: connect: connection refused".into()];
        assert!(unreachable(&end));
        end.stderr_tail.clear();
        end.exit_code = Some(10);
        assert!(unreachable(&end));
    }

    #[test]
    fn a_failed_check_is_its_own_kind_and_a_lost_backup_is_a_failed_job() {
        let mut check = backup(2, 0);
        check.kind = JobKind::Check;
        check.schedule_id = None;
        check.status = JobStatus::Failed;
        let mut lost = backup(1, 0);
        lost.status = JobStatus::Lost;
        let found = failed_jobs(&[check, lost], &name);
        let kinds: Vec<AlertKind> = found.iter().map(|c| c.kind).collect();
        assert!(
            kinds.contains(&AlertKind::CheckFailed) && kinds.contains(&AlertKind::JobFailed),
            "{kinds:?}"
        );
    }

    #[test]
    fn the_newest_end_decides_a_failed_job() {
        let mut failed = backup(2, 0);
        failed.status = JobStatus::Failed;
        let ok = backup(1, 0);
        assert_eq!(failed_jobs(&[failed.clone(), ok.clone()], &name).len(), 1);
        let mut later_ok = ok;
        later_ok.job_id = JobId(3);
        assert!(failed_jobs(&[later_ok, failed], &name).is_empty());
    }
}
