//! B2, ingest: a fleet of simulated agents, each running a backup that
//! reports progress 10 times a second and sends its verbose log lines in
//! bursts (10 lines a second, every 5 s), held for a sustained window; then
//! a burst at ten times the rate: 100,000 reports a second offered by 1,000
//! agents.
//!
//! Measured: rows persisted a second (each report applied is a row: its
//! seq, and twice a second the job's progress; each log line is a row),
//! from the server's `cairn_store_writes_total` and its `job_logs` table;
//! report → stored and published, from the agent stamping a progress report
//! to a `WatchJob` subscriber reading it (the hub publishes after the
//! commit); the server's memory through the burst; and how much of the
//! burst the agents could send at all (when the server pushes back, their
//! sends wait). Reference: the same generator against a bare stream →
//! channel → writer pipeline (`reference_pipeline.rs`), timed from the
//! stamp to its commit.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;

use crate::Ctx;
use crate::api;
use crate::b4_pages;
use crate::fixture::{BenchServer, ServerOptions};
use crate::reference_gateway::ReferenceGateway;
use crate::report::{Goal, Results, Row, Summary};
use crate::seed;
use crate::sim::{self, Dialer, OnJob, SimAgent, Tally};
use crate::sse::{now_micros, stamp_of};

/// Progress reports a second per job.
const RATE: u32 = 10;
/// Log lines a second per job.
const LOGS: u32 = 10;
/// The burst multiplies the reports by this.
const BURST: u32 = 10;
/// DESIGN §17's goal for 1,000 jobs.
const GOAL_ROWS: f64 = 20_000.0;
/// Jobs followed by a subscriber, for the latency.
const WATCHED: usize = 20;
/// Before measuring: every agent reporting, queues in their steady state.
const WARM_UP: Duration = Duration::from_secs(10);
/// After the burst, before the fleet is dropped: what was queued drains.
const DRAIN: Duration = Duration::from_secs(5);

/// Samples over time: (µs since the epoch, value).
type Timed = Arc<Mutex<Vec<(u64, f64)>>>;

/// What one side measured, and when each phase ran (µs).
#[derive(Debug, Default)]
struct Ingested {
    rows_per_second: f64,
    burst_rows_per_second: f64,
    burst_sent_per_second: f64,
    sustained: (u64, u64),
    burst: (u64, u64),
    rss_mib: Vec<(u64, f64)>,
}

impl Ingested {
    /// RSS: the median over the sustained window, and the peak from the
    /// burst's start to the end of the drain.
    fn rss(&self) -> (f64, f64) {
        let steady = Summary::of(&between(&self.rss_mib, self.sustained)).map_or(0.0, |s| s.p50);
        let peak = between(&self.rss_mib, (self.burst.0, u64::MAX))
            .into_iter()
            .fold(0.0, f64::max);
        (steady, peak)
    }
}

