//! Jobs: the list (its filters and paging live in the URL), one job with its
//! live progress and log, and cancel. The live view is an SSE stream fed by
//! `Jobs::watch`, the same service gRPC's `WatchJob` and `cairn demo` use.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::{JobKind, JobStatus, Progress, Trigger};
use cairn_store::{HostId, Job, JobFilter, JobId, LogLine, Page, Scope};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::{bytes, duration, iso, time};
use crate::pages::{CsrfForm, csrf_of, csrf_refused};
use crate::reply::{VARY_HTMX, error_page, wants_partial};
use crate::session::SignedIn;

/// Jobs shown per page.
const PAGE: u32 = 50;
/// Log lines a job page opens with (the newest follow live).
const LOG_TAIL: u32 = 500;

/// The list's filters, as the URL carries them; an empty value is no filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobsQuery {
    #[serde(default)]
    host: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    after: String,
}

/// One job as a row of the list.
pub(crate) struct JobRow {
    id: i64,
    kind: &'static str,
    status: &'static str,
    hostname: String,
    host_id: i64,
    repository: String,
    trigger: &'static str,
    created_at: String,
    created_iso: String,
    took: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "jobs.html")]
struct JobsPage {
    user: cairn_server::auth::Operator,
    csrf: String,
    table: JobsTable,
    /// The `cairn ctl` line that lists the same jobs.
    ctl: String,
    host: String,
    kind: String,
    status: String,
    trigger: String,
    kinds: Vec<&'static str>,
    statuses: Vec<&'static str>,
    triggers: Vec<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "jobs_table.html")]
pub(crate) struct JobsTable {
    pub(crate) rows: Vec<JobRow>,
    pub(crate) filtered: bool,
    /// The next page's URL, while there is one.
    pub(crate) next: Option<String>,
    /// Why the filters were refused (shown in place of the rows).
    pub(crate) error: Option<String>,
}

pub(crate) fn row(job: &Job) -> JobRow {
    JobRow {
        id: job.id.0,
        kind: job.kind.as_str(),
        status: job.status.as_str(),
        hostname: job.hostname.clone(),
        host_id: job.host_id.0,
        repository: job.repository_name.clone().unwrap_or_else(|| "-".into()),
        trigger: job.trigger.as_str(),
        created_at: time(Some(job.created_at)),
        created_iso: iso(job.created_at),
        took: match (job.started_at, job.finished_at) {
            (Some(start), Some(end)) => duration(end.saturating_sub(start)),
            _ => "-".into(),
        },
    }
}

/// The filter a query names; a value that names nothing is a clear error.
fn filter_of(q: &JobsQuery) -> Result<(JobFilter, Page), String> {
    let kind = match q.kind.as_str() {
        "" => None,
        k => Some(JobKind::parse(k).ok_or_else(|| format!("unknown job kind {k:?}"))?),
    };
    let status = match q.status.as_str() {
        "" => None,
        s => Some(JobStatus::parse(s).ok_or_else(|| format!("unknown job status {s:?}"))?),
    };
    let trigger = match q.trigger.as_str() {
        "" => None,
        t => Some(Trigger::parse(t).ok_or_else(|| format!("unknown job trigger {t:?}"))?),
    };
    let number = |field: &str, text: &str| match text {
        "" => Ok(None),
        t => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{field} must be a number, not {t:?}")),
    };
    let filter = JobFilter {
        host: number("host", &q.host)?.map(HostId),
        kind,
        status,
        trigger,
        ..Default::default()
    };
    Ok((filter, Page::after(PAGE, number("after", &q.after)?)))
}

/// The `cairn ctl jobs list` line for a filter.
fn ctl_list(filter: &JobFilter) -> String {
    let mut line = String::from("cairn ctl jobs list");
    if let Some(host) = filter.host {
        line += &format!(" --host {}", host.0);
    }
    if let Some(kind) = filter.kind {
        line += &format!(" --kind {kind}");
    }
    if let Some(status) = filter.status {
        line += &format!(" --status {status}");
    }
    if let Some(trigger) = filter.trigger {
        line += &format!(" --trigger {trigger}");
    }
    line
}

