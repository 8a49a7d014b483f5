//! One agent cannot disturb another's jobs, and nothing an agent sends grows
//! the server without bound or takes it down: reports about another host's
//! job, logs past their cap or after the end, firings the schedule never
//! makes, overflowing times, snapshots claiming another host's name.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_proto::v1::server_message::Body as ServerBody;
use cairn_store::{HostId, JobId, JobStatus, NewJob, Role, Scope, Store};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RawSession};

use crate::with_token;

const WAIT: Duration = Duration::from_secs(30);

/// An approved host spoken for by hand.
pub(crate) struct Peer {
    session: RawSession,
    pub(crate) host: i64,
    seq: u64,
}

impl Peer {
    pub(crate) async fn approved(server: &TestServer, token: &str, hostname: &str) -> Peer {
        let mut session = agents::open(
            &server.url,
            agents::hello(&agents::new_identity(), hostname),
        )
        .await
        .expect("open");
        let Ok(Some(pb::ServerMessage {
            body: Some(ServerBody::Welcome(welcome)),
        })) = session.next(WAIT).await
        else {
            panic!("welcome")
        };
        HostServiceClient::new(server.channel().await)
            .approve_host(with_token(
                pb::ApproveHostRequest {
                    host_id: welcome.host_id,
                    expected_fingerprint: String::new(),
                },
                token,
            ))
            .await
            .expect("approve");
        Peer {
            session,
            host: welcome.host_id,
            seq: 0,
        }
    }

    /// Sends `body` with the next seq and waits for its acknowledgement
    /// (so its effect, if any, is stored).
    pub(crate) async fn send(&mut self, body: Body) {
        self.seq += 1;
        let seq = self.seq;
        self.session
            .tx
            .send(pb::AgentMessage {
                seq,
                body: Some(body),
            })
            .await
            .expect("send");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.session.next(WAIT).await {
                Ok(Some(pb::ServerMessage {
                    body: Some(ServerBody::Ack(ack)),
                })) if ack.seq >= seq => return,
                Ok(Some(_)) => {}
                other => panic!("the session ended instead of acknowledging {seq}: {other:?}"),
            }
            assert!(tokio::time::Instant::now() < deadline, "no ack for {seq}");
        }
    }
}

fn log(job: JobId, text: &str) -> Body {
    Body::JobLog(pb::JobLog {
        job_id: job.0,
        lines: vec![pb::JobLogLine {
            text: text.into(),
            ..Default::default()
        }],
    })
}

fn finished(job: JobId) -> Body {
    Body::JobFinished(pb::JobFinished {
        job_id: job.0,
        outcome: pb::JobOutcome::Succeeded as i32,
        ..Default::default()
    })
}

async fn running_job(store: &Store, host: i64, repository: Option<i64>) -> JobId {
    let job = store
        .create_job(
            NewJob {
                host_id: HostId(host),
                repository_id: repository.map(cairn_store::RepositoryId),
                trigger: cairn_domain::Trigger::Api,
                spec: cairn_domain::JobSpec::Backup(Default::default()),
                created_by: None,
            },
            1,
        )
        .await
        .expect("job");
    let now = cairn_store::now_millis();
    assert!(
        store
            .mark_dispatched(job, now, now + 3_600_000)
            .await
            .expect("dispatch")
    );
    job
}

async fn snapshots(
    store: &Store,
    repo: i64,
    host: Option<HostId>,
) -> cairn_store::PageOf<cairn_store::CachedSnapshot> {
    store
        .list_snapshots(
            cairn_store::RepositoryId(repo),
            host,
            cairn_store::Page::first(10),
        )
        .await
        .expect("snapshots")
}

async fn log_texts(store: &Store, job: JobId) -> Vec<String> {
    store
        .job_log(job)
        .await
        .expect("log")
        .into_iter()
        .map(|l| l.line)
        .collect()
}

