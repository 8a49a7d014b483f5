//! The admin's pages: the audit log (who did what, from where, with what
//! outcome; filtered in the URL) and the run-time settings.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::admin::SettingsUpdate;
use cairn_server::auth::{Operator, Principal};
use cairn_store::{AuditFilter, Outcome, Page};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::{iso, time};
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

/// Audit entries per page.
const PAGE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    after: String,
}

pub(crate) struct AuditRow {
    at: String,
    at_iso: String,
    actor: String,
    actor_kind: &'static str,
    source: String,
    action: String,
    target: String,
    outcome: &'static str,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    user: Operator,
    csrf: String,
    rows: Vec<AuditRow>,
    action: String,
    outcome: String,
    next: Option<String>,
    error: Option<String>,
}

fn outcome_of(text: &str) -> Result<Option<Outcome>, String> {
    Ok(match text {
        "" => None,
        "success" => Some(Outcome::Success),
        "denied" => Some(Outcome::Denied),
        "failed" => Some(Outcome::Failed),
        other => {
            return Err(format!(
                "outcome must be success, denied or failed, not {other:?}"
            ));
        }
    })
}

/// `GET /audit`.
pub(crate) async fn audit(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<AuditQuery>,
) -> Response {
    let parsed = outcome_of(&q.outcome).and_then(|outcome| {
        let after = match q.after.as_str() {
            "" => None,
            a => Some(
                a.parse::<i64>()
                    .map_err(|_| format!("after must be a number, not {a:?}"))?,
            ),
        };
        Ok((outcome, after))
    });
    let (outcome, after) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => {
            let page = audit_page(&p, Vec::new(), &q, None, Some(reason));
            return (StatusCode::BAD_REQUEST, page).into_response();
        }
    };
    let action = q.action.trim();
    let filter = AuditFilter {
        action_prefix: (!action.is_empty()).then(|| action.to_string()),
        outcome,
        ..AuditFilter::default()
    };
    match web
        .api
        .admin
        .audit_log(&p, filter, Page::after(PAGE, after))
        .await
    {
        Ok(page) => {
            let rows = page
                .items
                .iter()
                .map(|r| AuditRow {
                    at: time(Some(r.at)),
                    at_iso: iso(r.at),
                    actor: r.entry.actor_name.clone(),
                    actor_kind: r.entry.actor_kind.as_str(),
                    source: r.entry.source_addr.clone().unwrap_or_default(),
                    action: r.entry.action.clone(),
                    target: r.entry.target.clone().unwrap_or_default(),
                    outcome: r.entry.outcome.as_str(),
                    detail: r.entry.detail.clone().unwrap_or_default(),
                })
                .collect();
            // Built from the parsed filter only.
            let next = page.next.map(|cursor| {
                let outcome = outcome.map_or("", Outcome::as_str);
                let action: String = action
                    .bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                format!("/audit?action={action}&outcome={outcome}&after={cursor}")
            });
            audit_page(&p, rows, &q, next, None).into_response()
        }
        Err(err) => error_page(err),
    }
}

fn audit_page(
    p: &Principal,
    rows: Vec<AuditRow>,
    q: &AuditQuery,
    next: Option<String>,
    error: Option<String>,
) -> AuditPage {
    AuditPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        rows,
        action: q.action.clone(),
        outcome: q.outcome.clone(),
        next,
        error,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    user: Operator,
    csrf: String,
    retention_days: u32,
    private_webhooks: bool,
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
    /// A checkbox: present when ticked.
    #[serde(default)]
    private_webhooks: String,
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
    let update = SettingsUpdate {
        job_log_retention_days: Some(days),
        allow_private_webhook_targets: Some(form.private_webhooks == "yes"),
        // Set through the API and `cairn ctl settings` for now.
        audit_retention_days: None,
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