/// `GET /jobs`: the whole page, or (for HTMX) just the table.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Query(q): Query<JobsQuery>,
) -> Response {
    let parsed = filter_of(&q);
    let ctl = parsed
        .as_ref()
        .map_or_else(|_| "cairn ctl jobs list".into(), |(f, _)| ctl_list(f));
    let table = match parsed {
        Ok((filter, page)) => match web.api.jobs.list(&p, filter, page).await {
            Ok(jobs) => {
                // Built from the parsed filter, never from the raw query.
                let next = jobs.next.map(|cursor| {
                    format!(
                        "/jobs?host={}&kind={}&status={}&trigger={}&after={cursor}",
                        filter.host.map_or(String::new(), |h| h.0.to_string()),
                        filter.kind.map_or("", JobKind::as_str),
                        filter.status.map_or("", JobStatus::as_str),
                        filter.trigger.map_or("", Trigger::as_str),
                    )
                });
                let filtered = !(q.host.is_empty()
                    && q.kind.is_empty()
                    && q.status.is_empty()
                    && q.trigger.is_empty());
                JobsTable {
                    rows: jobs.items.iter().map(row).collect(),
                    filtered,
                    next,
                    error: None,
                }
            }
            Err(err) => return error_page(err),
        },
        Err(reason) => JobsTable {
            rows: Vec::new(),
            filtered: true,
            next: None,
            error: Some(reason),
        },
    };
    let vary = VARY_HTMX;
    // An HTMX swap wants the table, a refusal inside it (4xx answers are not
    // swapped); a history restore and a plain request want the whole page.
    if wants_partial(&headers) {
        return (vary, table).into_response();
    }
    let status = if table.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = JobsPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        table,
        ctl,
        host: q.host,
        kind: q.kind,
        status: q.status,
        trigger: q.trigger,
        kinds: JobKind::ALL.iter().map(|k| k.as_str()).collect(),
        statuses: JobStatus::ALL.iter().map(|s| s.as_str()).collect(),
        triggers: Trigger::ALL.iter().map(|t| t.as_str()).collect(),
    };
    (status, vary, page).into_response()
}

/// One log line as the page shows it.
pub(crate) struct LineView {
    pub(crate) at: String,
    pub(crate) stream: &'static str,
    pub(crate) level: &'static str,
    pub(crate) text: String,
}

pub(crate) fn line(l: &LogLine) -> LineView {
    LineView {
        at: time(Some(l.at)),
        stream: l.stream.as_str(),
        level: l.level.as_str(),
        text: l.line.clone(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "job.html")]
struct JobPage {
    user: cairn_server::auth::Operator,
    csrf: String,
    job: JobRow,
    status: &'static str,
    live: bool,
    can_cancel: bool,
    error: String,
    snapshot_id: String,
    created_by: String,
    progress: ProgressView,
    lines: Vec<LineView>,
    /// Log lines before the ones shown.
    earlier: u64,
    /// The position of the first log line the page does not have: where its
    /// live stream starts.
    log_next: u64,
}

/// Progress in human units.
#[derive(Default)]
pub(crate) struct ProgressView {
    pub(crate) percent: String,
    pub(crate) files: String,
    pub(crate) bytes: String,
    pub(crate) current: String,
    pub(crate) eta: String,
    /// Bytes per second so far, e.g. `12.5 MiB/s`.
    pub(crate) speed: String,
}

pub(crate) fn progress_view(p: Option<&Progress>) -> ProgressView {
    let Some(p) = p else {
        return ProgressView::default();
    };
    ProgressView {
        percent: format!("{:.0}", p.percent),
        files: format!("{} / {}", p.files_done, p.files_total),
        bytes: format!("{} / {}", bytes(p.bytes_done), bytes(p.bytes_total)),
        current: p.current_files.first().cloned().unwrap_or_default(),
        eta: if p.seconds_remaining > 0 {
            duration(p.seconds_remaining as i64 * 1000)
        } else {
            String::new()
        },
        speed: match p.seconds_elapsed {
            0 => String::new(),
            secs => format!("{}/s", bytes(p.bytes_done / secs)),
        },
    }
}

/// A job's progress as its page opens: the last sample while it runs; once
/// it succeeded, done (with restic's totals when it left a summary).
fn final_progress(job: &Job) -> ProgressView {
    let mut view = progress_view(job.progress.as_ref());
    if job.status == JobStatus::Succeeded {
        view.percent = "100".into();
        view.current.clear();
        view.eta.clear();
        if let Some(s) = &job.summary {
            view.files = s.total_files_processed.to_string();
            view.bytes = bytes(s.total_bytes_processed);
        }
    }
    view
}

/// `GET /jobs/{id}`.
pub(crate) async fn detail(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    let job = match web.api.jobs.get(&p, JobId(id)).await {
        Ok(job) => job,
        Err(err) => return error_page(err),
    };
    let (lines, earlier): (Vec<LineView>, u64) =
        match web.api.jobs.log_tail(&p, JobId(id), LOG_TAIL).await {
            Ok((lines, earlier)) => (lines.iter().map(line).collect(), earlier),
            Err(err) => return error_page(err),
        };
    let live = !job.status.is_terminal();
    JobPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        status: job.status.as_str(),
        live,
        can_cancel: live && p.scope() >= Scope::Operate,
        error: job.error.clone().unwrap_or_default(),
        snapshot_id: job.snapshot_id.clone().unwrap_or_default(),
        created_by: job.created_by_name.clone().unwrap_or_default(),
        progress: final_progress(&job),
        job: row(&job),
        log_next: earlier + lines.len() as u64,
        lines,
        earlier,
    }
    .into_response()
}

/// `POST /jobs/{id}/cancel`.
pub(crate) async fn cancel(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    match web
        .api
        .jobs
        .cancel(&p, JobId(id), "cancelled from the web UI")
        .await
    {
        Ok(_) => Redirect::to(&format!("/jobs/{id}")).into_response(),
        Err(err) => error_page(err),
    }
}
