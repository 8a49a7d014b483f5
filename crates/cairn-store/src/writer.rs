//! The one writer. Every write in Cairn is a closure sent here; the writer
//! takes whatever is queued (up to a cap), runs each closure in its own
//! savepoint inside one transaction, commits once, and only then answers each
//! caller. One closure failing rolls back its own savepoint and nothing else.
//!
//! Backpressure: the queue is bounded, so a flood of writers waits instead of
//! growing memory without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::error::{StoreError, StoreResult};

/// Writes queued at most before callers wait.
const QUEUE_DEPTH: usize = 4096;
/// Writes committed together at most, so one transaction stays short.
const MAX_BATCH: usize = 1024;

/// A queued write: runs against the open transaction (or, given `None`, does
/// not run because the transaction could not begin) and returns what to do once
/// the commit's outcome is known.
type WriteOp = Box<dyn FnOnce(Option<&Connection>) -> Reply + Send>;
/// Answers one caller with its result, or with the commit's failure.
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// Counters that show group commit at work (the metrics endpoint reads
/// them; atomics, so the writer pays nothing for being watched).
#[derive(Debug, Default)]
pub struct WriterStats {
    transactions: AtomicU64,
    writes: AtomicU64,
    /// Writes sent and not yet taken by the writer.
    queued: AtomicU64,
    /// Time spent in transactions (begin to commit), in microseconds.
    commit_micros: AtomicU64,
}

impl WriterStats {
    /// Transactions committed (or attempted) so far.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Writes applied so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Writes waiting for the writer right now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Total time spent running and committing transactions, in seconds:
    /// divided by [`WriterStats::transactions`], the mean commit latency.
    pub fn commit_seconds(&self) -> f64 {
        self.commit_micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// The sending side of the writer; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<WriteOp>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer task over `conn`. It ends when every `Writer` clone
    /// is dropped, after committing what was queued.
    pub(crate) fn start(conn: tokio_rusqlite::Connection) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(run(conn, rx, stats.clone()));
        Self { queue, stats }
    }

    pub(crate) fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    /// Runs `f` inside the next group transaction and returns its result once
    /// that transaction has committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: WriteOp = Box::new(move |conn| {
            let result = conn.map(|conn| in_savepoint(conn, f));
            Box::new(move |commit_error: Option<&StoreError>| {
                let answer = match (commit_error, result) {
                    (Some(e), _) => Err(commit_failed(e)),
                    (None, Some(result)) => result,
                    (None, None) => Err(StoreError::Closed),
                };
                let _ = tx.send(answer);
            })
        });
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if self.queue.send(op).await.is_err() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// Runs `f` in a savepoint, releasing it on success and rolling it back on
/// error, so one failing write leaves the rest of the batch intact.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT op")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE op")?;
            Ok(value)
        }
        Err(err) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(err)
        }
    }
}

/// The commit failed, so every write in the batch failed with it.
fn commit_failed(err: &StoreError) -> StoreError {
    match err {
        StoreError::Closed => StoreError::Closed,
        other => StoreError::CommitFailed(other.to_string()),
    }
}

async fn run(
    conn: tokio_rusqlite::Connection,
    mut rx: mpsc::Receiver<WriteOp>,
    stats: Arc<WriterStats>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats
            .queued
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let began = std::time::Instant::now();

        let outcome = conn
            .call_raw(move |c| {
                let tx = match c.transaction_with_behavior(TransactionBehavior::Immediate) {
                    Ok(tx) => tx,
                    Err(e) => {
                        let replies: Vec<Reply> = batch.into_iter().map(|op| op(None)).collect();
                        return (replies, Err(StoreError::from(e)));
                    }
                };
                let replies: Vec<Reply> = batch.into_iter().map(|op| op(Some(&tx))).collect();
                (replies, tx.commit().map_err(StoreError::from))
            })
            .await;
        let took = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.commit_micros.fetch_add(took, Ordering::Relaxed);
        // If the connection thread is gone, the ops and their reply senders
        // were dropped with it, and each caller sees `Closed`.
        if let Ok((replies, committed)) = outcome {
            let err = committed.err();
            if let Some(e) = &err {
                tracing::error!(error = %e, "group commit failed");
            }
            for reply in replies {
                reply(err.as_ref());
            }
        }
    }
}
