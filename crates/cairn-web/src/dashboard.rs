//! The dashboard: what needs attention first (hosts waiting for approval,
//! approved hosts that went quiet, overdue schedules, missed runs, failed
//! jobs), then what runs now. The tab title counts what needs attention.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_domain::JobStatus;
use cairn_server::auth::{Operator, Principal};
use cairn_server::schedules::ScheduleFilter;
use cairn_store::{HostStatus, JobFilter, Page};

use crate::Web;
use crate::format::{iso, time};
use crate::jobs::{JobsTable, row};
use crate::pages::csrf_of;
use crate::reply::error_page;
use crate::session::SignedIn;

/// Hosts read for the overview (a larger fleet shows its first ones).
const HOSTS: u32 = 500;
/// Failed jobs and running jobs shown.
const JOBS: u32 = 10;

/// Something an operator should look at, worst first.
pub(crate) struct Attention {
    /// `pending`, `offline`, `overdue`, `missed`.
    kind: &'static str,
    what: String,
    href: String,
    since: String,
    since_iso: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    user: Operator,
    csrf: String,
    hosts: usize,
    online: usize,
    attention: Vec<Attention>,
    failed: JobsTable,
    running: JobsTable,
}

async fn build(web: &Web, p: &Principal) -> cairn_server::ServiceResult<DashboardPage> {
    let hosts = web
        .api
        .fleet
        .list_hosts(p, None, &BTreeMap::new(), None, Page::first(HOSTS))
        .await?
        .items;
    let mut attention = Vec::new();
    for view in &hosts {
        let h = &view.host;
        let href = format!("/hosts/{}", h.id.0);
        let seen = h.last_seen_at.unwrap_or(h.created_at);
        match h.status {
            HostStatus::Pending => attention.push(Attention {
                kind: "pending",
                what: format!("{} waits for approval", h.facts.hostname),
                href,
                since: time(Some(h.created_at)),
                since_iso: iso(h.created_at),
            }),
            HostStatus::Approved if !view.online => attention.push(Attention {
                kind: "offline",
                what: format!("{} is offline", h.facts.hostname),
                href,
                since: time(Some(seen)),
                since_iso: iso(seen),
            }),
            _ => {}
        }
    }
    let names: BTreeMap<_, _> = hosts
        .iter()
        .map(|v| (v.host.id, v.host.facts.hostname.clone()))
        .collect();
    let schedules = web.api.schedules.list(p, ScheduleFilter::default()).await?;
    for s in schedules.iter().filter(|s| web.api.schedules.overdue(s)) {
        let last = s.last_success_at.unwrap_or(s.created_at);
        attention.push(Attention {
            kind: "overdue",
            what: format!(
                "schedule {} on {} has not succeeded in time",
                s.fields.name,
                names.get(&s.host_id).map_or("?", String::as_str)
            ),
            href: format!("/jobs?host={}", s.host_id.0),
            since: time(Some(last)),
            since_iso: iso(last),
        });
    }
    for s in schedules.iter().filter(|s| s.pending_run_count > 0) {
        attention.push(Attention {
            kind: "missed",
            what: format!(
                "schedule {} on {}: {} missed run(s) waiting",
                s.fields.name,
                names.get(&s.host_id).map_or("?", String::as_str),
                s.pending_run_count
            ),
            href: format!("/hosts/{}", s.host_id.0),
            since: String::new(),
            since_iso: String::new(),
        });
    }
    let failed = JobFilter {
        status: Some(JobStatus::Failed),
        ..Default::default()
    };
    let failed = web.api.jobs.list(p, failed, Page::first(JOBS)).await?;
    let running = JobFilter {
        active_only: true,
        ..Default::default()
    };
    let running = web.api.jobs.list(p, running, Page::first(JOBS)).await?;
    Ok(DashboardPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        online: hosts.iter().filter(|v| v.online).count(),
        hosts: hosts.len(),
        attention,
        failed: JobsTable {
            rows: failed.items.iter().map(row).collect(),
            filtered: true,
            next: failed.next.map(|_| "/jobs?status=failed".into()),
            error: None,
        },
        running: JobsTable {
            rows: running.items.iter().map(row).collect(),
            filtered: true,
            next: None,
            error: None,
        },
    })
}

/// `GET /`.
pub(crate) async fn page(State(web): State<Web>, SignedIn(p): SignedIn) -> Response {
    match build(&web, &p).await {
        Ok(page) => page.into_response(),
        Err(err) => error_page(err),
    }
}
