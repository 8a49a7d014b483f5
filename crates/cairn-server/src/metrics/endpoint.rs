//! `/metrics`. On its own listener (`metrics_listen`) it is open: whoever
//! can reach that address may scrape. On the main listener it is open only
//! to a loopback peer; anyone else needs an API token (`authorization:
//! Bearer …`) or a console session with at least read scope.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_store::Scope;

use crate::{Api, ClientAddr};

/// Who may read `/metrics` on a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who reaches the listener (the dedicated metrics listener).
    Open,
    /// Loopback peers, or a caller with read scope (the main listener).
    LoopbackOrRead,
}

/// The router serving `/metrics` with the given access rule.
pub fn metrics_router(api: Api, access: MetricsAccess) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state((api, access))
}

/// The Prometheus text format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn serve_metrics(
    State((api, access)): State<(Api, MetricsAccess)>,
    client: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    let client = client.map(|c| c.0.0);
    if access == MetricsAccess::LoopbackOrRead {
        let loopback = client.is_some_and(|a| a.ip().to_canonical().is_loopback());
        if !loopback && let Err(refusal) = authorize(&api, &headers, client).await {
            return refusal;
        }
    }
    let body = api.metrics.render(&api.store, api.fleet.connected()).await;
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

/// A non-loopback caller on the main listener: a bearer token or a session,
/// with read scope.
async fn authorize(
    api: &Api,
    headers: &HeaderMap,
    client: Option<std::net::SocketAddr>,
) -> Result<(), Response> {
    let source = client.map(|a| a.ip().to_string());
    let principal = if let Some(token) = bearer(headers) {
        api.auth.authenticate_bearer(token, source).await.ok()
    } else if let Some(cookie) = crate::auth::session_cookie(headers, api.secure_cookies) {
        api.auth
            .session_unused(&cookie, source)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    match principal {
        Some(p) if p.require(Scope::Read).is_ok() => Ok(()),
        Some(_) => Err((StatusCode::FORBIDDEN, "forbidden\n").into_response()),
        None => Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "/metrics needs an API token with read scope from a non-loopback address\n",
        )
            .into_response()),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
