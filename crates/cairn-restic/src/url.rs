//! Repository URLs, checked backend by backend. The URL reaches restic
//! through its environment, but restic hands parts of it to other programs:
//! an `sftp:` host becomes ssh's first argument, an `rclone:` remote becomes
//! one of rclone's. A part that begins with `-` would be read there as an
//! option (`sftp:-oProxyCommand=…:/p` runs a command, `rclone:--log-file=…`
//! writes a file), so no host, remote, bucket or path part may begin with
//! `-` or hold characters a name of its kind never holds.
//!
//! restic reads anything without a known `scheme:` prefix as a local path,
//! so an unknown scheme is refused rather than silently becoming a
//! directory, and a local path must be absolute.

use crate::arg::ArgError;

/// The restic backend a repository URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Rest,
    Sftp,
    S3,
    B2,
    Azure,
    Gs,
    Swift,
    Rclone,
}

impl Backend {
    /// The URL prefix, as restic spells it (`local` for a plain path).
    pub fn scheme(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Rest => "rest",
            Backend::Sftp => "sftp",
            Backend::S3 => "s3",
            Backend::B2 => "b2",
            Backend::Azure => "azure",
            Backend::Gs => "gs",
            Backend::Swift => "swift",
            Backend::Rclone => "rclone",
        }
    }

    const ALL: [Backend; 9] = [
        Backend::Local,
        Backend::Rest,
        Backend::Sftp,
        Backend::S3,
        Backend::B2,
        Backend::Azure,
        Backend::Gs,
        Backend::Swift,
        Backend::Rclone,
    ];
}

const DASH: &str = "begins with '-' and could be read as an option";
const EMPTY: &str = "is missing";
const CHARS: &str = "holds characters a name of its kind never has (spaces, options, quotes…)";

type Checked = Result<(), ArgError>;

fn bad(backend: Backend, part: &'static str, problem: &'static str) -> ArgError {
    ArgError::BadUrl {
        backend: backend.scheme(),
        part,
        problem,
    }
}

/// A part that only has to be present and not look like an option (paths:
/// spaces are fine, they stay one argument).
fn part(backend: Backend, name: &'static str, value: &str) -> Checked {
    if value.is_empty() {
        Err(bad(backend, name, EMPTY))
    } else if value.starts_with('-') {
        Err(bad(backend, name, DASH))
    } else {
        Ok(())
    }
}

/// An optional path: absent is fine, present must not look like an option.
fn opt_path(backend: Backend, value: &str) -> Checked {
    if value.starts_with('-') {
        Err(bad(backend, "path", DASH))
    } else {
        Ok(())
    }
}

/// A name (host, user, bucket, container, remote): `allowed` characters only.
fn name(
    backend: Backend,
    part_name: &'static str,
    value: &str,
    allowed: fn(char) -> bool,
) -> Checked {
    part(backend, part_name, value)?;
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(bad(backend, part_name, CHARS))
    }
}

fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

fn user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+')
}

fn bucket_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_port(backend: Backend, value: &str) -> Checked {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(bad(backend, "host", CHARS));
        };
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad(backend, "host", CHARS));
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => return Err(bad(backend, "host", CHARS)),
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(value), None),
        }
    };
    if let Some(host) = host {
        name(backend, "host", host, host_char)?;
    }
    match port {
        Some(port) if port.parse::<u16>().map_or(true, |p| p == 0) => {
            Err(bad(backend, "port", "is not a port number"))
        }
        _ => Ok(()),
    }
}

/// `http(s)://[userinfo@]host[:port]/…`: the host is checked; the user info
/// never reaches argv (Go's HTTP client reads it) and may hold anything.
fn http_url(backend: Backend, value: &str) -> Checked {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return Err(bad(backend, "URL", "must begin with http:// or https://"));
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port(backend, host)
}

/// `sftp:[user@]host:path` or `sftp://[user@]host[:port]/path`. restic runs
/// `ssh <host> [-p port] [-l user] -s sftp`: the host comes first, so a host
/// beginning with `-` is an ssh option.
fn sftp(rest: &str) -> Checked {
    let b = Backend::Sftp;
    let user_host = |authority: &str| -> Checked {
        // In `sftp:a@b@host:path` restic's split (first `@` in 0.14, the
        // first two since 0.15) and ours could disagree on where the host
        // begins, and the host is ssh's first argument: refuse the doubt.
        if !rest.starts_with("//") && authority.matches('@').count() > 1 {
            return Err(bad(
                b,
                "user",
                "holds '@': restic could read part of it as the host",
            ));
        }
        // The URL form takes the last `@` as the end of the user, as Go does.
        let (user, host) = match authority.rsplit_once('@') {
            // A password in `sftp://user:pw@host` is ignored by restic.
            Some((info, host)) => (Some(info.split(':').next().unwrap_or("")), host),
            None => (None, authority),
        };
        if let Some(user) = user {
            name(b, "user", user, user_char)?;
        }
        // Only the URL form has a port; in `sftp:host:path` the colon ends the host.
        if rest.starts_with("//") {
            host_port(b, host)
        } else {
            name(b, "host", host, host_char)
        }
    };
    let path = if let Some(url) = rest.strip_prefix("//") {
        // `sftp://h//srv` is `/srv`, `sftp://h/srv` is `srv` (restic drops one `/`).
        let (authority, path) = url.split_once('/').unwrap_or((url, ""));
        user_host(authority)?;
        path
    } else {
        let Some((authority, path)) = rest.split_once(':') else {
            return Err(bad(b, "path", "is missing (sftp:user@host:/path)"));
        };
        user_host(authority)?;
        path
    };
    part(b, "path", path)
}