/// The samples of `timed` taken between `from` and `to`.
fn between(timed: &[(u64, f64)], (from, to): (u64, u64)) -> Vec<f64> {
    timed
        .iter()
        .filter(|(at, _)| (from..=to).contains(at))
        .map(|(_, v)| *v)
        .collect()
}

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let agents = ctx.scale(1_000, 200);
    let window = ctx
        .ingest_window
        .unwrap_or_else(|| ctx.scale(Duration::from_secs(30), Duration::from_secs(20)));
    let burst = ctx.scale(Duration::from_secs(15), Duration::from_secs(10));
    crate::sys::raise_open_files(agents as u64 * 2 + 4_096);

    // The reference.
    let gateway = ReferenceGateway::start(&ctx.work.join("b2-reference")).await?;
    let tally = Arc::new(Tally::default());
    let dialer = Dialer::new(&gateway.url, Some(&gateway.fingerprint))?;
    let fleet = grow(&dialer, "", agents, &tally).await?;
    for agent in &fleet {
        gateway.push(agent.host_id, agent.host_id).await?;
    }
    let rows = || async { Ok(gateway.rows().await? as f64) };
    let theirs = measure(gateway.pid()?, &tally, window, burst, rows).await?;
    let their_latency = gateway.latencies().await?;
    drop(fleet);
    drop(gateway);

    // Cairn, on B4's seeded history, so its dashboard can be read under
    // this load afterwards.
    let data_dir = ctx.work.join("b2-server");
    let (seeded_hosts, per_host) = (ctx.scale(1_000, 200), ctx.scale(100, 30));
    seed::fleet_history(&data_dir, seeded_hosts, per_host).await?;
    let server = BenchServer::start(
        ctx,
        ServerOptions {
            data_dir: Some(data_dir),
            ..Default::default()
        },
    )
    .await?;
    let enroll = api::enrollment_token(&server, &[]).await?;
    let tally = Arc::new(Tally::default());
    let fleet = grow(&server.dialer()?, &enroll, agents, &tally).await?;
    let hosts: Vec<i64> = fleet.iter().map(|a| a.host_id).collect();
    let repository = api::assigned_repository(&server, &ctx.work, "b2", &hosts).await?;
    let mut jobs = JobServiceClient::new(server.api().await?);
    let mut job_ids = Vec::with_capacity(hosts.len());
    for &host in &hosts {
        job_ids.push(api::run_backup(&mut jobs, host, repository, "/srv").await?);
    }
    let seen: Timed = Arc::default();
    let mut watchers = Vec::new();
    for &job in job_ids.iter().step_by((job_ids.len() / WATCHED).max(1)) {
        watchers.push(watch(&server, job, seen.clone()).await?);
    }
    let db = server.data_dir.join("cairn.db");
    let rows = || async {
        let db = db.clone();
        let lines = tokio::task::spawn_blocking(move || log_lines(&db)).await??;
        Ok(store_writes(&server).await? + lines)
    };
    let ours = measure(server.pid()?, &tally, window, burst, rows).await?;
    for watcher in &watchers {
        watcher.abort();
    }
    // B4 under this load: the dashboard while every agent still reports,
    // then the same dashboard once they are gone.
    let pages = ctx.scale(Duration::from_secs(10), Duration::from_secs(5));
    let loaded = b4_pages::over_http(&server, "/", pages).await?;
    drop(fleet);
    wait_for_offline(&server).await?;
    let quiet = b4_pages::over_http(&server, "/", pages).await?;
    let our_latency = seen.lock().map(|s| s.clone()).unwrap_or_default();

    let shape = format!("{agents} jobs × ({RATE} reports + {LOGS} log lines)/s");
    let reference = "bare stream → channel → writer";
    let mut rate = Row::new(
        "B2",
        format!("rows persisted, {shape}, {} s", window.as_secs()),
        "rows/s",
        Summary::single(ours.rows_per_second),
    )
    .reference(reference, Summary::single(theirs.rows_per_second));
    // The goal is for the full fleet; a smaller one offers fewer rows.
    let offered = agents as f64 * f64::from(RATE + LOGS);
    if offered >= GOAL_ROWS {
        rate = rate.goal(Goal::AtLeast(GOAL_ROWS));
    } else {
        rate = rate.note(format!(
            "{offered:.0} rows/s offered: the goal is for 1,000 jobs"
        ));
    }
    results.push(rate);
    let latency = |timed: &[(u64, f64)], phase| Summary::of(&between(timed, phase));
    if let (Some(mine), Some(bare)) = (
        latency(&our_latency, ours.sustained),
        latency(&their_latency, theirs.sustained),
    ) {
        results.push(
            Row::new("B2", "report → stored and published, sustained", "ms", mine)
                .reference("bare: report → committed", bare)
                .goal(Goal::AtMost(100.0))
                .note(format!("{WATCHED} jobs followed over WatchJob")),
        );
    }
    let offered = agents as f64 * f64::from(RATE * BURST);
    results.push(
        Row::new(
            "B2",
            format!("burst: rows persisted, {offered:.0} reports/s offered"),
            "rows/s",
            Summary::single(ours.burst_rows_per_second),
        )
        .reference(reference, Summary::single(theirs.burst_rows_per_second))
        .note(format!(
            "the agents could send {:.0} reports/s (the reference's: {:.0}); the rest waited at the agents",
            ours.burst_sent_per_second, theirs.burst_sent_per_second
        )),
    );
    if let (Some(mine), Some(bare)) = (
        latency(&our_latency, ours.burst),
        latency(&their_latency, theirs.burst),
    ) {
        results.push(
            Row::new("B2", "burst: report → stored and published", "ms", mine)
                .reference("bare: report → committed", bare)
                .note("from the agent's stamp: includes the wait at the agent"),
        );
    }
    if let (Some(loaded_ms), Some(quiet_ms)) = (
        Summary::of(&loaded.latencies),
        Summary::of(&quiet.latencies),
    ) {
        results.push(
            Row::new(
                "B4",
                format!(
                    "dashboard under B2's load ({} hosts, {seeded_hosts} with {per_host} jobs each, {} clients)",
                    seeded_hosts + agents,
                    b4_pages::CLIENTS
                ),
                "ms",
                loaded_ms,
            )
            .reference("the same dashboard, the fleet gone", quiet_ms)
            .goal(Goal::AtMost(50.0))
            .note(format!("{:.0} req/s", loaded.rate)),
        );
    }
    let ((steady, peak), (their_steady, their_peak)) = (ours.rss(), theirs.rss());
    results.push(
        Row::new(
            "B2",
            "server RSS growth through the burst (peak over sustained)",
            "MiB",
            Summary::single(peak - steady),
        )
        .reference(reference, Summary::single(their_peak - their_steady))
        .note(format!(
            "sustained: {steady:.0} MiB (the reference: {their_steady:.0})"
        )),
    );
    Ok(())
}

