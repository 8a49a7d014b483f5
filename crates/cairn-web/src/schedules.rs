//! Schedules: each with its cron in words and in its time zone, its next
//! firings as that zone reads them, its catch-up policy, hooks, last
//! success, and the runs it missed (with what became of each). Operators
//! get the buttons that change them (`schedule_forms`).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_server::auth::{Operator, Principal};
use cairn_server::schedules::{PendingRunFilter, ScheduleFilter};
use cairn_store::{HostId, Page, Scope};
use serde::Deserialize;

use crate::Web;
use crate::format::{iso, time};
use crate::hosts::Hostnames;
use crate::pages::csrf_of;
use crate::reply::error_page;
use crate::schedule_preview::{AHEAD, preview};
use crate::session::SignedIn;

/// Missed runs shown per schedule.
const MISSED_SHOWN: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SchedulesQuery {
    #[serde(default)]
    host: String,
    /// What was just done: `created`, `saved`, `enabled`, `disabled`, `deleted`.
    #[serde(default)]
    done: String,
}

/// A missed run and what became of it.
pub(crate) struct MissedRow {
    fire_at: String,
    fire_at_iso: String,
    state: &'static str,
    reason: String,
    job: Option<i64>,
}

/// One schedule as the page shows it.
pub(crate) struct ScheduleRow {
    id: i64,
    name: String,
    host_id: i64,
    hostname: String,
    repository: String,
    cron: String,
    description: String,
    timezone: String,
    paths: String,
    excludes: String,
    hooks: String,
    catch_up: &'static str,
    enabled: bool,
    overdue: bool,
    last_success: String,
    last_success_iso: String,
    next: Vec<String>,
    /// Why the cron cannot be read any more, if it cannot.
    cron_error: Option<String>,
    missed: Vec<MissedRow>,
    missed_more: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    user: Operator,
    csrf: String,
    rows: Vec<ScheduleRow>,
    host: Option<i64>,
    can_operate: bool,
    done: Option<&'static str>,
    error: Option<String>,
}

/// `GET /schedules`.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<SchedulesQuery>,
) -> Response {
    let host = match q.host.as_str() {
        "" => None,
        h => match h.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let error = format!("host must be a number, not {h:?}");
                return page(
                    &p,
                    Vec::new(),
                    None,
                    None,
                    Some(error),
                    StatusCode::BAD_REQUEST,
                );
            }
        },
    };
    let done = match q.done.as_str() {
        "created" => Some("Schedule created; its host has been sent its new set."),
        "saved" => Some("Schedule saved; its host has been sent its new set."),
        "enabled" => Some("Schedule turned on."),
        "disabled" => Some("Schedule turned off: it fires no more until turned on."),
        "deleted" => Some("Schedule deleted."),
        _ => None,
    };
    match rows(&web, &p, host).await {
        Ok(rows) => page(&p, rows, host, done, None, StatusCode::OK),
        Err(err) => error_page(err),
    }
}

/// The list with an error above it (a refused action).
pub(crate) async fn render_list(
    web: &Web,
    p: &Principal,
    host: Option<i64>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = match error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    match rows(web, p, host).await {
        Ok(rows) => page(p, rows, host, None, error, status),
        Err(err) => error_page(err),
    }
}

fn page(
    p: &Principal,
    rows: Vec<ScheduleRow>,
    host: Option<i64>,
    done: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = SchedulesPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        rows,
        host,
        can_operate: p.scope() >= Scope::Operate,
        done,
        error,
    };
    (status, page).into_response()
}

async fn rows(
    web: &Web,
    p: &Principal,
    host: Option<i64>,
) -> cairn_server::ServiceResult<Vec<ScheduleRow>> {
    let filter = ScheduleFilter {
        host: host.map(HostId),
        ..Default::default()
    };
    let api = &web.api;
    let schedules = api.schedules.list(p, filter).await?;
    let repositories: BTreeMap<_, _> = api
        .repos
        .list(p, None, Page::first(Page::MAX_LIMIT))
        .await?
        .items
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let mut names = Hostnames::load(web, p).await?;
    let mut rows = Vec::new();
    for s in &schedules {
        let hostname = names.get(web, p, s.host_id).await;
        let missed = PendingRunFilter {
            schedule: Some(s.id),
            include_resolved: true,
            ..Default::default()
        };
        let runs = api.schedules.pending_runs(p, missed).await?;
        let missed_more = runs.len() > MISSED_SHOWN;
        let missed = runs
            .into_iter()
            .take(MISSED_SHOWN)
            .map(|r| MissedRow {
                fire_at: time(Some(r.fire_at)),
                fire_at_iso: iso(r.fire_at),
                state: r.state.as_str(),
                reason: r.reason.unwrap_or_default(),
                job: r.job_id.map(|j| j.0),
            })
            .collect();
        let f = &s.fields;
        let reading = preview(web, p, &f.cron, &f.timezone);
        rows.push(ScheduleRow {
            id: s.id.0,
            name: f.name.clone(),
            host_id: s.host_id.0,
            hostname,
            repository: repositories
                .get(&s.repository_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", s.repository_id.0)),
            cron: f.cron.clone(),
            description: reading.description,
            timezone: if f.timezone.is_empty() {
                "UTC".into()
            } else {
                f.timezone.clone()
            },
            paths: f.paths.join(", "),
            excludes: f.excludes.join(", "),
            hooks: f.hooks.join(", "),
            catch_up: f.catch_up.as_str(),
            enabled: f.enabled,
            overdue: api.schedules.overdue(s),
            last_success: time(s.last_success_at),
            last_success_iso: s.last_success_at.map(iso).unwrap_or_default(),
            next: if f.enabled {
                reading.firings.into_iter().take(AHEAD).collect()
            } else {
                Vec::new()
            },
            cron_error: reading.error,
            missed,
            missed_more,
        });
    }
    Ok(rows)
}
