//! The alert inbox: firing, acknowledged and resolved tabs (in the URL),
//! filters by kind, host and severity, and acknowledging with a note. The
//! rules, overrides and maintenance windows are on `alert_rules.rs`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::{AlertKind, AlertState, Severity};
use cairn_store::{Alert, AlertFilter, HostId, Page, Scope};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::format::{iso, time};
use crate::pages::{csrf_of, csrf_refused};
use crate::quote::query_value;
use crate::reply::error_page;
use crate::session::SignedIn;

/// Alerts per page.
const PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AlertsQuery {
    #[serde(default)]
    tab: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    after: String,
}

/// One alert as a row of the inbox (and of the dashboard's section).
pub(crate) struct AlertRow {
    pub(crate) id: i64,
    pub(crate) kind: &'static str,
    pub(crate) state: &'static str,
    pub(crate) severity: &'static str,
    pub(crate) hostname: String,
    pub(crate) host_id: i64,
    pub(crate) message: String,
    pub(crate) fired_at: String,
    pub(crate) fired_iso: String,
    pub(crate) acked_by: String,
    pub(crate) note: String,
    pub(crate) resolved_at: String,
    pub(crate) ack_ctl: String,
    pub(crate) unack_ctl: String,
}

impl AlertRow {
    pub(crate) fn of(a: &Alert) -> AlertRow {
        AlertRow {
            id: a.id,
            kind: a.kind.as_str(),
            state: a.state.as_str(),
            severity: a.severity.as_str(),
            hostname: a.hostname.clone().unwrap_or_default(),
            host_id: a.host_id.map_or(0, |h| h.0),
            message: a.message.clone(),
            fired_at: time(Some(a.fired_at)),
            fired_iso: iso(a.fired_at),
            acked_by: a.acknowledged_by_name.clone().unwrap_or_default(),
            note: a.ack_note.clone().unwrap_or_default(),
            resolved_at: a.resolved_at.map(|t| time(Some(t))).unwrap_or_default(),
            ack_ctl: CtlCommand::new(&["alerts", "ack"])
                .arg(a.id)
                .flag("note", "", "NOTE")
                .to_string(),
            unack_ctl: CtlCommand::new(&["alerts", "unack"])
                .arg(a.id)
                .flag("note", "", "NOTE")
                .to_string(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "alerts.html")]
struct AlertsPage {
    user: cairn_server::auth::Operator,
    csrf: String,
    rows: Vec<AlertRow>,
    tab: &'static str,
    kind: String,
    host: String,
    severity: String,
    kinds: Vec<&'static str>,
    severities: Vec<&'static str>,
    hosts: Vec<(i64, String)>,
    can_ack: bool,
    ctl: String,
    next: Option<String>,
    error: Option<String>,
}

fn parse_query(q: &AlertsQuery) -> Result<(AlertState, AlertFilter, Option<i64>), String> {
    let tab = match q.tab.as_str() {
        "" | "firing" => AlertState::Firing,
        t => AlertState::parse(t)
            .ok_or_else(|| format!("tab must be firing, acknowledged or resolved, not {t:?}"))?,
    };
    let kind = match q.kind.as_str() {
        "" => None,
        k => Some(AlertKind::parse(k).ok_or_else(|| format!("unknown alert kind {k:?}"))?),
    };
    let severity = match q.severity.as_str() {
        "" => None,
        s => Some(Severity::parse(s).ok_or_else(|| format!("unknown severity {s:?}"))?),
    };
    let host = match q.host.as_str() {
        "" => None,
        h => Some(HostId(
            h.parse()
                .map_err(|_| format!("host must be a number, not {h:?}"))?,
        )),
    };
    let after = match q.after.as_str() {
        "" => None,
        a => Some(
            a.parse()
                .map_err(|_| format!("after must be a number, not {a:?}"))?,
        ),
    };
    Ok((
        tab,
        AlertFilter {
            states: vec![tab],
            kind,
            host,
            severity,
        },
        after,
    ))
}

/// `GET /alerts`.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<AlertsQuery>,
) -> Response {
    let hosts = crate::hosts::host_names(&web, &p, None)
        .await
        .unwrap_or_default();
    let mut page = AlertsPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        rows: Vec::new(),
        tab: "firing",
        kind: q.kind.clone(),
        host: q.host.clone(),
        severity: q.severity.clone(),
        kinds: AlertKind::ALL.iter().map(|k| k.as_str()).collect(),
        severities: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        hosts,
        can_ack: p.scope() >= Scope::Operate,
        ctl: String::new(),
        next: None,
        error: None,
    };
    let (tab, filter, after) = match parse_query(&q) {
        Ok(parsed) => parsed,
        Err(reason) => {
            page.error = Some(reason);
            return (StatusCode::BAD_REQUEST, page).into_response();
        }
    };
    page.tab = tab.as_str();
    page.ctl = CtlCommand::new(&["alerts", "list"])
        .flag("state", tab.as_str(), "")
        .flag_if("kind", &q.kind)
        .flag_if("host", &q.host)
        .flag_if("severity", &q.severity)
        .to_string();
    match web
        .api
        .alerts
        .list(&p, filter, Page::after(PAGE, after))
        .await
    {
        Ok(found) => {
            page.rows = found.items.iter().map(AlertRow::of).collect();
            page.next = found.next.map(|n| {
                format!(
                    "/alerts?tab={}&kind={}&host={}&severity={}&after={n}",
                    tab.as_str(),
                    query_value(&q.kind),
                    query_value(&q.host),
                    query_value(&q.severity)
                )
            });
            page.into_response()
        }
        Err(err) => error_page(err),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoteForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /alerts/{id}/ack` and `/alerts/{id}/unack`.
pub(crate) async fn act(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<NoteForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let done = match action.as_str() {
        "ack" => web.api.alerts.acknowledge(&p, id, &form.note).await,
        "unack" => web.api.alerts.unacknowledge(&p, id, &form.note).await,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match done {
        Ok(a) => Redirect::to(&format!("/alerts?tab={}", a.state.as_str())).into_response(),
        Err(err) => error_page(err),
    }
}
