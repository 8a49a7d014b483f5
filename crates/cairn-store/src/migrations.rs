//! The numbered SQL files in `migrations/` at the top of the repository,
//! embedded into the binary and applied in order at start.
//!
//! Files are named `NNNN_what.sql` and numbered from 0001 without gaps. A
//! landed file is never edited: `tests/it/migrations.rs` pins each landed
//! file's hash, so an edit fails the suite instead of silently diverging from
//! databases already migrated with the old text.

use include_dir::{Dir, include_dir};
use rusqlite_migration::{M, Migrations};

/// The migrations folder, embedded.
pub static MIGRATIONS_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../migrations");

/// One migration file.
#[derive(Debug)]
pub(crate) struct MigrationFile {
    pub number: usize,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration file in order, or a description of what is wrong with the
/// folder (a bad name, a gap, a duplicate number, a file that is not UTF-8).
pub(crate) fn migration_files() -> Result<Vec<MigrationFile>, String> {
    let mut files = Vec::new();
    for file in MIGRATIONS_DIR.files() {
        let name = file
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("unreadable migration file name {:?}", file.path()))?;
        if !name.ends_with(".sql") {
            continue;
        }
        let number = name
            .split_once('_')
            .and_then(|(n, _)| (n.len() == 4).then_some(n))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| format!("migration {name} is not named NNNN_what.sql"))?;
        let sql = file
            .contents_utf8()
            .ok_or_else(|| format!("migration {name} is not UTF-8"))?;
        files.push(MigrationFile { number, name, sql });
    }
    files.sort_by_key(|f| f.number);
    for (index, file) in files.iter().enumerate() {
        if file.number != index + 1 {
            return Err(format!(
                "migration {} is out of sequence: expected number {:04}",
                file.name,
                index + 1
            ));
        }
    }
    Ok(files)
}

/// The migrations as rusqlite_migration applies them.
pub(crate) fn migrations() -> Result<Migrations<'static>, String> {
    let steps = migration_files()?
        .into_iter()
        .map(|f| M::up(f.sql).comment(f.name))
        .collect();
    Ok(Migrations::new(steps))
}

/// The schema version this build brings a database to.
pub fn latest_version() -> usize {
    migration_files().map(|f| f.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_is_numbered_without_gaps() {
        let files = migration_files().expect("well-formed migrations folder");
        assert!(!files.is_empty());
        assert_eq!(files[0].number, 1);
    }

    /// 0004 rebuilds the alert tables (a CHECK cannot change in place):
    /// rows made before it keep their ids, and every kind gets its rule.
    #[test]
    fn the_alert_rebuild_keeps_rows_and_ids_and_seeds_every_kind() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.pragma_update(None, "foreign_keys", "ON").expect("fk");
        let m = migrations().expect("migrations");
        m.to_version(&mut conn, 3).expect("to 0003");
        conn.execute_batch(
            "INSERT INTO hosts (id, identity_hash, fingerprint, hostname, created_at, status_changed_at)
                 VALUES (5, x'01', 'fp', 'ops1', 0, 0);
             INSERT INTO alert_rules (id, kind, name, created_at, updated_at) VALUES (9, 'host_offline', 'Offline', 0, 0);
             INSERT INTO alerts (id, rule_id, kind, state, subject, host_id, message, fired_at, last_notified_at)
                 VALUES (40, 9, 'host_offline', 'firing', 'host:5', 5, 'gone', 1, 2);",
        )
        .expect("rows of 0003");
        m.to_latest(&mut conn).expect("to latest");
        let (rule, severity): (i64, String) = conn
            .query_row(
                "SELECT rule_id, severity FROM alerts WHERE id = 40",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the alert survived");
        assert_eq!(rule, 9, "still pointing at its rule");
        assert_eq!(severity, "warning");
        let kinds: i64 = conn
            .query_row("SELECT count(DISTINCT kind) FROM alert_rules", [], |r| {
                r.get(0)
            })
            .expect("kinds");
        assert_eq!(kinds as usize, cairn_domain::AlertKind::ALL.len());
        let id: i64 = conn
            .query_row(
                "SELECT id FROM alert_rules WHERE kind = 'host_offline'",
                [],
                |r| r.get(0),
            )
            .expect("rule");
        assert_eq!(id, 9, "ids kept");
        let notified: bool = conn
            .query_row("SELECT fire_notified FROM alerts WHERE id = 40", [], |r| {
                r.get(0)
            })
            .expect("flag");
        assert!(notified);
    }

    #[test]
    fn migrations_validate() {
        migrations().expect("migrations").validate().expect("valid");
    }
}
