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

/// Runs one job on a fresh runner and returns everything it reported, the
/// finish last.
async fn run_job(
    state: &Path,
    policy: Policy,
    restic: &str,
    spec: pb::job_spec::Spec,
    url: &str,
) -> Vec<Body> {
    let spool = Arc::new(Spool::open(state, SpoolLimits::default()).expect("spool"));
    let runner = Arc::new(Runner::new(spool.clone(), restic.into(), policy));
    runner.start(pb::RunJob {
        job_id: 1,
        spec: Some(pb::JobSpec { spec: Some(spec) }),
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
        let bodies: Vec<Body> = spool.pending().into_iter().filter_map(|m| m.body).collect();
        if bodies.iter().any(|b| matches!(b, Body::JobFinished(_))) {
            return bodies;
        }
        assert!(tokio::time::Instant::now() < deadline, "no finish in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finish(bodies: &[Body]) -> pb::JobFinished {
    bodies
        .iter()
        .find_map(|b| match b {
            Body::JobFinished(f) => Some(f.clone()),
            _ => None,
        })
        .expect("a finish")
}

fn init_spec() -> pb::job_spec::Spec {
    pb::job_spec::Spec::Init(pb::InitSpec::default())
}

/// Runs an init of `url` under `policy` with the real restic.
async fn init(state: &Path, policy: Policy, url: &str) -> pb::JobFinished {
    finish(&run_job(state, policy, "restic", init_spec(), url).await)
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

/// A restic that first prints `before` to stdout and stderr, then runs the
/// real restic, then prints `after` to both.
fn wrapped_restic(dir: &Path, before: &str, after: &str) -> String {
    let wrapper = dir.join("restic-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '{before}\\n'\nprintf '{before}\\n' >&2\nrestic \"$@\"\nrc=$?\nprintf '{after}\\n'\nprintf '{after}\\n' >&2\nexit $rc\n"
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    wrapper.display().to_string()
}

fn log_texts(bodies: &[Body]) -> Vec<String> {
    bodies
        .iter()
        .filter_map(|b| match b {
            Body::JobLog(log) => Some(log.lines.iter().map(|l| l.text.clone())),
            _ => None,
        })
        .flatten()
        .collect()
}

#[tokio::test]
async fn output_that_is_not_utf8_is_passed_on_and_the_log_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    // A file name of bytes, as restic prints it (`caf\xe9`, Latin-1).
    let restic = wrapped_restic(dir.path(), "caf\\351 first", "still heard after");
    let repo = dir.path().join("repo").display().to_string();
    let bodies = run_job(
        &dir.path().join("a"),
        Policy::default(),
        &restic,
        init_spec(),
        &repo,
    )
    .await;
    let finished = finish(&bodies);
    assert_eq!(
        finished.outcome,
        pb::JobOutcome::Succeeded as i32,
        "restic was not cut off: {finished:?}"
    );
    let texts = log_texts(&bodies);
    assert!(
        texts.iter().filter(|t| *t == "caf\u{FFFD} first").count() == 2,
        "both streams pass the line on lossily: {texts:?}"
    );
    assert!(
        texts.iter().filter(|t| *t == "still heard after").count() == 2,
        "and later lines still arrive: {texts:?}"
    );
}

#[tokio::test]
async fn a_log_line_is_cut_at_4_kib() {
    let dir = tempfile::tempdir().expect("dir");
    let long = "é".repeat(5000);
    let restic = wrapped_restic(dir.path(), &long, "end");
    let repo = dir.path().join("repo").display().to_string();
    let bodies = run_job(
        &dir.path().join("a"),
        Policy::default(),
        &restic,
        init_spec(),
        &repo,
    )
    .await;
    let texts = log_texts(&bodies);
    let cut: Vec<_> = texts.iter().filter(|t| t.starts_with('é')).collect();
    assert_eq!(cut.len(), 2, "{} lines", texts.len());
    for text in cut {
        assert!(text.len() <= 4096 && text.len() >= 4095, "{}", text.len());
    }
}

#[test]
fn a_backup_summary_keeps_every_figure_restic_reports() {
    let line = include_str!("../../../cairn-restic/tests/fixtures/0.18/backup1.json")
        .lines()
        .last()
        .expect("summary line");
    let Some(cairn_restic::BackupMessage::Summary(summary)) =
        cairn_restic::BackupMessage::parse(line)
    else {
        panic!("a summary: {line}")
    };
    let pb = super::convert::summary_to_pb(&summary);
    assert_eq!(pb.data_added, 201_418);
    assert_eq!(pb.data_added_packed, 201_163);
    assert_eq!(pb.files_new, 2);
    assert_eq!(pb.snapshot_id.len(), 64);
}

#[test]
fn the_scrubber_hides_a_url_password_holding_at_signs_raw_and_decoded() {
    let scrubber = super::scrub::Scrubber::new(&cairn_restic::RepoAccess {
        url: "rest:https://ann:p@ss%21word@backup.example/repo".into(),
        password: "repository-password".into(),
        env: vec![],
    });
    let shown = scrubber.scrub("auth failed for p@ss%21word (p@ss!word)");
    assert!(!shown.contains("p@ss"), "{shown}");
}

#[test]
fn go_file_modes_become_unix_permission_bits() {
    // /usr/bin/passwd: setuid, rwxr-xr-x; /tmp: sticky dir, rwxrwxrwx.
    assert_eq!(super::convert::unix_mode((1 << 23) | 0o755), 0o4755);
    assert_eq!(
        super::convert::unix_mode((1 << 31) | (1 << 20) | 0o777),
        0o1777
    );
    assert_eq!(super::convert::unix_mode((1 << 22) | 0o750), 0o2750);
    assert_eq!(super::convert::unix_mode(0o644), 0o644);
}

#[tokio::test]
async fn a_host_that_allows_no_deletion_still_runs_a_dry_run_and_refuses_the_real_one() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = dir.path().join("repo").display().to_string();
    let policy = Policy {
        allow_destructive: false,
        ..Policy::default()
    };
    let created = init(&dir.path().join("init"), policy.clone(), &repo).await;
    assert_eq!(
        created.outcome,
        pb::JobOutcome::Succeeded as i32,
        "{}",
        created.error
    );
    let forget = |dry_run: bool| {
        pb::job_spec::Spec::Forget(pb::ForgetSpec {
            policy: Some(pb::RetentionPolicy {
                keep_last: 1,
                ..Default::default()
            }),
            dry_run,
            ..Default::default()
        })
    };
    let real = finish(
        &run_job(
            &dir.path().join("real"),
            policy.clone(),
            "restic",
            forget(false),
            &repo,
        )
        .await,
    );
    assert!(refused(&real), "{real:?}");
    let dry = finish(
        &run_job(
            &dir.path().join("dry"),
            policy,
            "restic",
            forget(true),
            &repo,
        )
        .await,
    );
    assert_eq!(
        dry.outcome,
        pb::JobOutcome::Succeeded as i32,
        "{}",
        dry.error
    );
}

/// A restic that answers `version` with `says` and otherwise writes the
/// arguments it was given, one a line, to `args` (and restores nothing).
fn versioned_restic(dir: &Path, says: &str) -> (String, std::path::PathBuf) {
    let args = dir.join("args");
    let fake = dir.join("restic-fake");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then printf '%s\\n' '{says}'; exit 0; fi\nprintf '%s\\n' \"$@\" > '{}'\n",
            args.display()
        ),
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (fake.display().to_string(), args)
}

#[tokio::test]
async fn an_overwrite_mode_runs_only_on_a_restic_that_knows_it() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("restores");
    std::fs::create_dir(&root).expect("mkdir");
    let policy = Policy {
        restore_roots: vec![root.clone()],
        ..Policy::default()
    };
    let restore = |overwrite: i32| {
        pb::job_spec::Spec::Restore(pb::RestoreSpec {
            snapshot_id: "03bfeb45".into(),
            target_path: root.join("here").display().to_string(),
            overwrite,
            ..Default::default()
        })
    };
    let never = pb::RestoreOverwrite::Never as i32;
    let run = |name: &str, says: &str, overwrite: i32| {
        let (state, policy) = (dir.path().join(name), policy.clone());
        let (restic, args) = versioned_restic(dir.path(), says);
        let spec = restore(overwrite);
        async move {
            let _ = std::fs::remove_file(&args);
            let done = finish(&run_job(&state, policy, &restic, spec, "/srv/repo").await);
            (done, std::fs::read_to_string(&args).ok())
        }
    };

    // restic 0.17 gets the flag.
    let (done, args) = run(
        "new",
        "restic 0.17.3 compiled with go1.23.2 on linux/amd64",
        never,
    )
    .await;
    assert_eq!(done.outcome, pb::JobOutcome::Succeeded as i32, "{done:?}");
    let args = args.expect("restic ran");
    assert!(args.contains("--overwrite\nnever\n"), "{args}");

    // restic 0.14 never sees it: the job is refused, naming both versions.
    let (done, args) = run(
        "old",
        "restic 0.14.0 compiled with go1.19.8 on linux/amd64",
        never,
    )
    .await;
    assert!(refused(&done), "{done:?}");
    assert!(
        done.error.contains("restic 0.14.0") && done.error.contains("0.17.0"),
        "{}",
        done.error
    );
    assert_eq!(args, None, "restic did not run");
    // ...while the default still restores there, without the flag.
    let (done, args) = run("default", "restic 0.14.0 compiled", 0).await;
    assert_eq!(done.outcome, pb::JobOutcome::Succeeded as i32, "{done:?}");
    assert!(!args.expect("restic ran").contains("--overwrite"));

    // A restic that does not say its version, and a mode this agent does
    // not know: refused, nothing run.
    let (done, args) = run("garbage", "who knows", never).await;
    assert!(
        refused(&done) && done.error.contains("cannot tell"),
        "{done:?}"
    );
    assert_eq!(args, None);
    let (done, args) = run("unknown", "restic 0.18.0 compiled", 42).await;
    assert!(
        refused(&done) && done.error.contains("unknown overwrite mode 42"),
        "{done:?}"
    );
    assert_eq!(args, None);
}
