use std::path::PathBuf;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A uniqueness rule was broken, e.g. a username already taken.
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// A stored value did not decode into its typed form.
    #[error("corrupt value: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    /// The data directory or database file could not be opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The database is newer than this build of Cairn.
    #[error(
        "database schema version {found} is newer than this Cairn build knows ({known}); run a newer Cairn"
    )]
    TooNew { found: usize, known: usize },
    /// The database file cannot be used as Cairn needs (e.g. WAL refused).
    #[error("database unusable: {0}")]
    Unusable(String),
    /// The group transaction this write was part of failed to commit.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// Sealing or opening a secret failed (a wrong key, a damaged value).
    #[error("sealed secret: {0}")]
    Seal(String),
    /// SQLite refused a statement.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The store's connection threads have stopped (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The database's filesystem refused the write (full, read-only, an I/O
    /// error): nothing of it was kept, and the write can be tried again.
    #[error("the database cannot be written: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        // A typed column that did not decode names its row.
        if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &err
            && let Some(bad) = inner.downcast_ref::<crate::codec::Undecodable>()
        {
            return StoreError::Corrupt {
                column: bad.column,
                detail: bad.to_string(),
            };
        }
        StoreError::Sqlite(err)
    }
}

/// Results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Whether this is the filesystem refusing a write (disk full, an I/O
    /// error, a read-only mount) rather than the write itself being wrong:
    /// what makes the store's storage health fail.
    pub fn storage_fault(&self) -> Option<String> {
        use rusqlite::ErrorCode;
        match self {
            StoreError::Storage(why) => Some(why.clone()),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    ErrorCode::DiskFull
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::ReadOnly
                        | ErrorCode::CannotOpen
                ) =>
            {
                Some(match e.code {
                    ErrorCode::DiskFull => "the disk is full".to_string(),
                    ErrorCode::ReadOnly => "the database is read-only".to_string(),
                    _ => format!("an I/O error ({e})"),
                })
            }
            _ => None,
        }
    }

    /// Whether the filesystem refused the write for want of space.
    pub fn disk_full(&self) -> bool {
        self.storage_fault()
            .is_some_and(|why| why.starts_with("the disk is full"))
    }

    /// Turns "no rows" into `NotFound` and a broken UNIQUE rule into `Conflict`,
    /// naming `what` the statement was about.
    pub(crate) fn about(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
        move |err| match err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound { what },
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict { what }
            }
            other => StoreError::from(other),
        }
    }
}

impl From<tokio_rusqlite::Error<StoreError>> for StoreError {
    fn from(err: tokio_rusqlite::Error<StoreError>) -> Self {
        match err {
            tokio_rusqlite::Error::Error(e) => e,
            tokio_rusqlite::Error::Close((_, e)) => StoreError::Sqlite(e),
            _ => StoreError::Closed,
        }
    }
}
