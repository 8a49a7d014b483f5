//! A well-behaved agent for the hostile-peer suite: a session of its own
//! that sends heartbeats one after another and times how long each takes to
//! be handled, while other peers attack the server.
//!
//! Each heartbeat carries a marker the server can be seen to have read: its
//! `sent_at` is set `i` × 1,000 s ahead, and the server keeps the offset of
//! the last heartbeat it handled (`Host.clock_offset_ms`). Heartbeat `i` is
//! handled once the host's offset rounds to `i` thousand seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_testkit::agents::{RawSession, hello, new_identity, open};
use cairn_testkit::fleet::{approve_id, authorized};
use cairn_testkit::{Reachable, ServerProcess};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long one heartbeat may take to be handled, on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);
/// The marker's unit: far above any real offset or delay.
const MARK_MS: i64 = 1_000_000;

/// The heartbeating agent.
pub struct Probe {
    stop: watch::Sender<bool>,
    took: Arc<Mutex<Vec<Duration>>>,
    task: JoinHandle<()>,
}

impl Probe {
    /// Announces a new host, approves it and starts its heartbeats.
    pub async fn start(server: &ServerProcess, token: &str) -> Probe {
        let mut session = open(server.grpc_url(), hello(&new_identity(), "steady"))
            .await
            .expect("the probe's session");
        let host_id = match session.next(PATIENCE).await {
            Ok(Some(pb::ServerMessage {
                body: Some(pb::server_message::Body::Welcome(welcome)),
            })) => welcome.host_id,
            other => panic!("expected a welcome, got {other:?}"),
        };
        approve_id(server, token, host_id).await;
        let hosts = HostServiceClient::new(server.channel().await);
        let (stop, stopped) = watch::channel(false);
        let took = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(beat(
            session,
            hosts,
            token.to_string(),
            host_id,
            stopped,
            took.clone(),
        ));
        Probe { stop, took, task }
    }

    /// Waits for `n` more heartbeats to be handled; their times.
    pub async fn samples(&self, n: usize) -> Vec<Duration> {
        let deadline = Instant::now() + PATIENCE * n as u32;
        loop {
            {
                let mut took = self.took.lock().expect("the probe's record");
                if took.len() >= n {
                    return std::mem::take(&mut *took);
                }
            }
            assert!(!self.task.is_finished(), "the probe stopped");
            assert!(Instant::now() < deadline, "{n} heartbeats were not handled");
            cairn_testkit::poll_pause().await;
        }
    }

    /// Stops the heartbeats; the times of those since the last `samples`.
    /// Panics if one was not handled within its patience.
    pub async fn finish(self) -> Vec<Duration> {
        let _ = self.stop.send(true);
        self.task
            .await
            .expect("every heartbeat was handled in time");
        std::mem::take(&mut *self.took.lock().expect("the probe's record"))
    }
}

async fn beat(
    session: RawSession,
    mut hosts: HostServiceClient<tonic::transport::Channel>,
    token: String,
    host_id: i64,
    stopped: watch::Receiver<bool>,
    took: Arc<Mutex<Vec<Duration>>>,
) {
    // Held (not read) so the session stays open.
    let RawSession { tx, rx: _rx } = session;
    for i in 1.. {
        let sent = Instant::now();
        let sent_at = now_ms() + i * MARK_MS;
        let heartbeat = pb::AgentMessage {
            seq: 0,
            body: Some(pb::agent_message::Body::Heartbeat(pb::Heartbeat {
                sent_at: Some(prost_types::Timestamp {
                    seconds: sent_at / 1_000,
                    nanos: 0,
                }),
                running_job_ids: Vec::new(),
            })),
        };
        tx.send(heartbeat).await.expect("the session is open");
        loop {
            let host = hosts
                .get_host(authorized(pb::GetHostRequest { host_id }, &token))
                .await
                .expect("get host")
                .into_inner()
                .host
                .expect("the host");
            let marker = host
                .clock_offset_ms
                .map(|ms| (ms as f64 / MARK_MS as f64).round() as i64);
            if marker >= Some(i) {
                break;
            }
            assert!(
                sent.elapsed() < PATIENCE,
                "heartbeat {i} was not handled within {PATIENCE:?}"
            );
            cairn_testkit::poll_pause().await;
        }
        took.lock()
            .expect("the probe's record")
            .push(sent.elapsed());
        if *stopped.borrow() {
            return;
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Resident memory of a process, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The highest resident memory seen while the attacks ran.
pub struct PeakRss {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl PeakRss {
    pub fn watch(pid: u32) -> PeakRss {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = rss_kib(pid);
            while stopped.try_recv().is_err() {
                peak = peak.max(rss_kib(pid));
                cairn_testkit::poll_pause().await;
            }
            peak
        });
        PeakRss { stop, task }
    }

    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.expect("the sampler")
    }
}