#[tokio::test]
async fn another_hosts_reports_reach_neither_the_watchers_nor_the_job() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut a = Peer::approved(&server, &token, "alpha").await;
    let mut b = Peer::approved(&server, &token, "bravo").await;
    let store = server.store().await;
    let job = running_job(&store, a.host, None).await;

    let mut watch = JobServiceClient::new(server.channel().await)
        .watch_job(with_token(pb::WatchJobRequest { job_id: job.0 }, &token))
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("event").expect("event");
    assert!(matches!(first.event, Some(pb::job_event::Event::Job(_))));

    b.send(log(job, "injected by bravo")).await;
    b.send(Body::JobProgress(pb::JobProgress {
        job_id: job.0,
        percent: 99.0,
        ..Default::default()
    }))
    .await;
    b.send(Body::JobAccepted(pb::JobAccepted {
        job_id: job.0,
        accepted_at: None,
    }))
    .await;
    b.send(finished(job)).await;
    // The job's own host speaks last: the first event the watcher sees after
    // the snapshot is its line, cleaned as stored.
    a.send(log(job, "from alpha\u{1b}[31m")).await;
    let next = tokio::time::timeout(WAIT, watch.message())
        .await
        .expect("an event in time")
        .expect("stream")
        .expect("event");
    match next.event {
        Some(pb::job_event::Event::Log(batch)) => {
            let texts: Vec<&str> = batch.lines.iter().map(|l| l.text.as_str()).collect();
            let stored = log_texts(&store, job).await;
            assert_eq!(texts, stored.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(stored.len(), 1, "only alpha's line: {stored:?}");
            assert!(stored[0].starts_with("from alpha"));
            assert!(!stored[0].contains('\u{1b}'), "cleaned: {stored:?}");
        }
        other => panic!("bravo's report reached the watcher: {other:?}"),
    }
    let after = store.job(job).await.expect("job");
    assert_eq!(
        after.status,
        JobStatus::Dispatched,
        "bravo did not finish or start it"
    );
    assert_eq!(after.progress, None);
    assert_eq!(
        server.api.jobs.hub().topic_count(),
        1,
        "alpha's job is still watched"
    );
}

#[tokio::test]
async fn watching_unknown_and_finished_jobs_leaves_nothing_behind() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut a = Peer::approved(&server, &token, "alpha").await;
    let store = server.store().await;
    let job = running_job(&store, a.host, None).await;
    a.send(finished(job)).await;
    let mut jobs = JobServiceClient::new(server.channel().await);
    for _ in 0..20 {
        let unknown = jobs
            .watch_job(with_token(pb::WatchJobRequest { job_id: 999_999 }, &token))
            .await;
        assert_eq!(unknown.expect_err("unknown").code(), tonic::Code::NotFound);
        let mut done = jobs
            .watch_job(with_token(pb::WatchJobRequest { job_id: job.0 }, &token))
            .await
            .expect("watch")
            .into_inner();
        while done.message().await.expect("stream").is_some() {}
    }
    // A finished job's final record is the only event its watcher gets.
    let mut events = Vec::new();
    let mut done = jobs
        .watch_job(with_token(pb::WatchJobRequest { job_id: job.0 }, &token))
        .await
        .expect("watch")
        .into_inner();
    while let Some(event) = done.message().await.expect("stream") {
        events.push(event.event);
    }
    assert!(
        matches!(events.as_slice(), [Some(pb::job_event::Event::Finished(_))]),
        "{events:?}"
    );
    // The finished watchers' tasks drop their subscriptions as they end.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.api.jobs.hub().topic_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "channels left behind"
        );
        cairn_testkit::poll_pause().await;
    }
}

#[tokio::test]
async fn logs_are_capped_paged_and_closed_when_the_job_ends() {
    let server = TestServer::start_with(|c| c.max_log_lines_per_job = 5).await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut a = Peer::approved(&server, &token, "alpha").await;
    let store = server.store().await;
    let job = running_job(&store, a.host, None).await;
    a.send(Body::JobLog(pb::JobLog {
        job_id: job.0,
        lines: (1..=8)
            .map(|n| pb::JobLogLine {
                text: format!("line {n}"),
                ..Default::default()
            })
            .collect(),
    }))
    .await;
    a.send(log(job, "line 9")).await;
    a.send(finished(job)).await;
    a.send(log(job, "after the end")).await;

    let mut jobs = JobServiceClient::new(server.channel().await);
    let mut texts = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = jobs
            .get_job_logs(with_token(
                pb::GetJobLogsRequest {
                    job_id: job.0,
                    page: Some(pb::PageRequest {
                        page_size: 2,
                        page_token,
                    }),
                },
                &token,
            ))
            .await
            .expect("logs")
            .into_inner();
        assert!(page.lines.len() <= 2);
        pages += 1;
        texts.extend(page.lines.into_iter().map(|l| l.text));
        page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(texts.len(), 6, "five lines and the marker: {texts:?}");
    assert_eq!(
        texts[..5],
        ["line 1", "line 2", "line 3", "line 4", "line 5"]
    );
    assert!(texts[5].contains("later lines were dropped"), "{texts:?}");
}

