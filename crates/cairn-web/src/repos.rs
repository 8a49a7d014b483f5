//! Repositories: where hosts back up to, which hosts use each (its secrets
//! never leave the server but inside a job to one of them), its last check,
//! and a connection test (a snapshots job on a host that uses it).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::JobKind;
use cairn_server::auth::Operator;
use cairn_store::{JobFilter, Page, RepositoryId, Scope};

use crate::Web;
use crate::csrf::token_matches;
use crate::format::time;
use crate::hosts::Hostnames;
use crate::pages::{CsrfForm, csrf_of, csrf_refused};
use crate::reply::error_page;
use crate::session::SignedIn;

/// One repository as the page shows it.
pub(crate) struct RepoRow {
    id: i64,
    name: String,
    url: String,
    env_keys: String,
    hosts: Vec<(i64, String)>,
    last_check: String,
    last_check_status: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "repositories.html")]
struct ReposPage {
    user: Operator,
    csrf: String,
    rows: Vec<RepoRow>,
    can_operate: bool,
}

/// `GET /repositories`.
pub(crate) async fn list(State(web): State<Web>, SignedIn(p): SignedIn) -> Response {
    let api = &web.api;
    let repos = match api.repos.list(&p, None, Page::first(Page::MAX_LIMIT)).await {
        Ok(page) => page.items,
        Err(err) => return error_page(err),
    };
    let mut names = match Hostnames::load(&web, &p).await {
        Ok(names) => names,
        Err(err) => return error_page(err),
    };
    let mut rows = Vec::new();
    for r in repos {
        let mut hosts = Vec::new();
        for id in &r.host_ids {
            hosts.push((id.0, names.get(&web, &p, *id).await));
        }
        let checks = JobFilter {
            repository: Some(r.id),
            kind: Some(JobKind::Check),
            ..Default::default()
        };
        let last = match api.jobs.list(&p, checks, Page::first(1)).await {
            Ok(page) => page.items.into_iter().next(),
            Err(err) => return error_page(err),
        };
        rows.push(RepoRow {
            id: r.id.0,
            name: r.name,
            url: r.url_redacted,
            env_keys: r.env_keys.join(", "),
            hosts,
            last_check: last.as_ref().map_or_else(
                || "never".into(),
                |j| time(j.finished_at.or(Some(j.created_at))),
            ),
            last_check_status: last.as_ref().map_or("", |j| j.status.as_str()),
        });
    }
    ReposPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        rows,
        can_operate: p.scope() >= Scope::Operate,
    }
    .into_response()
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
