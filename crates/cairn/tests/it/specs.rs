//! Every field of a spec reaches restic: a dry run deletes nothing, and a
//! (host, repository) maintenance plan forgets only that host's snapshots.
//! Real restic, real repositories.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::run_maintenance_request::Spec;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::{self, approve};
use cairn_testkit::jobs::{self, restic, snapshot_hostnames};

use crate::with_token;

const PASSWORD: &str = "specs-password";

/// A server, one approved agent, and a local repository assigned to it.
pub(crate) struct Rig {
    pub(crate) server: TestServer,
    pub(crate) token: String,
    pub(crate) agent: RunningAgent,
    pub(crate) host: i64,
    pub(crate) repository: i64,
    pub(crate) repo_path: PathBuf,
    pub(crate) dir: tempfile::TempDir,
}

impl Rig {
    pub(crate) async fn start(server: TestServer) -> Rig {
        let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
        let dir = tempfile::tempdir().expect("dir");
        let mut agent = RunningAgent::start(agents::config(&server.url, &dir.path().join("agent")));
        let host = approve(&server, &token, &mut agent).await;
        let repo_path = dir.path().join("repo");
        let url = repo_path.display().to_string();
        let repository = fleet::repository(&server, &token, "specs", &url, PASSWORD, &[host]).await;
        let rig = Rig {
            server,
            token,
            agent,
            host,
            repository,
            repo_path,
            dir,
        };
        let init = rig.maintenance(Spec::Init(pb::InitSpec::default())).await;
        assert_eq!(
            init.status,
            pb::JobStatus::Succeeded as i32,
            "{}",
            init.error
        );
        rig
    }

    async fn maintenance(&self, spec: Spec) -> pb::Job {
        jobs::maintenance(&self.server, &self.token, self.host, self.repository, spec).await
    }

    /// A backup through Cairn of a directory holding `content`.
    pub(crate) async fn backup(&self, content: &[u8]) -> pb::Job {
        let source = self.source(content);
        let job = jobs::backup(
            &self.server,
            &self.token,
            self.host,
            self.repository,
            pb::BackupSpec {
                paths: vec![source.display().to_string()],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(job.status, pb::JobStatus::Succeeded as i32, "{}", job.error);
        job
    }

    pub(crate) fn source(&self, content: &[u8]) -> PathBuf {
        let source = self.dir.path().join("source");
        std::fs::create_dir_all(&source).expect("mkdir");
        std::fs::write(source.join("data"), content).expect("write");
        source
    }

    fn snapshot_count(&self) -> usize {
        snapshot_hostnames(&self.repo_path, PASSWORD).len()
    }
}

/// Bytes no other call gives (so each backup adds its own pack).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    cairn_testkit::noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, len)
}

/// Every file under the repository's `data/`, sorted.
fn pack_files(repo: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo.join("data"), &mut out);
    out.sort();
    out
}

fn keep_last(n: u32) -> Option<pb::RetentionPolicy> {
    Some(pb::RetentionPolicy {
        keep_last: n,
        ..Default::default()
    })
}

#[tokio::test]
async fn a_dry_run_forget_or_prune_deletes_nothing() {
    let rig = Rig::start(TestServer::start().await).await;
    let first = rig.backup(&noise(1, 200_000)).await;
    rig.backup(&noise(2, 200_000)).await;
    assert_eq!(rig.snapshot_count(), 2);

    let dry_forget = rig
        .maintenance(Spec::Forget(pb::ForgetSpec {
            policy: keep_last(1),
            dry_run: true,
            ..Default::default()
        }))
        .await;
    assert_eq!(
        dry_forget.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        dry_forget.error
    );
    assert_eq!(
        rig.snapshot_count(),
        2,
        "a dry-run forget removed a snapshot"
    );

    // Leave the first snapshot's data unused, so a real prune would delete it.
    restic(&rig.repo_path, PASSWORD, &["forget", &first.snapshot_id]);
    let before = pack_files(&rig.repo_path);
    let dry_prune = rig
        .maintenance(Spec::Prune(pb::PruneSpec {
            dry_run: true,
            ..Default::default()
        }))
        .await;
    assert_eq!(
        dry_prune.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        dry_prune.error
    );
    assert_eq!(
        pack_files(&rig.repo_path),
        before,
        "a dry-run prune changed data"
    );

    // The same prune for real does remove something: the dry run was not
    // vacuous.
    let prune = rig.maintenance(Spec::Prune(pb::PruneSpec::default())).await;
    assert_eq!(
        prune.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        prune.error
    );
    assert_ne!(
        pack_files(&rig.repo_path),
        before,
        "the real prune removed nothing"
    );
    rig.agent.stop().await.expect("stop");
}

#[tokio::test]
async fn a_hosts_maintenance_plan_forgets_only_that_hosts_snapshots() {
    let server = TestServer::start_with(|c| c.maintenance_tick = Duration::from_millis(200)).await;
    let rig = Rig::start(server).await;
    let ours = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string();
    rig.backup(b"ours one").await;
    rig.backup(b"ours two").await;
    // Another host's snapshots of the same path in the same repository.
    let source = rig.source(b"theirs");
    let source = source.display().to_string();
    for round in ["one", "two"] {
        std::fs::write(Path::new(&source).join("data"), round).expect("write");
        restic(
            &rig.repo_path,
            PASSWORD,
            &["backup", "--host", "other-host", &source],
        );
    }

    let plan = ScheduleServiceClient::new(rig.server.channel().await)
        .upsert_maintenance_plan(with_token(
            pb::UpsertMaintenancePlanRequest {
                host_id: rig.host,
                repository_id: rig.repository,
                enabled: true,
                retention: keep_last(1),
                forget_every_seconds: 3600,
                ..Default::default()
            },
            &rig.token,
        ))
        .await
        .expect("plan")
        .into_inner()
        .plan
        .expect("plan");
    // Due now: its last forget was more than an hour ago.
    rig.server
        .store()
        .await
        .mark_chore(
            plan.id,
            cairn_store::Chore::Forget,
            cairn_store::now_millis() - 3_700_000,
        )
        .await
        .expect("make due");

    let forget = jobs::queued_of_kind(&rig.server, &rig.token, rig.host, pb::JobKind::Forget).await;
    let Some(pb::job_spec::Spec::Forget(spec)) = forget.spec.as_ref().and_then(|s| s.spec.clone())
    else {
        panic!("a forget spec: {forget:?}")
    };
    assert_eq!(spec.hostnames, vec![ours.clone()]);
    let forget = jobs::finish(&rig.server, &rig.token, forget.id).await;
    assert_eq!(
        forget.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        forget.error
    );

    let mut expected = vec!["other-host".to_string(), "other-host".to_string(), ours];
    expected.sort();
    assert_eq!(
        snapshot_hostnames(&rig.repo_path, PASSWORD),
        expected,
        "our newest is kept, the other host's snapshots are untouched"
    );
    rig.agent.stop().await.expect("stop");
}
