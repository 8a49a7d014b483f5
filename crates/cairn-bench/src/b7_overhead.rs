//! B7, wrapper overhead: the same backup (a fixed dataset of about 1 GiB,
//! mixed large and small files) through a real agent, and by hand with the
//! same restic, interleaved A/B (the order swapping each pair, so drift in
//! the machine falls on both sides), each into a fresh repository so every
//! run does the whole work. The agent's run is timed from the run-now
//! request to its end reaching a subscriber; the hand run from exec to exit.
//! The agent lists the repository's snapshots after every backup (so the
//! server's snapshot browser is current when the job ends), which costs one
//! more restic start: the second reference, `restic snapshots` by hand
//! after the backup, is the same work, and tells the wrapper's cost from
//! that one's.
//! That no line restic printed was lost shows in the summary: the one the
//! server stored must count the files and bytes restic's own run counted.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;

use crate::Ctx;
use crate::agent::{BenchAgent, init_repository};
use crate::api::{self, REPOSITORY_PASSWORD};
use crate::dataset;
use crate::fixture::{BenchServer, ServerOptions};
use crate::report::{Goal, Results, Row, Summary};

/// How long one backup may take before B7 gives up on it.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// restic's own count of what it backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    files: u64,
    bytes: u64,
}

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let total: u64 = ctx.scale(1 << 30, 128 << 20);
    let pairs = ctx.scale(5, 2);
    let dir = ctx.work.join("b7");
    let data = dir.join("data");
    let began = Instant::now();
    let made = dataset::make(&data, total)?;
    results.remark(format!(
        "B7's dataset: {} files, {}, made in {:.0} s",
        made.files,
        dataset::size(made.bytes),
        began.elapsed().as_secs_f64()
    ));
    let restic = crate::shim::which(&ctx.restic)?;
    // The dataset on disk and in the page cache before anything is timed:
    // a first run would otherwise pay for the writeback of what was just
    // made, and only one side of the first pair would.
    nix::unistd::sync();
    let warm = dir.join("warm-up");
    init_repository(&restic, &warm, REPOSITORY_PASSWORD)?;
    blocking({
        let (restic, warm, data, dir) = (restic.clone(), warm.clone(), data.clone(), dir.clone());
        move || backup_by_hand(&restic, &warm, &data, &dir)
    })
    .await?;
    std::fs::remove_dir_all(&warm)?;

    let server = BenchServer::start(ctx, ServerOptions::default()).await?;
    let agent = BenchAgent::start(
        &ctx.cairn,
        &server,
        &dir.join("agent"),
        "b7",
        &restic,
        &data,
    )
    .await?;
    let mut jobs = JobServiceClient::new(server.api().await?);

    let (mut through_agent, mut by_hand, mut by_hand_and_list, mut listing) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut faithful = 0;
    for pair in 0..pairs {
        // What the server stored and what restic counted by hand.
        let mut counts = Vec::with_capacity(2);
        for agent_first in [pair % 2 == 0, pair % 2 != 0] {
            if agent_first {
                let name = format!("agent-{pair}");
                let repo = dir.join(&name);
                init_repository(&restic, &repo, REPOSITORY_PASSWORD)?;
                let repository =
                    api::assigned_repository(&server, &dir, &name, &[agent.host_id]).await?;
                let sent = Instant::now();
                let path = data.to_string_lossy().into_owned();
                let job = api::run_backup(&mut jobs, agent.host_id, repository, &path).await?;
                let followed = tokio::time::timeout(RUN_DEADLINE, api::follow(&mut jobs, job))
                    .await
                    .context("a backup through the agent did not end")??;
                through_agent.push(sent.elapsed().as_secs_f64());
                let stored = stored_count(&followed.job, &agent.log)?;
                std::fs::remove_dir_all(&repo)?;
                counts.push(stored);
            } else {
                let repo = dir.join(format!("hand-{pair}"));
                init_repository(&restic, &repo, REPOSITORY_PASSWORD)?;
                let (took, counted, listed) = blocking({
                    let (restic, repo, data, dir) =
                        (restic.clone(), repo.clone(), data.clone(), dir.clone());
                    move || {
                        let (took, counted) = backup_by_hand(&restic, &repo, &data, &dir)?;
                        let listed = snapshots_by_hand(&restic, &repo, &dir)?;
                        Ok((took, counted, listed))
                    }
                })
                .await?;
                by_hand.push(took.as_secs_f64());
                listing.push(listed.as_secs_f64());
                by_hand_and_list.push((took + listed).as_secs_f64());
                std::fs::remove_dir_all(&repo)?;
                counts.push(counted);
            }
        }
        if counts.len() == 2 && counts[0] == counts[1] {
            faithful += 1;
        }
        println!("  pair {} of {pairs} done", pair + 1);
    }
    drop(agent);

    let median = |samples: &[f64]| Summary::of(samples).map(|s| s.p50).unwrap_or(0.0);
    let summary = |samples: &[f64]| Summary::of(samples).context("no B7 samples");
    let what = format!("{} ({} files)", dataset::size(made.bytes), made.files);
    results.push(
        Row::new(
            "B7",
            format!("backup of {what} through the agent"),
            "s",
            summary(&through_agent)?,
        )
        .reference("restic by hand", summary(&by_hand)?)
        .note(format!(
            "{pairs} interleaved pairs, each into a fresh repository"
        )),
    );
    let overhead = |reference: &[f64]| {
        100.0 * (median(&through_agent) / median(reference).max(f64::MIN_POSITIVE) - 1.0)
    };
    results.push(
        Row::new(
            "B7",
            "agent's overhead over restic backup by hand (medians)",
            "%",
            Summary::single(overhead(&by_hand)),
        )
        .goal(Goal::AtMost(2.0))
        .note("the agent lists the repository's snapshots after each backup"),
    );
    results.push(
        Row::new(
            "B7",
            "agent's overhead over restic backup + snapshots by hand (the same work)",
            "%",
            Summary::single(overhead(&by_hand_and_list)),
        )
        .note(format!(
            "restic snapshots by hand took {:.2} s (median)",
            median(&listing)
        )),
    );
    results.push(
        Row::new(
            "B7",
            "runs whose stored summary counts what restic counted by hand",
            "%",
            Summary::single(100.0 * faithful as f64 / pairs.max(1) as f64),
        )
        .goal(Goal::AtLeast(100.0))
        .note("no line lost: the summary is restic's last"),
    );
    Ok(())
}