#[tokio::test]
async fn overflowing_agent_times_are_refused_and_the_session_lives_on() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut a = Peer::approved(&server, &token, "alpha").await;
    let repo =
        cairn_testkit::fleet::repository(&server, &token, "r", "/srv/repo", "pw", &[a.host]).await;
    let store = server.store().await;
    let job = running_job(&store, a.host, Some(repo)).await;
    let huge = prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 999_999_999,
    };
    a.send(Body::JobLog(pb::JobLog {
        job_id: job.0,
        lines: vec![pb::JobLogLine {
            time: Some(huge),
            text: "from the far future".into(),
            ..Default::default()
        }],
    }))
    .await;
    a.send(Body::SnapshotList(pb::SnapshotList {
        job_id: job.0,
        repository_id: repo,
        snapshots: vec![pb::Snapshot {
            id: "ab".repeat(32),
            short_id: "abababab".into(),
            time: Some(huge),
            hostname: "alpha".into(),
            ..Default::default()
        }],
        part: 0,
        last: true,
    }))
    .await;
    a.send(Body::ScheduleFired(pb::ScheduleFired {
        schedule_id: 1,
        fire_at: Some(huge),
        schedule_set_version: 1,
        late: false,
    }))
    .await;
    let lines = store.job_log(job).await.expect("log");
    let now = cairn_store::now_millis();
    assert!(
        (now - 600_000..=now).contains(&lines[0].at),
        "stamped on arrival: {}",
        lines[0].at
    );
    let snapshots = snapshots(&store, repo, None).await;
    assert_eq!(snapshots.items.len(), 1, "kept, time unknown");
    assert_eq!(snapshots.items[0].time, 0);
    a.send(log(job, "still here")).await;
}

