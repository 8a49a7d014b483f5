//! One host: its facts, the schedule set the server wants beside what its
//! agent applied, its repositories, schedules, jobs and snapshots; and the
//! operator's actions on it: approve (against the fingerprint its agent
//! printed), reject, revoke, delete, label, and run a job now.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::schedules::ScheduleFilter;
use cairn_store::{HostId, HostStatus, JobFilter, Page, Scope};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::format::time;
use crate::host_run::{RunForm, ctl_line};
use crate::hosts::{HostRow, host_row};
use crate::jobs::{JobsTable, row};
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

/// Jobs shown on a host's page.
const RECENT_JOBS: u32 = 20;
/// Repositories listed on a host's page (and offered to run a job on).
const REPOSITORIES: u32 = 100;

/// A schedule as the host's page lists it.
pub(crate) struct ScheduleLine {
    id: i64,
    name: String,
    description: String,
    repository: String,
    paths: String,
    enabled: bool,
}

/// What a refused action leaves on the page: the error, and the run form
/// as the operator typed it.
#[derive(Debug, Default)]
pub(crate) struct Feedback {
    pub(crate) error: Option<(StatusCode, String)>,
    pub(crate) run: RunForm,
}

#[derive(Template, WebTemplate)]
#[template(path = "host.html")]
struct HostPage {
    user: Operator,
    csrf: String,
    host: HostRow,
    reason: String,
    kernel: String,
    restic: String,
    address: String,
    /// The agent's clock against the server's, and whether it is off.
    clock: Option<(String, bool)>,
    created_at: String,
    schedules_desired: u64,
    schedules_applied: u64,
    /// The schedules the server wants on the host (enabled or not).
    schedules: Vec<ScheduleLine>,
    /// Repositories the host may use: id and name.
    repositories: Vec<(i64, String)>,
    jobs: JobsTable,
    can_operate: bool,
    pending: bool,
    approved: bool,
    error: Option<String>,
    run: RunForm,
    run_ctl: String,
    /// The labels as the edit form shows them.
    labels_text: String,
    /// The `cairn ctl` line that sets the labels the host has.
    labels_ctl: String,
}

pub(crate) async fn render_host(
    web: &Web,
    p: &Principal,
    id: HostId,
    feedback: Feedback,
) -> Response {
    let view = match web.api.fleet.get_host(p, id).await {
        Ok(view) => view,
        Err(err) => return error_page(err),
    };
    let filter = JobFilter {
        host: Some(id),
        ..Default::default()
    };
    let jobs = match web.api.jobs.list(p, filter, Page::first(RECENT_JOBS)).await {
        Ok(page) => page,
        Err(err) => return error_page(err),
    };
    let repositories = match web
        .api
        .repos
        .list(p, Some(id), Page::first(REPOSITORIES))
        .await
    {
        Ok(page) => page.items,
        Err(err) => return error_page(err),
    };
    let filter = ScheduleFilter {
        host: Some(id),
        ..Default::default()
    };
    let schedules = match web.api.schedules.list(p, filter).await {
        Ok(list) => list,
        Err(err) => return error_page(err),
    };
    let repo_name = |rid: cairn_store::RepositoryId| {
        repositories
            .iter()
            .find(|r| r.id == rid)
            .map_or_else(|| format!("#{}", rid.0), |r| r.name.clone())
    };
    let h = &view.host;
    let (status, error) = match feedback.error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    let mut run = feedback.run;
    if run.kind.is_empty() {
        run.kind = "backup".into();
    }
    if run.repository.is_empty()
        && let [only] = repositories.as_slice()
    {
        run.repository = only.id.0.to_string();
    }
    let page = HostPage {
        clock: crate::format::clock_offset(view.clock_offset_ms),
        user: p.user.clone(),
        csrf: csrf_of(p),
        reason: h.status_reason.clone().unwrap_or_default(),
        kernel: h.facts.kernel.clone(),
        restic: h.facts.restic_version.clone(),
        address: h.last_addr.clone().unwrap_or_default(),
        created_at: time(Some(h.created_at)),
        schedules_desired: h.schedules_desired_version,
        schedules_applied: h.schedules_applied_version,
        schedules: schedules
            .iter()
            .map(|s| ScheduleLine {
                id: s.id.0,
                name: s.fields.name.clone(),
                description: web
                    .api
                    .schedules
                    .preview(p, &s.fields.cron, &s.fields.timezone, 0)
                    .map_or_else(|_| s.fields.cron.clone(), |c| c.description),
                repository: repo_name(s.repository_id),
                paths: s.fields.paths.join(", "),
                enabled: s.fields.enabled,
            })
            .collect(),
        repositories: repositories
            .iter()
            .map(|r| (r.id.0, r.name.clone()))
            .collect(),
        jobs: JobsTable {
            rows: jobs.items.iter().map(row).collect(),
            filtered: false,
            next: jobs.next.map(|_| format!("/jobs?host={}", id.0)),
            error: None,
        },
        can_operate: p.scope() >= Scope::Operate,
        pending: matches!(h.status, HostStatus::Pending | HostStatus::Rejected),
        approved: h.status == HostStatus::Approved,
        run_ctl: ctl_line(id.0, &run),
        run,
        labels_text: h
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        labels_ctl: h
            .labels
            .iter()
            .fold(
                CtlCommand::new(&["hosts", "label"]).arg(id.0),
                |c, (k, v)| c.arg(format!("{k}={v}")),
            )
            .to_string(),
        host: host_row(&view),
        error,
    };
    (status, page).into_response()
}

