//! Notifications: the channels (kind, route, on or off, last delivered,
//! last error), a Test button per channel whose result HTMX shows inline,
//! and the recent deliveries with every attempt. The forms that add and
//! change channels are `notification_forms`' business.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_notify::Kind;
use cairn_server::auth::{Operator, Principal};
use cairn_store::{ChannelId, Scope};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::{iso, time};
use crate::pages::{CsrfForm, csrf_of, csrf_refused};
use crate::reply::{VARY_HTMX, error_page, wants_partial};
use crate::session::SignedIn;

/// One channel as the page lists it.
pub(crate) struct ChannelRow {
    id: i64,
    name: String,
    kind: &'static str,
    route: String,
    enabled: bool,
    last_sent: Option<(String, String)>,
    last_error: Option<String>,
    test_command: String,
}

/// One attempt, as a line under its delivery.
pub(crate) struct AttemptRow {
    at: String,
    at_iso: String,
    ok: bool,
    detail: String,
}

/// One delivery as the page lists it.
pub(crate) struct DeliveryRow {
    channel: String,
    event: String,
    state: String,
    attempts: u32,
    next: String,
    next_iso: String,
    log: Vec<AttemptRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    user: Operator,
    csrf: String,
    rows: Vec<ChannelRow>,
    deliveries: Vec<DeliveryRow>,
    kinds: Vec<(&'static str, &'static str)>,
    can_operate: bool,
    can_admin: bool,
    done: Option<String>,
    tested: Option<(bool, String)>,
}

/// The inline answer of the Test button.
#[derive(Template, WebTemplate)]
#[template(path = "notification_test.html")]
struct TestResult {
    ok: bool,
    detail: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NotificationsQuery {
    /// `created`, `updated` or `deleted`.
    #[serde(default)]
    done: String,
}

/// A kind's name in forms.
pub(crate) fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Webhook => "Webhook (signed JSON)",
        Kind::Smtp => "Email (SMTP)",
        Kind::Ntfy => "ntfy",
        Kind::Gotify => "Gotify",
        Kind::Slack => "Slack-compatible",
        Kind::Discord => "Discord-compatible",
        Kind::Healthchecks => "Healthchecks pings",
    }
}

/// `GET /notifications`.
pub(crate) async fn page(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<NotificationsQuery>,
) -> Response {
    let done = match q.done.as_str() {
        "created" => Some("Channel added. Send a test to see that it works.".to_string()),
        "updated" => Some("Channel saved.".to_string()),
        "deleted" => Some("Channel removed, with its queued deliveries.".to_string()),
        _ => None,
    };
    render(&web, &p, done, None).await
}

async fn render(
    web: &Web,
    p: &Principal,
    done: Option<String>,
    tested: Option<(bool, String)>,
) -> Response {
    let api = &web.api.notifications;
    let channels = match api.list(p).await {
        Ok(c) => c,
        Err(err) => return error_page(err),
    };
    let deliveries = match api.deliveries(p, None, 30).await {
        Ok(d) => d,
        Err(err) => return error_page(err),
    };
    let name_of = |id: ChannelId| {
        channels
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let deliveries = deliveries
        .into_iter()
        .map(|d| DeliveryRow {
            channel: name_of(d.delivery.channel_id),
            event: d.delivery.event.clone(),
            state: d.delivery.state.clone(),
            attempts: d.delivery.attempts,
            next: time(Some(d.delivery.next_attempt_at)),
            next_iso: iso(d.delivery.next_attempt_at),
            log: d
                .attempts
                .into_iter()
                .map(|a| AttemptRow {
                    at: time(Some(a.at)),
                    at_iso: iso(a.at),
                    ok: a.ok,
                    detail: a.detail,
                })
                .collect(),
        })
        .collect();
    let rows = channels
        .into_iter()
        .map(|c| ChannelRow {
            id: c.id.0,
            kind: kind_label(c.kind),
            route: if c.kind == Kind::Healthchecks {
                format!(
                    "pings for {} schedule(s)",
                    c.secrets.ping_schedule_ids.len()
                )
            } else {
                c.route.describe()
            },
            enabled: c.enabled,
            last_sent: c.last_sent_at.map(|at| (time(Some(at)), iso(at))),
            last_error: c.last_error,
            test_command: format!("cairn ctl notifications test {}", c.id),
            name: c.name,
        })
        .collect();
    let page = NotificationsPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        rows,
        deliveries,
        kinds: Kind::ALL
            .iter()
            .map(|k| (k.as_str(), kind_label(*k)))
            .collect(),
        can_operate: p.scope() >= Scope::Operate,
        can_admin: p.scope() >= Scope::Admin,
        done,
        tested,
    };
    (StatusCode::OK, VARY_HTMX, page).into_response()
}

/// `POST /notifications/{id}/test`: sends a test now. HTMX swaps in the
/// result next to the button; without JavaScript the page shows it.
pub(crate) async fn test(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    match web.api.notifications.test(&p, ChannelId(id)).await {
        Ok(outcome) if wants_partial(&headers) => (
            VARY_HTMX,
            TestResult {
                ok: outcome.ok,
                detail: outcome.detail,
            },
        )
            .into_response(),
        Ok(outcome) => render(&web, &p, None, Some((outcome.ok, outcome.detail))).await,
        Err(err) => error_page(err),
    }
}
