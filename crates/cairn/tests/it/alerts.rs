//! The alert engine end to end on a manual clock: rules fire and resolve by
//! themselves, acknowledgement silences, maintenance windows hold notices
//! back, overrides move thresholds, and bad input changes nothing. A
//! recording sink shows exactly which notices went out.

use std::sync::{Arc, Mutex};

use cairn_domain::{BackupSpec, BackupSummary, JobSpec, JobStatus, Trigger};
use cairn_server::alerts::{RuleUpdate, SilenceRequest};
use cairn_server::auth::Principal;
use cairn_server::notice::{AlertNotice, NoticeSink, Transition};
use cairn_store::{
    AlertFilter, AlertKind, AlertState, DAY_MS, HostId, JobEnd, Millis, NewJob, OverrideTarget,
    Page, RepositoryFields, RepositoryId, SealedSecrets,
};
use cairn_testkit::TestServer;

/// Noon on a day well inside 2026, UTC.
pub const NOON: Millis = 20_500 * DAY_MS + DAY_MS / 2;

/// Keeps every notice the engine sends.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<AlertNotice>>);

impl NoticeSink for Recorder {
    fn alert_changed(
        &self,
        notice: AlertNotice,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().expect("recorder").push(notice);
        Box::pin(async {})
    }
}

impl Recorder {
    /// The notices so far as (kind, transition, subject).
    pub fn seen(&self) -> Vec<(AlertKind, Transition, String)> {
        self.0
            .lock()
            .expect("recorder")
            .iter()
            .map(|n| (n.kind, n.transition, n.subject.clone()))
            .collect()
    }
}

/// A server on a manual clock at NOON whose notices `Recorder` keeps.
pub async fn recorded() -> (TestServer, cairn_server::clock::ManualClock, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let (server, hand) = TestServer::start_manual_with_notices(NOON, recorder.clone(), |c| {
        c.agent_offline_after = std::time::Duration::from_secs(90);
    })
    .await;
    (server, hand, recorder)
}

/// An approved host last seen at `seen`.
pub async fn host(server: &TestServer, name: &str, seen: Millis) -> HostId {
    let host = server.stored_host(name).await;
    // Seen before it is approved: the engine's own sweeps never see an
    // approved host that was never heard from.
    server
        .store()
        .await
        .touch_host(host, seen)
        .await
        .expect("touch");
    server
        .api
        .fleet
        .approve(&Principal::local_cli(), host, None)
        .await
        .expect("approve");
    host
}

/// A repository only the store knows of.
pub async fn repository(server: &TestServer, name: &str) -> RepositoryId {
    let fields = RepositoryFields {
        name: name.into(),
        url_redacted: "rest:http://127.0.0.1:1/".into(),
        env_keys: Vec::new(),
    };
    let seal = |_| {
        Ok(SealedSecrets {
            url: vec![1],
            password: vec![1],
            env: None,
        })
    };
    server
        .store()
        .await
        .create_repository(fields, 0, seal)
        .await
        .expect("repository")
        .id
}

/// A manual backup of `host` into `repo` that ended as its agent reports
/// it: through the same store effect as a real `JobFinished` message.
pub async fn backup_ended(
    server: &TestServer,
    (host, repo): (HostId, RepositoryId),
    seq: u64,
    end: JobEnd,
    at: Millis,
) {
    let store = server.store().await;
    let job = store
        .create_job(
            NewJob {
                host_id: host,
                repository_id: Some(repo),
                trigger: Trigger::Api,
                spec: JobSpec::Backup(BackupSpec {
                    paths: vec!["/srv".into()],
                    ..Default::default()
                }),
                created_by: None,
            },
            at,
        )
        .await
        .expect("job");
    store
        .apply_agent_message_with(host, seq, at, cairn_store::job_finished(host, job, end, at))
        .await
        .expect("finish");
}

pub fn ok(files: u64) -> JobEnd {
    JobEnd {
        status: JobStatus::Succeeded,
        warning: false,
        exit_code: Some(0),
        error: None,
        summary: Some(BackupSummary {
            files_changed: files,
            data_added: 1 << 30,
            duration_ms: 60_000,
            ..Default::default()
        }),
        snapshot_id: None,
    }
}

pub fn failed(error: &str, code: i32) -> JobEnd {
    JobEnd {
        status: JobStatus::Failed,
        warning: false,
        exit_code: Some(code),
        error: Some(error.into()),
        summary: None,
        snapshot_id: None,
    }
}

/// The open alerts as (kind, state, subject).
pub async fn open(server: &TestServer) -> Vec<(AlertKind, AlertState, String)> {
    let filter = AlertFilter {
        states: vec![AlertState::Firing, AlertState::Acknowledged],
        ..Default::default()
    };
    server
        .api
        .alerts
        .list(&Principal::local_cli(), filter, Page::first(100))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|a| (a.kind, a.state, a.subject))
        .collect()
}

