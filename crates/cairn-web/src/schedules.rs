//! Schedules: each with its cron in its time zone, its next firings as that
//! zone reads them, its catch-up policy, hooks, last success, and the runs
//! it missed (with what became of each).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_server::auth::Operator;
use cairn_server::schedules::{PendingRunFilter, ScheduleFilter};
use cairn_store::{HostId, Page};
use serde::Deserialize;

use crate::Web;
use crate::format::{iso, time};
use crate::hosts::Hostnames;
use crate::pages::csrf_of;
use crate::reply::error_page;
use crate::session::SignedIn;

/// Firings shown ahead, per schedule.
const AHEAD: usize = 5;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SchedulesQuery {
    #[serde(default)]
    host: String,
}

/// A missed run and what became of it.
pub(crate) struct MissedRow {
    fire_at: String,
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
    timezone: String,
    paths: String,
    hooks: String,
    catch_up: &'static str,
    enabled: bool,
    overdue: bool,
    last_success: String,
    last_success_iso: String,
    next: Vec<String>,
    missed: Vec<MissedRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    user: Operator,
    csrf: String,
    rows: Vec<ScheduleRow>,
    host: Option<i64>,
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
                let page = SchedulesPage {
                    user: p.user.clone(),
                    csrf: csrf_of(&p),
                    rows: Vec::new(),
                    host: None,
                    error: Some(format!("host must be a number, not {h:?}")),
                };
                return (StatusCode::BAD_REQUEST, page).into_response();
            }
        },
    };
    let filter = ScheduleFilter {
        host: host.map(HostId),
        ..Default::default()
    };
    let api = &web.api;
    let schedules = match api.schedules.list(&p, filter).await {
        Ok(list) => list,
        Err(err) => return error_page(err),
    };
    let repositories: BTreeMap<_, _> =
        match api.repos.list(&p, None, Page::first(Page::MAX_LIMIT)).await {
            Ok(page) => page.items.into_iter().map(|r| (r.id, r.name)).collect(),
            Err(err) => return error_page(err),
        };
    let mut names = match Hostnames::load(&web, &p).await {
        Ok(names) => names,
        Err(err) => return error_page(err),
    };
    let mut rows = Vec::new();
    for s in &schedules {
        let hostname = names.get(&web, &p, s.host_id).await;
        let missed = PendingRunFilter {
            schedule: Some(s.id),
            include_resolved: true,
            ..Default::default()
        };
        let missed = match api.schedules.pending_runs(&p, missed).await {
            Ok(runs) => runs
                .into_iter()
                .take(10)
                .map(|r| MissedRow {
                    fire_at: time(Some(r.fire_at)),
                    state: r.state.as_str(),
                    reason: r.reason.unwrap_or_default(),
                    job: r.job_id.map(|j| j.0),
                })
                .collect(),
            Err(err) => return error_page(err),
        };
        rows.push(ScheduleRow {
            id: s.id.0,
            name: s.fields.name.clone(),
            host_id: s.host_id.0,
            hostname,
            repository: repositories
                .get(&s.repository_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", s.repository_id.0)),
            cron: s.fields.cron.clone(),
            timezone: if s.fields.timezone.is_empty() {
                "UTC".into()
            } else {
                s.fields.timezone.clone()
            },
            paths: s.fields.paths.join(", "),
            hooks: s.fields.hooks.join(", "),
            catch_up: s.fields.catch_up.as_str(),
            enabled: s.fields.enabled,
            overdue: api.schedules.overdue(s),
            last_success: time(s.last_success_at),
            last_success_iso: s.last_success_at.map(iso).unwrap_or_default(),
            next: if s.fields.enabled {
                api.schedules
                    .next_firings(s, AHEAD)
                    .into_iter()
                    .map(|(_, local)| local)
                    .collect()
            } else {
                Vec::new()
            },
            missed,
        });
    }
    SchedulesPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        rows,
        host,
        error: None,
    }
    .into_response()
}
