//! Cron expressions in IANA time zones. The server uses them to validate
//! schedules and to know when each should have fired; the agent to fire them
//! on its own clock. One parser, so both agree.
//!
//! Times are milliseconds since the Unix epoch, UTC, as everywhere in Cairn.
//! Expressions are croner's: five fields (minute precision) or six (with
//! seconds); croner rejects stepped ranges written `5/5` (write `5-59/5`).

#![forbid(unsafe_code)]

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

mod describe;

pub use describe::describe;

/// Why a schedule's timing is invalid. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The cron expression does not parse.
    #[error("invalid cron {expression:?}: {reason}")]
    Cron { expression: String, reason: String },
    /// The time zone is not an IANA name.
    #[error("invalid timezone {name:?}: expected an IANA name such as UTC or Europe/Berlin")]
    Timezone { name: String },
    /// The expression never fires.
    #[error("cron {0:?} never fires")]
    Never(String),
}

impl CronError {
    /// The field the error is about: `cron` or `timezone`.
    pub fn field(&self) -> &'static str {
        match self {
            CronError::Timezone { .. } => "timezone",
            CronError::Cron { .. } | CronError::Never(_) => "cron",
        }
    }
}

/// A checked cron expression and the zone it is read in.
#[derive(Debug, Clone)]
pub struct CronSpec {
    cron: Cron,
    zone: Tz,
    expression: String,
}

impl CronSpec {
    /// Parses and checks `expression` in `timezone` (empty means UTC).
    pub fn parse(expression: &str, timezone: &str) -> Result<CronSpec, CronError> {
        let zone_name = if timezone.trim().is_empty() {
            "UTC"
        } else {
            timezone.trim()
        };
        let zone = Tz::from_str(zone_name).map_err(|_| CronError::Timezone {
            name: timezone.to_string(),
        })?;
        if expression.len() > 256 {
            return Err(CronError::Cron {
                expression: expression.chars().take(64).collect(),
                reason: "too long".into(),
            });
        }
        let cron = Cron::from_str(expression.trim()).map_err(|e| CronError::Cron {
            expression: expression.to_string(),
            reason: e.to_string(),
        })?;
        let spec = CronSpec {
            cron,
            zone,
            expression: expression.trim().to_string(),
        };
        if spec.next_after(0).is_none() {
            return Err(CronError::Never(expression.to_string()));
        }
        Ok(spec)
    }

    /// The first firing strictly after `after_ms`, if any.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = self
            .zone
            .from_utc_datetime(&DateTime::<Utc>::from_timestamp_millis(after_ms)?.naive_utc());
        self.cron
            .find_next_occurrence(&after, false)
            .ok()
            .map(|next| next.timestamp_millis())
    }

    /// Every firing in `(from_ms, to_ms]`, at most `limit` of them.
    pub fn firings_between(&self, from_ms: i64, to_ms: i64, limit: usize) -> Vec<i64> {
        let mut out = Vec::new();
        let mut cursor = from_ms;
        while out.len() < limit {
            match self.next_after(cursor) {
                Some(next) if next <= to_ms => {
                    out.push(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        out
    }

    /// A time as the schedule's zone reads it: `2026-01-01 02:00 CET`.
    pub fn local_time(&self, at_ms: i64) -> Option<String> {
        let at = self.zone.timestamp_millis_opt(at_ms).single()?;
        Some(at.format("%Y-%m-%d %H:%M %Z").to_string())
    }

    /// The expression in words ("At 02:30, Monday to Friday"), or the
    /// expression itself when words could mislead (see [`describe`]).
    pub fn describe(&self) -> String {
        describe(&self.expression).unwrap_or_else(|| self.expression.clone())
    }

    /// The zone's IANA name.
    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// The shortest gap between two firings seen over the next few, in
    /// milliseconds: the schedule's interval, for "overdue" reckoning.
    pub fn interval_after(&self, from_ms: i64) -> Option<i64> {
        let firings = self.firings_between(from_ms, i64::MAX, 8);
        firings.windows(2).map(|w| w[1] - w[0]).min()
    }
}

/// Every IANA zone name this build knows, for a form to offer.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn times_read_in_the_schedules_zone() {
        let spec = CronSpec::parse("0 2 * * *", "Europe/Berlin").expect("parse");
        let at = spec.next_after(1_767_225_600_000).expect("next");
        assert_eq!(spec.local_time(at).as_deref(), Some("2026-01-01 02:00 CET"));
    }

    #[test]
    fn fires_in_its_time_zone() {
        // 02:00 every day in Berlin is 01:00 UTC in winter.
        let spec = CronSpec::parse("0 2 * * *", "Europe/Berlin").expect("parse");
        let jan_1_midnight_utc = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        assert_eq!(
            spec.next_after(jan_1_midnight_utc),
            Some(jan_1_midnight_utc + HOUR)
        );
        let utc = CronSpec::parse("0 2 * * *", "").expect("parse");
        assert_eq!(
            utc.next_after(jan_1_midnight_utc),
            Some(jan_1_midnight_utc + 2 * HOUR)
        );
    }

    #[test]
    fn firings_between_and_interval() {
        let spec = CronSpec::parse("*/15 * * * *", "UTC").expect("parse");
        let start = 1_767_225_600_000;
        let firings = spec.firings_between(start, start + HOUR, 100);
        assert_eq!(firings.len(), 4, "{firings:?}");
        assert_eq!(firings[0], start + 15 * 60_000);
        assert_eq!(spec.interval_after(start), Some(15 * 60_000));
        assert_eq!(
            spec.firings_between(start, start + HOUR, 2).len(),
            2,
            "limit"
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let err = CronSpec::parse("61 * * * *", "UTC").expect_err("minute 61");
        assert_eq!(err.field(), "cron");
        let err = CronSpec::parse("0 2 * * *", "Mars/Olympus").expect_err("zone");
        assert_eq!(err.field(), "timezone");
        assert!(err.to_string().contains("Mars/Olympus"));
        assert!(CronSpec::parse("not cron", "UTC").is_err());
        assert!(
            CronSpec::parse("0 0 30 2 *", "UTC").is_err(),
            "February 30th never comes"
        );
    }
}
