//! CSRF defence in two layers.
//!
//! 1. Every state-changing request must come from this site: the browser's
//!    `Sec-Fetch-Site` must say `same-origin` (or `none`, a typed URL), and
//!    failing that the `Origin` must match the `Host` or be the origin of
//!    `public_url` (what a browser sends through a reverse proxy, which may
//!    pass the host on without its port). A request with neither
//!    header does not come from a browser page and carries no ambient
//!    authority worth forging.
//! 2. Every state change by a signed-in operator must echo the session's CSRF
//!    token, as the `_csrf` form field or the `X-CSRF-Token` header (HTMX).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_server::auth::{Principal, Via};
use subtle::ConstantTimeEq;

/// For pages whose mere opening runs restic on a host (listing a snapshot,
/// comparing two): when another site sent the browser here, the page asks
/// first instead, with a link to itself (followed, it comes from this site).
/// Only reads happen on those pages, but a foreign page should not be able
/// to set hosts to work in an operator's name.
pub(crate) async fn not_sent_from_elsewhere(request: Request, next: Next) -> Response {
    let site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if !matches!(site, Some("cross-site" | "same-site")) {
        return next.run(request).await;
    }
    let here = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
    crate::reply::MessagePage {
        heading: "Open this page?".into(),
        text: "A link from another site led here. Opening it runs restic on one of your hosts, so Cairn asks first.".into(),
        link_href: here,
        link_text: "Open it",
    }
    .into_response()
}

/// Layer 1: refuses cross-site state changes before any handler runs.
pub(crate) async fn same_origin_only(
    State(public_origin): State<PublicOrigin>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let authority = request.uri().authority().map(|a| a.as_str().to_string());
    if !safe
        && !is_same_origin(request.headers(), authority.as_deref())
        && !public_origin.is(request.headers())
    {
        tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
    next.run(request).await
}

/// `authority` is the request URI's: over HTTP/2 the host comes as the
/// `:authority` pseudo-header, and no `Host` header is sent.
fn is_same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(authority);
            let origin_host = origin.to_str().ok().and_then(|o| {
                o.strip_prefix("https://")
                    .or_else(|| o.strip_prefix("http://"))
            });
            matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
        }
    }
}

/// The origin operators reach the console at (`public_url`'s scheme, host
/// and port, the default port left out as browsers do).
#[derive(Debug, Clone)]
pub(crate) struct PublicOrigin(Option<String>);

impl PublicOrigin {
    pub(crate) fn of(public_url: &str) -> PublicOrigin {
        let origin = public_url.split_once("://").and_then(|(scheme, rest)| {
            let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
            let authority = match scheme {
                "https" => authority.strip_suffix(":443").unwrap_or(&authority),
                "http" => authority.strip_suffix(":80").unwrap_or(&authority),
                _ => return None,
            }
            .to_string();
            (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
        });
        PublicOrigin(origin)
    }

    /// Whether the request's `Origin` is this origin (and fetch metadata,
    /// when the browser sends it, does not say another site).
    fn is(&self, headers: &HeaderMap) -> bool {
        if let Some(site) = headers.get("sec-fetch-site") {
            return matches!(site.to_str(), Ok("same-origin" | "none"));
        }
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        matches!((origin, &self.0), (Some(o), Some(p)) if o.eq_ignore_ascii_case(p))
    }
}

/// Layer 2: the request must echo the session's token.
pub(crate) fn token_matches(
    principal: &Principal,
    headers: &HeaderMap,
    form_token: Option<&str>,
) -> bool {
    let Via::Session { csrf_token, .. } = &principal.via else {
        return false;
    };
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or(form_token)
        .unwrap_or("");
    !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(csrf_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_public_urls_origin_is_accepted_whatever_host_the_proxy_passes() {
        let public = PublicOrigin::of("https://Cairn.example.com:443/console");
        assert!(public.is(&headers(&[("origin", "https://cairn.example.com")])));
        assert!(!public.is(&headers(&[("origin", "https://evil.example")])));
        assert!(!public.is(&headers(&[("origin", "http://cairn.example.com")])));
        assert!(!public.is(&headers(&[])), "no Origin is not this origin");
        assert!(
            !public.is(&headers(&[
                ("origin", "https://cairn.example.com"),
                ("sec-fetch-site", "cross-site")
            ])),
            "fetch metadata still decides"
        );
        let port = PublicOrigin::of("http://127.0.0.1:8080");
        assert!(port.is(&headers(&[("origin", "http://127.0.0.1:8080")])));
        assert!(!port.is(&headers(&[("origin", "http://127.0.0.1")])));
        assert!(!PublicOrigin::of("not a url").is(&headers(&[("origin", "null")])));
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(is_same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[("sec-fetch-site", "same-site")]),
            None
        ));
    }

    #[test]
    fn over_http2_the_origin_is_matched_against_the_authority() {
        let origin = headers(&[("origin", "https://cairn:8443")]);
        assert!(is_same_origin(&origin, Some("cairn:8443")));
        assert!(!is_same_origin(&origin, Some("evil.example")));
        assert!(!is_same_origin(&origin, None));
    }

    #[test]
    fn origin_must_match_host() {
        assert!(is_same_origin(
            &headers(&[("origin", "http://cairn:8080"), ("host", "cairn:8080")]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[("origin", "https://evil.example"), ("host", "cairn:8080")]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[("origin", "null"), ("host", "cairn:8080")]),
            None
        ));
        assert!(is_same_origin(&headers(&[("host", "cairn:8080")]), None));
    }
}
