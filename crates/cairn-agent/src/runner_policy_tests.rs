//! The runner refuses a repository its host does not allow before anything
//! runs: real restic, real rclone, jobs handed to the runner as the session
//! would.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;

use super::Runner;
use crate::policy::Policy;
use crate::spool::{Spool, SpoolLimits};

/// Runs an init of `url` under `policy` and returns its finish.
async fn init(state: &Path, policy: Policy, url: &str) -> pb::JobFinished {
    let spool = Arc::new(Spool::open(state, SpoolLimits::default()).expect("spool"));
    let runner = Arc::new(Runner::new(spool.clone(), "restic".into(), policy));
    runner.start(pb::RunJob {
        job_id: 1,
        spec: Some(pb::JobSpec {
            spec: Some(pb::job_spec::Spec::Init(pb::InitSpec::default())),
        }),
        repository: Some(pb::RepositoryAccess {
            repository_id: 1,
            url: url.into(),
            password: "runner-test-password".into(),
            env: Default::default(),
        }),
        timeout_seconds: 0,
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(finished) = spool.pending().into_iter().find_map(|m| match m.body {
            Some(Body::JobFinished(f)) => Some(f),
            _ => None,
        }) {
            return finished;
        }
        assert!(tokio::time::Instant::now() < deadline, "no finish in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn refused(finished: &pb::JobFinished) -> bool {
    finished.outcome == pb::JobOutcome::Failed as i32
        && finished.error.starts_with("refused: ")
        && finished.exit_code.is_none()
}

#[tokio::test]
async fn a_hostile_rclone_url_fails_without_running_anything() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("written-by-rclone");
    let url = format!("rclone:--log-file={}:foo", log.display());
    // Even a host that allows rclone never lets a URL pass rclone an option.
    let allowing = Policy {
        allow_rclone: true,
        ..Policy::default()
    };
    let finished = init(&dir.path().join("a"), allowing, &url).await;
    assert!(refused(&finished), "{finished:?}");
    assert!(finished.error.contains("remote"), "{}", finished.error);
    // rclone would take `<log>:foo` as the file name.
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("written-by-rclone")
        })
        .collect();
    assert!(
        written.is_empty(),
        "rclone ran and wrote its log: {written:?}"
    );

    let finished = init(
        &dir.path().join("b"),
        Policy::default(),
        "rclone:remote:repo",
    )
    .await;
    assert!(refused(&finished), "{finished:?}");
    assert!(
        finished.error.contains("allow_rclone"),
        "{}",
        finished.error
    );
}

#[tokio::test]
async fn a_repository_outside_the_hosts_pins_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let pinned = dir.path().join("restic");
    let policy = Policy {
        repositories: vec![format!("{}/", pinned.display())],
        ..Policy::default()
    };
    let evil = dir.path().join("restic-evil");
    let finished = init(
        &dir.path().join("a"),
        policy.clone(),
        &evil.display().to_string(),
    )
    .await;
    assert!(refused(&finished), "{finished:?}");
    assert!(
        finished.error.contains("repositories"),
        "{}",
        finished.error
    );
    assert!(
        !evil.exists(),
        "restic ran on a repository outside the pins"
    );

    let inside = pinned.join("web1");
    let finished = init(&dir.path().join("b"), policy, &inside.display().to_string()).await;
    assert_eq!(
        finished.outcome,
        pb::JobOutcome::Succeeded as i32,
        "{finished:?}"
    );
    assert!(
        inside.join("config").exists(),
        "a pinned repository is used"
    );
}
