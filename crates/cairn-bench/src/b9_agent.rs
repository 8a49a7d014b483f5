//! B9, agent footprint: a real `cairn agent`, enrolled and connected, idle
//! for ten minutes (its RSS sampled every 5 s, its CPU over the window),
//! then during a backup beside the restic it runs.
//!
//! Ten idle minutes would take most of the suite's time on their own, so
//! the idle agent starts before the other benchmarks and is read after
//! them: an idle process's memory and CPU time are its own whatever else
//! the machine does. Run alone (`--only B9`) it simply waits the window.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_proto::v1::job_service_client::JobServiceClient;

use crate::Ctx;
use crate::agent::{BenchAgent, init_repository};
use crate::api::{self, REPOSITORY_PASSWORD};
use crate::dataset;
use crate::fixture::{BenchServer, ServerOptions};
use crate::report::{Goal, Results, Row, Summary};
use crate::sys::{children, children_cpu_time, cpu_time, rss_kib};

/// How often the idle agent's RSS is read.
const IDLE_SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How long the backup may take.
const BACKUP_DEADLINE: Duration = Duration::from_secs(600);
/// How often the agent and restic are read during the backup.
const BUSY_SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The idle agent, watched while the other benchmarks run.
#[derive(Debug)]
pub struct Idle {
    server: BenchServer,
    agent: BenchAgent,
    data: std::path::PathBuf,
    made: dataset::Dataset,
    dir: std::path::PathBuf,
    window: Duration,
    began: Instant,
    cpu_at_start: Duration,
    rss_mib: Arc<Mutex<Vec<f64>>>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Idle {
    /// Starts a server and an agent, lets the agent settle, and begins
    /// reading it.
    pub async fn start(ctx: &Ctx) -> anyhow::Result<Idle> {
        let dir = ctx.work.join("b9");
        let data = dir.join("data");
        let made = dataset::make(&data, ctx.scale(256 << 20, 64 << 20))?;
        let restic = crate::shim::which(&ctx.restic)?;
        let server = BenchServer::start(ctx, ServerOptions::default()).await?;
        let agent = BenchAgent::start(
            &ctx.cairn,
            &server,
            &dir.join("agent"),
            "b9",
            &restic,
            &data,
        )
        .await?;
        // Its start (restic's version read, the first heartbeats) is not idle.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let pid = agent.pid()?;
        let rss_mib = Arc::new(Mutex::new(Vec::new()));
        let sampler = tokio::spawn({
            let rss_mib = rss_mib.clone();
            async move {
                let mut every = tokio::time::interval(IDLE_SAMPLE_EVERY);
                loop {
                    every.tick().await;
                    let Ok(kib) = rss_kib(pid) else { return };
                    if let Ok(mut samples) = rss_mib.lock() {
                        samples.push(kib as f64 / 1024.0);
                    }
                }
            }
        });
        Ok(Idle {
            cpu_at_start: cpu_time(pid)?,
            began: Instant::now(),
            window: ctx.scale(Duration::from_secs(600), Duration::from_secs(60)),
            server,
            agent,
            data,
            made,
            dir,
            rss_mib,
            sampler,
        })
    }
}

/// Reads the idle agent once its window is over, then runs a backup and
/// reads it and restic throughout.
pub async fn finish(ctx: &Ctx, results: &mut Results, idle: Idle) -> anyhow::Result<()> {
    let left = idle.window.saturating_sub(idle.began.elapsed());
    if !left.is_zero() {
        println!("  waiting {} s more of the idle window", left.as_secs());
        tokio::time::sleep(left).await;
    }
    let pid = idle.agent.pid()?;
    let watched = idle.began.elapsed();
    let cpu = cpu_time(pid)?.saturating_sub(idle.cpu_at_start);
    idle.sampler.abort();
    let samples = idle.rss_mib.lock().map(|s| s.clone()).unwrap_or_default();
    let minutes = watched.as_secs_f64() / 60.0;
    results.push(
        Row::new(
            "B9",
            "idle agent RSS",
            "MiB",
            Summary::of(&samples).context("no idle samples")?,
        )
        .goal(Goal::AtMost(16.0))
        .note(format!("{} samples over {minutes:.0} min", samples.len())),
    );
    results.push(
        Row::new(
            "B9",
            "idle agent CPU",
            "% core",
            Summary::single(100.0 * cpu.as_secs_f64() / watched.as_secs_f64()),
        )
        .goal(Goal::AtMost(0.1))
        .note(format!(
            "over {minutes:.0} min: heartbeats every 15 s, HTTP/2 pings every 20 s"
        )),
    );

    // During a backup.
    let restic = crate::shim::which(&ctx.restic)?;
    init_repository(&restic, &idle.dir.join("repository"), REPOSITORY_PASSWORD)?;
    let repository =
        api::assigned_repository(&idle.server, &idle.dir, "repository", &[idle.agent.host_id])
            .await?;
    let mut jobs = JobServiceClient::new(idle.server.api().await?);
    let path = idle.data.to_string_lossy().into_owned();
    let job = api::run_backup(&mut jobs, idle.agent.host_id, repository, &path).await?;
    let cpu_before = cpu_time(pid)?;
    let children_before = children_cpu_time(pid)?;
    let began = Instant::now();
    let follow = tokio::spawn(async move { api::follow(&mut jobs, job).await });
    let (mut agent_mib, mut restic_mib) = (Vec::new(), Vec::new());
    let mut every = tokio::time::interval(BUSY_SAMPLE_EVERY);
    while !follow.is_finished() {
        every.tick().await;
        if began.elapsed() > BACKUP_DEADLINE {
            follow.abort();
            anyhow::bail!("B9's backup did not end within {BACKUP_DEADLINE:?}");
        }
        if let Ok(kib) = rss_kib(pid) {
            agent_mib.push(kib as f64 / 1024.0);
        }
        // The largest restic at each moment (the backup, then the snapshot
        // listing the agent runs after it).
        let restic = children(pid)
            .into_iter()
            .filter_map(|child| rss_kib(child).ok())
            .max();
        if let Some(kib) = restic {
            restic_mib.push(kib as f64 / 1024.0);
        }
    }
    let took = began.elapsed().as_secs_f64();
    let agent_cpu = cpu_time(pid)?.saturating_sub(cpu_before);
    let followed = follow.await.context("following the backup")??;
    // Every restic the job ran, counted by the kernel once each was reaped.
    let restic_cpu = children_cpu_time(pid)?.saturating_sub(children_before);
    anyhow::ensure!(
        followed.job.status() == cairn_proto::v1::JobStatus::Succeeded,
        "B9's backup ended {:?}: {}",
        followed.job.status(),
        followed.job.error
    );
    let size = dataset::size(idle.made.bytes);
    let mut rss = Row::new(
        "B9",
        format!("agent RSS during a backup of {size}"),
        "MiB",
        Summary::of(&agent_mib).context("no samples of the agent")?,
    );
    if let Some(theirs) = Summary::of(&restic_mib) {
        rss = rss.reference("restic's RSS", theirs);
    }
    results.push(rss.note(format!("sampled every 100 ms over {took:.0} s")));
    results.push(
        Row::new(
            "B9",
            "agent CPU during a backup",
            "% core",
            Summary::single(100.0 * agent_cpu.as_secs_f64() / took),
        )
        .reference(
            "restic's CPU",
            Summary::single(100.0 * restic_cpu.as_secs_f64() / took),
        ),
    );
    Ok(())
}
