//! The admin's run-time settings page (the audit log is in `audit_page.rs`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::admin::SettingsUpdate;
use cairn_server::auth::{Operator, Principal};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    user: Operator,
    csrf: String,
    retention_days: u32,
    private_webhooks: bool,
    audit_retention_days: u32,
    saved: bool,
    error: Option<String>,
}

async fn settings_page(web: &Web, p: &Principal, saved: bool, error: Option<String>) -> Response {
    match web.api.admin.settings(p).await {
        Ok(s) => SettingsPage {
            user: p.user.clone(),
            csrf: csrf_of(p),
            retention_days: s.job_log_retention_days,
            private_webhooks: s.allow_private_webhook_targets,
            audit_retention_days: s.audit_retention_days,
            saved,
            error,
        }
        .into_response(),
        Err(err) => error_page(err),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SavedQuery {
    #[serde(default)]
    saved: String,
}

/// `GET /settings`.
pub(crate) async fn settings(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<SavedQuery>,
) -> Response {
    settings_page(&web, &p, q.saved == "1", None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    retention_days: String,
    /// Empty leaves the audit retention as it is.
    #[serde(default)]
    audit_retention_days: String,
}

/// `POST /settings`.
pub(crate) async fn save_settings(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let Ok(days) = form.retention_days.trim().parse::<u32>() else {
        let reason = format!(
            "log retention must be a whole number of days, not {:?}",
            form.retention_days
        );
        let page = settings_page(&web, &p, false, Some(reason)).await;
        return (StatusCode::BAD_REQUEST, page).into_response();
    };
    let audit_days = match form.audit_retention_days.trim() {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => {
                let reason =
                    format!("audit retention must be a whole number of days, not {text:?}");
                let page = settings_page(&web, &p, false, Some(reason)).await;
                return (StatusCode::BAD_REQUEST, page).into_response();
            }
        },
    };
    let update = SettingsUpdate {
        job_log_retention_days: Some(days),
        allow_private_webhook_targets: None,
        audit_retention_days: audit_days,
    };
    match web.api.admin.update_settings(&p, update).await {
        Ok(_) => Redirect::to("/settings?saved=1").into_response(),
        Err(err) if status_of(&err) == StatusCode::BAD_REQUEST => {
            let page = settings_page(&web, &p, false, Some(err.to_string())).await;
            (StatusCode::BAD_REQUEST, page).into_response()
        }
        Err(err) => error_page(err),
    }
}
