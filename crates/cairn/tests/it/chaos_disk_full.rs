//! The database's filesystem fills up under a running server (a small tmpfs
//! of the test's own): every write the API acknowledged is kept, the first
//! one the disk refuses fails cleanly (`Unavailable`, saying why, nothing
//! half-written), the server reports itself degraded while reads go on, and
//! once space returns it recovers by itself within 60 s, no restart. After a
//! `kill -9` the database passes `PRAGMA integrity_check` and holds exactly
//! the acknowledged writes.
//!
//! Mounting a tmpfs needs root, as CI runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_testkit::fleet::authorized;
use cairn_testkit::{Reachable, ServerProcess};
use tonic::Code;
use tonic::transport::Channel;

use crate::chaos::{admin_token, integrity_check};

/// The filesystem's size: room for the database, little more.
const TMPFS_SIZE: &str = "24m";
/// Writes tried at most before the full disk must have refused one.
const MAX_WRITES: usize = 20_000;
/// The promise: writes work again this soon after space returns.
const RECOVERY: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_degrades_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = Tmpfs::mount(&dir.path().join("small"), TMPFS_SIZE);
    let data = small.path.join("data");
    let token = admin_token(&data);
    let mut server = ServerProcess::new(env!("CARGO_BIN_EXE_cairn").as_ref(), &data, &[]);
    server.start().await;
    let channel = server.channel().await;
    let mut repos = RepositoryServiceClient::new(channel.clone());
    let mut admin = AdminServiceClient::new(channel);

    // Fill the filesystem to the last byte, then write until it refuses.
    let filler = small.path.join("filler");
    fill(&filler);
    let mut acknowledged = Vec::new();
    let refused = loop {
        let name = format!("repo-{:05}", acknowledged.len());
        match create(&mut repos, &token, &name).await {
            Ok(()) => acknowledged.push(name),
            Err(status) => break (name, status),
        }
        assert!(
            acknowledged.len() < MAX_WRITES,
            "{MAX_WRITES} writes on a full disk and none refused"
        );
    };
    let (refused_name, status) = refused;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("disk is full")
            && status.message().contains("nothing was changed"),
        "the refusal says why: {}",
        status.message()
    );

    // Degraded, and says why; reads go on.
    let report = server_status(&mut admin, &token).await;
    assert!(report.degraded, "{report:?}");
    assert!(report.storage_fault.contains("disk is full"), "{report:?}");
    let (code, probe) = readyz(&server).await;
    assert_eq!(code, 503, "{probe}");
    assert!(probe.contains("database writes failing"), "{probe}");
    let metrics = reqwest::get(format!("{}/metrics", server.grpc_url()))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cairn_store_writes_failing") && l.ends_with(" 1")),
        "the gauge Prometheus alerts on: {metrics}"
    );
    let listed = names(&mut repos, &token).await;
    assert_eq!(listed, acknowledged, "every acknowledged write is readable");

    // Space returns: the server sees it by itself.
    std::fs::remove_file(&filler).expect("free the space");
    let freed = Instant::now();
    while server_status(&mut admin, &token).await.degraded {
        assert!(
            freed.elapsed() < RECOVERY,
            "still degraded {RECOVERY:?} after space returned"
        );
        cairn_testkit::poll_pause().await;
    }
    let recovered_in = freed.elapsed();
    let (code, probe) = readyz(&server).await;
    assert_eq!(code, 200, "{probe}");
    create(&mut repos, &token, "after-recovery")
        .await
        .expect("a write after recovery");
    acknowledged.push("after-recovery".into());

    // Nothing corrupt, nothing lost, nothing half-kept.
    server.kill();
    let check = integrity_check(&data.join("cairn.db"));
    assert_eq!(check, "ok", "integrity_check: {check}");
    server.start().await;
    let mut repos = RepositoryServiceClient::new(server.channel().await);
    let kept = names(&mut repos, &token).await;
    assert_eq!(kept, acknowledged, "exactly the acknowledged writes");
    assert!(!kept.contains(&refused_name));
    println!(
        "disk full: {} writes acknowledged on a full disk before the first refusal, 0 lost, \
         recovered {:.1} s after space returned, integrity_check ok",
        acknowledged.len() - 1,
        recovered_in.as_secs_f64()
    );
    server.kill();
}

async fn create(
    repos: &mut RepositoryServiceClient<Channel>,
    token: &str,
    name: &str,
) -> Result<(), tonic::Status> {
    repos
        .create_repository(authorized(
            pb::CreateRepositoryRequest {
                name: name.into(),
                url: format!("/srv/restic/{name}"),
                password: format!("password of {name}"),
                env: Default::default(),
            },
            token,
        ))
        .await
        .map(|_| ())
}

async fn names(repos: &mut RepositoryServiceClient<Channel>, token: &str) -> Vec<String> {
    let mut names: Vec<String> = repos
        .list_repositories(authorized(pb::ListRepositoriesRequest::default(), token))
        .await
        .expect("list repositories")
        .into_inner()
        .repositories
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

async fn server_status(
    admin: &mut AdminServiceClient<Channel>,
    token: &str,
) -> pb::GetServerStatusResponse {
    admin
        .get_server_status(authorized(pb::GetServerStatusRequest {}, token))
        .await
        .expect("server status")
        .into_inner()
}

async fn readyz(server: &ServerProcess) -> (u16, String) {
    let answer = reqwest::get(format!("{}/readyz", server.grpc_url()))
        .await
        .expect("readyz answers");
    let code = answer.status().as_u16();
    (code, answer.text().await.unwrap_or_default())
}

/// Writes zeros to `path` until the filesystem has no byte left.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("the filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    // The last partial chunk: byte by byte to the very end.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            mounted.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}
