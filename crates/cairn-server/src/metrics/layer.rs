//! Counts every request that reaches the router, with its latency. Labels
//! stay bounded: an HTTP request is named by the route it matched (never its
//! raw path, which a client chooses), a gRPC call by its method path (capped
//! in [`Metrics::grpc_request`]), anything unmatched as `unmatched`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Metrics;

/// Middleware for `Router::layer`, which wraps each route, so the matched
/// route is known here.
pub(crate) async fn track_requests(
    State(metrics): State<Metrics>,
    req: Request,
    next: Next,
) -> Response {
    let began = Instant::now();
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let seconds = began.elapsed().as_secs_f64();
    if grpc {
        // An error from a unary call travels trailers-only, so its status
        // is in the head; a success's status comes in the trailers, after
        // this point, and is OK unless the body fails later (streams).
        let code = response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_string();
        // A method no service has (UNIMPLEMENTED, 12) is never its own
        // label: junk paths must not fill the label set.
        let method = match matched {
            Some(_) if code != "12" => path.as_str(),
            Some(_) => "unknown",
            None => "unmatched",
        };
        metrics.grpc_request(method, &code, seconds);
    } else {
        let route = matched.unwrap_or_else(|| "unmatched".to_string());
        metrics.http_request(route, response.status().as_u16(), seconds);
    }
    response
}
