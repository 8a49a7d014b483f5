//! The dashboard: what needs attention first (hosts waiting for approval,
//! approved hosts that went quiet, overdue schedules, missed runs, failed
//! jobs), the fleet worst first with each host's last good backup and its
//! last 30 days, then what runs now with its progress. The tab title counts
//! what needs attention and the favicon shows the fleet's state.
//!
//! It stays live through one SSE stream (`/events/fleet`) that only says
//! "something changed": the page then asks for its live part again through
//! HTMX, so what it shows always comes from the same render, as the signed-in
//! operator, and a stalled browser holds nothing but a counter.

use std::collections::BTreeSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_domain::JobStatus;
use cairn_server::auth::{Operator, Principal};
use cairn_server::fleet::{HostQuery, HostView};
use cairn_server::schedules::ScheduleFilter;
use cairn_store::{HostId, HostStatus, JobFilter, Page};

use crate::Web;
use crate::fleet_view::{FleetFacts, FleetRow, STRIP_DAYS, fleet_rows, fleet_state, rank_hosts};
use crate::format::{iso, time};
use crate::jobs::{JobsTable, ProgressView, progress_view, row};
use crate::pages::csrf_of;
use crate::reply::{VARY_HTMX, error_page, wants_partial};
use crate::session::SignedIn;

/// Hosts read per page while the overview reads the whole fleet.
const HOSTS: u32 = 500;
/// Rows of the fleet table: the worst hosts of the whole fleet; the host
/// list has the rest. At 1,000 hosts every row's strip made the page 3 MB
/// and its render the cost of the page (benchmark B4).
const FLEET_ROWS: usize = 100;
/// Items of "needs attention" listed; the count says how many more.
const ATTENTION: usize = 100;
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

/// A job running now, with its progress.
pub(crate) struct Running {
    id: i64,
    kind: &'static str,
    hostname: String,
    status: &'static str,
    percent: f64,
    progress: ProgressView,
}

/// The part of the dashboard that follows the fleet live.
#[derive(Template, WebTemplate)]
#[template(path = "dashboard_live.html")]
pub(crate) struct DashboardLive {
    hosts: usize,
    online: usize,
    /// `ok`, `warn` or `bad`: the favicon.
    state: &'static str,
    attention: Vec<Attention>,
    fleet: Vec<FleetRow>,
    /// Fleet hosts beyond the table's rows (all better than those shown).
    more_hosts: usize,
    /// Items needing attention beyond those listed.
    more_attention: usize,
    strip_days: u32,
    failed: JobsTable,
    running: Vec<Running>,
    /// Alerts firing unacknowledged, newest first.
    alerts: Vec<crate::alerts::AlertRow>,
    /// More fire than are shown.
    more_alerts: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    user: Operator,
    csrf: String,
    live: DashboardLive,
}

