//! The database's filesystem fills up under a running server (a small tmpfs
//! of the test's own): every write the API acknowledged is kept, the first
//! one the disk refuses fails cleanly (`Unavailable`, saying why, nothing
//! half-written), the server reports itself degraded while reads go on, and
//! raises the `storage_failing` alert, which reaches a real webhook receiver:
//! the disk-space reserve beside the database is released for it, and every
//! other write is held back. Once space returns the server recovers by itself
//! within 60 s, no restart, remakes the reserve and resolves the alert. After
//! a `kill -9` the database passes `PRAGMA integrity_check` and holds exactly
//! the acknowledged writes.
//!
//! Mounting a tmpfs needs root, as CI runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_proto::v1::alert_service_client::AlertServiceClient;
use cairn_proto::v1::notification_service_client::NotificationServiceClient;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_testkit::fleet::authorized;
use cairn_testkit::receivers::HttpReceiver;
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
/// How long the alert may take, on a loaded machine (it is evaluated every
/// second here).
const ALERTED: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_degrades_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = Tmpfs::mount(&dir.path().join("small"), TMPFS_SIZE);
    let data = small.path.join("data");
    let token = admin_token(&data);
    let mut server = ServerProcess::new(
        env!("CARGO_BIN_EXE_cairn").as_ref(),
        &data,
        &[
            "--alert-evaluate-every",
            "1s",
            "--allow-private-notification-targets",
        ],
    );
    server.start().await;
    let channel = server.channel().await;
    let mut repos = RepositoryServiceClient::new(channel.clone());
    let mut admin = AdminServiceClient::new(channel.clone());
    let mut alerts = AlertServiceClient::new(channel.clone());
    let receiver = HttpReceiver::start().await;
    webhook(channel, &token, &receiver.url("/hook")).await;
    let reserve = data.join("cairn.reserve");
    assert!(reserve.exists(), "the reserve is made at start");

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
    assert!(
        failing_gauge(&server).await,
        "the gauge Prometheus alerts on"
    );
    let listed = names(&mut repos, &token).await;
    assert_eq!(listed, acknowledged, "every acknowledged write is readable");

    // The alert, written into the reserve's space, and told.
    let full = Instant::now();
    assert!(!reserve.exists(), "the reserve was released for the alert");
    let alert = wait_alert(&mut alerts, &token, pb::AlertState::Firing).await;
    assert!(alert.message.contains("disk is full"), "{alert:?}");
    assert_eq!(alert.subject, "server");
    let alerted_in = full.elapsed();
    wait_event(&receiver, "alert.fired").await;
    let told_in = full.elapsed();
    // Other writes stay held back, saying why.
    let held = create(&mut repos, &token, "held-back")
        .await
        .expect_err("held back");
    assert_eq!(held.code(), Code::Unavailable, "{held:?}");
    assert!(held.message().contains("disk is full"), "{held:?}");
    assert!(
        failing_gauge(&server).await,
        "the gauge stays up while the reserve is spent"
    );

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
    assert!(reserve.exists(), "the reserve is remade");
    wait_alert(&mut alerts, &token, pb::AlertState::Resolved).await;
    wait_event(&receiver, "alert.resolved").await;

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
         alert raised in {:.1} s and at the webhook in {:.1} s, \
         recovered {:.1} s after space returned, integrity_check ok",
        acknowledged.len() - 1,
        alerted_in.as_secs_f64(),
        told_in.as_secs_f64(),
        recovered_in.as_secs_f64()
    );
    server.kill();
}

/// Whether `/metrics` says database writes are failing.
async fn failing_gauge(server: &ServerProcess) -> bool {
    let metrics = reqwest::get(format!("{}/metrics", server.grpc_url()))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    metrics
        .lines()
        .any(|l| l.starts_with("cairn_store_writes_failing") && l.ends_with(" 1"))
}

/// A webhook channel (every kind, every severity) to `url`.
async fn webhook(channel: Channel, token: &str, url: &str) {
    NotificationServiceClient::new(channel)
        .create_channel(authorized(
            pb::CreateChannelRequest {
                name: "ops hook".into(),
                config: Some(pb::ChannelConfig {
                    config: Some(pb::channel_config::Config::Webhook(
                        pb::WebhookChannelConfig {
                            url: url.into(),
                            ..Default::default()
                        },
                    )),
                }),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("a webhook channel");
}

/// The server's storage alert, once it is in `state`.
async fn wait_alert(
    alerts: &mut AlertServiceClient<Channel>,
    token: &str,
    state: pb::AlertState,
) -> pb::Alert {
    let started = Instant::now();
    loop {
        let listed = alerts
            .list_alerts(authorized(
                pb::ListAlertsRequest {
                    kind: pb::AlertKind::StorageFailing as i32,
                    include_resolved: true,
                    ..Default::default()
                },
                token,
            ))
            .await
            .expect("list alerts")
            .into_inner()
            .alerts;
        if let Some(alert) = listed.into_iter().find(|a| a.state == state as i32) {
            return alert;
        }
        assert!(started.elapsed() < ALERTED, "no storage alert {state:?}");
        cairn_testkit::poll_pause().await;
    }
}

/// Waits for the webhook to receive a delivery of `event` about storage.
async fn wait_event(receiver: &HttpReceiver, event: &str) {
    let started = Instant::now();
    while !receiver.received().iter().any(|r| {
        let body = r.json();
        body["event"] == event && body.to_string().contains("storage_failing")
    }) {
        assert!(started.elapsed() < ALERTED, "no {event} at the webhook");
        cairn_testkit::poll_pause().await;
    }
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