/// Waits until the server has seen every agent go (generously: a lost
/// session is noticed at once, a dropped one within keepalive).
async fn wait_for_offline(server: &BenchServer) -> anyhow::Result<()> {
    use cairn_proto::v1::host_service_client::HostServiceClient;
    let mut hosts = HostServiceClient::new(server.api().await?);
    let began = std::time::Instant::now();
    loop {
        let online = hosts
            .list_hosts(pb::ListHostsRequest {
                online: Some(true),
                ..Default::default()
            })
            .await
            .context("listing hosts")?
            .into_inner();
        if online.hosts.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(120),
            "hosts still online 120 s after their agents stopped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Agents reporting as `OnJob::Report` asks, 200 starting at once.
async fn grow(
    dialer: &Dialer,
    enroll: &str,
    count: usize,
    tally: &Arc<Tally>,
) -> anyhow::Result<Vec<SimAgent>> {
    let on_job = OnJob::Report {
        rate: RATE,
        logs: LOGS,
    };
    sim::fleet(dialer, "b2-host", 0..count, enroll, on_job, tally, 200).await
}

/// The sustained window, then the burst, then the drain; the server's RSS
/// sampled throughout.
async fn measure<F, Fut>(
    pid: u32,
    tally: &Tally,
    window: Duration,
    burst: Duration,
    rows: F,
) -> anyhow::Result<Ingested>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<f64>>,
{
    tokio::time::sleep(WARM_UP).await;
    let rss: Timed = Arc::default();
    let sampler = tokio::spawn({
        let rss = rss.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                let Ok(kib) = crate::sys::rss_kib(pid) else {
                    return;
                };
                if let Ok(mut samples) = rss.lock() {
                    samples.push((now_micros(), kib as f64 / 1024.0));
                }
            }
        }
    });
    let seconds = |from: u64, to: u64| (to.saturating_sub(from) as f64 / 1e6).max(1e-3);
    // Each count is stamped at the middle of the time it took to read.
    let read = || async {
        let before = now_micros();
        let count = rows().await?;
        anyhow::Ok((count, before + now_micros().saturating_sub(before) / 2))
    };
    let (r0, t0) = read().await?;
    tokio::time::sleep(window).await;
    let (r1, t1) = read().await?;
    let sent0 = tally.sent.load(Ordering::Relaxed);
    tally.burst.store(BURST, Ordering::Relaxed);
    tokio::time::sleep(burst).await;
    let (r2, t2) = read().await?;
    let sent1 = tally.sent.load(Ordering::Relaxed);
    tally.burst.store(1, Ordering::Relaxed);
    tokio::time::sleep(DRAIN).await;
    sampler.abort();
    let rss_mib = rss.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(Ingested {
        rows_per_second: (r1 - r0) / seconds(t0, t1),
        burst_rows_per_second: (r2 - r1) / seconds(t1, t2),
        burst_sent_per_second: sent1.saturating_sub(sent0) as f64 / seconds(t1, t2),
        sustained: (t0, t1),
        burst: (t1, t2),
        rss_mib,
    })
}

/// Follows `job` over `WatchJob`, noting for each progress report when it
/// arrived and how long after its stamp.
async fn watch(
    server: &BenchServer,
    job: i64,
    seen: Timed,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut stream = JobServiceClient::new(server.api().await?)
        .watch_job(pb::WatchJobRequest { job_id: job })
        .await
        .context("WatchJob")?
        .into_inner();
    Ok(tokio::spawn(async move {
        while let Ok(Some(event)) = stream.message().await {
            let now = now_micros();
            if let Some(pb::job_event::Event::Progress(progress)) = event.event
                && let Some(stamp) = progress.current_files.first().and_then(|f| stamp_of(f))
                && let Ok(mut seen) = seen.lock()
            {
                seen.push((now, now.saturating_sub(stamp) as f64 / 1000.0));
            }
        }
    }))
}

/// The server's `cairn_store_writes_total`.
async fn store_writes(server: &BenchServer) -> anyhow::Result<f64> {
    let text = server
        .http()?
        .get(format!("{}/metrics", server.url))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix("cairn_store_writes_total")?;
            rest.split_whitespace().last()?.parse().ok()
        })
        .context("no cairn_store_writes_total in /metrics")
}

/// Log lines stored so far, read from the server's database: the last
/// line's id (ids only grow, and nothing is deleted during the run), so
/// the read is one index seek, not a count of millions of rows.
fn log_lines(db: &std::path::Path) -> anyhow::Result<f64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", db.display()))?;
    let last: Option<i64> = conn.query_row("SELECT max(id) FROM job_logs", [], |r| r.get(0))?;
    Ok(last.unwrap_or(0) as f64)
}
