//! Logging for every command, set up in one place. Colour codes go only to a
//! terminal: a log file or a journal gets plain text it can be searched in.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sends log lines at `filter` to standard error. An invalid filter is the
/// caller's to report; a second call (tests, `demo`) keeps the first setup.
pub(crate) fn init(filter: &str, format: Format) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Text => builder.try_init(),
        Format::Json => builder.json().try_init(),
    };
    Ok(())
}

/// The filter the short-lived commands use: `CAIRN_LOG_LEVEL`, or warnings.
pub(crate) fn cli_filter() -> String {
    std::env::var("CAIRN_LOG_LEVEL").unwrap_or_else(|_| "warn".into())
}
