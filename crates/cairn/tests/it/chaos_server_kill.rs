//! The server killed (`kill -9`) at random moments while agents run real
//! restic backups, then started again on the same data dir and port, cycle
//! after cycle. After every kill the database passes `PRAGMA
//! integrity_check`; at the end, every job the API acknowledged is still
//! there, every job is in exactly one terminal state that never changed once
//! seen, no backup ran twice (restic's own snapshot list has at most one
//! snapshot per job), and the repository checks clean.
//!
//! `make test` runs a short series; `make chaos` runs the long one
//! (`CAIRN_CHAOS_CYCLES`). The moments are drawn from a seed that is printed
//! (`CAIRN_CHAOS_SEED` replays one).

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::{self, authorized};
use cairn_testkit::jobs::{self, ended};
use cairn_testkit::{Reachable, ServerProcess};
use tokio::sync::mpsc;

use crate::chaos::{Figures, Seeded, admin_token, cycles, integrity_check};

const PASSWORD: &str = "chaos repository password";
/// Cycles in `make test`'s short series.
const SHORT_CYCLES: u32 = 20;
/// The most jobs acknowledged in a cycle before its kill: each job is asked
/// for once the one before has left the queue, and a backup takes about a
/// second, so kills land before, during and after dispatch, runs and finishes.
const MAX_ACKS_BEFORE_KILL: u64 = 6;
/// How long a cycle may take to see its acknowledgements on a loaded machine.
const CYCLE_PATIENCE: Duration = Duration::from_secs(120);
/// How long the jobs left after the last cycle get to end.
const SETTLE: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_no_acknowledged_job_and_runs_none_twice() {
    let cycles = cycles(SHORT_CYCLES);
    let mut rng = Seeded::from_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = admin_token(&data);
    let mut server = ServerProcess::new(env!("CARGO_BIN_EXE_cairn").as_ref(), &data, &[]);
    server.start().await;

    let mut hosts = Vec::new();
    let mut running = Vec::new();
    for n in 0..2 {
        let state = dir.path().join(format!("agent-{n}"));
        let mut agent = RunningAgent::start(agents::config(server.grpc_url(), &state));
        hosts.push(fleet::approve(&server, &token, &mut agent).await);
        running.push(agent);
    }
    let repo = dir.path().join("repo");
    let repo_url = repo.display().to_string();
    let repository = fleet::repository(&server, &token, "chaos", &repo_url, PASSWORD, &hosts).await;
    fleet::init(&server, &token, hosts[0], repository).await;
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).expect("source");
    for n in 0..8u64 {
        std::fs::write(
            source.join(format!("f{n}")),
            cairn_testkit::noise(n, 64 * 1024),
        )
        .expect("source file");
    }

    let mut figures = Figures::new("server kill -9", rng.seed());
    let mut acknowledged: BTreeMap<i64, String> = BTreeMap::new();
    let mut terminal: BTreeMap<i64, i32> = BTreeMap::new();
    let mut next_tag = 0u32;
    for cycle in 0..cycles {
        // Jobs are asked for all the while; the kill lands after a random
        // number of them were acknowledged, wherever the others stand.
        let (acks, mut acked) = mpsc::unbounded_channel();
        let submitter = tokio::spawn(submit_until_killed(
            server.channel().await,
            token.clone(),
            hosts.clone(),
            repository,
            source.display().to_string(),
            next_tag,
            acks,
        ));
        let kill_after = rng.below(MAX_ACKS_BEFORE_KILL + 1);
        for _ in 0..kill_after {
            let (job_id, tag) = tokio::time::timeout(CYCLE_PATIENCE, acked.recv())
                .await
                .expect("jobs acknowledged within the cycle's patience")
                .expect("the submitter runs");
            acknowledged.insert(job_id, tag);
        }
        server.kill();
        submitter.abort();
        let _ = submitter.await;
        while let Ok((job_id, tag)) = acked.try_recv() {
            acknowledged.insert(job_id, tag);
        }
        next_tag += 1_000;
        let check = integrity_check(&server.data_dir().join("cairn.db"));
        assert_eq!(check, "ok", "integrity_check after kill {cycle}: {check}");
        figures.cycles += 1;

        server.start().await;
        observe_terminals(&server, &token, &acknowledged, &mut terminal).await;
    }

    // Let what is left end, then hold every promise.
    let mut client = JobServiceClient::new(server.channel().await);
    let deadline = tokio::time::Instant::now() + SETTLE;
    let all = loop {
        let all = every_job(&mut client, &token).await;
        if all.iter().all(ended) {
            break all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs still not ended after {SETTLE:?}: {:?}",
            all.iter()
                .filter(|j| !ended(j))
                .map(|j| (j.id, j.status))
                .collect::<Vec<_>>()
        );
        cairn_testkit::poll_pause().await;
    };
    observe_terminals(&server, &token, &acknowledged, &mut terminal).await;
    let by_id: BTreeMap<i64, &pb::Job> = all.iter().map(|j| (j.id, j)).collect();
    let lost_records: Vec<&i64> = acknowledged
        .keys()
        .filter(|id| !by_id.contains_key(id))
        .collect();
    figures.jobs = all.len();
    figures.acknowledged = acknowledged.len();
    figures.records_lost = lost_records.len();

    let snapshots = cairn_restic::parse_snapshots(&jobs::restic(
        &repo,
        PASSWORD,
        &["snapshots", "--json", "--no-lock"],
    ))
    .expect("restic's snapshot list");
    let mut per_tag: BTreeMap<&str, usize> = BTreeMap::new();
    for snapshot in &snapshots {
        for tag in &snapshot.tags {
            *per_tag.entry(tag.as_str()).or_default() += 1;
        }
    }
    figures.run_twice = per_tag.values().filter(|n| **n > 1).count();
    for job in &all {
        *figures.states.entry(status_name(job.status)).or_default() += 1;
        let tag = job_tag(job);
        if job.status == pb::JobStatus::Succeeded as i32 && job.kind == pb::JobKind::Backup as i32 {
            assert_eq!(
                per_tag.get(tag.as_str()),
                Some(&1),
                "job {} succeeded: one snapshot tagged {tag}",
                job.id
            );
            assert!(
                snapshots.iter().any(|s| s.id == job.snapshot_id),
                "job {}'s snapshot {} is in the repository",
                job.id,
                job.snapshot_id
            );
        }
        if let Some(seen) = terminal.get(&job.id) {
            assert_eq!(
                *seen, job.status,
                "job {} changed its terminal state",
                job.id
            );
        }
    }
    println!("{figures}");
    assert_eq!(
        figures.records_lost, 0,
        "acknowledged jobs lost: {lost_records:?}"
    );
    assert_eq!(figures.run_twice, 0, "jobs run twice: {per_tag:?}");
    jobs::restic(&repo, PASSWORD, &["check"]);
    for agent in running {
        agent.stop().await.expect("agent stops cleanly");
    }
}

