//! Backups that really run: a repository with sealed secrets, an approved
//! agent, the real restic binary, and the job's whole life.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_store::{Role, Scope};
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::{Fleet, approve};
use cairn_testkit::jobs::{status_in, wait_job};
use cairn_testkit::rest::RestServer;
use cairn_testkit::{ChildGuard, TestServer, command_lines, eventually, restic_running_on};
use tonic::Code;

use crate::with_token;

const PASSWORD: &str = "correct-horse-repo-password";

fn init() -> pb::run_maintenance_request::Spec {
    pb::run_maintenance_request::Spec::Init(pb::InitSpec::default())
}

#[tokio::test]
async fn a_backup_runs_to_success_and_matches_restics_own_summary() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).expect("mkdir");
    std::fs::write(source.join("a.txt"), "hello").expect("write");
    std::fs::write(source.join("sub/b.bin"), vec![7u8; 100_000]).expect("write");
    let repo_path = dir.path().join("repo");
    let repository = fleet
        .repository(&repo_path.display().to_string(), PASSWORD)
        .await;

    let init = fleet.maintenance(repository, init()).await;
    assert_eq!(
        init.status,
        pb::JobStatus::Succeeded as i32,
        "init: {}",
        init.error
    );

    let job = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    assert_eq!(job.kind, pb::JobKind::Backup as i32);
    let done = fleet.finish(job.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "backup: {}",
        done.error
    );
    assert!(!done.warning);
    assert!(
        done.last_progress.is_some(),
        "progress was reported and stored"
    );
    let summary = done.summary.expect("summary");
    assert_eq!(summary.files_new, 2);

    // restic's own view of the repository agrees.
    let output = std::process::Command::new("restic")
        .args(["snapshots", "--json"])
        .env("RESTIC_REPOSITORY", &repo_path)
        .env("RESTIC_PASSWORD", PASSWORD)
        .output()
        .expect("restic snapshots");
    let snapshots =
        cairn_restic::parse_snapshots(&String::from_utf8_lossy(&output.stdout)).expect("parse");
    assert_eq!(snapshots.len(), 1);
    assert!(
        snapshots[0].id.starts_with(&summary.snapshot_id),
        "{} vs {}",
        snapshots[0].id,
        summary.snapshot_id
    );
    assert_eq!(done.snapshot_id, summary.snapshot_id);
    assert_eq!(snapshots[0].tags, vec!["cairn-test".to_string()]);

    // The password is nowhere in the job's log, and never in the repository record.
    let logs = fleet.logs(job.id).await;
    assert!(logs.iter().all(|l| !l.contains(PASSWORD)));
    let listed = fleet
        .repos
        .list_repositories(with_token(
            pb::ListRepositoriesRequest::default(),
            &fleet.token,
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(!format!("{listed:?}").contains(PASSWORD));
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn a_wrong_password_fails_with_restics_reason() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let repo_path = dir.path().join("repo");
    let good = fleet
        .repository(&repo_path.display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(good, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    // The same repository under another name, with the wrong password.
    let bad = fleet
        .repository(&format!("{}/", repo_path.display()), "not-the-password")
        .await;
    let job = fleet
        .backup(bad, vec![dir.path().display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(done.status, pb::JobStatus::Failed as i32);
    assert!(done.error.contains("wrong password"), "{}", done.error);
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn injection_attempts_are_refused_before_anything_runs() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    for paths in [
        vec!["--password-command=sh -c 'id > /tmp/pwned'".to_string()],
        vec![
            "/ok".to_string(),
            "-o".to_string(),
            "sftp.command=evil".to_string(),
        ],
        vec!["/ok\n--insecure-tls".to_string()],
    ] {
        let refused = fleet
            .backup(repository, paths.clone())
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{paths:?}");
        assert!(refused.message().contains("path"), "{}", refused.message());
    }
    let listed = fleet
        .jobs
        .list_jobs(with_token(pb::ListJobsRequest::default(), &fleet.token))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.jobs.is_empty(), "nothing was queued");

    let bad_env = fleet
        .repos
        .create_repository(with_token(
            pb::CreateRepositoryRequest {
                name: "evil".into(),
                url: dir.path().display().to_string(),
                password: PASSWORD.into(),
                env: [(
                    "RESTIC_PASSWORD_COMMAND".to_string(),
                    "sh -c id".to_string(),
                )]
                .into_iter()
                .collect(),
            },
            &fleet.token,
        ))
        .await
        .expect_err("refused");
    assert_eq!(bad_env.code(), Code::InvalidArgument);
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn jobs_need_an_assigned_repository_and_an_approved_host() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let repo = fleet
        .repos
        .create_repository(with_token(
            pb::CreateRepositoryRequest {
                name: "unassigned".into(),
                url: dir.path().display().to_string(),
                password: PASSWORD.into(),
                env: Default::default(),
            },
            &fleet.token,
        ))
        .await
        .expect("create")
        .into_inner()
        .repository
        .expect("repo");
    let refused = fleet
        .backup(repo.id, vec!["/etc".into()])
        .await
        .expect_err("not assigned");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("not assigned"));
    fleet.agent.stop().await.expect("stop");
    drop(fleet.server);
}

/// Fills `path` with `bytes` of incompressible, non-repeating data (restic
/// would store zeros in a few deduplicated chunks and finish at once).
fn noise(path: &std::path::Path, bytes: usize) {
    std::fs::write(path, cairn_testkit::noise(0x2545_f491_4f6c_dd1d, bytes)).expect("write noise");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_backup_stops_restic_and_no_secret_is_in_any_argv() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("cancel-me-source");
    std::fs::create_dir(&source).expect("mkdir");
    noise(&source.join("big.bin"), 4 * 1024 * 1024);
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );

    let job = fleet.slow_backup(repository, &source).await;
    let marker = source.display().to_string();
    for (pid, cmd) in command_lines() {
        assert!(
            !cmd.contains(PASSWORD),
            "process {pid} has the repository password in its argv: {cmd}"
        );
    }

    fleet
        .jobs
        .cancel_job(with_token(
            pb::CancelJobRequest {
                job_id: job,
                reason: "test".into(),
            },
            &fleet.token,
        ))
        .await
        .expect("cancel");
    let done = fleet.finish(job).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Cancelled as i32,
        "{}",
        done.error
    );
    eventually(Duration::from_secs(60), "restic gone", || {
        !restic_running_on(&marker)
    })
    .await;
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_leaves_no_restic_its_job_is_lost_and_the_next_run_succeeds() {
    use std::process::{Command, Stdio};

    // The server's clock moves only when the test says so: however slow
    // `restic init` is on a loaded machine, no lease runs out before the kill.
    let (server, clock) = TestServer::start_manual(cairn_store::now_millis(), |_| {}).await;
    let lease = server.config().job_lease;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = server.url.clone();
    let spawn_agent = || {
        ChildGuard::spawn(
            "cairn agent",
            Command::new(env!("CARGO_BIN_EXE_cairn"))
                .args([
                    "agent",
                    "--allow-plaintext",
                    "--log-level",
                    "warn",
                    "--server",
                    &url,
                    "--state-dir",
                ])
                .arg(dir.path().join("agent-state"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    };
    let mut agent = spawn_agent();
    let channel = server.channel().await;
    let mut hosts = cairn_proto::v1::host_service_client::HostServiceClient::new(channel.clone());
    let mut host_id = 0;
    for _ in 0..200 {
        let listed = hosts
            .list_hosts(with_token(pb::ListHostsRequest::default(), &token))
            .await
            .expect("list")
            .into_inner();
        if let Some(host) = listed.hosts.first() {
            host_id = host.id;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(host_id > 0, "the agent announced itself");
    hosts
        .approve_host(with_token(
            pb::ApproveHostRequest {
                host_id,
                expected_fingerprint: String::new(),
            },
            &token,
        ))
        .await
        .expect("approve");

    let state = tempfile::tempdir().expect("unused");
    let agent_in_process = RunningAgent::start(agents::config("http://127.0.0.1:1", state.path()));
    let mut fleet = Fleet::assemble(server, token.clone(), agent_in_process, host_id, state).await;
    let source = dir.path().join("kill-agent-source");
    std::fs::create_dir(&source).expect("mkdir");
    noise(&source.join("big.bin"), 4 * 1024 * 1024);
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );

    let job = fleet.slow_backup(repository, &source).await;
    let marker = source.display().to_string();

    agent.kill();
    eventually(
        Duration::from_secs(60),
        "restic died with its agent",
        || !restic_running_on(&marker),
    )
    .await;
    // Nobody renews the lease of a dead agent's job: once it has run out,
    // the job is lost.
    clock.advance(lease + Duration::from_secs(1));
    wait_job(
        &fleet.server,
        &fleet.token,
        job,
        "the backup to be lost",
        status_in(&[pb::JobStatus::Lost]),
    )
    .await;

    // The agent comes back; the next backup runs despite the killed run's lock.
    let mut agent = spawn_agent();
    let next = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(next.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
    // And the repository is whole: a check passes (the agent removes the
    // killed run's stale lock first, stale locks only).
    fleet.check(repository).await;
    agent.kill();
}

fn same_tree(a: &std::path::Path, b: &std::path::Path) {
    for name in ["a.txt", "sub/b.bin"] {
        let left = std::fs::read(a.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", a.join(name).display()));
        let right = std::fs::read(b.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", b.join(name).display()));
        assert!(left == right, "{name} differs after restore");
    }
}

#[tokio::test]
async fn snapshots_are_listed_and_restore_reproduces_the_bytes_here_and_on_another_host() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).expect("mkdir");
    std::fs::write(source.join("a.txt"), "hello restore").expect("write");
    noise(&source.join("sub/b.bin"), 300_000);
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let backup = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(backup.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );

    // The snapshot cache was refreshed when the backup finished.
    let listed = cairn_proto::v1::snapshot_service_client::SnapshotServiceClient::new(
        fleet.server.channel().await,
    )
    .list_snapshots(with_token(
        pb::ListSnapshotsRequest {
            repository_id: repository,
            ..Default::default()
        },
        &fleet.token,
    ))
    .await
    .expect("list snapshots")
    .into_inner();
    assert_eq!(listed.snapshots.len(), 1);
    let snapshot = &listed.snapshots[0];
    assert!(snapshot.id.starts_with(&done.snapshot_id));
    assert_eq!(snapshot.tags, vec!["cairn-test".to_string()]);
    assert_eq!(
        snapshot.host_id, fleet.host_id,
        "matched to the host by hostname"
    );

    // Restore on the same host, below its restore root.
    let target = fleet.restore_root().join("here");
    let job = fleet
        .restore(repository, &snapshot.id, fleet.host_id, &target)
        .await
        .expect("restore");
    let restored = fleet.finish(job.id).await;
    assert_eq!(
        restored.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        restored.error
    );
    same_tree(
        &source,
        &target.join(source.strip_prefix("/").expect("absolute")),
    );

    // Restore on another host that was never given the repository.
    let other_state = tempfile::tempdir().expect("state");
    let mut other = RunningAgent::start(agents::with_restore_root(
        &fleet.server.url,
        other_state.path(),
    ));
    let other_host = approve(&fleet.server, &fleet.token, &mut other).await;
    let target = other_state.path().join("restores").join("elsewhere");
    let job = fleet
        .restore(repository, &snapshot.short_id, other_host, &target)
        .await
        .expect("cross-host restore");
    let restored = fleet.finish(job.id).await;
    assert_eq!(
        restored.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        restored.error
    );
    same_tree(
        &source,
        &target.join(source.strip_prefix("/").expect("absolute")),
    );
    other.stop().await.expect("stop");

    // Outside the restore roots: refused by the agent, nothing written.
    let outside = dir.path().join("not-a-restore-root");
    let job = fleet
        .restore(repository, &snapshot.id, fleet.host_id, &outside)
        .await
        .expect("submit");
    let refused = fleet.finish(job.id).await;
    assert_eq!(refused.status, pb::JobStatus::Failed as i32);
    assert!(
        refused.error.contains("outside the allowed restore roots"),
        "{}",
        refused.error
    );
    assert!(!outside.exists());
    // Climbing out with '..' is refused before anything is queued.
    let climb = fleet.restore_root().join("../../etc");
    let err = fleet
        .restore(repository, &snapshot.id, fleet.host_id, &climb)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument);
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_server_repository_with_credentials_in_its_url() {
    let rest = RestServer::start().await;
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).expect("mkdir");
    std::fs::write(source.join("a.txt"), "over REST").expect("write");
    noise(&source.join("sub/b.bin"), 100_000);
    let repository = fleet.repository(&rest.url_with_credentials, PASSWORD).await;
    let shown = fleet
        .repos
        .get_repository(with_token(
            pb::GetRepositoryRequest {
                repository_id: repository,
            },
            &fleet.token,
        ))
        .await
        .expect("get")
        .into_inner()
        .repository
        .expect("repository");
    assert!(
        shown.url_redacted.contains("ann:***@"),
        "{}",
        shown.url_redacted
    );
    assert!(!shown.url_redacted.contains("rest-secret"));

    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let job = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
    let target = fleet.restore_root().join("from-rest");
    let restore = fleet
        .restore(repository, &done.snapshot_id, fleet.host_id, &target)
        .await
        .expect("restore");
    assert_eq!(
        fleet.finish(restore.id).await.status,
        pb::JobStatus::Succeeded as i32
    );
    same_tree(
        &source,
        &target.join(source.strip_prefix("/").expect("absolute")),
    );
    for job_id in [job.id, restore.id] {
        assert!(
            fleet
                .logs(job_id)
                .await
                .iter()
                .all(|l| !l.contains("rest-secret") && !l.contains(PASSWORD))
        );
    }

    // The same server refuses other credentials, and the job says why.
    let wrong = fleet
        .repository(
            &rest.url_with_credentials.replace("rest-secret", "guessed"),
            PASSWORD,
        )
        .await;
    let job = fleet
        .backup(wrong, vec![source.display().to_string()])
        .await
        .expect("submit");
    let failed = fleet.finish(job.id).await;
    assert_eq!(failed.status, pb::JobStatus::Failed as i32);
    assert!(
        !failed.error.contains("guessed"),
        "credentials scrubbed from the error: {}",
        failed.error
    );
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn an_unreadable_file_gives_a_snapshot_with_a_warning() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let state = tempfile::tempdir().expect("state");
    // restic without root's capability to read anything, as on a real host
    // where the agent's user cannot read some files.
    let wrapper = state.path().join("restic-unprivileged");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexec setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search restic \"$@\"\n",
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let mut config = agents::with_restore_root(&server.url, state.path());
    config.restic = wrapper.display().to_string();
    let mut agent = RunningAgent::start(config);
    let host_id = approve(&server, &token, &mut agent).await;
    let mut fleet = Fleet::assemble(server, token, agent, host_id, state).await;

    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("readable"), "fine").expect("write");
    std::fs::write(source.join("locked"), "secret").expect("write");
    std::fs::set_permissions(
        source.join("locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .expect("chmod");
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let job = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "a snapshot was made: {}",
        done.error
    );
    assert!(done.warning, "but some files could not be read");
    assert_eq!(done.exit_code, Some(3));
    assert!(!done.snapshot_id.is_empty());
    assert!(
        fleet
            .logs(job.id)
            .await
            .iter()
            .any(|l| l.contains("locked")),
        "the log names the unreadable file"
    );
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn named_hooks_run_around_restic_and_destructive_jobs_obey_the_host() {
    use cairn_agent::{Hook, OnError};

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let state = tempfile::tempdir().expect("state");
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("db-dumps");
    std::fs::create_dir(&source).expect("mkdir");
    let dump = source.join("dump.sql");
    let mut config = agents::with_restore_root(&server.url, state.path());
    config.policy.allow_destructive = false;
    config.policy.hooks.insert(
        "dump".into(),
        Hook {
            pre: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo dumping; echo 'CREATE TABLE t;' > {}", dump.display()),
            ],
            post: vec!["/bin/sh".into(), "-c".into(), "echo cleaned up".into()],
            on_error: OnError::Fail,
            timeout: Duration::from_secs(30),
        },
    );
    config.policy.hooks.insert(
        "broken".into(),
        Hook {
            pre: vec!["/bin/false".into()],
            post: vec![],
            on_error: OnError::Retry,
            timeout: Duration::from_secs(30),
        },
    );
    let mut agent = RunningAgent::start(config);
    let host_id = approve(&server, &token, &mut agent).await;
    let mut fleet = Fleet::assemble(server, token, agent, host_id, state).await;
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );

    let with_hooks = |hooks: Vec<&str>| pb::RunBackupRequest {
        schedule_id: 0,
        host_id,
        repository_id: repository,
        spec: Some(pb::BackupSpec {
            paths: vec![source.display().to_string()],
            hooks: hooks.into_iter().map(String::from).collect(),
            ..Default::default()
        }),
    };
    let job = fleet
        .jobs
        .run_backup(with_token(with_hooks(vec!["dump"]), &fleet.token))
        .await
        .expect("submit")
        .into_inner()
        .job
        .expect("job");
    let done = fleet.finish(job.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
    assert_eq!(
        done.summary.expect("summary").files_new,
        1,
        "the dump made by the pre hook was backed up"
    );
    let logs = fleet.logs(job.id).await;
    assert!(
        logs.iter().any(|l| l.contains("[dump.pre] dumping")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("[dump.post] cleaned up")),
        "{logs:?}"
    );

    let job = fleet
        .jobs
        .run_backup(with_token(with_hooks(vec!["broken"]), &fleet.token))
        .await
        .expect("submit")
        .into_inner()
        .job
        .expect("job");
    let failed = fleet.finish(job.id).await;
    assert_eq!(failed.status, pb::JobStatus::Failed as i32);
    assert!(
        failed.error.contains("pre hook \"broken\" failed"),
        "{}",
        failed.error
    );
    assert!(failed.summary.is_none(), "restic did not run");
    assert_eq!(
        fleet
            .logs(job.id)
            .await
            .iter()
            .filter(|l| l.contains("attempt"))
            .count(),
        2,
        "retried once"
    );

    let job = fleet
        .jobs
        .run_backup(with_token(with_hooks(vec!["rm -rf /"]), &fleet.token))
        .await
        .expect("submit")
        .into_inner()
        .job
        .expect("job");
    let unknown = fleet.finish(job.id).await;
    assert!(unknown.error.contains("unknown hook"), "{}", unknown.error);

    let forget = pb::run_maintenance_request::Spec::Forget(pb::ForgetSpec {
        policy: Some(pb::RetentionPolicy {
            keep_last: 1,
            ..Default::default()
        }),
        ..Default::default()
    });
    let refused = fleet.maintenance(repository, forget).await;
    assert_eq!(refused.status, pb::JobStatus::Failed as i32);
    assert!(
        refused.error.contains("allow_destructive"),
        "{}",
        refused.error
    );
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn browse_and_diff_run_on_the_agent_and_answer_the_call() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).expect("mkdir");
    std::fs::write(source.join("a.txt"), "first").expect("write");
    std::fs::write(source.join("sub/b.txt"), "stays").expect("write");
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let first = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let first = fleet.finish(first.id).await;
    std::fs::write(source.join("a.txt"), "second, longer").expect("write");
    std::fs::write(source.join("new.txt"), "added").expect("write");
    let second = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let second = fleet.finish(second.id).await;

    let mut snapshots = cairn_proto::v1::snapshot_service_client::SnapshotServiceClient::new(
        fleet.server.channel().await,
    );
    let listing = snapshots
        .browse_snapshot(with_token(
            pb::BrowseSnapshotRequest {
                repository_id: repository,
                snapshot_id: second.snapshot_id.clone(),
                path: source.join("sub").display().to_string(),
                host_id: 0,
            },
            &fleet.token,
        ))
        .await
        .expect("browse")
        .into_inner();
    assert!(
        listing.entries.iter().any(|e| e.name == "b.txt"
            && e.r#type == pb::TreeEntryType::File as i32
            && e.size == 5),
        "{listing:?}"
    );

    let diff = snapshots
        .diff_snapshots(with_token(
            pb::DiffSnapshotsRequest {
                repository_id: repository,
                snapshot_a: first.snapshot_id.clone(),
                snapshot_b: second.snapshot_id.clone(),
                metadata: false,
                host_id: 0,
            },
            &fleet.token,
        ))
        .await
        .expect("diff")
        .into_inner()
        .diff
        .expect("diff");
    let change = |name: &str| {
        diff.changes
            .iter()
            .find(|c| c.path.ends_with(name))
            .map(|c| c.kind)
    };
    assert_eq!(
        change("/a.txt"),
        Some(pb::DiffChangeKind::Modified as i32),
        "{diff:?}"
    );
    assert_eq!(
        change("/new.txt"),
        Some(pb::DiffChangeKind::Added as i32),
        "{diff:?}"
    );
    assert_eq!(change("/b.txt"), None, "unchanged files are not listed");

    let bad = snapshots
        .diff_snapshots(with_token(
            pb::DiffSnapshotsRequest {
                repository_id: repository,
                snapshot_a: "--json".into(),
                snapshot_b: "latest".into(),
                metadata: false,
                host_id: 0,
            },
            &fleet.token,
        ))
        .await
        .expect_err("refused");
    assert_eq!(bad.code(), Code::InvalidArgument);
    fleet.agent.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lock_from_a_killed_restic_is_unlocked_and_the_job_retried() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let repo_path = dir.path().join("repo");
    let repository = fleet
        .repository(&repo_path.display().to_string(), PASSWORD)
        .await;
    assert_eq!(
        fleet.maintenance(repository, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );

    // A restic killed mid-backup on this host leaves its lock behind.
    let source = dir.path().join("big");
    std::fs::create_dir(&source).expect("mkdir");
    noise(&source.join("data.bin"), 2 * 1024 * 1024);
    let mut killed = ChildGuard::spawn(
        "restic backup",
        std::process::Command::new("restic")
            .args(["backup", "--limit-upload", "16"])
            .arg(&source)
            .env("RESTIC_REPOSITORY", &repo_path)
            .env("RESTIC_PASSWORD", PASSWORD)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    // A lock file that is whole: restic writes a lock into a temporary file
    // (`<id>-tmp-…`) and renames it to its id, and a restic killed before
    // the rename leaves a file no restic reads as a lock.
    eventually(Duration::from_secs(60), "a written lock file", || {
        std::fs::read_dir(repo_path.join("locks"))
            .map(|d| {
                d.flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.len() == 64
                        && name.bytes().all(|b| b.is_ascii_hexdigit())
                        && e.metadata().is_ok_and(|m| m.len() > 0)
                })
            })
            .unwrap_or(false)
    })
    .await;
    killed.kill();

    // check needs an exclusive lock: the agent unlocks (stale locks only) and retries.
    let done = fleet.check(repository).await;
    let logs = fleet.logs(done.id).await;
    assert!(
        logs.iter().any(|l| l.contains("running `restic unlock`")),
        "{logs:?}"
    );
    fleet.agent.stop().await.expect("stop");
}
