//! Schedules: validation, the versioned set pushed to the agent, the agent's
//! own clock firing them, and one job per firing however often it is reported.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_proto::v1::server_message::Body as ServerBody;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet;
use cairn_testkit::jobs::{status_in, wait_job};
use tonic::Code;

use crate::with_token;

async fn approved_with_repository(
    server: &TestServer,
    token: &str,
    agent: &mut RunningAgent,
    repo_dir: &std::path::Path,
) -> (i64, i64) {
    let host_id = fleet::approve(server, token, agent).await;
    let repository_id = fleet::repository(
        server,
        token,
        "scheduled",
        &repo_dir.display().to_string(),
        "pw-scheduled",
        &[host_id],
    )
    .await;
    (host_id, repository_id)
}

fn schedule(
    host_id: i64,
    repository_id: i64,
    cron: &str,
    timezone: &str,
    path: &str,
) -> pb::CreateScheduleRequest {
    pb::CreateScheduleRequest {
        host_id,
        repository_id,
        name: "every second".into(),
        cron: cron.into(),
        timezone: timezone.into(),
        paths: vec![path.into()],
        catch_up: pb::CatchUpPolicy::Once as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_schedule_fires_on_the_agent_and_its_job_succeeds() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut agent = RunningAgent::start(agents::config(&server.url, &dir.path().join("agent")));
    let (host_id, repository_id) =
        approved_with_repository(&server, &token, &mut agent, &dir.path().join("repo")).await;
    let channel = server.channel().await;
    let mut jobs = JobServiceClient::new(channel.clone());
    let init = jobs
        .run_maintenance(with_token(
            pb::RunMaintenanceRequest {
                host_id,
                repository_id,
                spec: Some(pb::run_maintenance_request::Spec::Init(
                    pb::InitSpec::default(),
                )),
            },
            &token,
        ))
        .await
        .expect("init")
        .into_inner()
        .job
        .expect("job");
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("f"), "scheduled").expect("write");

    let mut schedules = ScheduleServiceClient::new(channel.clone());
    let created = schedules
        .create_schedule(with_token(
            schedule(
                host_id,
                repository_id,
                "* * * * * *",
                "Europe/Berlin",
                &source.display().to_string(),
            ),
            &token,
        ))
        .await
        .expect("create")
        .into_inner()
        .schedule
        .expect("schedule");
    assert!(created.next_fire_at.is_some());

    // The agent takes on the set and says so; then the schedule fires.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let scheduled = loop {
        let listed = jobs
            .list_jobs(with_token(
                pb::ListJobsRequest {
                    host_id,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("list")
            .into_inner()
            .jobs;
        let done = listed.iter().find(|j| {
            j.id != init.id
                && j.trigger == pb::JobTrigger::Schedule as i32
                && j.status == pb::JobStatus::Succeeded as i32
        });
        if let Some(job) = done {
            break job.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no scheduled backup succeeded: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(scheduled.summary.is_some());
    let host = HostServiceClient::new(channel)
        .get_host(with_token(pb::GetHostRequest { host_id }, &token))
        .await
        .expect("host")
        .into_inner()
        .host
        .expect("host");
    assert!(host.desired_schedule_set_version >= 1);
    assert_eq!(
        host.applied_schedule_set_version, host.desired_schedule_set_version,
        "the agent reported the set it runs"
    );
    agent.stop().await.expect("stop");
}

#[tokio::test]
async fn one_firing_makes_one_job_however_often_it_is_reported() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let identity = agents::new_identity();
    let mut session = agents::open(&server.url, agents::hello(&identity, "replayer"))
        .await
        .expect("open");
    let Ok(Some(pb::ServerMessage {
        body: Some(ServerBody::Welcome(welcome)),
    })) = session.next(Duration::from_secs(60)).await
    else {
        panic!("welcome")
    };
    let host_id = welcome.host_id;
    let channel = server.channel().await;
    HostServiceClient::new(channel.clone())
        .approve_host(with_token(
            pb::ApproveHostRequest {
                host_id,
                expected_fingerprint: String::new(),
            },
            &token,
        ))
        .await
        .expect("approve");
    let dir = tempfile::tempdir().expect("dir");
    let mut repos = RepositoryServiceClient::new(channel.clone());
    let repo = repos
        .create_repository(with_token(
            pb::CreateRepositoryRequest {
                name: "r".into(),
                url: dir.path().display().to_string(),
                password: "pw".into(),
                env: Default::default(),
            },
            &token,
        ))
        .await
        .expect("repo")
        .into_inner()
        .repository
        .expect("repo");
    repos
        .assign_repository(with_token(
            pb::AssignRepositoryRequest {
                repository_id: repo.id,
                host_id,
            },
            &token,
        ))
        .await
        .expect("assign");
    let created = ScheduleServiceClient::new(channel.clone())
        .create_schedule(with_token(
            schedule(host_id, repo.id, "0 3 * * *", "UTC", "/srv"),
            &token,
        ))
        .await
        .expect("create")
        .into_inner()
        .schedule
        .expect("schedule");

    let fire = |seq: u64, late: bool| pb::AgentMessage {
        seq,
        body: Some(Body::ScheduleFired(pb::ScheduleFired {
            schedule_id: created.id,
            fire_at: Some(prost_types::Timestamp {
                seconds: 1_767_236_400,
                nanos: 0,
            }),
            schedule_set_version: 1,
            late,
        })),
    };
    for (seq, late) in [(1, false), (2, true), (3, false)] {
        session.tx.send(fire(seq, late)).await.expect("send");
    }
    // Wait for the ack of the last report.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(pb::ServerMessage {
            body: Some(ServerBody::Ack(ack)),
        })) = session.next(Duration::from_secs(60)).await
            && ack.seq == 3
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ack for the last firing"
        );
    }
    let jobs = JobServiceClient::new(channel)
        .list_jobs(with_token(
            pb::ListJobsRequest {
                host_id,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("list")
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1, "one job for one firing: {jobs:?}");
    // The system dispatched it, on the schedule's behalf: audited once.
    let audited = server
        .store()
        .await
        .list_audit(
            cairn_store::AuditFilter {
                action_prefix: Some("job.create".into()),
                actor_kind: Some(cairn_store::ActorKind::System),
                ..Default::default()
            },
            cairn_store::Page::first(50),
        )
        .await
        .expect("audit")
        .items;
    assert_eq!(audited.len(), 1, "{audited:#?}");
    assert_eq!(
        audited[0].entry.target.as_deref(),
        Some(format!("job:{}", jobs[0].id).as_str())
    );
}

#[tokio::test]
async fn an_invalid_cron_or_timezone_is_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut schedules = ScheduleServiceClient::new(server.channel().await);
    for (cron, zone, field) in [
        ("61 * * * *", "UTC", "cron"),
        ("0 2 * * *", "Atlantis/Capital", "timezone"),
        ("5/5 * * * *", "UTC", "cron"),
    ] {
        let err = schedules
            .create_schedule(with_token(schedule(1, 1, cron, zone, "/srv"), &token))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{cron} {zone}");
        assert!(
            err.message().starts_with(&format!("invalid {field}")),
            "{}",
            err.message()
        );
    }
    let listed = schedules
        .list_schedules(with_token(pb::ListSchedulesRequest::default(), &token))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.schedules.is_empty());
}