/// Runs `work` (restic by hand: seconds of waiting on a child) off the
/// runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("a restic run by hand")?
}

/// The files and bytes the server stored for a finished backup.
fn stored_count(job: &pb::Job, log: &Path) -> anyhow::Result<Counted> {
    if job.status() != pb::JobStatus::Succeeded {
        bail!(
            "a backup through the agent ended {:?}: {}; see {}",
            job.status(),
            job.error,
            log.display()
        );
    }
    let summary = job
        .summary
        .as_ref()
        .context("the server stored no summary for a finished backup")?;
    Ok(Counted {
        files: summary.total_files_processed,
        bytes: summary.total_bytes_processed,
    })
}

/// `restic snapshots --json`, as the agent runs it after a backup to keep
/// the server's snapshot list current; how long it took.
fn snapshots_by_hand(restic: &Path, repo: &Path, dir: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = hand_command(restic, repo, dir)
        .args(["snapshots", "--json"])
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {} snapshots", restic.display()))?;
    if !status.success() {
        bail!("restic snapshots by hand failed with {status}");
    }
    Ok(started.elapsed())
}

/// restic with the environment the agent gives it, on `repo`.
fn hand_command(restic: &Path, repo: &Path, dir: &Path) -> Command {
    let mut command = Command::new(restic);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_CACHE_HOME", dir.join("hand-cache"))
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", REPOSITORY_PASSWORD)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// `restic backup --json` as an operator would run it, with the argv the
/// agent builds; its time from exec to exit, and its summary's counts.
fn backup_by_hand(
    restic: &Path,
    repo: &Path,
    data: &Path,
    dir: &Path,
) -> anyhow::Result<(Duration, Counted)> {
    let started = Instant::now();
    let output = hand_command(restic, repo, dir)
        .args(["backup", "--json", "--"])
        .arg(data)
        .output()
        .with_context(|| format!("running {} backup", restic.display()))?;
    let took = started.elapsed();
    if !output.status.success() {
        bail!("restic backup by hand failed with {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let summary = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|v| v["message_type"] == "summary")
        .context("restic by hand printed no summary")?;
    let count = |field: &str| summary[field].as_u64().unwrap_or(0);
    Ok((
        took,
        Counted {
            files: count("total_files_processed"),
            bytes: count("total_bytes_processed"),
        },
    ))
}