#[tokio::test]
async fn a_firing_at_a_time_the_schedule_never_fires_is_refused() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut a = Peer::approved(&server, &token, "alpha").await;
    let repo =
        cairn_testkit::fleet::repository(&server, &token, "r", "/srv/repo", "pw", &[a.host]).await;
    let schedule = ScheduleServiceClient::new(server.channel().await)
        .create_schedule(with_token(
            pb::CreateScheduleRequest {
                host_id: a.host,
                repository_id: repo,
                name: "nightly".into(),
                cron: "0 3 * * *".into(),
                timezone: "UTC".into(),
                paths: vec!["/srv".into()],
                catch_up: pb::CatchUpPolicy::Once as i32,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("create")
        .into_inner()
        .schedule
        .expect("schedule");
    // Yesterday's 03:00 UTC, and 30 s past it.
    let day = 86_400;
    let today = cairn_store::now_millis() / 1000 / day * day;
    let real = today - day + 3 * 3_600;
    let fire = |seconds: i64| {
        Body::ScheduleFired(pb::ScheduleFired {
            schedule_id: schedule.id,
            fire_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            schedule_set_version: 1,
            late: false,
        })
    };
    let store = server.store().await;
    let filter = cairn_store::JobFilter {
        host: Some(HostId(a.host)),
        ..Default::default()
    };
    a.send(fire(real + 30)).await;
    let jobs = store
        .list_jobs(filter, cairn_store::Page::first(10))
        .await
        .expect("jobs");
    assert!(
        jobs.items.is_empty(),
        "an invented firing made a job: {jobs:?}"
    );
    // A real firing of the future (a day ahead) would run now and swallow
    // the real one: refused.
    a.send(fire(real + 2 * day)).await;
    let jobs = store
        .list_jobs(filter, cairn_store::Page::first(10))
        .await
        .expect("jobs");
    assert!(
        jobs.items.is_empty(),
        "a future firing made a job: {jobs:?}"
    );
    a.send(fire(real)).await;
    let jobs = store
        .list_jobs(filter, cairn_store::Page::first(10))
        .await
        .expect("jobs");
    assert_eq!(jobs.items.len(), 1, "the real firing makes its job");

    // Disabled while the host was away: its spooled firings make no job.
    ScheduleServiceClient::new(server.channel().await)
        .set_schedule_enabled(with_token(
            pb::SetScheduleEnabledRequest {
                schedule_id: schedule.id,
                enabled: false,
            },
            &token,
        ))
        .await
        .expect("disable");
    a.send(fire(real - day)).await;
    let jobs = store
        .list_jobs(filter, cairn_store::Page::first(10))
        .await
        .expect("jobs");
    assert_eq!(
        jobs.items.len(),
        1,
        "a disabled schedule's firing made a job"
    );
}

#[tokio::test]
async fn snapshots_belong_to_the_host_whose_backup_made_them_not_to_a_hostname() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut real = Peer::approved(&server, &token, "db01").await;
    // Another host claims the same hostname.
    let mut impostor = Peer::approved(&server, &token, "db01").await;
    let repo = cairn_testkit::fleet::repository(
        &server,
        &token,
        "r",
        "/srv/repo",
        "pw",
        &[real.host, impostor.host],
    )
    .await;
    let store = server.store().await;
    let backup = running_job(&store, real.host, Some(repo)).await;
    let made = "cd".repeat(32);
    let snapshot = |id: &str| pb::Snapshot {
        id: id.to_string(),
        short_id: id[..8].to_string(),
        time: Some(prost_types::Timestamp {
            seconds: cairn_store::now_millis() / 1000 - 60,
            nanos: 0,
        }),
        hostname: "db01".into(),
        ..Default::default()
    };
    let list = |job: JobId, ids: &[&str]| {
        Body::SnapshotList(pb::SnapshotList {
            job_id: job.0,
            repository_id: repo,
            snapshots: ids.iter().map(|id| snapshot(id)).collect(),
            part: 0,
            last: true,
        })
    };
    // As the agent does: the list right after the backup, then the end.
    real.send(list(backup, &[&made])).await;
    real.send(Body::JobFinished(pb::JobFinished {
        job_id: backup.0,
        outcome: pb::JobOutcome::Succeeded as i32,
        summary: Some(pb::BackupSummary {
            snapshot_id: made[..8].to_string(),
            files_new: 42,
            ..Default::default()
        }),
        ..Default::default()
    }))
    .await;
    let refresh = running_job(&store, impostor.host, Some(repo)).await;
    let foreign = "ef".repeat(32);
    impostor.send(list(refresh, &[&made, &foreign])).await;

    let all = snapshots(&store, repo, None).await;
    let host_of = |id: &str| {
        all.items
            .iter()
            .find(|s| s.snapshot_id == id)
            .map(|s| s.host_id)
            .expect("listed")
    };
    assert_eq!(host_of(&made), Some(HostId(real.host)));
    assert_eq!(host_of(&foreign), None, "no backup of ours made it");
    // A snapshot one of our backups made carries that backup's summary.
    let summary_of = |id: &str| {
        all.items
            .iter()
            .find(|s| s.snapshot_id == id)
            .and_then(|s| s.summary.clone())
    };
    let made_summary = summary_of(&made).expect("the backup's summary");
    assert_eq!(made_summary.files_new, 42);
    assert_eq!(summary_of(&foreign), None);
    // The job reported a short id (as restic 0.14 does); it shows the full one.
    assert_eq!(
        store.job(backup).await.expect("job").snapshot_id.as_deref(),
        Some(made.as_str())
    );
    let claimed = snapshots(&store, repo, Some(HostId(impostor.host))).await;
    assert!(claimed.items.is_empty(), "{claimed:?}");
}

#[tokio::test]
async fn job_logs_go_when_their_retention_is_over_and_not_before() {
    let (clock, hand) = cairn_server::clock::Clock::manual(cairn_store::now_millis());
    let server = TestServer::start_with_clock(clock, |_| {}).await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut a = Peer::approved(&server, &token, "alpha").await;
    let store = server.store().await;
    let done = running_job(&store, a.host, None).await;
    let live = running_job(&store, a.host, None).await;
    a.send(log(done, "old news")).await;
    a.send(log(live, "still running")).await;
    a.send(finished(done)).await;

    // The default retention is 30 days.
    hand.advance(Duration::from_secs(29 * 86_400));
    assert_eq!(server.api.admin.sweep_job_logs().await.expect("sweep"), 0);
    assert_eq!(log_texts(&store, done).await, ["old news"]);
    hand.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(server.api.admin.sweep_job_logs().await.expect("sweep"), 1);
    assert!(log_texts(&store, done).await.is_empty());
    assert_eq!(
        log_texts(&store, live).await,
        ["still running"],
        "a running job keeps its log"
    );
    assert_eq!(
        store.job(done).await.expect("job row stays").status,
        JobStatus::Succeeded
    );
}
