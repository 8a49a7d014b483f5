//! Opening the database: pragmas on every connection, migrations, the writer
//! and the readers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;
use rusqlite_migration::SchemaVersion;

use crate::error::{StoreError, StoreResult};
use crate::migrations::migrations;
use crate::reserve::Reserve;
use crate::writer::{HELD_BACK, Writer, WriterStats};

/// Reader connections. WAL lets them read while the writer commits.
const READERS: usize = 4;
/// How much of the file each reader maps (the OS shares the pages).
const READER_MMAP_BYTES: i64 = 256 << 20;
/// How long a connection waits for a lock held by another process (for
/// instance `cairn admin` writing while the server runs) before failing.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The store: a handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Whether this handle's writes may use the disk-space reserve (see
    /// [`Store::reserved`]).
    reserved: bool,
}

struct Inner {
    path: PathBuf,
    reserve: Reserve,
    readers: Vec<tokio_rusqlite::Connection>,
    next_reader: AtomicUsize,
    writer: Writer,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Settings every connection gets. `synchronous=FULL` in WAL mode makes a
/// commit durable across power loss; group commit keeps its cost to one fsync
/// per batch. Foreign keys are per connection in SQLite, so they are set here.
fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
        // Readers map the file instead of copying pages through their own
        // small caches (2 MB each by default): the fleet-wide reads of the
        // dashboard spent a third of their time in pread (benchmark B4).
        // Writes still go through the writer's ordinary I/O.
        conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database file at `path` and brings its
    /// schema up to date. WAL needs a real file: there is no in-memory mode.
    pub async fn open(path: &Path) -> StoreResult<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        create_private(path)?;
        let writer_conn = tokio_rusqlite::Connection::open(path)
            .await
            .map_err(open_err)?;
        writer_conn
            .call(|conn| -> StoreResult<()> {
                let mode: String =
                    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Unusable(format!(
                        "journal_mode WAL refused (got {mode}): the database must be a file on a local disk"
                    )));
                }
                configure(conn, false)?;
                migrate(conn)
            })
            .await?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = tokio_rusqlite::Connection::open(path)
                .await
                .map_err(open_err)?;
            reader
                .call(|conn| configure(conn, true).map_err(StoreError::from))
                .await?;
            readers.push(reader);
        }
        let writer = Writer::start(writer_conn);
        let reserve = Reserve::beside(path, writer.stats().clone());
        reserve.ensure();
        Ok(Store {
            reserved: false,
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                reserve,
                readers,
                next_reader: AtomicUsize::new(0),
                writer,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Why the database cannot be written right now (the disk is full, an
    /// I/O error), or `None` while writes commit.
    pub fn storage_fault(&self) -> Option<String> {
        self.inner.writer.stats().storage_fault()
    }

    /// This store, for the writes that keep an operator told: the alert
    /// engine and notification deliveries. Once a full disk has released
    /// the reserve, only these go through.
    pub fn reserved(&self) -> Store {
        Store {
            inner: self.inner.clone(),
            reserved: true,
        }
    }

    /// While writes fail: remakes the reserve once space returned, and tries
    /// one small write, so a fault clears on an idle server too.
    pub async fn recover_storage(&self, now: cairn_domain::Millis) {
        let reserve_free = self.inner.reserve.try_restore();
        if reserve_free && self.inner.writer.stats().commit_fault().is_some() {
            // Its outcome is the storage health itself.
            let _ = self.probe_write(now).await;
        }
    }

    /// The writer's counters.
    pub fn writer_stats(&self) -> Arc<WriterStats> {
        self.inner.writer.stats().clone()
    }

    /// Runs a read on one of the reader connections.
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let index = self.inner.next_reader.fetch_add(1, Ordering::Relaxed) % READERS;
        Ok(self.inner.readers[index].call(move |c| f(c)).await?)
    }

    /// Runs a write in the next group commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if !self.reserved && self.inner.reserve.in_use() {
            return Err(StoreError::Storage(HELD_BACK.to_string()));
        }
        let written = self.inner.writer.write(f).await;
        if let Err(err) = &written
            && err.disk_full()
        {
            self.inner.reserve.release();
        }
        written
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> StoreResult<usize> {
        self.read(|c| {
            Ok(c.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))? as usize)
        })
        .await
    }

    /// Checks the database answers: the readiness probe.
    pub async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

/// Creates the database file readable by its owner only, if it does not exist
/// yet. SQLite gives the `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(StoreError::Unusable(format!(
            "cannot create {}: {err}",
            path.display()
        ))),
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let migrations = migrations()
        .map_err(|detail| StoreError::Migration(rusqlite_migration::Error::FileLoad(detail)))?;
    let known = crate::migrations::latest_version();
    if let SchemaVersion::Outside(found) = migrations.current_version(conn)? {
        return Err(StoreError::TooNew {
            found: found.get(),
            known,
        });
    }
    migrations.to_latest(conn)?;
    Ok(())
}
