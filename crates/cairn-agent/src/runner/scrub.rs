//! Secrets out of every text that leaves the host: the repository's password,
//! its URL (and the password in the URL's user info, raw and decoded), and
//! the values of its environment.

use cairn_restic::RepoAccess;

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
/// Replaces every secret of a run in text that leaves the host.
#[derive(Debug, Clone)]
pub(super) struct Scrubber(Vec<String>);

impl Scrubber {
    pub(super) fn new(repo: &RepoAccess) -> Scrubber {
        let mut secrets = vec![repo.password.clone(), repo.url.clone()];
        // The password part of a URL's user info, on its own too, raw and
        // as restic or ssh may print it decoded. User info ends at the
        // authority's last `@`, as Go reads it.
        if let Some(authority) = repo
            .url
            .split("://")
            .nth(1)
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            && let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            secrets.push(password.to_string());
            secrets.push(percent_decoded(password));
        }
        secrets.extend(repo.env.iter().map(|(_, v)| v.clone()));
        secrets.retain(|s| s.len() >= 3);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Scrubber(secrets)
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubber_removes_every_secret_of_the_run() {
        let repo = RepoAccess {
            url: "rest:http://ann:urlpass@host:8000/repo".into(),
            password: "hunter2".into(),
            env: vec![("AWS_SECRET_ACCESS_KEY".into(), "awssecret".into())],
        };
        let s = Scrubber::new(&repo);
        let text = "Fatal: unable to open rest:http://ann:urlpass@host:8000/repo with hunter2 and awssecret; urlpass";
        let clean = s.scrub(text);
        for secret in ["urlpass", "hunter2", "awssecret"] {
            assert!(!clean.contains(secret), "{clean}");
        }
    }
}
