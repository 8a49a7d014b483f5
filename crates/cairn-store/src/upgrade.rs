//! Bringing typed values written by Cairn 0.1 (base64 protobuf) to the
//! store's JSON. The store cannot read protobuf, so the server converts each
//! value it is handed and writes the JSON back; this runs at start, before
//! anything reads the rows, and does nothing once every row is current.

use rusqlite::params;

use crate::error::StoreResult;
use crate::{Store, codec};

/// The typed columns, by table.
pub const TYPED_COLUMNS: &[(&str, &str)] = &[
    ("jobs", "spec"),
    ("jobs", "progress"),
    ("jobs", "summary"),
    ("host_repo_maintenance", "retention"),
    ("host_repo_maintenance", "prune_max_unused"),
    ("host_repo_maintenance", "check_read_data_subset"),
];

/// One stored value still in the old encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyValue {
    pub table: &'static str,
    pub row: i64,
    pub column: &'static str,
    pub text: String,
}

/// Rows handled per transaction, so an upgrade never holds the writer long.
const BATCH: i64 = 1_000;

impl Store {
    /// Up to a batch of the values of one typed column (one of
    /// [`TYPED_COLUMNS`]) not yet in the store's JSON, in rows after
    /// `after`, by row id: the caller pages on, so values that cannot be
    /// upgraded never hide the ones after them.
    pub async fn legacy_values(
        &self,
        (table, column): (&'static str, &'static str),
        after: i64,
    ) -> StoreResult<Vec<LegacyValue>> {
        if !TYPED_COLUMNS.contains(&(table, column)) {
            return Ok(Vec::new());
        }
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT id, {column} FROM {table}
                 WHERE id > ?1 AND {column} IS NOT NULL AND substr({column}, 1, 1) <> '{{'
                 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![after, BATCH], |r| {
                Ok(LegacyValue {
                    table,
                    row: r.get(0)?,
                    column,
                    text: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Writes the JSON of legacy values (`None`: the value meant "not set"
    /// and becomes NULL); a value changed meanwhile (no longer the text it
    /// was) is left alone. Returns how many were written.
    pub async fn upgrade_values(
        &self,
        values: Vec<(LegacyValue, Option<String>)>,
    ) -> StoreResult<usize> {
        self.write(move |c| {
            let mut written = 0;
            for (old, json) in values {
                let current = json.as_deref().is_none_or(codec::is_current);
                if !current || !TYPED_COLUMNS.contains(&(old.table, old.column)) {
                    continue;
                }
                written += c.execute(
                    &format!(
                        "UPDATE {} SET {} = ?1 WHERE id = ?2 AND {} = ?3",
                        old.table, old.column, old.column
                    ),
                    params![json, old.row, old.text],
                )?;
            }
            Ok(written)
        })
        .await
    }
}
