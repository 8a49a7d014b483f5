//! A job's whole log as a file: plain text to read or attach to a ticket,
//! JSON lines for tools. One shape for the console's download and any other
//! caller; the lines are as stored (agent text is cleaned on the way in).

use cairn_store::{JobId, LOG_PAGE_MAX, LogLine, Scope};

use super::Jobs;
use crate::audit_export::rfc3339;
use crate::auth::Principal;
use crate::error::ServiceResult;

/// The download formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-03T18:00:00.123Z stdout info <line>`, one per line.
    Text,
    /// One JSON object per line: `at`, `stream`, `level`, `line`.
    NdJson,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "txt" => Ok(LogFormat::Text),
            "ndjson" => Ok(LogFormat::NdJson),
            other => Err(format!("unknown log format {other:?}: use txt or ndjson")),
        }
    }
}

impl LogFormat {
    /// The content type of a download.
    pub fn content_type(self) -> &'static str {
        match self {
            LogFormat::Text => "text/plain; charset=utf-8",
            LogFormat::NdJson => "application/x-ndjson",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            LogFormat::Text => "txt",
            LogFormat::NdJson => "ndjson",
        }
    }

    /// One line of the file, with its line break.
    pub fn line(self, line: &LogLine) -> String {
        match self {
            LogFormat::Text => format!(
                "{} {} {} {}\n",
                rfc3339(line.at),
                line.stream.as_str(),
                line.level.as_str(),
                line.line
            ),
            LogFormat::NdJson => {
                let object = serde_json::json!({
                    "at": rfc3339(line.at),
                    "stream": line.stream.as_str(),
                    "level": line.level.as_str(),
                    "line": line.line,
                });
                format!("{object}\n")
            }
        }
    }
}

impl Jobs {
    /// Every log line of a job, oldest first, as a file in `format`. The
    /// lines kept per job are bounded (`max_log_lines_per_job`), and so is
    /// the file.
    pub async fn log_export(
        &self,
        p: &Principal,
        id: JobId,
        format: LogFormat,
    ) -> ServiceResult<String> {
        p.require(Scope::Read)?;
        self.store.job(id).await?;
        let mut out = String::new();
        let mut from = 0u64;
        loop {
            let lines = self.store.job_log_from(id, from, LOG_PAGE_MAX).await?;
            for line in &lines {
                out.push_str(&format.line(line));
            }
            if lines.len() < LOG_PAGE_MAX as usize {
                return Ok(out);
            }
            from += lines.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_store::{LogLevel, LogStream};

    #[test]
    fn each_format_writes_one_line_per_log_line() {
        let line = LogLine {
            at: 1_764_784_800_123,
            stream: LogStream::Stderr,
            level: LogLevel::Warn,
            line: "a \"quoted\" path\\here".into(),
        };
        assert_eq!(
            LogFormat::Text.line(&line),
            "2025-12-03T18:00:00.123Z stderr warn a \"quoted\" path\\here\n"
        );
        let json = LogFormat::NdJson.line(&line);
        assert!(json.ends_with('\n') && !json.trim_end().contains('\n'));
        let back: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(back["line"], "a \"quoted\" path\\here");
        assert_eq!(back["stream"], "stderr");
        assert_eq!(back["level"], "warn");
        assert_eq!("txt".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("html".parse::<LogFormat>().is_err());
    }
}
