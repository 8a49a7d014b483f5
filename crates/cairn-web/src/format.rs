//! How pages show values: times in UTC (the page's script turns them into
//! the viewer's zone and a relative age), sizes and durations in human units.

use cairn_store::Millis;

/// A time as `2026-12-01 14:05 UTC`; `never` for none.
pub(crate) fn time(at: Option<Millis>) -> String {
    let Some(at) = at else {
        return "never".into();
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "?".into())
}

/// A time as RFC 3339, for `<time datetime>` (the page's script shows it
/// in the viewer's zone).
pub(crate) fn iso(at: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A size in bytes as `1.5 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in milliseconds as `1 h 05 min`, `3 min 20 s` or `12 s`.
pub(crate) fn duration(ms: Millis) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min"),
    }
}

/// An agent's clock against the server's, and whether it is off enough
/// to matter (more than a minute: schedules fire on the agent's clock).
pub(crate) fn clock_offset(offset_ms: Option<i64>) -> Option<(String, bool)> {
    let ms = offset_ms?;
    if ms.abs() <= 60_000 {
        return Some(("in step with the server's".into(), false));
    }
    let way = if ms > 0 { "ahead of" } else { "behind" };
    Some((
        format!(
            "{} {way} the server's: its schedules fire at the wrong times{}; set its time (NTP)",
            duration(ms.abs()),
            if ms > 600_000 {
                ", and the server refuses firings that far ahead"
            } else {
                ""
            }
        ),
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_say_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(duration(12_400), "12 s");
        assert_eq!(duration(200_000), "3 min 20 s");
        assert_eq!(duration(3_900_000), "1 h 05 min");
        assert_eq!(duration(-5), "0 s");
        assert_eq!(clock_offset(None), None);
        assert_eq!(
            clock_offset(Some(-1_500)),
            Some(("in step with the server's".into(), false))
        );
        let (text, off) = clock_offset(Some(3_600_000)).expect("measured");
        assert!(off && text.starts_with("1 h 00 min ahead of") && text.contains("refuses"));
        let (text, _) = clock_offset(Some(-90_000 * 1_000)).expect("measured");
        assert!(text.starts_with("25 h 00 min behind") && !text.contains("refuses"));
        assert_eq!(time(None), "never");
        assert_eq!(time(Some(1_767_225_600_000)), "2026-01-01 00:00 UTC");
    }
}
