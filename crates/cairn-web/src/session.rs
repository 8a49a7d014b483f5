//! The session cookie and the extractors that resolve it to an operator.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ClientAddr;
use cairn_server::auth::Principal;

use crate::Web;
use crate::reply::error_page;

/// The cookie's name: `__Host-` prefixed over HTTPS, which makes browsers
/// insist on `Secure`, `Path=/` and no `Domain` (no subdomain can set it).
pub(crate) fn cookie_name(secure: bool) -> &'static str {
    cairn_server::auth::session_cookie_name(secure)
}

/// The `Set-Cookie` value that hands a session to the browser. It is a
/// browser-session cookie (no `Max-Age`): the server enforces the idle and
/// absolute lifetimes, and closing the browser drops it too.
pub(crate) fn set_cookie(secure: bool, value: &str) -> HeaderValue {
    cookie(secure, value, "")
}

fn cookie(secure: bool, value: &str, extra: &str) -> HeaderValue {
    let mut cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax{extra}",
        cookie_name(secure)
    );
    if secure {
        cookie.push_str("; Secure");
    }
    // Session tokens are URL-safe base64: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn clear_cookie(secure: bool) -> HeaderValue {
    cookie(secure, "", "; Max-Age=0")
}

/// The session cookie's value, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap, secure: bool) -> Option<String> {
    cairn_server::auth::session_cookie(headers, secure)
}

/// Sent by the page script on requests it makes on its own, not for the
/// operator (see `static/app.js`).
pub(crate) const BACKGROUND_HEADER: &str = "x-cairn-background";

/// The client's address, as the accept loop recorded it.
pub(crate) fn client_addr(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ClientAddr>()
        .map(|a| a.0.ip().to_string())
}

/// The operator a gate in front of the handler (`least`) already resolved
/// from the session, so the handler does not look the session up again.
#[derive(Debug, Clone)]
pub(crate) struct Resolved(pub Principal);

async fn resolve(parts: &Parts, web: &Web) -> Result<Option<Principal>, Response> {
    if let Some(Resolved(principal)) = parts.extensions.get::<Resolved>() {
        return Ok(Some(principal.clone()));
    }
    let Some(cookie) = session_cookie(&parts.headers, web.api.secure_cookies) else {
        return Ok(None);
    };
    // A page's own refresh (the dashboard following the fleet) says so, and
    // does not count as the operator using the session.
    let auth = &web.api.auth;
    let source = client_addr(parts);
    let looked_up = if parts.headers.contains_key(BACKGROUND_HEADER) {
        auth.session_unused(&cookie, source).await
    } else {
        auth.session(&cookie, source).await
    };
    looked_up.map_err(error_page)
}

/// A signed-in operator; anyone else is sent to the sign-in page.
#[derive(Debug)]
pub(crate) struct SignedIn(pub Principal);

impl FromRequestParts<Web> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        match resolve(parts, web).await? {
            Some(principal) => Ok(SignedIn(principal)),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// The operator if signed in.
#[derive(Debug)]
pub(crate) struct MaybeSignedIn(pub Option<Principal>);

impl FromRequestParts<Web> for MaybeSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        Ok(MaybeSignedIn(resolve(parts, web).await?))
    }
}

/// Where the request came from and what browser sent it, for audit.
#[derive(Debug)]
pub(crate) struct ClientInfo {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo {
            addr: client_addr(parts),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookie_is_host_prefixed_and_secure() {
        let v = set_cookie(true, "abc");
        let v = v.to_str().expect("ascii");
        assert!(v.starts_with("__Host-cairn_session=abc;"));
        assert!(v.contains("Secure") && v.contains("HttpOnly") && v.contains("SameSite=Lax"));
        let plain = set_cookie(false, "abc");
        assert!(!plain.to_str().expect("ascii").contains("Secure"));
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; cairn_session=xyz; b=2"),
        );
        assert_eq!(session_cookie(&headers, false), Some("xyz".into()));
        assert_eq!(session_cookie(&headers, true), None);
    }
}
