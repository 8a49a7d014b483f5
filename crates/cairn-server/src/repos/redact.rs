//! Repository URLs as they may be shown: every credential hidden.

/// Hides every credential a repository URL can carry, in each form restic
/// takes: the password in a URL's user info (`rest:https://u:p@host/` →
/// `rest:https://u:***@host/`, also for `sftp://`, `s3:https://` …), the
/// values of an rclone connection string's options
/// (`rclone::s3,secret_access_key=…:bucket` → `…,secret_access_key=***:…`),
/// and query-string values. What is left names the place, never a secret.
pub fn redact_url(url: &str) -> String {
    let url = match url.strip_prefix("rclone:") {
        Some(rest) => format!("rclone:{}", redact_rclone_options(rest)),
        None => url.to_string(),
    };
    redact_query(&redact_user_info(&url))
}

/// `user:password@` → `user:***@` in every `scheme://authority`.
fn redact_user_info(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let user_info = &authority[..at];
                match user_info.split_once(':') {
                    Some((user, _password)) => out.push_str(&format!("{user}:***@")),
                    // A lone user name is kept; a lone token (long, or
                    // holding what a name does not) is a credential.
                    None if looks_like_a_user(user_info) => out.push_str(&format!("{user_info}@")),
                    None => out.push_str("***@"),
                }
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out
}

fn looks_like_a_user(text: &str) -> bool {
    text.len() <= 32
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The values of `name=value` options in an rclone remote
/// (`remote,opt=value:path` or `:backend,opt=value:path`); a value may be
/// quoted, and then hold `,` or `:`. The path after the remote is kept.
fn redact_rclone_options(remote: &str) -> String {
    let mut out = String::with_capacity(remote.len());
    let mut chars = remote.char_indices().peekable();
    let mut in_value = false;
    let mut quote: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        if in_value {
            match quote {
                // A doubled quote is a literal quote inside the value.
                Some(q) if c == q && chars.peek().map(|(_, n)| *n) == Some(q) => {
                    chars.next();
                }
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == ',' => {
                    in_value = false;
                    out.push(c);
                }
                None if c == ':' => {
                    // The end of the remote: the rest is the path, kept.
                    out.push_str(&remote[i..]);
                    return out;
                }
                None => {}
            }
            continue;
        }
        if c == ':' && i > 0 {
            out.push_str(&remote[i..]);
            return out;
        }
        out.push(c);
        if c == '=' {
            out.push_str("***");
            in_value = true;
        }
    }
    out
}

/// `?a=1&b=2` → `?a=***&b=***`: query strings can carry keys or tokens.
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=***"),
            None => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", redacted.join("&"))
}