/// Why each host needs attention, besides its row in the fleet table.
fn host_attention(hosts: &[cairn_server::fleet::HostView]) -> Vec<Attention> {
    let mut attention = Vec::new();
    for view in hosts {
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
    attention
}

/// Every host, page by page: the overview ranks the whole fleet.
async fn whole_fleet(web: &Web, p: &Principal) -> cairn_server::ServiceResult<Vec<HostView>> {
    let mut hosts = Vec::new();
    let mut page = Page::first(HOSTS);
    loop {
        let listed = web
            .api
            .fleet
            .list_hosts(p, &HostQuery::default(), page)
            .await?;
        hosts.extend(listed.items);
        match listed.next {
            Some(cursor) => page = Page::after(HOSTS, Some(cursor)),
            None => return Ok(hosts),
        }
    }
}

pub(crate) async fn build(web: &Web, p: &Principal) -> cairn_server::ServiceResult<DashboardLive> {
    let hosts = whole_fleet(web, p).await?;
    let mut attention = host_attention(&hosts);
    let names: std::collections::BTreeMap<_, _> = hosts
        .iter()
        .map(|v| (v.host.id, v.host.facts.hostname.clone()))
        .collect();
    let name_of = |id| names.get(&id).map_or("?", String::as_str).to_string();
    let schedules = web.api.schedules.list(p, ScheduleFilter::default()).await?;
    let mut overdue = BTreeSet::new();
    for s in schedules.iter().filter(|s| web.api.schedules.overdue(s)) {
        overdue.insert(s.host_id);
        let last = s.last_success_at.unwrap_or(s.created_at);
        attention.push(Attention {
            kind: "overdue",
            what: format!(
                "schedule {} on {} has not succeeded in time",
                s.fields.name,
                name_of(s.host_id)
            ),
            href: format!("/jobs?host={}", s.host_id.0),
            since: time(Some(last)),
            since_iso: iso(last),
        });
    }
    let mut missed = BTreeSet::new();
    for s in schedules.iter().filter(|s| s.pending_run_count > 0) {
        missed.insert(s.host_id);
        attention.push(Attention {
            kind: "missed",
            what: format!(
                "schedule {} on {}: {} missed run(s) waiting",
                s.fields.name,
                name_of(s.host_id),
                s.pending_run_count
            ),
            href: format!("/hosts/{}", s.host_id.0),
            since: String::new(),
            since_iso: String::new(),
        });
    }
    // Every host ranked by its last backups; the strips only of those shown.
    let mut history = web.api.fleet.backup_history(p).await?;
    let ranked = rank_hosts(
        &hosts,
        &FleetFacts {
            history: &history,
            overdue: &overdue,
            missed: &missed,
        },
    );
    let shown = &ranked[..ranked.len().min(FLEET_ROWS)];
    let shown_ids: Vec<HostId> = shown.iter().map(|(_, v)| v.host.id).collect();
    web.api
        .fleet
        .add_backup_days(p, &mut history, STRIP_DAYS, &shown_ids)
        .await?;
    let fleet = fleet_rows(
        shown,
        &FleetFacts {
            history: &history,
            overdue: &overdue,
            missed: &missed,
        },
    );
    let more_attention = attention.len().saturating_sub(ATTENTION);
    attention.truncate(ATTENTION);
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
    let firing = cairn_store::AlertFilter {
        states: vec![cairn_domain::AlertState::Firing],
        ..Default::default()
    };
    let alerts = web.api.alerts.list(p, firing, Page::first(JOBS)).await?;
    Ok(DashboardLive {
        alerts: alerts
            .items
            .iter()
            .map(crate::alerts::AlertRow::of)
            .collect(),
        more_alerts: alerts.next.is_some(),
        online: hosts.iter().filter(|v| v.online).count(),
        hosts: hosts.len(),
        state: fleet_state(&ranked),
        attention,
        more_attention,
        more_hosts: ranked.len() - fleet.len(),
        fleet,
        strip_days: STRIP_DAYS,
        failed: JobsTable {
            rows: failed.items.iter().map(row).collect(),
            filtered: true,
            next: failed.next.map(|_| "/jobs?status=failed".into()),
            error: None,
        },
        running: running
            .items
            .iter()
            .map(|job| Running {
                id: job.id.0,
                kind: job.kind.as_str(),
                hostname: job.hostname.clone(),
                status: job.status.as_str(),
                percent: job.progress.as_ref().map_or(0.0, |p| p.percent),
                progress: progress_view(job.progress.as_ref()),
            })
            .collect(),
    })
}

/// `GET /`: the whole page, or (for HTMX, as the live stream asks) its
/// live part.
pub(crate) async fn page(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
) -> Response {
    let live = match build(&web, &p).await {
        Ok(live) => live,
        Err(err) => return error_page(err),
    };
    if wants_partial(&headers) {
        return (VARY_HTMX, live).into_response();
    }
    let page = DashboardPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        live,
    };
    (VARY_HTMX, page).into_response()
}
