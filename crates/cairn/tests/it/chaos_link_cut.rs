//! A link cut exactly at a schedule firing: a real agent in a network
//! namespace of the test's own, whose every packet is dropped from a second
//! before its schedule fires. Twice: healed once the agent has fired, before
//! the server's grace runs out (the firing, held in the agent, arrives
//! late), and healed only after the server has seen the host go offline and
//! recorded the firing as missed (the agent's spooled firing and the
//! server's catch-up meet). Either way:
//! exactly one run once the link heals, and no firing silently missed.
//!
//! Network namespaces need root, as CI runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_testkit::fleet::{self, authorized};
use cairn_testkit::jobs::{ended, wait_job};
use cairn_testkit::{ChildGuard, Reachable, ServerProcess};
use tonic::transport::Channel;

use crate::chaos::admin_token;
use crate::netns::{Netns, PATIENCE, host, read, the_one_host, wait_for};

/// A schedule fires this long after it is made: room for the agent to take
/// it on, on a loaded machine.
const LEAD: Duration = Duration::from_secs(20);
/// The server's grace before a firing with no job is a missed run.
const GRACE: Duration = Duration::from_secs(20);

/// How long the link stays down.
#[derive(Clone, Copy, Debug)]
enum Down {
    /// Until the agent has fired into it: well inside the grace, before
    /// either side gives up on the connection.
    Briefly,
    /// Until the server has marked the host offline and the firing missed.
    UntilMissed,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_cut_at_a_schedule_firing_runs_it_once_after_healing_and_misses_nothing() {
    let net = Netns::create();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = admin_token(&data);
    let binary = env!("CARGO_BIN_EXE_cairn");
    let grace = format!("{}s", GRACE.as_secs());
    let mut server = ServerProcess::on(
        binary.as_ref(),
        &data,
        net.server_ip(),
        &["--schedule-grace", &grace],
    );
    server.start().await;
    let agent_log = dir.path().join("agent.log");
    let _agent = ChildGuard::spawn(
        "cairn agent in a network namespace",
        Command::new("ip")
            .args(["netns", "exec", &net.name, binary, "agent"])
            .args(["--allow-plaintext", "--log-level", "info"])
            .args(["--server", server.grpc_url(), "--state-dir"])
            .arg(dir.path().join("agent-state"))
            .arg("--backup-root")
            .arg(dir.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).expect("agent log")),
    );
    let channel = server.channel().await;
    let mut hosts = HostServiceClient::new(channel.clone());
    let host_id = the_one_host(&mut hosts, &token).await;
    fleet::approve_id(&server, &token, host_id).await;
    wait_for(&mut hosts, &token, host_id, true, "online after approval").await;
    let repo = dir.path().join("repo");
    let repository = fleet::repository(
        &server,
        &token,
        "cut",
        &repo.display().to_string(),
        "cut-pw",
        &[host_id],
    )
    .await;
    fleet::init(&server, &token, host_id, repository).await;
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("a.txt"), "cut at the firing").expect("write");
    let source = source.display().to_string();

    let mut cut = Cut {
        net: &net,
        hosts,
        jobs: JobServiceClient::new(channel.clone()),
        schedules: ScheduleServiceClient::new(channel),
        token: &token,
        host_id,
        repository,
        source: &source,
        agent_log: &agent_log,
        server: &server,
    };
    let mut figures = Vec::new();
    for down in [Down::Briefly, Down::UntilMissed] {
        figures.push(cut.at_a_firing(down).await);
    }
    println!("link cut at a firing: {}", figures.join("; "));
}

/// What one cut needs.
struct Cut<'a> {
    net: &'a Netns,
    hosts: HostServiceClient<Channel>,
    jobs: JobServiceClient<Channel>,
    schedules: ScheduleServiceClient<Channel>,
    token: &'a str,
    host_id: i64,
    repository: i64,
    source: &'a str,
    agent_log: &'a std::path::Path,
    server: &'a ServerProcess,
}

