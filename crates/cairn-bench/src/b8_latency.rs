//! B8, control-plane latency: run now → restic spawned → first progress
//! seen by a subscriber, with a real agent running real restic (through the
//! timing shim, `shim.rs`) against a real server, many times over.
//!
//! Each run is timed at every hop this process can see or the shim notes:
//! the `RunBackup` request leaves (t0); restic is spawned (the shim starts,
//! t1); restic's first status line leaves it (t2); a `WatchJob` subscriber
//! reads the first progress (t3). Cairn adds (t1 − t0) + (t3 − t2); restic's
//! own start (t2 − t1: its key derivation, the repository's index, the
//! scan) is the reference the row stands beside.

use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_proto::v1::job_service_client::JobServiceClient;

use crate::Ctx;
use crate::agent::{BenchAgent, init_repository};
use crate::api::{self, REPOSITORY_PASSWORD};
use crate::fixture::{BenchServer, ServerOptions};
use crate::report::{Goal, Results, Row, Summary};
use crate::shim;

/// How long one run may take end to end before B8 gives up on it.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let runs = ctx.scale(100, 20);
    let dir = ctx.work.join("b8");
    let data = dir.join("data");
    small_dataset(&data)?;
    let (restic, log) = shim::install(&dir.join("shim"), &ctx.restic)?;
    let real = shim::which(&ctx.restic)?;
    init_repository(&real, &dir.join("repository"), REPOSITORY_PASSWORD)?;

    let server = BenchServer::start(ctx, ServerOptions::default()).await?;
    let agent = BenchAgent::start(
        &ctx.cairn,
        &server,
        &dir.join("agent"),
        "b8",
        &restic,
        &data,
    )
    .await?;
    // `assigned_repository` names the path after the repository, under
    // `dir`: the one just initialised.
    let repository =
        api::assigned_repository(&server, &dir, "repository", &[agent.host_id]).await?;
    let mut jobs = JobServiceClient::new(server.api().await?);
    let path = data.to_string_lossy().into_owned();

    let (mut to_spawn, mut to_subscriber, mut added, mut restic_own) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let before = shim::spawns(&log).len();
        let sent = crate::sse::now_micros();
        let job = api::run_backup(&mut jobs, agent.host_id, repository, &path).await?;
        let followed = tokio::time::timeout(RUN_DEADLINE, api::follow(&mut jobs, job))
            .await
            .with_context(|| format!("backup {job} did not end within {RUN_DEADLINE:?}"))??;
        let status = followed.job.status();
        if status != cairn_proto::v1::JobStatus::Succeeded {
            bail!(
                "B8's backup {job} ended {status:?}: {}; see {}",
                followed.job.error,
                agent.log.display()
            );
        }
        let seen = followed
            .first_progress
            .with_context(|| format!("backup {job} reported no progress"))?;
        // The shim logs a run when restic ends, which is before the job's
        // end reaches this process.
        let spawn = shim::spawns(&log)
            .into_iter()
            .skip(before)
            .find(|s| s.subcommand == "backup")
            .context("the shim saw no backup")?;
        let first_status = spawn
            .first_status
            .context("restic printed no status line")?;
        let ms = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
        to_spawn.push(ms(sent, spawn.spawned));
        to_subscriber.push(ms(first_status, seen));
        restic_own.push(ms(spawn.spawned, first_status));
        added.push(ms(sent, spawn.spawned) + ms(first_status, seen));
    }
    drop(agent);

    let summary = |samples: &[f64]| Summary::of(samples).context("no B8 samples");
    let restic = summary(&restic_own)?;
    let reference = "restic's own start, spawn → first status";
    results.push(
        Row::new("B8", "run now → restic spawned", "ms", summary(&to_spawn)?)
            .note("API → store → dispatcher → stream → agent → policy → argv → exec"),
    );
    results.push(
        Row::new(
            "B8",
            "restic's first status line → subscriber",
            "ms",
            summary(&to_subscriber)?,
        )
        .note("agent → server → store → hub → WatchJob"),
    );
    results.push(
        Row::new(
            "B8",
            format!("latency Cairn adds ({runs} runs)"),
            "ms",
            summary(&added)?,
        )
        .reference(reference, restic)
        .goal(Goal::AtMost(25.0))
        .note("the two rows above, per run"),
    );
    Ok(())
}

/// A few small files: restic's own start stays short, so what is measured
/// is mostly Cairn.
fn small_dataset(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    for n in 0..20 {
        let text = format!("B8 file {n}\n").repeat(200);
        std::fs::write(dir.join(format!("file-{n:02}.txt")), text)?;
    }
    Ok(())
}