/// The server's clock in the missed-run scenarios: midnight of 29 February
/// 2032 (UTC). Their schedule fires every minute of that hour only, a time
/// the agent's own (real) clock will not reach while these tests run, so
/// every firing in them is one the test made by moving the server's clock.
const LEAP_MIDNIGHT_2032: i64 = 1_961_625_600_000;
const EVERY_MINUTE_OF_LEAP_MIDNIGHT: &str = "0 * 0 29 2 *";
/// How far the server's clock moves per look while catch-up runs: a few
/// seconds in all, far from the next firing a minute on.
const CATCH_UP_TICK: Duration = Duration::from_millis(10);

/// Runs the missed-run scenario with `policy`: the host is away while its
/// schedule comes due three times (the server's clock is moved three
/// minutes), then comes back. Returns the missed rows and the catch-up jobs,
/// after the drain.
async fn away_then_back(policy: pb::CatchUpPolicy) -> (Vec<pb::PendingRun>, Vec<pb::Job>) {
    let (server, clock) = TestServer::start_manual(LEAP_MIDNIGHT_2032, |c| {
        // Checked twice a (real) second; the clock itself moves only by hand.
        c.schedule_grace = Duration::from_secs(1);
        c.agent_offline_after = Duration::from_secs(24 * 3600);
    })
    .await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("agent");
    let mut agent = RunningAgent::start(agents::config(&server.url, &state));
    let (host_id, repository_id) =
        approved_with_repository(&server, &token, &mut agent, &dir.path().join("repo")).await;
    let channel = server.channel().await;
    let mut jobs = JobServiceClient::new(channel.clone());
    let init = jobs
        .run_maintenance(with_token(
            pb::RunMaintenanceRequest {
                host_id,
                repository_id,
                spec: Some(pb::run_maintenance_request::Spec::Init(
                    pb::InitSpec::default(),
                )),
            },
            &token,
        ))
        .await
        .expect("init")
        .into_inner()
        .job
        .expect("job");
    wait_job(
        &server,
        &token,
        init.id,
        "init",
        status_in(&[pb::JobStatus::Succeeded]),
    )
    .await;
    agent.stop().await.expect("the host goes away");

    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("f"), "x").expect("write");
    let mut schedules = ScheduleServiceClient::new(channel.clone());
    let mut request = schedule(
        host_id,
        repository_id,
        EVERY_MINUTE_OF_LEAP_MIDNIGHT,
        "UTC",
        &source.display().to_string(),
    );
    request.catch_up = policy as i32;
    let created = schedules
        .create_schedule(with_token(request, &token))
        .await
        .expect("create")
        .into_inner()
        .schedule
        .expect("schedule");

    // Three firings (00:01, 00:02, 00:03) come and go, plus the grace.
    clock.advance(Duration::from_secs(3 * 60 + 2));

    // The server notices the firings nobody reports.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = schedules
            .list_pending_runs(with_token(
                pb::ListPendingRunsRequest {
                    schedule_id: created.id,
                    include_resolved: true,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("pending")
            .into_inner()
            .pending_runs;
        if runs
            .iter()
            .filter(|r| r.state == pb::PendingRunState::Missed as i32)
            .count()
            >= 3
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missed runs were not recorded: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Freeze the schedule so only catch-up runs remain, then bring the host back.
    schedules
        .set_schedule_enabled(with_token(
            pb::SetScheduleEnabledRequest {
                schedule_id: created.id,
                enabled: false,
            },
            &token,
        ))
        .await
        .expect("disable");
    schedules
        .set_schedule_enabled(with_token(
            pb::SetScheduleEnabledRequest {
                schedule_id: created.id,
                enabled: true,
            },
            &token,
        ))
        .await
        .expect("enable");
    let mut agent = RunningAgent::start(agents::config(&server.url, &state));
    agent.welcomed(pb::WelcomeStatus::Approved).await;

    // Wait until no missed row is left and every catch-up job has ended.
    // The clock ticks along (far from the next firing) so the jobs' times
    // show the order they ran in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        clock.advance(CATCH_UP_TICK);
        let runs = schedules
            .list_pending_runs(with_token(
                pb::ListPendingRunsRequest {
                    schedule_id: created.id,
                    include_resolved: true,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("pending")
            .into_inner()
            .pending_runs;
        let catch_up: Vec<pb::Job> = jobs
            .list_jobs(with_token(
                pb::ListJobsRequest {
                    host_id,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("jobs")
            .into_inner()
            .jobs
            .into_iter()
            .filter(|j| j.trigger == pb::JobTrigger::CatchUp as i32)
            .collect();
        let settled = runs
            .iter()
            .all(|r| r.state != pb::PendingRunState::Missed as i32);
        let ended = catch_up.iter().all(|j| {
            [
                pb::JobStatus::Succeeded,
                pb::JobStatus::Failed,
                pb::JobStatus::Cancelled,
                pb::JobStatus::Lost,
            ]
            .iter()
            .any(|s| *s as i32 == j.status)
        });
        if settled && ended && !runs.is_empty() {
            schedules
                .set_schedule_enabled(with_token(
                    pb::SetScheduleEnabledRequest {
                        schedule_id: created.id,
                        enabled: false,
                    },
                    &token,
                ))
                .await
                .expect("disable");
            agent.stop().await.expect("stop");
            // By default only what still waits is listed; by state, exactly
            // that state.
            let listed = |state: pb::PendingRunState| {
                let mut schedules = schedules.clone();
                let token = token.clone();
                async move {
                    schedules
                        .list_pending_runs(with_token(
                            pb::ListPendingRunsRequest {
                                schedule_id: created.id,
                                state: state as i32,
                                ..Default::default()
                            },
                            &token,
                        ))
                        .await
                        .expect("pending")
                        .into_inner()
                        .pending_runs
                }
            };
            assert!(listed(pb::PendingRunState::Unspecified).await.is_empty());
            for state in [pb::PendingRunState::Drained, pb::PendingRunState::Skipped] {
                let of_state = listed(state).await;
                assert!(of_state.iter().all(|r| r.state == state as i32));
                assert_eq!(
                    of_state.len(),
                    runs.iter().filter(|r| r.state == state as i32).count()
                );
            }
            return (runs, catch_up);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "catch-up did not settle: {runs:?} {catch_up:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_once_runs_a_single_backup_for_all_missed_firings() {
    let (runs, jobs) = away_then_back(pb::CatchUpPolicy::Once).await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0].status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        jobs[0].error
    );
    assert!(
        runs.iter()
            .all(|r| r.state == pb::PendingRunState::Drained as i32 && r.job_id == jobs[0].id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_skip_runs_nothing_and_keeps_the_misses_on_record() {
    let (runs, jobs) = away_then_back(pb::CatchUpPolicy::Skip).await;
    assert!(jobs.is_empty(), "{jobs:?}");
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| r.state == pb::PendingRunState::Skipped as i32)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_all_runs_every_missed_firing_one_at_a_time() {
    let (runs, mut jobs) = away_then_back(pb::CatchUpPolicy::All).await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(jobs.len(), runs.len(), "one run per missed firing");
    assert!(
        jobs.iter()
            .all(|j| j.status == pb::JobStatus::Succeeded as i32)
    );
    jobs.sort_by_key(|j| j.started_at.as_ref().map(|t| (t.seconds, t.nanos)));
    for pair in jobs.windows(2) {
        let (first_end, next_start) = (
            pair[0].finished_at.expect("end"),
            pair[1].started_at.expect("start"),
        );
        assert!(
            (first_end.seconds, first_end.nanos) <= (next_start.seconds, next_start.nanos),
            "runs overlapped: {pair:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firings_while_the_server_is_down_are_spooled_and_make_one_job_each() {
    // Server and agent share one manual clock: each minute passes when the
    // test says so, and the agent fires on it as it would on the wall clock.
    let (server, clock) = TestServer::start_manual(LEAP_MIDNIGHT_2032, |c| {
        // No firing counts as missed here: every one is reported, late or not.
        c.schedule_grace = Duration::from_secs(3600);
        c.agent_offline_after = Duration::from_secs(24 * 3600);
    })
    .await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = agents::config(&server.url, &dir.path().join("agent"));
    config.clock = server.clock();
    let mut agent = RunningAgent::start(config);
    let (host_id, repository_id) =
        approved_with_repository(&server, &token, &mut agent, &dir.path().join("repo")).await;
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    ScheduleServiceClient::new(server.channel().await)
        .create_schedule(with_token(
            schedule(
                host_id,
                repository_id,
                EVERY_MINUTE_OF_LEAP_MIDNIGHT,
                "UTC",
                &source.display().to_string(),
            ),
            &token,
        ))
        .await
        .expect("create");
    applied(&server, &token, host_id).await;

    // Down for three firings; the agent fires each into its spool.
    let spool = agent.spool.clone();
    let server = server
        .restart_when(async {
            for minute in 1..=3 {
                let before = spool.last_seq();
                clock.advance(Duration::from_secs(60));
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while spool.last_seq() == before {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the agent did not fire minute {minute}"
                    );
                    cairn_testkit::poll_pause().await;
                }
            }
        })
        .await;
    agent.welcomed(pb::WelcomeStatus::Approved).await;

    let mut jobs = JobServiceClient::new(server.channel().await);
    let want: Vec<i64> = (1..=3).map(|m| LEAP_MIDNIGHT_2032 + m * 60_000).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let listed = jobs
            .list_jobs(with_token(
                pb::ListJobsRequest {
                    host_id,
                    page: Some(pb::PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("jobs")
            .into_inner()
            .jobs;
        let mut fired: Vec<i64> = listed
            .iter()
            .filter(|j| j.trigger == pb::JobTrigger::Schedule as i32)
            .filter_map(|j| {
                j.fire_at
                    .as_ref()
                    .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
            })
            .collect();
        fired.sort_unstable();
        if fired.len() >= want.len() {
            assert_eq!(fired, want, "one job per firing, each firing once");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every firing during the downtime made its job: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.stop().await.expect("stop");
}

/// Waits until the host runs the schedule set the server wants it to.
async fn applied(server: &TestServer, token: &str, host_id: i64) {
    let mut hosts = HostServiceClient::new(server.channel().await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let host = hosts
            .get_host(with_token(pb::GetHostRequest { host_id }, token))
            .await
            .expect("host")
            .into_inner()
            .host
            .expect("host");
        if host.desired_schedule_set_version > 0
            && host.applied_schedule_set_version == host.desired_schedule_set_version
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule set was not applied: {host:?}"
        );
        cairn_testkit::poll_pause().await;
    }
}

#[tokio::test]
async fn a_schedule_changed_while_the_host_is_away_is_applied_when_it_is_back() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("agent");
    let mut agent = RunningAgent::start(agents::config(&server.url, &state));
    let (host_id, repository_id) =
        approved_with_repository(&server, &token, &mut agent, &dir.path().join("repo")).await;
    agent.stop().await.expect("away");

    let channel = server.channel().await;
    ScheduleServiceClient::new(channel.clone())
        .create_schedule(with_token(
            schedule(host_id, repository_id, "0 3 * * *", "Europe/Paris", "/srv"),
            &token,
        ))
        .await
        .expect("create");
    let mut hosts = HostServiceClient::new(channel);
    let host = |hosts: &mut HostServiceClient<tonic::transport::Channel>| {
        let mut hosts = hosts.clone();
        let token = token.clone();
        async move {
            hosts
                .get_host(with_token(pb::GetHostRequest { host_id }, &token))
                .await
                .expect("host")
                .into_inner()
                .host
                .expect("host")
        }
    };
    let away = host(&mut hosts).await;
    assert!(
        away.applied_schedule_set_version < away.desired_schedule_set_version,
        "the lag is visible: {away:?}"
    );

    let mut agent = RunningAgent::start(agents::config(&server.url, &state));
    agent.welcomed(pb::WelcomeStatus::Approved).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let back = host(&mut hosts).await;
        if back.applied_schedule_set_version == back.desired_schedule_set_version {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not applied: {back:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.stop().await.expect("stop");
}
