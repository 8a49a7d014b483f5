//! Agents whose clocks are off (+1 h, -1 h, +25 h, -25 h, set with
//! libfaketime on real `cairn agent` processes) against a server whose clock
//! is right. The server measures each offset from the heartbeats and shows
//! it; a job on a skewed host runs to the end (leases are the server's
//! clock alone, so none expires early); and schedules, which fire on the
//! agent's clock, never fire twice: a firing from an agent far ahead is
//! refused (it would run now and swallow the real one), one from an agent
//! behind runs once per firing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::fleet::{self, authorized};
use cairn_testkit::{ChildGuard, TestServer};

use crate::netns::{PATIENCE, host, new_host, read, wait_for};

/// libfaketime, as Debian installs it (scripts/install-deps).
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const HOUR_MS: i64 = 3_600_000;

/// One skewed agent: its offset, process, log, host and repository.
struct Skewed {
    offset_ms: i64,
    _agent: ChildGuard,
    log: std::path::PathBuf,
    host: i64,
    repository: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_agent_clocks_are_measured_and_never_expire_a_lease_or_fire_twice() {
    assert!(
        Path::new(FAKETIME).exists(),
        "{FAKETIME} is missing: run scripts/install-deps"
    );
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hosts = HostServiceClient::new(server.channel().await);
    let mut skewed = Vec::new();
    for (n, offset) in ["+1h", "-1h", "+25h", "-25h"].into_iter().enumerate() {
        let state = dir.path().join(format!("agent-{n}"));
        let log = dir.path().join(format!("agent-{n}.log"));
        let agent = ChildGuard::spawn(
            "cairn agent with a skewed clock",
            Command::new(env!("CARGO_BIN_EXE_cairn"))
                .args(["agent", "--allow-plaintext", "--log-level", "info"])
                .args(["--server", &server.url, "--state-dir"])
                .arg(&state)
                .arg("--backup-root")
                .arg(dir.path())
                .env("LD_PRELOAD", FAKETIME)
                .env("FAKETIME", offset)
                // Only the wall clock is off: timers run on the monotonic one.
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("agent log")),
        );
        let known: Vec<i64> = skewed.iter().map(|k: &Skewed| k.host).collect();
        let host_id = new_host(&mut hosts, &token, &known).await;
        fleet::approve_id(&server, &token, host_id).await;
        let repo = dir.path().join(format!("repo-{n}"));
        let repository = fleet::repository(
            &server,
            &token,
            &format!("skew {offset}"),
            &repo.display().to_string(),
            "skew-password",
            &[host_id],
        )
        .await;
        let hours: i64 = offset.trim_end_matches('h').parse().expect("hours");
        skewed.push(Skewed {
            offset_ms: hours * HOUR_MS,
            _agent: agent,
            log,
            host: host_id,
            repository,
        });
    }

    let source = dir.path().join("skew-source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("a.txt"), "skewed").expect("write");
    let mut schedules = ScheduleServiceClient::new(server.channel().await);
    let mut schedule_of = Vec::new();
    for s in &skewed {
        wait_for(&mut hosts, &token, s.host, true, "online").await;
        // Measured at the first heartbeat; in flight counts as behind.
        let started = Instant::now();
        let measured = loop {
            if let Some(ms) = host(&mut hosts, &token, s.host).await.clock_offset_ms {
                break ms;
            }
            assert!(started.elapsed() < PATIENCE, "no offset measured");
            cairn_testkit::poll_pause().await;
        };
        assert!(
            (measured - s.offset_ms).abs() < 30_000,
            "measured {measured} ms for an agent {} ms off",
            s.offset_ms
        );
        fleet::init(&server, &token, s.host, s.repository).await;
        let schedule = schedules
            .create_schedule(authorized(
                pb::CreateScheduleRequest {
                    host_id: s.host,
                    repository_id: s.repository,
                    name: "every minute".into(),
                    cron: "* * * * *".into(),
                    paths: vec![source.display().to_string()],
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("a schedule")
            .into_inner()
            .schedule
            .expect("the schedule")
            .id;
        schedule_of.push(schedule);
    }

    // Each agent fires on its own clock (whole hours off: the same minute).
    for s in &skewed {
        let started = Instant::now();
        while !read(&s.log).contains("schedule fired") {
            assert!(
                started.elapsed() < PATIENCE,
                "{} ms: never fired",
                s.offset_ms
            );
            cairn_testkit::poll_pause().await;
        }
    }
    // A job run after the firing: its end comes later on the same stream, so
    // once it is in, the firing was judged. It must succeed: no lease ran out.
    let mut jobs = JobServiceClient::new(server.channel().await);
    let mut figures = Vec::new();
    for (s, schedule) in skewed.iter().zip(&schedule_of) {
        let source = source.display().to_string();
        fleet::backup_succeeds(&server, &token, s.host, s.repository, &[&source]).await;

        let fired = jobs
            .list_jobs(authorized(
                pb::ListJobsRequest {
                    schedule_id: *schedule,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("list")
            .into_inner()
            .jobs;
        let mut times: Vec<_> = fired
            .iter()
            .map(|j| j.fire_at.as_ref().map(|t| t.seconds))
            .collect();
        let count = times.len();
        times.sort();
        times.dedup();
        assert_eq!(times.len(), count, "a firing ran twice: {times:?}");
        if s.offset_ms > 0 {
            assert_eq!(count, 0, "a firing from the future ran: {fired:?}");
        } else {
            assert!(count >= 1, "the firings of an agent behind run");
        }
        figures.push(format!("{:+} h: {count} run", s.offset_ms / HOUR_MS));
        schedules
            .set_schedule_enabled(authorized(
                pb::SetScheduleEnabledRequest {
                    schedule_id: *schedule,
                    enabled: false,
                },
                &token,
            ))
            .await
            .expect("disable");
    }
    println!(
        "clock skew: offsets measured within 30 s, 4 jobs ran to the end, no firing twice ({})",
        figures.join(", ")
    );
}
