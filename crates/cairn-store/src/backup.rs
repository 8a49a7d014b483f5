//! An online copy of the database, for the operator's own backups: SQLite's
//! `VACUUM INTO` reads one consistent snapshot (WAL lets it run beside the
//! server's writer) and writes it, compacted, to a new file. The sealing key
//! is never in it: the copy is only readable with `seal.key`, which is kept
//! elsewhere (see the book's operations chapter).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{StoreError, StoreResult};

/// What a finished copy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseCopy {
    /// The schema version the copy is at.
    pub schema_version: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Copies the database at `db` into `out`, a file that must not exist yet
/// (nothing is ever overwritten). The copy is made with mode 0600, checked
/// with `PRAGMA integrity_check`, and removed again if any step fails.
pub fn copy_database(db: &Path, out: &Path) -> StoreResult<DatabaseCopy> {
    use std::os::unix::fs::OpenOptionsExt;
    if !db.is_file() {
        return Err(StoreError::Unusable(format!(
            "no database at {}",
            db.display()
        )));
    }
    // Made empty and private first: VACUUM INTO accepts an empty file, and
    // would otherwise create it with the process's umask.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|err| StoreError::Unusable(format!("cannot create {}: {err}", out.display())))?;
    let copied = vacuum_into(db, out).and_then(|()| verify(out));
    if copied.is_err() {
        let _ = std::fs::remove_file(out);
    }
    copied
}

fn vacuum_into(db: &Path, out: &Path) -> StoreResult<()> {
    let open_err = |source| StoreError::Open {
        path: db.to_path_buf(),
        source,
    };
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(open_err)?;
    let target = out
        .to_str()
        .ok_or_else(|| StoreError::Unusable(format!("{} is not valid UTF-8", out.display())))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(open_err)?;
    Ok(())
}

fn verify(out: &Path) -> StoreResult<DatabaseCopy> {
    let open_err = |source| StoreError::Open {
        path: out.to_path_buf(),
        source,
    };
    let conn =
        Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open_err)?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(open_err)?;
    if check != "ok" {
        return Err(StoreError::Unusable(format!(
            "the copy at {} fails its integrity check: {check}",
            out.display()
        )));
    }
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(open_err)?;
    let schema_version = usize::try_from(schema_version).unwrap_or_default();
    let bytes = std::fs::metadata(out)
        .map_err(|err| StoreError::Unusable(format!("cannot read {}: {err}", out.display())))?
        .len();
    Ok(DatabaseCopy {
        schema_version,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_opens_as_a_store_and_an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("cairn.db");
        let store = crate::Store::open(&db).await.expect("open");
        let out = dir.path().join("copy.db");
        let copy = copy_database(&db, &out).expect("copy while the store is open");
        assert_eq!(copy.schema_version, crate::latest_version());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the copy is private");
        drop(store);
        crate::Store::open(&out)
            .await
            .expect("the copy opens as a store");

        std::fs::write(dir.path().join("taken.db"), b"keep me").expect("write");
        let err = copy_database(&db, &dir.path().join("taken.db")).expect_err("exists");
        assert!(err.to_string().contains("taken.db"), "{err}");
        assert_eq!(
            std::fs::read(dir.path().join("taken.db")).expect("read"),
            b"keep me",
            "an existing file loses nothing"
        );
        let err = copy_database(&dir.path().join("none.db"), &dir.path().join("x.db"))
            .expect_err("no database");
        assert!(err.to_string().contains("no database"), "{err}");
        assert!(!dir.path().join("x.db").exists());
    }
}
