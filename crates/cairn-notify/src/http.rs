//! One guarded HTTP POST: resolve and check, pin the connection to the
//! addresses checked, follow no redirect, give up after a timeout.

use std::time::Duration;

use crate::error::SendError;
use crate::guard::Policy;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an error answer's body read.
const BODY_READ: usize = 4096;
/// How much of an error answer's body is kept (it is shown to operators).
const BODY_SHOWN: usize = 200;

/// A request to send.
#[derive(Debug)]
pub(crate) struct Post<'a> {
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// A URL as errors show it: scheme, host and port, the rest hidden (a
/// Slack, Discord or healthchecks URL is itself the credential).
pub fn shown(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path().len() > 1 || url.query().is_some() {
        "/…"
    } else {
        "/"
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

/// Sends `post` and returns the status of a 2xx answer.
pub(crate) async fn post(policy: Policy, post: Post<'_>) -> Result<u16, SendError> {
    let url = policy.parse_url(post.url)?;
    let destination = shown(&url);
    let host = url
        .host_str()
        .ok_or_else(|| SendError::Config("the URL has no host".into()))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| SendError::Config("the URL has no port".into()))?;
    let addrs = policy.resolve(&host, port).await?;
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name itself, undoing the check.
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")));
    if matches!(url.host(), Some(url::Host::Domain(_))) {
        // Pinned: the connection goes to the addresses just checked, never
        // to a second DNS answer.
        client = client.resolve_to_addrs(&host, &addrs);
    }
    let client = client.build().map_err(|e| SendError::Transport {
        destination: destination.clone(),
        reason: error_chain(&e),
    })?;
    let mut request = client
        .post(url.clone())
        .header(http::header::CONTENT_TYPE, post.content_type)
        .body(post.body);
    for (name, value) in &post.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let answer = request.send().await.map_err(|e| SendError::Transport {
        destination: destination.clone(),
        reason: error_chain(&e),
    })?;
    let status = answer.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    if status.is_redirection() {
        let location = answer
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_string();
        let target = url.join(&location).ok();
        let why = match target.as_ref().map(|t| policy.parse_url(t.as_str())) {
            Some(Err(refused)) => format!(" (and that target is refused: {refused})"),
            _ => String::new(),
        };
        return Err(SendError::Redirect {
            destination,
            status: status.as_u16(),
            location: target.as_ref().map(shown).unwrap_or(location),
            why,
        });
    }
    // The start of the answer is all we show: never read more of it (a
    // hostile receiver could stream without end until the timeout).
    let mut answer = answer;
    let mut head = Vec::new();
    while head.len() < BODY_READ {
        match answer.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            _ => break,
        }
    }
    head.truncate(BODY_READ);
    let text = String::from_utf8_lossy(&head);
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(BODY_SHOWN)
        .collect();
    Err(SendError::Status {
        destination,
        status: status.as_u16(),
        body: if text.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", text.trim())
        },
    })
}

/// An error and its causes, without the URL (which may be a credential).
fn error_chain(err: &reqwest::Error) -> String {
    let mut out = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    out.push_str(&crate::error::causes(err));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_hide_their_path_and_query() {
        let url =
            url::Url::parse("https://hooks.slack.com/services/T0/B0/secret?x=1").expect("a URL");
        assert_eq!(shown(&url), "https://hooks.slack.com/…");
        let url = url::Url::parse("http://127.0.0.1:8025").expect("a URL");
        assert_eq!(shown(&url), "http://127.0.0.1:8025/");
    }
}