/// Asks for backups one after another, each tagged with its own number from
/// `first_tag`, and reports each one the API acknowledged, until the server
/// dies under it (the task is then aborted).
async fn submit_until_killed(
    channel: tonic::transport::Channel,
    token: String,
    hosts: Vec<i64>,
    repository: i64,
    source: String,
    first_tag: u32,
    acks: mpsc::UnboundedSender<(i64, String)>,
) {
    let mut client = JobServiceClient::new(channel);
    for n in first_tag.. {
        let tag = format!("chaos-{n}");
        let host_id = hosts[n as usize % hosts.len()];
        let request = pb::RunBackupRequest {
            schedule_id: 0,
            host_id,
            repository_id: repository,
            spec: Some(pb::BackupSpec {
                paths: vec![source.clone()],
                tags: vec![tag.clone()],
                ..Default::default()
            }),
        };
        let job_id = match client.run_backup(authorized(request, &token)).await {
            Ok(answer) => answer.into_inner().job.expect("an acknowledged job").id,
            // The server is going or gone; the test aborts this task.
            Err(_) => return,
        };
        let _ = acks.send((job_id, tag));
        // The next job once this one has left the queue, so jobs stand at
        // every stage when the kill comes.
        loop {
            match client
                .get_job(authorized(pb::GetJobRequest { job_id }, &token))
                .await
            {
                Ok(got)
                    if got
                        .get_ref()
                        .job
                        .as_ref()
                        .is_some_and(|j| j.status != pb::JobStatus::Queued as i32) =>
                {
                    break;
                }
                Ok(_) => cairn_testkit::poll_pause().await,
                Err(_) => return,
            }
        }
    }
}

/// Records the terminal state of each acknowledged job as first seen.
async fn observe_terminals(
    server: &ServerProcess,
    token: &str,
    acknowledged: &BTreeMap<i64, String>,
    terminal: &mut BTreeMap<i64, i32>,
) {
    let mut client = JobServiceClient::new(server.channel().await);
    for job in every_job(&mut client, token).await {
        if !acknowledged.contains_key(&job.id) || !ended(&job) {
            continue;
        }
        let seen = *terminal.entry(job.id).or_insert(job.status);
        assert_eq!(
            seen, job.status,
            "job {} changed its terminal state",
            job.id
        );
    }
}

/// Every job the server has, page by page.
async fn every_job(
    client: &mut JobServiceClient<tonic::transport::Channel>,
    token: &str,
) -> Vec<pb::Job> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_jobs(authorized(
                pb::ListJobsRequest {
                    page: Some(pb::PageRequest {
                        page_size: 500,
                        page_token: page_token.clone(),
                    }),
                    ..Default::default()
                },
                token,
            ))
            .await
            .expect("list jobs")
            .into_inner();
        all.extend(page.jobs);
        match page.page.map(|p| p.next_page_token) {
            Some(next) if !next.is_empty() => page_token = next,
            _ => return all,
        }
    }
}

fn job_tag(job: &pb::Job) -> String {
    match job.spec.as_ref().and_then(|s| s.spec.as_ref()) {
        Some(pb::job_spec::Spec::Backup(backup)) => backup.tags.join(","),
        _ => String::new(),
    }
}

fn status_name(status: i32) -> &'static str {
    pb::JobStatus::try_from(status).map_or("unknown", |s| s.as_str_name())
}
