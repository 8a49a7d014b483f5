//! The least a route asks of its caller, checked before anything of the
//! request is read (a refusal is audited as `web:<method> <route>` on the
//! path asked for): a viewer posting to an admin's form is refused (403)
//! whatever the form holds and whether or not the row it names exists, so a
//! refusal never depends on, nor tells, anything but the caller's role.
//!
//! The service layer still checks every call itself (the API and the UI go
//! through the same functions); this is the console's own first gate, and
//! `tests/it/inventory_web.rs` holds every route to it.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_store::Scope;

use crate::Web;
use crate::reply::error_page;
use crate::session::{Resolved, SignedIn};

/// Lets in operators and admins only (signing in first, if need be).
pub(crate) async fn operators(State(web): State<Web>, request: Request, next: Next) -> Response {
    at_least(Scope::Operate, &web, request, next).await
}

/// Lets in admins only (signing in first, if need be).
pub(crate) async fn admins(State(web): State<Web>, request: Request, next: Next) -> Response {
    at_least(Scope::Admin, &web, request, next).await
}

async fn at_least(need: Scope, web: &Web, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let principal = match SignedIn::from_request_parts(&mut parts, web).await {
        Ok(SignedIn(principal)) => principal,
        Err(to_sign_in) => return to_sign_in.into_response(),
    };
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_string(), |m| m.as_str().to_string());
    let action = format!("web:{} {route}", parts.method);
    // The path itself is the target: which host, and which of its actions.
    let target = Some(parts.uri.path().to_string());
    if let Err(refused) = web.api.at_least(&principal, need, &action, target).await {
        return error_page(refused);
    }
    parts.extensions.insert(Resolved(principal));
    next.run(Request::from_parts(parts, body)).await
}
