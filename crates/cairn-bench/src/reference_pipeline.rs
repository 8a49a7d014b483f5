//! B2's reference, inside the reference gateway: the least a server that
//! persists what agents report can do. Each report becomes rows (a progress
//! report one, a log message one per line), the session's task sends them
//! into a bounded channel (so a full writer pushes back on the stream, and
//! through it on the agent), and one writer thread inserts them with
//! rusqlite, up to 1,024 to a transaction, on a WAL database with
//! `synchronous = FULL` as Cairn's store has. No seq, no ownership check,
//! no cleaning, no watchers.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use tokio::sync::mpsc;

use crate::sse::{now_micros, stamp_of};

/// Rows queued at most before the sessions wait.
const QUEUE_DEPTH: usize = 4_096;
/// Rows committed together at most.
const MAX_BATCH: usize = 1_024;
/// One stamped row in this many has its report → commit time kept.
const LATENCY_SAMPLE_EVERY: u64 = 16;

/// One row to insert.
#[derive(Debug)]
struct Row {
    job: i64,
    /// The agent's send time, for a progress report.
    stamp: Option<u64>,
    text: String,
}

/// The pipeline's sending side and what it counted.
#[derive(Debug, Clone)]
pub struct Pipeline {
    tx: mpsc::Sender<Row>,
    rows: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Pipeline {
    /// Opens (afresh) the database at `path` and starts the writer thread.
    pub fn start(path: &Path) -> anyhow::Result<Pipeline> {
        let _ = std::fs::remove_file(path);
        let conn = rusqlite::Connection::open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE reports (id INTEGER PRIMARY KEY, job INTEGER NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL)",
        )?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let pipeline = Pipeline {
            tx,
            rows: Arc::new(AtomicU64::new(0)),
            latencies: Arc::new(Mutex::new(Vec::new())),
        };
        let (rows, latencies) = (pipeline.rows.clone(), pipeline.latencies.clone());
        std::thread::spawn(move || write(conn, rx, &rows, &latencies));
        Ok(pipeline)
    }

    /// Queues the rows `message` makes, waiting while the queue is full.
    pub async fn take(&self, message: pb::AgentMessage) {
        let rows: Vec<Row> = match message.body {
            Some(Body::JobProgress(progress)) => vec![Row {
                job: progress.job_id,
                stamp: progress.current_files.first().and_then(|f| stamp_of(f)),
                text: progress.current_files.join("\n"),
            }],
            Some(Body::JobLog(log)) => log
                .lines
                .into_iter()
                .map(|line| Row {
                    job: log.job_id,
                    stamp: None,
                    text: line.text,
                })
                .collect(),
            _ => Vec::new(),
        };
        for row in rows {
            if self.tx.send(row).await.is_err() {
                return;
            }
        }
    }

    /// Rows committed so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Sampled commits so far: when (µs), and how long after the report
    /// was stamped (µs).
    pub fn latencies(&self) -> Vec<(u64, u64)> {
        self.latencies.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The writer thread: a batch of whatever is queued, one transaction.
fn write(
    mut conn: rusqlite::Connection,
    mut rx: mpsc::Receiver<Row>,
    rows: &AtomicU64,
    latencies: &Mutex<Vec<(u64, u64)>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stamped = 0u64;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let committed = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO reports (job, at, body) VALUES (?1, ?2, ?3)")?;
                for row in &batch {
                    insert.execute(rusqlite::params![row.job, now_micros() as i64, row.text])?;
                }
            }
            tx.commit()
        })();
        if let Err(err) = committed {
            // The reference's figures would be wrong from here on: stop it
            // loudly, and the benchmark reports it gone.
            eprintln!("reference pipeline: a commit failed: {err}");
            std::process::exit(1);
        }
        let now = now_micros();
        rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Ok(mut kept) = latencies.lock() {
            for stamp in batch.iter().filter_map(|r| r.stamp) {
                stamped += 1;
                if stamped.is_multiple_of(LATENCY_SAMPLE_EVERY) {
                    kept.push((now, now.saturating_sub(stamp)));
                }
            }
        }
        batch.clear();
    }
}
