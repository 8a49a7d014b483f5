//! Repositories: where hosts back up to, which hosts use each (its secrets
//! never leave the server but inside a job to one of them), its last check
//! and connection test, and (for admins) the form that adds one. Changing
//! them is `repo_forms`' business.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::JobKind;
use cairn_server::auth::{Operator, Principal};
use cairn_server::schedules::ScheduleFilter;
use cairn_store::{HostId, HostStatus, JobFilter, Page, RepositoryId, Scope};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::{iso, time};
use crate::hosts::{Hostnames, host_names};
use crate::pages::{CsrfForm, csrf_of, csrf_refused};
use crate::reply::error_page;
use crate::repo_forms::{RepoFormView, assign_command};
use crate::session::SignedIn;

/// A job that touched a repository, as one line: its status, when, a link.
pub(crate) struct JobLine {
    id: i64,
    status: &'static str,
    at: String,
    at_iso: String,
}

/// A host that uses a repository, and how many of its schedules do.
pub(crate) struct HostUse {
    id: i64,
    name: String,
    schedules: usize,
}

/// One repository as the page shows it.
pub(crate) struct RepoRow {
    id: i64,
    name: String,
    url: String,
    env_keys: String,
    hosts: Vec<HostUse>,
    schedules: usize,
    last_check: Option<JobLine>,
    last_test: Option<JobLine>,
    /// Approved hosts that do not use it yet (for the assign form).
    assignable: Vec<(i64, String)>,
    assign_command: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "repositories.html")]
struct ReposPage {
    user: Operator,
    csrf: String,
    rows: Vec<RepoRow>,
    can_operate: bool,
    can_admin: bool,
    form: RepoFormView,
    /// What was just done, said once after the redirect.
    done: Option<String>,
    /// Why the last action on a repository was refused.
    error: Option<String>,
}

/// What the page says above the list.
pub(crate) enum Note {
    None,
    Done(String),
    Error(String),
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReposQuery {
    /// A repository just created: its id.
    #[serde(default)]
    created: String,
    /// `updated`, `deleted`, `assigned` or `unassigned`.
    #[serde(default)]
    done: String,
}

/// `GET /repositories`.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<ReposQuery>,
) -> Response {
    let done = match (q.created.parse::<i64>(), q.done.as_str()) {
        (Ok(id), _) => created_note(&web, &p, RepositoryId(id)).await,
        (_, "updated") => Some("Repository saved.".into()),
        (_, "deleted") => Some("Repository deleted from Cairn; its data is untouched.".into()),
        (_, "assigned") => Some("The host may now use the repository.".into()),
        (_, "unassigned") => Some("The host no longer uses the repository.".into()),
        _ => None,
    };
    let note = done.map_or(Note::None, Note::Done);
    render(&web, &p, RepoFormView::default(), note, StatusCode::OK).await
}

/// "Created …", with the command that does the same from a script.
async fn created_note(web: &Web, p: &Principal, id: RepositoryId) -> Option<String> {
    let repo = web.api.repos.get(p, id).await.ok()?;
    Some(format!(
        "Created {}. From a script: {}",
        repo.name,
        crate::repo_forms::create_command(
            &repo.name,
            &repo.url_redacted,
            !repo.env_keys.is_empty()
        )
    ))
}

/// The last job of `kind` on a repository.
async fn last_job(
    web: &Web,
    p: &Principal,
    id: RepositoryId,
    kind: JobKind,
) -> cairn_server::ServiceResult<Option<JobLine>> {
    let filter = JobFilter {
        repository: Some(id),
        kind: Some(kind),
        ..Default::default()
    };
    let page = web.api.jobs.list(p, filter, Page::first(1)).await?;
    Ok(page.items.into_iter().next().map(|j| {
        let at = j.finished_at.unwrap_or(j.created_at);
        JobLine {
            id: j.id.0,
            status: j.status.as_str(),
            at: time(Some(at)),
            at_iso: iso(at),
        }
    }))
}

/// The page, with the create form as given (kept after a refused submit).
pub(crate) async fn render(
    web: &Web,
    p: &Principal,
    form: RepoFormView,
    note: Note,
    status: StatusCode,
) -> Response {
    let (done, error) = match note {
        Note::None => (None, None),
        Note::Done(text) => (Some(text), None),
        Note::Error(text) => (None, Some(text)),
    };
    match rows(web, p).await {
        Ok(rows) => {
            let page = ReposPage {
                user: p.user.clone(),
                csrf: csrf_of(p),
                rows,
                can_operate: p.scope() >= Scope::Operate,
                can_admin: p.scope() >= Scope::Admin,
                form,
                done,
                error,
            };
            (status, page).into_response()
        }
        Err(err) => error_page(err),
    }
}

async fn rows(web: &Web, p: &Principal) -> cairn_server::ServiceResult<Vec<RepoRow>> {
    let api = &web.api;
    let repos = api
        .repos
        .list(p, None, Page::first(Page::MAX_LIMIT))
        .await?;
    let mut names = Hostnames::load(web, p).await?;
    // Schedules per repository and host: what unassigning or deleting takes.
    let mut scheduled: BTreeMap<(RepositoryId, HostId), usize> = BTreeMap::new();
    for s in api.schedules.list(p, ScheduleFilter::default()).await? {
        *scheduled.entry((s.repository_id, s.host_id)).or_default() += 1;
    }
    let approved: Vec<(i64, String)> = if p.scope() >= Scope::Admin {
        host_names(web, p, Some(HostStatus::Approved)).await?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for r in repos.items {
        let mut hosts = Vec::new();
        for id in &r.host_ids {
            hosts.push(HostUse {
                id: id.0,
                name: names.get(web, p, *id).await,
                schedules: scheduled.get(&(r.id, *id)).copied().unwrap_or(0),
            });
        }
        rows.push(RepoRow {
            id: r.id.0,
            schedules: hosts.iter().map(|h| h.schedules).sum(),
            assignable: approved
                .iter()
                .filter(|(id, _)| !r.host_ids.contains(&HostId(*id)))
                .cloned()
                .collect(),
            assign_command: assign_command(r.id.0, None),
            hosts,
            last_check: last_job(web, p, r.id, JobKind::Check).await?,
            last_test: last_job(web, p, r.id, JobKind::Snapshots).await?,
            name: r.name,
            url: r.url_redacted,
            env_keys: r.env_keys.join(", "),
        });
    }
    Ok(rows)
}

/// `POST /repositories/{id}/test`: lists the repository's snapshots on a
/// host that uses it, and shows that job.
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
    match web
        .api
        .jobs
        .refresh_snapshots(&p, RepositoryId(id), None)
        .await
    {
        Ok(job) => Redirect::to(&format!("/jobs/{}", job.id.0)).into_response(),
        Err(err) => error_page(err),
    }
}
