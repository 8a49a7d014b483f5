//! restic's own process killed on the host (the OOM killer, an operator's
//! `kill -9`) while the agent lives on: the job fails at once and says which
//! signal ended restic, no restic is left running, the repository checks
//! clean, and the next backup succeeds past the lock the killed run left.

use cairn_proto::v1 as pb;
use cairn_testkit::fleet::Fleet;
use cairn_testkit::{restic_pid_on, restic_running_on};

const PASSWORD: &str = "restic kill repository password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restic_killed_alone_fails_its_job_and_the_next_run_succeeds() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let repo = dir.path().join("repo");
    let repository = fleet
        .repository(&repo.display().to_string(), PASSWORD)
        .await;
    let init = pb::run_maintenance_request::Spec::Init(pb::InitSpec::default());
    assert_eq!(
        fleet.maintenance(repository, init).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let source = dir.path().join("restic-kill-source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(
        source.join("big.bin"),
        cairn_testkit::noise(7, 4 * 1024 * 1024),
    )
    .expect("source file");

    // A backup slowed to a crawl, so the kill lands mid-upload.
    let job = fleet.slow_backup(repository, &source).await;
    let marker = source.display().to_string();
    let pid = restic_pid_on(&marker).expect("restic's pid");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill -9 {pid}");

    // The agent is alive: the job ends failed (not lost after a lease), and
    // says what happened.
    let done = fleet.finish(job).await;
    assert_eq!(done.status, pb::JobStatus::Failed as i32, "{done:?}");
    assert!(
        done.error.contains("SIGKILL") && done.error.contains("killed"),
        "the error names the signal: {}",
        done.error
    );
    assert!(!restic_running_on(&marker), "no restic is left running");

    // The repository is whole: a check (which needs the lock the killed run
    // may have left; the agent removes stale locks only) passes, and restic
    // itself agrees once the check's job is done.
    fleet.check(repository).await;
    cairn_testkit::jobs::restic(&repo, PASSWORD, &["check"]);

    let next = fleet
        .backup(repository, vec![marker.clone()])
        .await
        .expect("submit the next backup");
    let next = fleet.finish(next.id).await;
    assert_eq!(
        next.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        next.error
    );
    let snapshots = cairn_restic::parse_snapshots(&cairn_testkit::jobs::restic(
        &repo,
        PASSWORD,
        &["snapshots", "--json"],
    ))
    .expect("restic's snapshot list");
    assert_eq!(snapshots.len(), 1, "only the next run made a snapshot");
    assert_eq!(snapshots[0].id, next.snapshot_id);
    fleet.agent.stop().await.expect("the agent stops cleanly");
}
