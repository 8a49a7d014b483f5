//! The parsers named in the key table. Each takes the value as text (already
//! trimmed) and says in a few words what is wrong; the caller adds the key,
//! where the value came from, and the value unless it is a secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{LogFormat, Networks};
use crate::auth::Secret;

pub(super) fn socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| "not a socket address (expected host:port, e.g. 127.0.0.1:8080)".into())
}

pub(super) fn path(v: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(v))
}

pub(super) fn non_empty_path(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(PathBuf::from(v))
    }
}

pub(super) fn text(v: &str) -> Result<String, String> {
    Ok(v.to_string())
}

pub(super) fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub(super) fn log_format(v: &str) -> Result<LogFormat, String> {
    match v {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".into()),
    }
}

pub(super) fn positive(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(0) => Err("must be greater than 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".into()),
    }
}

/// At least 64 KiB, so a slip of a digit cannot refuse ordinary messages.
pub(super) fn message_size(v: &str) -> Result<usize, String> {
    let n = positive(v)?;
    if n < 64 * 1024 {
        return Err("must be at least 65536 bytes".into());
    }
    Ok(n as usize)
}

pub(super) fn public_url(v: &str) -> Result<String, String> {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') || v.contains(['?', '#', ' ']) {
        return Err("expected a URL like https://cairn.example.com".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// A duration of at least one second (a zero window or timeout would turn a
/// limit off, or close every session at once).
pub(super) fn at_least_a_second(v: &str) -> Result<Duration, String> {
    let d = parse_duration(v)?;
    if d < Duration::from_secs(1) {
        Err("must be at least 1s".into())
    } else {
        Ok(d)
    }
}

/// A zero tick would spin.
pub(super) fn more_than_zero(v: &str) -> Result<Duration, String> {
    let d = parse_duration(v)?;
    if d.is_zero() {
        Err("must be more than 0".into())
    } else {
        Ok(d)
    }
}

/// The agent counts whole seconds: 0 is "no limit", so a sub-second value
/// would silently mean none.
pub(super) fn job_timeout(v: &str) -> Result<Duration, String> {
    let d = parse_duration(v)?;
    if !d.is_zero() && d < Duration::from_secs(1) {
        Err("must be 0 (no limit) or at least 1s".into())
    } else {
        Ok(d)
    }
}

/// A preset token: long enough that guessing it over the network is hopeless.
pub(super) fn long_secret(v: &str) -> Result<Secret, String> {
    if v.len() < 16 {
        Err("must be at least 16 characters".into())
    } else {
        Ok(Secret::new(v.to_string()))
    }
}

pub(super) fn networks(v: &str) -> Result<Networks, String> {
    Networks::parse(v)
}

/// Parses `90`, `90s`, `15m`, `12h` or `7d` (seconds when there is no unit).
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let (number, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 30s, 15m, 12h or 7d, found {v:?}"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m, h or d")),
    };
    Ok(Duration::from_secs(seconds))
}