impl Cut<'_> {
    /// Makes a schedule that fires once, cuts the link a second before, heals
    /// it after `down`, and checks what ran; a line of figures.
    async fn at_a_firing(&mut self, down: Down) -> String {
        let fire_at = unix_now() + LEAD.as_secs();
        let schedule = self.schedule_firing_at(fire_at).await;
        let fired_before = read(self.agent_log).matches("schedule fired").count();

        sleep_until_unix(fire_at - 1).await;
        self.net.drop_everything(true);
        let cut = Instant::now();
        while read(self.agent_log).matches("schedule fired").count() == fired_before {
            assert!(
                cut.elapsed() < PATIENCE,
                "{down:?}: the schedule never fired"
            );
            cairn_testkit::poll_pause().await;
        }
        let missed = match down {
            // Healed as soon as the agent has fired into the dead link: the
            // firing waits in its stream, well inside the server's grace.
            Down::Briefly => false,
            Down::UntilMissed => {
                wait_for(&mut self.hosts, self.token, self.host_id, false, "offline").await;
                self.wait_missed(schedule).await;
                true
            }
        };
        self.net.drop_everything(false);
        let healed = Instant::now();
        wait_for(
            &mut self.hosts,
            self.token,
            self.host_id,
            true,
            "online after healing",
        )
        .await;
        let back = healed.elapsed();

        // A job run now ends later on the same stream than anything the
        // agent held from before: once it is in, the firing was judged.
        fleet::backup_succeeds(
            self.server,
            self.token,
            self.host_id,
            self.repository,
            &[self.source],
        )
        .await;

        let runs = self.runs_of(schedule).await;
        assert_eq!(
            runs.len(),
            1,
            "{down:?}: one firing, {} runs: {runs:?}",
            runs.len()
        );
        let run = wait_job(
            self.server,
            self.token,
            runs[0].id,
            "the firing's run",
            ended,
        )
        .await;
        assert_eq!(
            run.status,
            pb::JobStatus::Succeeded as i32,
            "{down:?}: {}",
            run.error
        );
        assert_eq!(
            run.fire_at.as_ref().map(|t| t.seconds as u64),
            Some(fire_at),
            "{down:?}: {run:?}"
        );
        let open = self.pending(schedule, false).await;
        assert!(open.is_empty(), "{down:?}: runs left waiting: {open:?}");
        self.disable(schedule).await;
        let trigger = pb::JobTrigger::try_from(run.trigger)
            .map_or("?".into(), |t| t.as_str_name().to_string());
        format!(
            "{down:?}: 1 run ({trigger}), recorded missed first: {missed}, back online {:.1} s after healing",
            back.as_secs_f64()
        )
    }

    /// A schedule that fires once in the test's time: at `fire_at` (UTC),
    /// taken on by the agent before it returns.
    async fn schedule_firing_at(&mut self, fire_at: u64) -> i64 {
        let (h, m, s) = ((fire_at / 3600) % 24, (fire_at / 60) % 60, fire_at % 60);
        let schedule = self
            .schedules
            .create_schedule(authorized(
                pb::CreateScheduleRequest {
                    host_id: self.host_id,
                    repository_id: self.repository,
                    name: format!("at {h:02}:{m:02}:{s:02}"),
                    cron: format!("{s} {m} {h} * * *"),
                    timezone: "UTC".into(),
                    paths: vec![self.source.to_string()],
                    catch_up: pb::CatchUpPolicy::Once as i32,
                    ..Default::default()
                },
                self.token,
            ))
            .await
            .expect("a schedule")
            .into_inner()
            .schedule
            .expect("the schedule")
            .id;
        loop {
            let h = host(&mut self.hosts, self.token, self.host_id).await;
            if h.applied_schedule_set_version == h.desired_schedule_set_version {
                break;
            }
            assert!(
                unix_now() + 2 < fire_at,
                "the agent took on the schedule too late"
            );
            cairn_testkit::poll_pause().await;
        }
        schedule
    }

    async fn wait_missed(&mut self, schedule: i64) {
        let started = Instant::now();
        while !self
            .pending(schedule, true)
            .await
            .iter()
            .any(|r| r.state == pb::PendingRunState::Missed as i32)
        {
            assert!(
                started.elapsed() < PATIENCE,
                "the firing was never recorded as missed"
            );
            cairn_testkit::poll_pause().await;
        }
    }

    async fn pending(&mut self, schedule_id: i64, include_resolved: bool) -> Vec<pb::PendingRun> {
        self.schedules
            .list_pending_runs(authorized(
                pb::ListPendingRunsRequest {
                    schedule_id,
                    include_resolved,
                    ..Default::default()
                },
                self.token,
            ))
            .await
            .expect("pending runs")
            .into_inner()
            .pending_runs
    }

    async fn runs_of(&mut self, schedule_id: i64) -> Vec<pb::Job> {
        self.jobs
            .list_jobs(authorized(
                pb::ListJobsRequest {
                    schedule_id,
                    ..Default::default()
                },
                self.token,
            ))
            .await
            .expect("list jobs")
            .into_inner()
            .jobs
    }

    async fn disable(&mut self, schedule_id: i64) {
        self.schedules
            .set_schedule_enabled(authorized(
                pb::SetScheduleEnabledRequest {
                    schedule_id,
                    enabled: false,
                },
                self.token,
            ))
            .await
            .expect("disable");
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Waits for the wall clock to reach `unix` seconds: the moment the fault
/// is aimed at, not a guess at how long something takes.
async fn sleep_until_unix(unix: u64) {
    let target = UNIX_EPOCH + Duration::from_secs(unix);
    if let Ok(wait) = target.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}
