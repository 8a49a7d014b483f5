//! B0, calibration: what this machine does with no Cairn in the way. The
//! other rows are read against these: a disk whose fdatasync takes 10 ms
//! caps any durable write path, and a slow loopback shows in every latency.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::Ctx;
use crate::report::{Results, Row, Summary};

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let work = ctx.work.clone();
    let syncs = ctx.scale(300, 60);
    let trips = ctx.scale(20_000, 3_000);
    let window = ctx.scale(Duration::from_secs(2), Duration::from_millis(500));
    // Blocking measurements run on a thread of their own, off the runtime.
    let (fsync, rtt, matrix) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        Ok((
            fdatasync_latency(&work, syncs)?,
            loopback_round_trip(trips)?,
            sqlite_matrix(&work, window)?,
        ))
    })
    .await
    .context("the calibration thread")??;
    if let Some(s) = Summary::of(&fsync) {
        results.push(Row::new("B0", "4 KiB write + fdatasync", "ms", s));
    }
    if let Some(s) = Summary::of(&rtt) {
        results.push(Row::new("B0", "TCP loopback round trip, 64 bytes", "µs", s));
    }
    for (what, rate) in matrix {
        results.push(Row::new("B0", what, "rows/s", Summary::single(rate)));
    }
    Ok(())
}

/// Milliseconds per 4 KiB append + fdatasync.
fn fdatasync_latency(dir: &std::path::Path, count: usize) -> anyhow::Result<Vec<f64>> {
    let path = dir.join("fdatasync.bin");
    let mut file = std::fs::File::create(&path).context("creating the fdatasync file")?;
    let block = [0x5a_u8; 4096];
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(samples)
}

/// Microseconds per 64-byte ping-pong over loopback TCP (no Nagle).
fn loopback_round_trip(count: usize) -> anyhow::Result<Vec<f64>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            match stream.read_exact(&mut buf) {
                Ok(()) => stream.write_all(&buf)?,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut buf = [7u8; 64];
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        stream.write_all(&buf)?;
        stream.read_exact(&mut buf)?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(stream);
    let _ = echo.join();
    Ok(samples)
}

/// Rows per second into a job-log-shaped table, WAL, by synchronous mode
/// and rows per transaction, each for `window`.
fn sqlite_matrix(dir: &std::path::Path, window: Duration) -> anyhow::Result<Vec<(String, f64)>> {
    let mut rates = Vec::new();
    for synchronous in ["NORMAL", "FULL"] {
        for batch in [1usize, 100, 1_000] {
            let path = dir.join(format!("calibrate-{synchronous}-{batch}.db"));
            let rate = insert_rate(&path, synchronous, batch, window)?;
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            rates.push((
                format!("raw SQLite insert, WAL, synchronous={synchronous}, {batch} rows/tx"),
                rate,
            ));
        }
    }
    Ok(rates)
}

/// The row every SQLite reference in the suite writes: a job log line.
pub const LOG_LINE: &str = "{\"message_type\":\"status\",\"percent_done\":0.4213,\"total_files\":18234,\"files_done\":7702,\"bytes_done\":1043216384}";

fn insert_rate(
    path: &std::path::Path,
    synchronous: &str,
    batch: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous};
         CREATE TABLE lines (job_id INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (job_id, seq));"
    ))?;
    let started = Instant::now();
    let mut rows = 0u64;
    while started.elapsed() < window {
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO lines (job_id, seq, at, line) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for _ in 0..batch {
                insert.execute(rusqlite::params![
                    rows as i64 % 1_000,
                    rows as i64,
                    rows as i64,
                    LOG_LINE
                ])?;
                rows += 1;
            }
        }
        tx.commit()?;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}
