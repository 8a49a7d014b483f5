//! The audit log as files: CSV and JSON lines, one shape for the console's
//! download and `cairn ctl audit export` (which builds [`ExportRow`]s from
//! the API's events).
//!
//! CSV cells are quoted when they hold a comma, quote or line break, and a
//! cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
//! `@`, a tab or a carriage return) gets a leading `'`; so does a cell that
//! starts with `'` itself, so reading back is unambiguous: drop one leading
//! `'` from any cell that has one.

use cairn_store::AuditRecord;
use serde::{Deserialize, Serialize};

/// Rows exported at most in one download (the newest first); narrow the
/// filters for more.
pub const MAX_EXPORT_ROWS: usize = 100_000;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header line (RFC 4180).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "jsonl" => Ok(ExportFormat::Jsonl),
            other => Err(format!("unknown export format {other:?}: use csv or jsonl")),
        }
    }
}

impl ExportFormat {
    /// The content type of a download.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    /// The text before the first row (CSV's header line).
    pub fn head(self) -> String {
        match self {
            ExportFormat::Csv => format!("{}\r\n", COLUMNS.join(",")),
            ExportFormat::Jsonl => String::new(),
        }
    }

    /// One row, with its line ending.
    pub fn line(self, row: &ExportRow) -> String {
        match self {
            ExportFormat::Csv => {
                let cells = row.cells();
                let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                format!("{}\r\n", cells.join(","))
            }
            ExportFormat::Jsonl => {
                // A struct of strings and numbers always serialises.
                let mut line = serde_json::to_string(row).unwrap_or_default();
                line.push('\n');
                line
            }
        }
    }
}

/// The columns, in order (also the JSON keys).
pub const COLUMNS: [&str; 10] = [
    "id",
    "time",
    "actor_kind",
    "actor_id",
    "actor_name",
    "source_address",
    "action",
    "target",
    "outcome",
    "detail",
];

/// One exported audit event. Absent values are empty strings (and 0 for
/// `actor_id`), as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    pub id: i64,
    /// RFC 3339, UTC, with milliseconds.
    pub time: String,
    pub actor_kind: String,
    pub actor_id: i64,
    pub actor_name: String,
    pub source_address: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

impl ExportRow {
    fn cells(&self) -> [String; 10] {
        [
            self.id.to_string(),
            self.time.clone(),
            self.actor_kind.clone(),
            self.actor_id.to_string(),
            self.actor_name.clone(),
            self.source_address.clone(),
            self.action.clone(),
            self.target.clone(),
            self.outcome.clone(),
            self.detail.clone(),
        ]
    }
}

impl From<&AuditRecord> for ExportRow {
    fn from(r: &AuditRecord) -> ExportRow {
        let e = &r.entry;
        ExportRow {
            id: r.id.0,
            time: rfc3339(r.at),
            actor_kind: e.actor_kind.as_str().to_string(),
            actor_id: e.actor_id.unwrap_or(0),
            actor_name: e.actor_name.clone(),
            source_address: e.source_addr.clone().unwrap_or_default(),
            action: e.action.clone(),
            target: e.target.clone().unwrap_or_default(),
            outcome: e.outcome.as_str().to_string(),
            detail: e.detail.clone().unwrap_or_default(),
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&format).unwrap_or_default()
}

/// One CSV cell: formula starts neutralised, then quoted if needed.
fn csv_cell(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{value}"),
        _ => value.to_string(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("'quoted"), "''quoted");
    }

    #[test]
    fn formats_are_named_and_others_refused() {
        assert_eq!("csv".parse(), Ok(ExportFormat::Csv));
        assert_eq!("jsonl".parse(), Ok(ExportFormat::Jsonl));
        let err = "xlsx".parse::<ExportFormat>().expect_err("refused");
        assert!(err.contains("csv or jsonl"), "{err}");
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }
}