/// `s3:https://host[:port]/bucket[/prefix]` or `s3:host/bucket[/prefix]`.
fn s3(rest: &str) -> Checked {
    let b = Backend::S3;
    let path = if rest.starts_with("http://") || rest.starts_with("https://") {
        http_url(b, rest)?;
        let after_scheme = &rest[rest.find("://").map_or(0, |i| i + 3)..];
        after_scheme.split_once('/').map_or("", |(_, p)| p)
    } else {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        host_port(b, host)?;
        path
    };
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    name(b, "bucket", bucket, bucket_char)?;
    opt_path(b, prefix)
}

/// `<kind>:<bucket or container>[:path]` (b2, azure, gs, swift).
fn bucket_path(b: Backend, part_name: &'static str, rest: &str) -> Checked {
    let (bucket, path) = rest.split_once(':').unwrap_or((rest, ""));
    name(b, part_name, bucket, bucket_char)?;
    opt_path(b, path)
}

/// `rclone:remote:path` (or `rclone:/local/path`). restic passes the whole
/// `remote:path` to rclone as one argument, which rclone reads as an option
/// if it begins with `-`, and as a connection string (`:backend,opt=…:` or
/// `remote,opt=…:`) that can set any rclone option, e.g. a command to run.
fn rclone(rest: &str) -> Checked {
    let b = Backend::Rclone;
    part(b, "remote", rest)?;
    if rest.starts_with('/') {
        return Ok(());
    }
    let Some((remote, path)) = rest.split_once(':') else {
        return Err(bad(b, "remote", "is missing (rclone:remote:path)"));
    };
    if remote.starts_with(':') || remote.is_empty() {
        return Err(bad(
            b,
            "remote",
            "is an on-the-fly connection string, which can set any rclone option",
        ));
    }
    name(b, "remote", remote, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
    })?;
    opt_path(b, path)
}

/// What every form must satisfy beyond its backend's own rules. A URL
/// (`scheme://…`) ends its authority at the first `/`, `?` or `#` when Go
/// parses it, and restic decodes `%` escapes and cleans `..` out of its
/// path: so a URL form may hold none of `? # \` and no `%` after its
/// authority, or a host pinned by agent.toml, or a pinned path, could be
/// another than the one checked. No form may climb with a `..` segment.
fn url_form(backend: Backend, rest: &str) -> Checked {
    if rest.split(['/', ':']).any(|segment| segment == "..") {
        return Err(bad(backend, "path", "holds a '..' segment"));
    }
    // `rest:https://…`, `s3:https://…`, or `sftp://…` (whose `sftp:` is
    // already gone here).
    let after_scheme = match rest.find("://") {
        Some(end) => &rest[end + 3..],
        None => match rest.strip_prefix("//") {
            Some(after) => after,
            None => return Ok(()),
        },
    };
    if rest.contains(['?', '#', '\\']) {
        return Err(bad(
            backend,
            "URL",
            "holds '?', '#' or '\\' (no query or fragment)",
        ));
    }

    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    if path.contains('%') {
        return Err(bad(backend, "path", "holds a '%' escape"));
    }
    Ok(())
}

/// Checks a repository URL for its backend and returns the backend.
pub fn check_repository_url(url: &str) -> Result<Backend, ArgError> {
    const FIELD: &str = "repository URL";
    if url.is_empty() {
        return Err(ArgError::Empty { field: FIELD });
    }
    if url.starts_with('-') {
        return Err(ArgError::LeadingDash {
            field: FIELD,
            value: String::new(),
        });
    }
    if url.chars().any(char::is_control) {
        return Err(ArgError::ControlCharacter { field: FIELD });
    }
    if url.len() > crate::arg::SafeArg::MAX_LEN {
        return Err(ArgError::TooLong {
            field: FIELD,
            max: crate::arg::SafeArg::MAX_LEN,
        });
    }
    let found = Backend::ALL.into_iter().find_map(|b| {
        url.strip_prefix(b.scheme())
            .and_then(|r| r.strip_prefix(':'))
            .map(|rest| (b, rest))
    });
    let (backend, rest) = match found {
        Some(found) => found,
        None if url.starts_with('/') => (Backend::Local, url),
        None => {
            let scheme = url.split(':').next().unwrap_or("");
            let looks_like_scheme = url.contains(':')
                && !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
            return Err(ArgError::BadUrl {
                backend: "unknown",
                part: if looks_like_scheme { "scheme" } else { "path" },
                problem: if looks_like_scheme {
                    "is not a backend Cairn supports (local, rest:, sftp:, s3:, b2:, azure:, gs:, swift:, rclone:)"
                } else {
                    "must be absolute (restic would resolve it against the agent's working directory)"
                },
            });
        }
    };
    url_form(backend, rest)?;
    match backend {
        Backend::Local if !rest.starts_with('/') => Err(bad(backend, "path", "must be absolute")),
        Backend::Local => Ok(()),
        Backend::Rest => http_url(backend, rest),
        Backend::Sftp => sftp(rest),
        Backend::S3 => s3(rest),
        Backend::B2 => bucket_path(backend, "bucket", rest),
        Backend::Azure | Backend::Swift => bucket_path(backend, "container", rest),
        Backend::Gs => bucket_path(backend, "bucket", rest),
        Backend::Rclone => rclone(rest),
    }?;
    Ok(backend)
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