/// `GET /hosts/{id}`.
pub(crate) async fn detail(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    render_host(&web, &p, HostId(id), Feedback::default()).await
}

/// The fields of a host action's form.
#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    _csrf: String,
    /// For approve: the fingerprint the agent printed (optional).
    #[serde(default)]
    fingerprint: String,
    /// For reject and revoke: why.
    #[serde(default)]
    reason: String,
    /// For revoke and delete: the operator ticked the confirmation.
    #[serde(default)]
    confirm: String,
    /// For labels: the new labels, `key=value` separated by commas.
    #[serde(default)]
    labels: String,
}

/// `POST /hosts/{id}/{action}`: approve, reject, revoke or delete.
pub(crate) async fn act(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let id = HostId(id);
    let confirmed = form.confirm == "yes";
    let fleet = &web.api.fleet;
    let done = match action.as_str() {
        "approve" => {
            let expected = form.fingerprint.trim();
            let expected = (!expected.is_empty()).then_some(expected);
            fleet.approve(&p, id, expected).await.map(|_| ())
        }
        "reject" => fleet.reject(&p, id, &form.reason).await.map(|_| ()),
        "labels" => match crate::hosts::parse_labels(&form.labels) {
            Ok(labels) => fleet.set_labels(&p, id, labels).await.map(|_| ()),
            Err(reason) => Err(ServiceError::invalid("labels", reason)),
        },
        "revoke" | "delete" if !confirmed => Err(ServiceError::invalid(
            "confirm",
            format!("tick the box to confirm you want to {action} this host"),
        )),
        "revoke" => fleet.revoke(&p, id, &form.reason).await.map(|_| ()),
        "delete" => {
            return match fleet.delete(&p, id).await {
                Ok(()) => Redirect::to("/hosts").into_response(),
                Err(err) => error_page(err),
            };
        }
        _ => Err(ServiceError::NotFound("host action")),
    };
    match done {
        Ok(()) => Redirect::to(&format!("/hosts/{}", id.0)).into_response(),
        // A refusal the operator can fix is shown on the host's page.
        Err(err)
            if matches!(
                status_of(&err),
                StatusCode::BAD_REQUEST | StatusCode::CONFLICT
            ) =>
        {
            let feedback = Feedback {
                error: Some((status_of(&err), err.to_string())),
                ..Default::default()
            };
            render_host(&web, &p, id, feedback).await
        }
        Err(err) => error_page(err),
    }
}
