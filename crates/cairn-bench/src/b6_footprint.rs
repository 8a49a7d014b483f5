//! B6, footprint: how long the server takes from exec to `/readyz` with an
//! empty database and with a large one, what it holds idle, and how big its
//! binary is. References: the same binary's `--version` (the floor of
//! starting this executable at all), an idle `rclone serve restic` (the
//! always-on REST server a fleet runs beside it), and the restic binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::Ctx;
use crate::fixture::{BenchServer, ServerOptions, free_addr};
use crate::report::{Goal, Results, Row, Summary};
use crate::seed;

/// A restic-shaped log line, about what `backup --json` prints.
const LINE: &str = "{\"message_type\":\"status\",\"seconds_elapsed\":12,\"percent_done\":0.4213,\"total_files\":18234,\"files_done\":7702,\"total_bytes\":4503216384,\"bytes_done\":1043216384,\"current_files\":[\"/srv/data/projects/archive/2026/report-final.pdf\"]}";

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let restarts = ctx.scale(10, 4);
    let big_mib: u64 = ctx.scale(1_024, 100);

    // Start → ready, empty database (after its first start made it).
    let mut server = BenchServer::start(ctx, ServerOptions::default()).await?;
    let empty = ready_times(&mut server, restarts).await?;
    let floor = version_times(&ctx.cairn, restarts)?;
    results.push(
        Row::new(
            "B6",
            "start → ready, empty database",
            "ms",
            summary(&empty)?,
        )
        .reference("cairn --version", summary(&floor)?)
        .goal(Goal::AtMost(200.0)),
    );

    // Idle: RSS after a settle, CPU over a window.
    let settle = ctx.scale(Duration::from_secs(10), Duration::from_secs(3));
    tokio::time::sleep(settle).await;
    let pid = server.pid()?;
    let rss = crate::sys::rss_kib(pid)? as f64 / 1024.0;
    let cpu = crate::sys::cpu_percent_over(pid, settle).await?;
    let rclone = rclone_idle_rss(&ctx.work, settle).await;
    let mut row =
        Row::new("B6", "idle server RSS", "MiB", Summary::single(rss)).goal(Goal::AtMost(30.0));
    match rclone {
        Ok(mib) => row = row.reference("idle rclone serve restic", Summary::single(mib)),
        Err(err) => results.remark(format!("B6 had no rclone reference: {err:#}")),
    }
    results.push(row);
    results.push(
        Row::new("B6", "idle server CPU", "% core", Summary::single(cpu))
            .note(format!("over {} s", settle.as_secs())),
    );
    server.kill9();
    drop(server);

    // Start → ready with a large database.
    let dir = ctx.work.join("b6-large");
    let began = Instant::now();
    let size = large_database(&dir, big_mib).await?;
    results.remark(format!(
        "B6 made a {} MiB database in {:.0} s",
        size / (1 << 20),
        began.elapsed().as_secs_f64()
    ));
    let mut server = BenchServer::start(
        ctx,
        ServerOptions {
            data_dir: Some(dir),
            ..Default::default()
        },
    )
    .await?;
    let large = ready_times(&mut server, restarts).await?;
    results.push(
        Row::new(
            "B6",
            format!("start → ready, {} MiB database", size / (1 << 20)),
            "ms",
            summary(&large)?,
        )
        .reference("empty database", summary(&empty)?)
        .goal(Goal::AtMost(200.0)),
    );
    drop(server);

    // The binary, as built and stripped.
    let built = std::fs::metadata(&ctx.cairn)?.len();
    let stripped = stripped_size(&ctx.cairn, &ctx.work)?;
    let restic = which("restic")
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    let mut row = Row::new(
        "B6",
        "cairn binary, stripped (server + agent + CLI)",
        "MB",
        Summary::single(mb(stripped)),
    )
    .goal(Goal::AtMost(15.0))
    .note(format!("{:.1} MB as built", mb(built)));
    if let Some(restic) = restic {
        row = row.reference("restic binary", Summary::single(mb(restic)));
    }
    results.push(row);
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn summary(samples: &[f64]) -> anyhow::Result<Summary> {
    Summary::of(samples).context("no samples")
}

/// `kill -9`, exec again, time to `/readyz`: `count` times.
async fn ready_times(server: &mut BenchServer, count: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        server.kill9();
        let started = server.spawn()?;
        server.wait_ready(Duration::from_secs(60)).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(samples)
}

/// Exec → exit of `cairn --version`, `count` times.
fn version_times(cairn: &Path, count: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let status = Command::new(cairn)
            .arg("--version")
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("cairn --version failed: {status}");
        }
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(samples)
}

/// A fleet's history plus job logs until the file is about `mib` MiB.
async fn large_database(dir: &Path, mib: u64) -> anyhow::Result<u64> {
    seed::fleet_history(dir, 200, 50).await?;
    let db = dir.join("cairn.db");
    let target = mib << 20;
    let db_path = db.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let conn = rusqlite::Connection::open(&db_path)?;
        // Each round adds about 50 MB of log lines spread over the jobs.
        while std::fs::metadata(&db_path)?.len() < target {
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
                 INSERT INTO job_logs (job_id, at, stream, level, line)
                 SELECT (SELECT min(id) FROM jobs) + (i % 10000), i, 'stdout', 'info', ?1 FROM n",
                [LINE],
            )?;
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        Ok(())
    })
    .await
    .context("the filling thread")??;
    Ok(std::fs::metadata(&db)?.len())
}

/// The binary's size once stripped of symbols (a copy is stripped).
fn stripped_size(binary: &Path, work: &Path) -> anyhow::Result<u64> {
    let copy = work.join("cairn-stripped");
    std::fs::copy(binary, &copy)?;
    let status = Command::new("strip")
        .arg(&copy)
        .status()
        .context("running strip")?;
    if !status.success() {
        bail!("strip failed: {status}");
    }
    let size = std::fs::metadata(&copy)?.len();
    std::fs::remove_file(&copy)?;
    Ok(size)
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// RSS of an idle `rclone serve restic` after `settle`, in MiB.
async fn rclone_idle_rss(work: &Path, settle: Duration) -> anyhow::Result<f64> {
    let data = work.join("b6-rclone");
    std::fs::create_dir_all(&data)?;
    let addr = free_addr()?;
    let mut child = Command::new("rclone")
        .args(["serve", "restic", "--addr", &addr.to_string()])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting rclone")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("rclone did not listen");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(settle).await;
    let rss = crate::sys::rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    Ok(rss? as f64 / 1024.0)
}
