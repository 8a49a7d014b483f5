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
/// the commit's outcome is known, with the storage fault it hit, if any.
type WriteOp = Box<dyn FnOnce(Option<&Connection>) -> (Reply, Option<String>) + Send>;
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
    /// Why writes are failing, while the filesystem refuses them.
    storage: std::sync::Mutex<Option<String>>,
    /// The disk filled and its reserve is spent: only reserved writes go
    /// through until space returns (see `reserve`).
    pub(crate) reserve_spent: std::sync::atomic::AtomicBool,
}

/// What a write held back on a spent reserve is told.
pub(crate) const HELD_BACK: &str = "the disk is full: changes are refused until space returns \
                                    (the last reserve of space is kept for alerts)";

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

    /// Why the database cannot be written right now (the disk is full, an
    /// I/O error), or `None` when the last write committed. It clears on the
    /// first commit after space returns (and once a spent reserve is made
    /// again), with no restart.
    pub fn storage_fault(&self) -> Option<String> {
        if self.reserve_spent.load(Ordering::SeqCst) {
            return Some(HELD_BACK.to_string());
        }
        self.commit_fault()
    }

    /// The fault of the last batch alone, a spent reserve aside.
    pub(crate) fn commit_fault(&self) -> Option<String> {
        self.storage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records how the last batch went: a fault stays until a batch commits
    /// without one.
    fn storage_outcome(&self, fault: Option<String>) {
        let mut storage = self.storage.lock().unwrap_or_else(|p| p.into_inner());
        match (&*storage, fault) {
            (None, Some(why)) => {
                tracing::error!(reason = %why, "database writes are failing: the server is degraded until they work again");
                *storage = Some(why);
            }
            (Some(_), Some(why)) => *storage = Some(why),
            (Some(_), None) => {
                tracing::warn!("database writes work again: no longer degraded");
                *storage = None;
            }
            (None, None) => {}
        }
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
            let fault = match &result {
                Some(Err(err)) => err.storage_fault(),
                _ => None,
            };
            let reply: Reply = Box::new(move |commit_error: Option<&StoreError>| {
                let answer = match (commit_error, result) {
                    (Some(e), _) => Err(commit_failed(e)),
                    (None, Some(result)) => result,
                    (None, None) => Err(StoreError::Closed),
                };
                let _ = tx.send(answer);
            });
            (reply, fault)
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
            // After a full disk or an I/O error SQLite may have rolled the
            // whole transaction back, savepoint included: then this fails too,
            // and the caller must hear the first error, not "no such
            // savepoint" (the batch is failed as one; see `run`).
            if conn.execute_batch("ROLLBACK TO op; RELEASE op").is_err() && !conn.is_autocommit() {
                // The savepoint could not be undone: undo the whole batch
                // rather than commit half a write.
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(err)
        }
    }
}

/// The commit failed, so every write in the batch failed with it.
fn commit_failed(err: &StoreError) -> StoreError {
    match err {
        StoreError::Closed => StoreError::Closed,
        other => match other.storage_fault() {
            Some(why) => StoreError::Storage(why),
            None => StoreError::CommitFailed(other.to_string()),
        },
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
                        let replies = batch.into_iter().map(|op| op(None).0).collect();
                        return (replies, None, Err(StoreError::from(e)));
                    }
                };
                let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
                let mut fault = None;
                let mut rolled_back = false;
                for op in batch {
                    if rolled_back {
                        replies.push(op(None).0);
                        continue;
                    }
                    let (reply, op_fault) = op(Some(&tx));
                    replies.push(reply);
                    fault = fault.or(op_fault);
                    // SQLite rolls the whole transaction back on some errors
                    // (a full disk, an I/O error): the writes before are gone,
                    // and the next would run outside any transaction. So the
                    // batch fails as one, and no caller hears "done" for a
                    // write that was not kept.
                    rolled_back = tx.is_autocommit();
                }
                let committed = if rolled_back {
                    Err(StoreError::Storage(fault.clone().unwrap_or_else(|| {
                        "SQLite rolled the transaction back".to_string()
                    })))
                } else {
                    tx.commit().map_err(StoreError::from)
                };
                (replies, fault, committed)
            })
            .await;
        let took = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.commit_micros.fetch_add(took, Ordering::Relaxed);
        // If the connection thread is gone, the ops and their reply senders
        // were dropped with it, and each caller sees `Closed`.
        if let Ok((replies, op_fault, committed)) = outcome {
            let err = committed.err();
            stats.storage_outcome(
                err.as_ref()
                    .and_then(StoreError::storage_fault)
                    .or(op_fault),
            );
            // A storage fault is logged once, when it starts (above).
            if let Some(e) = &err
                && e.storage_fault().is_none()
            {
                tracing::error!(error = %e, "group commit failed");
            }
            for reply in replies {
                reply(err.as_ref());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer over a database that may grow by a couple of pages only: as
    /// a full disk would, SQLite answers SQLITE_FULL past them.
    async fn cramped_writer(dir: &std::path::Path) -> Writer {
        let conn = tokio_rusqlite::Connection::open(dir.join("cramped.db"))
            .await
            .expect("open");
        conn.call(|c| {
            c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x BLOB NOT NULL);")?;
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            c.pragma_update(None, "max_page_count", pages + 2)?;
            Ok::<_, rusqlite::Error>(())
        })
        .await
        .expect("set up");
        Writer::start(conn)
    }

    fn insert(bytes: usize) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
        move |c| {
            c.execute("INSERT INTO t (x) VALUES (?1)", [vec![7u8; bytes]])?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_full_database_fails_writes_as_storage_and_the_first_commit_after_clears_it() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = cramped_writer(dir.path()).await;
        writer.write(insert(16)).await.expect("a small write fits");
        assert_eq!(writer.stats().storage_fault(), None);

        let refused = writer.write(insert(256 * 1024)).await.expect_err("no room");
        assert_eq!(
            refused.storage_fault().as_deref(),
            Some("the disk is full"),
            "{refused}"
        );
        assert_eq!(
            writer.stats().storage_fault().as_deref(),
            Some("the disk is full")
        );

        // In one batch with the write that does not fit, the others are
        // kept only if SQLite kept them: every "done" is a row.
        let before = count(&writer).await;
        let (a, b, c) = tokio::join!(
            writer.write(insert(16)),
            writer.write(insert(256 * 1024)),
            writer.write(insert(16)),
        );
        assert!(b.is_err());
        let done = [a.is_ok(), c.is_ok()].into_iter().filter(|ok| *ok).count() as i64;
        assert_eq!(
            count(&writer).await,
            before + done,
            "acknowledged: {a:?} {c:?}"
        );

        // Room returns; the next write that commits clears the fault.
        writer
            .write(|c| Ok(c.pragma_update(None, "max_page_count", 1_000_000)?))
            .await
            .expect("raise the limit");
        assert_eq!(writer.stats().storage_fault(), None);
        writer.write(insert(256 * 1024)).await.expect("fits now");
        assert_eq!(
            count(&writer).await,
            before + done + 1,
            "refused writes left nothing behind"
        );
    }

    async fn count(writer: &Writer) -> i64 {
        writer
            .write(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            .await
            .expect("count")
    }
}
