//! Turning service errors into pages.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;

/// A page with a heading, a sentence and a way on.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub heading: String,
    pub text: String,
    pub link_href: String,
    pub link_text: &'static str,
}

/// The HTTP status for a service error.
pub(crate) fn status_of(err: &ServiceError) -> StatusCode {
    match err {
        ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ServiceError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
        ServiceError::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::AlreadyExists(_) => StatusCode::CONFLICT,
        ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::FailedPrecondition(_) => StatusCode::CONFLICT,
        ServiceError::Refused(_) => StatusCode::FORBIDDEN,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A page for an error that has no form to go back to.
pub(crate) fn error_page(err: ServiceError) -> Response {
    if matches!(err, ServiceError::Unauthenticated(_)) {
        return Redirect::to("/login").into_response();
    }
    let page = MessagePage {
        heading: "That did not work".into(),
        text: err.to_string(),
        link_href: "/".into(),
        link_text: "Back",
    };
    (status_of(&err), page).into_response()
}

/// Whether HTMX asks for a partial to swap in: an HTMX request that is not
/// a history restore (which wants the whole page).
pub(crate) fn wants_partial(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

/// Responses that differ by `HX-Request`: caches must keep both apart.
pub(crate) const VARY_HTMX: [(axum::http::HeaderName, &str); 1] =
    [(axum::http::header::VARY, "HX-Request")];
