//! `/metrics`, and who may read it. One rule on either listener: a peer in
//! the trusted networks reads it with no credential; anyone else brings
//! `authorization: Bearer …` with the configured `metrics_token`, or an API
//! token (or console session) with read scope.
//!
//! Trusted networks are `metrics_trusted` when it is set. Unset, they are
//! loopback, except on a listener of its own (`metrics_listen`) with no
//! `metrics_token`: there whoever reaches the address may scrape, since the
//! operator chose the address for exactly that.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_store::Scope;

use crate::config::{Networks, Secret, ServerConfig};
use crate::{Api, ClientAddr};

/// Which listener a `/metrics` router is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListener {
    /// The main listener (gRPC, the console, the probes).
    Main,
    /// `metrics_listen`, serving `/metrics` alone.
    OwnListener,
}

/// Who may read `/metrics` on a router.
#[derive(Debug, Clone)]
pub struct MetricsAccess {
    /// Peers let in with no credential.
    pub trusted: Networks,
    /// The bearer token that lets anyone else in (besides read-scope API
    /// tokens and sessions).
    pub token: Option<Secret>,
}

impl MetricsAccess {
    /// The rule `config` sets for `listener`.
    pub fn from_config(config: &ServerConfig, listener: MetricsListener) -> MetricsAccess {
        let trusted = match (&config.metrics_trusted, listener, &config.metrics_token) {
            (Some(trusted), _, _) => trusted.clone(),
            (None, MetricsListener::OwnListener, None) => Networks::everyone(),
            (None, _, _) => Networks::loopback(),
        };
        MetricsAccess {
            trusted,
            token: config.metrics_token.clone(),
        }
    }

    /// One line for the log at start: the rule, without the token.
    pub fn describe(&self) -> String {
        format!(
            "trusted networks {:?}; {}",
            self.trusted,
            match self.token {
                Some(_) => "others need metrics_token or an API token with read scope",
                None => "others need an API token with read scope",
            }
        )
    }
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
    connected: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    // The main listener names the peer in ClientAddr; the metrics listener
    // in axum's ConnectInfo. With neither, nobody is trusted by address.
    let client = client.map(|c| c.0.0).or(connected.map(|c| c.0.0));
    let trusted = client.is_some_and(|a| access.trusted.contains(a.ip()));
    if !trusted && let Err(refusal) = authorize(&api, &access, &headers, client).await {
        return refusal;
    }
    let body = api.metrics.render(&api.store, api.fleet.connected()).await;
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

/// A caller outside the trusted networks: the metrics token, or a bearer
/// token or session with read scope.
async fn authorize(
    api: &Api,
    access: &MetricsAccess,
    headers: &HeaderMap,
    client: Option<SocketAddr>,
) -> Result<(), Response> {
    let presented = bearer(headers);
    if let (Some(token), Some(presented)) = (&access.token, presented)
        && *token == Secret::new(presented.to_string())
    {
        return Ok(());
    }
    let source = client.map(|a| a.ip().to_string());
    let principal = if let Some(token) = presented {
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
            "/metrics needs the metrics token or an API token with read scope from this address\n",
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