/// Moves the manual clock to `at`.
pub fn set(server: &TestServer, hand: &cairn_server::clock::ManualClock, at: Millis) {
    let now = server.clock().now();
    hand.advance(std::time::Duration::from_millis((at - now).max(0) as u64));
}

async fn sweep(server: &TestServer) {
    server.api.alerts.evaluate().await.expect("sweep");
}

fn rule_id(rules: &[cairn_store::AlertRule], kind: AlertKind) -> i64 {
    rules
        .iter()
        .find(|r| r.kind == kind)
        .expect("one rule per kind")
        .id
}

#[tokio::test]
async fn a_silent_host_fires_once_and_resolves_when_back_and_an_acknowledged_alert_tells_no_more() {
    let (server, hand, notices) = recorded().await;
    let cli = Principal::local_cli();
    let h = host(&server, "ops1", NOON).await;
    let subject = format!("host:{h}");
    sweep(&server).await;
    assert!(open(&server).await.is_empty(), "seen just now");

    set(&server, &hand, NOON + 91_000);
    sweep(&server).await;
    sweep(&server).await;
    assert_eq!(
        open(&server).await,
        vec![(AlertKind::HostOffline, AlertState::Firing, subject.clone())]
    );
    assert_eq!(
        notices.seen(),
        vec![(AlertKind::HostOffline, Transition::Fired, subject.clone())]
    );

    server
        .store()
        .await
        .touch_host(h, NOON + 92_000)
        .await
        .expect("back");
    sweep(&server).await;
    assert!(open(&server).await.is_empty(), "back: resolved");
    assert_eq!(
        notices.seen().last().map(|n| n.1),
        Some(Transition::Resolved)
    );

    // Silent again, with reminders every minute: acknowledged, it tells nothing.
    let rules = server.api.alerts.rules(&cli).await.expect("rules");
    let offline = rule_id(&rules, AlertKind::HostOffline);
    let reminders = RuleUpdate {
        repeat_every: Some(Some(std::time::Duration::from_secs(60))),
        ..Default::default()
    };
    server
        .api
        .alerts
        .update_rule(&cli, offline, reminders)
        .await
        .expect("reminders");
    set(&server, &hand, NOON + 200_000);
    sweep(&server).await;
    assert_eq!(notices.seen().len(), 3, "fired again");
    set(&server, &hand, NOON + 261_000);
    sweep(&server).await;
    assert_eq!(
        notices.seen().last().map(|n| n.1),
        Some(Transition::StillFiring)
    );
    let id = server
        .api
        .alerts
        .list(&cli, AlertFilter::default(), Page::first(1))
        .await
        .expect("list")
        .items[0]
        .id;
    let acked = server
        .api
        .alerts
        .acknowledge(&cli, id, "on it")
        .await
        .expect("ack");
    assert_eq!(acked.ack_note.as_deref(), Some("on it"));
    let before = notices.seen().len();
    set(&server, &hand, NOON + 600_000);
    sweep(&server).await;
    server
        .store()
        .await
        .touch_host(h, NOON + 600_000)
        .await
        .expect("back");
    sweep(&server).await;
    assert_eq!(
        notices.seen().len(),
        before,
        "no reminder and no resolve notice once acknowledged"
    );
    assert!(open(&server).await.is_empty(), "it still resolves");
}

#[tokio::test]
async fn a_failed_backup_fires_once_and_resolves_when_the_next_one_succeeds() {
    let (server, hand, notices) = recorded().await;
    let h = host(&server, "ops1", NOON).await;
    let repo = repository(&server, "r1").await;
    backup_ended(&server, (h, repo), 1, failed("restic exited 1", 1), NOON).await;
    // Two sweeps at once: the unique index keeps one alert.
    let (a, b) = tokio::join!(server.api.alerts.evaluate(), server.api.alerts.evaluate());
    a.and(b).expect("sweeps");
    let subject = format!("host:{h}:repo:{repo}:backup");
    assert_eq!(
        open(&server).await,
        vec![(AlertKind::JobFailed, AlertState::Firing, subject.clone())]
    );
    backup_ended(
        &server,
        (h, repo),
        2,
        failed("restic exited 1", 1),
        NOON + 1000,
    )
    .await;
    set(&server, &hand, NOON + 2000);
    sweep(&server).await;
    assert_eq!(
        open(&server).await.len(),
        1,
        "still one alert for one condition"
    );
    backup_ended(&server, (h, repo), 3, ok(10), NOON + 3000).await;
    sweep(&server).await;
    assert!(open(&server).await.is_empty());
    assert_eq!(
        notices.seen(),
        vec![
            (AlertKind::JobFailed, Transition::Fired, subject.clone()),
            (AlertKind::JobFailed, Transition::Resolved, subject),
        ]
    );
}

#[tokio::test]
async fn an_unreachable_repository_is_its_own_alert() {
    let (server, _hand, _notices) = recorded().await;
    let h = host(&server, "ops1", NOON).await;
    let repo = repository(&server, "r1").await;
    let words = "Fatal: unable to open config file: Stat: Get \"http://10.0.0.9:8000/config\": dial tcp 10.0.0.9:8000: connect: connection refused";
    backup_ended(&server, (h, repo), 1, failed(words, 1), NOON).await;
    sweep(&server).await;
    let kinds: Vec<AlertKind> = open(&server).await.into_iter().map(|a| a.0).collect();
    assert!(kinds.contains(&AlertKind::RepoUnreachable), "{kinds:?}");
    backup_ended(&server, (h, repo), 2, ok(1), NOON + 1000).await;
    sweep(&server).await;
    assert!(open(&server).await.is_empty());
}

#[tokio::test]
async fn fifty_times_the_usual_files_raises_an_anomaly_and_usual_backups_do_not() {
    let (server, _hand, notices) = recorded().await;
    let h = host(&server, "ops1", NOON).await;
    let repo = repository(&server, "r1").await;
    for seq in 1..=6 {
        backup_ended(
            &server,
            (h, repo),
            seq,
            ok(100 + seq),
            NOON + seq as i64 * 1000,
        )
        .await;
        sweep(&server).await;
    }
    assert!(
        open(&server).await.is_empty(),
        "usual backups raise nothing"
    );
    backup_ended(&server, (h, repo), 7, ok(5_000), NOON + 7000).await;
    sweep(&server).await;
    let alerts = open(&server).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, AlertKind::Anomaly);
    backup_ended(&server, (h, repo), 8, ok(104), NOON + 8000).await;
    sweep(&server).await;
    assert!(
        open(&server).await.is_empty(),
        "the next usual backup resolves it"
    );
    assert_eq!(notices.seen().len(), 2);
}

#[tokio::test]
async fn a_maintenance_window_holds_notices_back_until_it_ends() {
    let (server, hand, notices) = recorded().await;
    let cli = Principal::local_cli();
    let h = host(&server, "ops1", NOON).await;
    let window = SilenceRequest {
        host: h,
        starts_at: NOON,
        ends_at: NOON + 300_000,
        note: "kernel upgrade".into(),
    };
    server
        .api
        .alerts
        .create_silence(&cli, window)
        .await
        .expect("window");
    set(&server, &hand, NOON + 120_000);
    sweep(&server).await;
    assert_eq!(open(&server).await.len(), 1, "the alert exists");
    assert!(notices.seen().is_empty(), "but tells nobody in the window");
    set(&server, &hand, NOON + 300_001);
    sweep(&server).await;
    assert_eq!(
        notices.seen().len(),
        1,
        "still firing when the window ends: told then"
    );
    assert_eq!(notices.seen()[0].1, Transition::Fired);
}

#[tokio::test]
async fn overrides_per_host_and_per_schedule_change_the_threshold() {
    let (server, hand, _notices) = recorded().await;
    let cli = Principal::local_cli();
    let patient = host(&server, "laptop", NOON).await;
    let _strict = host(&server, "server", NOON).await;
    let rules = server.api.alerts.rules(&cli).await.expect("rules");
    let offline = rule_id(&rules, AlertKind::HostOffline);
    server
        .api
        .alerts
        .set_override(&cli, offline, OverrideTarget::Host(patient), 3600.0)
        .await
        .expect("override");
    set(&server, &hand, NOON + 600_000);
    sweep(&server).await;
    let open_now = open(&server).await;
    assert_eq!(
        open_now.len(),
        1,
        "only the host without an override: {open_now:?}"
    );
    assert_ne!(open_now[0].2, format!("host:{patient}"));
    set(&server, &hand, NOON + 3_700_000);
    sweep(&server).await;
    assert_eq!(open(&server).await.len(), 2, "past its own threshold");
    server
        .api
        .alerts
        .clear_override(&cli, offline, OverrideTarget::Host(patient))
        .await
        .expect("clear");
    assert!(
        server
            .api
            .alerts
            .overrides(&cli)
            .await
            .expect("overrides")
            .is_empty()
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let (server, hand, _notices) = recorded().await;
    let cli = Principal::local_cli();
    let err = server
        .api
        .alerts
        .acknowledge(&cli, 999, "")
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("alert not found"), "{err}");

    let rules = server.api.alerts.rules(&cli).await.expect("rules");
    let anomaly = rule_id(&rules, AlertKind::Anomaly);
    for bad in [0.5, f64::NAN, -3.0] {
        let change = RuleUpdate {
            threshold: Some(Some(bad)),
            ..Default::default()
        };
        let err = server
            .api
            .alerts
            .update_rule(&cli, anomaly, change)
            .await
            .expect_err("bad factor");
        assert!(err.to_string().contains("threshold"), "{err}");
    }
    let after = server.api.alerts.rules(&cli).await.expect("rules");
    assert_eq!(after, rules, "nothing changed");

    let h = host(&server, "ops1", NOON).await;
    set(&server, &hand, NOON + 100_000);
    sweep(&server).await;
    server
        .store()
        .await
        .touch_host(h, NOON + 100_000)
        .await
        .expect("back");
    sweep(&server).await;
    let resolved = server
        .api
        .alerts
        .list(&cli, AlertFilter::default(), Page::first(1))
        .await
        .expect("list")
        .items[0]
        .clone();
    assert_eq!(resolved.state, AlertState::Resolved);
    let err = server
        .api
        .alerts
        .acknowledge(&cli, resolved.id, "late")
        .await
        .expect_err("resolved");
    assert!(err.to_string().contains("resolved"), "{err}");
    assert_eq!(
        server.api.alerts.get(&cli, resolved.id).await.expect("get"),
        resolved
    );

    let window = SilenceRequest {
        host: h,
        starts_at: NOON,
        ends_at: NOON - 1,
        note: String::new(),
    };
    assert!(
        server
            .api
            .alerts
            .create_silence(&cli, window)
            .await
            .is_err()
    );
    assert!(
        server
            .api
            .alerts
            .silences(&cli)
            .await
            .expect("silences")
            .is_empty()
    );
}

fn hourly(name: &str) -> cairn_store::ScheduleFields {
    cairn_store::ScheduleFields {
        name: name.into(),
        cron: "0 * * * *".into(),
        timezone: "UTC".into(),
        paths: vec!["/srv".into()],
        excludes: Vec::new(),
        tags: Vec::new(),
        hooks: Vec::new(),
        limit_upload_kib: None,
        limit_download_kib: None,
        catch_up: cairn_domain::CatchUp::Once,
        enabled: true,
    }
}

#[tokio::test]
async fn an_overdue_schedule_fires_and_a_schedules_override_beats_its_hosts() {
    let (server, hand, _notices) = recorded().await;
    let cli = Principal::local_cli();
    let h = host(&server, "ops1", NOON).await;
    let repo = repository(&server, "r1").await;
    let store = server.store().await;
    store
        .assign_repository(repo, h, NOON)
        .await
        .expect("assign");
    let plain = store
        .create_schedule(h, repo, hourly("plain"), NOON)
        .await
        .expect("schedule");
    let patient = store
        .create_schedule(h, repo, hourly("patient"), NOON)
        .await
        .expect("schedule");
    let overdue = |alerts: Vec<(AlertKind, AlertState, String)>| -> Vec<String> {
        alerts
            .into_iter()
            .filter(|a| a.0 == AlertKind::BackupOverdue)
            .map(|a| a.2)
            .collect()
    };
    let rules = server.api.alerts.rules(&cli).await.expect("rules");
    let rule = rule_id(&rules, AlertKind::BackupOverdue);
    let alerts = &server.api.alerts;
    alerts
        .set_override(&cli, rule, OverrideTarget::Host(h), 3.0)
        .await
        .expect("host");
    alerts
        .set_override(&cli, rule, OverrideTarget::Schedule(patient.id), 10.0)
        .await
        .expect("schedule");

    set(&server, &hand, NOON + 150 * 60_000);
    sweep(&server).await;
    assert!(
        overdue(open(&server).await).is_empty(),
        "2.5 h: the host's factor 3 holds both"
    );
    set(&server, &hand, NOON + 210 * 60_000);
    sweep(&server).await;
    assert_eq!(
        overdue(open(&server).await),
        vec![format!("schedule:{}", plain.id)],
        "3.5 h: past the host's factor, not the schedule's own 10"
    );
}

#[tokio::test]
async fn the_engine_worker_sweeps_by_itself_when_the_clock_moves() {
    let (server, hand, notices) = recorded().await;
    let h = host(&server, "ops1", NOON).await;
    set(&server, &hand, NOON + 120_000);
    // No sweep by hand: the worker wakes on the clock's move.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while notices.seen().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never swept"
        );
        cairn_testkit::poll_pause().await;
    }
    assert_eq!(
        notices.seen(),
        vec![(
            AlertKind::HostOffline,
            Transition::Fired,
            format!("host:{h}")
        )]
    );
}
