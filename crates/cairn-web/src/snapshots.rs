//! Snapshots: the cached list of every repository (filtered by repository,
//! host and tag in the URL, newest first), a refresh from the repository,
//! and what the snapshot pages share: a snapshot's facts as a row, the
//! repositories and hosts to pick from.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceResult;
use cairn_server::auth::{Operator, Principal};
use cairn_store::{CachedSnapshot, HostId, Page, Repository, RepositoryId, Scope, SnapshotFilter};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::{bytes, iso, time};
use crate::pages::{csrf_of, csrf_refused};
use crate::quote::{query_value, shell_word};
use crate::reply::error_page;
use crate::session::SignedIn;

/// Snapshots shown per page.
const PAGE: u32 = 50;

/// The list's filters, as the URL carries them; an empty value is no filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SnapshotsQuery {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    after: String,
}

/// One snapshot as a row.
pub(crate) struct SnapshotRow {
    pub(crate) repo_id: i64,
    pub(crate) repo_name: String,
    pub(crate) id: String,
    pub(crate) short_id: String,
    pub(crate) time: String,
    pub(crate) time_iso: String,
    pub(crate) hostname: String,
    /// The host that made it (0: no backup of this server made it).
    pub(crate) host_id: i64,
    pub(crate) paths: Vec<String>,
    pub(crate) tags: Vec<String>,
    /// What its backup read, when a backup of this server made it.
    pub(crate) size: String,
    /// What its backup added to the repository.
    pub(crate) added: String,
    /// The snapshot to compare it with: restic's parent, else the next
    /// older one of the same host and paths on the page.
    pub(crate) previous: Option<String>,
}

pub(crate) fn snapshot_row(s: &CachedSnapshot, repo_name: &str) -> SnapshotRow {
    SnapshotRow {
        repo_id: s.repository_id.0,
        repo_name: repo_name.to_string(),
        id: s.snapshot_id.clone(),
        short_id: s.short_id.clone(),
        time: time(Some(s.time)),
        time_iso: iso(s.time),
        hostname: s.hostname.clone(),
        host_id: s.host_id.map_or(0, |h| h.0),
        paths: s.paths.clone(),
        tags: s.tags.clone(),
        size: s
            .summary
            .as_ref()
            .map_or_else(String::new, |b| bytes(b.total_bytes_processed)),
        added: s
            .summary
            .as_ref()
            .map_or_else(String::new, |b| bytes(b.data_added)),
        previous: s.parent.clone(),
    }
}

/// Rows newest first, each with the snapshot to compare it with.
pub(crate) fn rows_of(snapshots: &[(CachedSnapshot, String)]) -> Vec<SnapshotRow> {
    let mut rows: Vec<SnapshotRow> = snapshots
        .iter()
        .map(|(s, name)| snapshot_row(s, name))
        .collect();
    for i in 0..rows.len() {
        if rows[i].previous.is_some() {
            continue;
        }
        let (this, older) = rows.split_at_mut(i + 1);
        let row = &mut this[i];
        row.previous = older
            .iter()
            .find(|o| {
                o.repo_id == row.repo_id && o.hostname == row.hostname && o.paths == row.paths
            })
            .map(|o| o.id.clone());
    }
    rows
}

#[derive(Template, WebTemplate)]
#[template(path = "snapshots_table.html")]
pub(crate) struct SnapshotsTable {
    pub(crate) rows: Vec<SnapshotRow>,
    /// The repository every row is of, when one is chosen: rows can then be
    /// compared with each other.
    pub(crate) compare_repo: Option<i64>,
    /// Browse, compare and restore run jobs: operators and admins.
    pub(crate) can_operate: bool,
    pub(crate) filtered: bool,
    /// No repository exists yet.
    pub(crate) no_repos: bool,
    /// The next page's URL.
    pub(crate) next: Option<String>,
    /// On a host's page: the whole list, when there is more.
    pub(crate) all_link: Option<String>,
    /// The table is a host's (its empty state says so).
    pub(crate) for_host: bool,
    /// Why the filters were refused (shown in place of the rows).
    pub(crate) error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "snapshots.html")]
struct SnapshotsPage {
    user: Operator,
    csrf: String,
    table: SnapshotsTable,
    repos: Vec<(i64, String)>,
    hosts: Vec<(i64, String)>,
    repo: String,
    host: String,
    tag: String,
    can_operate: bool,
    /// The `cairn ctl snapshots list` line for these filters (needs a
    /// repository).
    ctl: Option<String>,
}

/// The parsed filters.
struct Filters {
    repo: Option<RepositoryId>,
    host: Option<HostId>,
    tag: Option<String>,
    after: Option<i64>,
}

fn parse(q: &SnapshotsQuery) -> Result<Filters, String> {
    let number = |field: &str, text: &str| match text.trim() {
        "" => Ok(None),
        t => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{field} must be a number, not {t:?}")),
    };
    Ok(Filters {
        repo: number("repository", &q.repo)?.map(RepositoryId),
        host: number("host", &q.host)?.map(HostId),
        tag: Some(q.tag.trim().to_string()).filter(|t| !t.is_empty()),
        after: number("after", &q.after)?,
    })
}

/// Snapshots of `repos` matching `filter`, newest first, merged into one
/// page: every repository is asked for the page before the same time, so
/// one cursor (a snapshot time) pages through them all.
pub(crate) async fn merged(
    web: &Web,
    p: &Principal,
    repos: &[Repository],
    filter: &SnapshotFilter,
    page: Page,
) -> ServiceResult<(Vec<(CachedSnapshot, String)>, Option<i64>)> {
    let mut all = Vec::new();
    let mut more = false;
    for r in repos {
        let got = web
            .api
            .jobs
            .list_snapshots(p, r.id, filter.clone(), page)
            .await?;
        more |= got.next.is_some();
        all.extend(got.items.into_iter().map(|s| (s, r.name.clone())));
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.0.time));
    if all.len() > page.limit as usize {
        all.truncate(page.limit as usize);
        more = true;
    }
    let next = if more {
        all.last().map(|(s, _)| s.time)
    } else {
        None
    };
    Ok((all, next))
}

pub(crate) async fn repositories(web: &Web, p: &Principal) -> ServiceResult<Vec<Repository>> {
    Ok(web
        .api
        .repos
        .list(p, None, Page::first(Page::MAX_LIMIT))
        .await?
        .items)
}

pub(crate) use crate::hosts::host_names;
pub(crate) use crate::reply::{VARY_HTMX as VARY, wants_partial};

/// `GET /snapshots`: the whole page, or (for HTMX) just the table.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Query(q): Query<SnapshotsQuery>,
) -> Response {
    let repos = match repositories(&web, &p).await {
        Ok(repos) => repos,
        Err(err) => return error_page(err),
    };
    let can_operate = p.scope() >= Scope::Operate;
    let filtered = !(q.host.is_empty() && q.tag.is_empty());
    let mut table = SnapshotsTable {
        rows: Vec::new(),
        compare_repo: None,
        can_operate,
        filtered,
        no_repos: repos.is_empty(),
        next: None,
        all_link: None,
        for_host: false,
        error: None,
    };
    let mut ctl = None;
    match parse(&q) {
        Err(reason) => table.error = Some(reason),
        Ok(f) => {
            // With one repository, it is the one chosen.
            let chosen = f.repo.or(match repos.as_slice() {
                [only] => Some(only.id),
                _ => None,
            });
            let picked: Vec<Repository> = match chosen {
                Some(id) => match repos.iter().find(|r| r.id == id) {
                    Some(r) => vec![r.clone()],
                    None => {
                        table.error = Some(format!("there is no repository {}", id.0));
                        Vec::new()
                    }
                },
                None => repos.clone(),
            };
            let filter = SnapshotFilter {
                host: f.host,
                tags: f.tag.clone().into_iter().collect(),
            };
            match merged(&web, &p, &picked, &filter, Page::after(PAGE, f.after)).await {
                Ok((snapshots, next)) => {
                    table.rows = rows_of(&snapshots);
                    // Built from the parsed filters, never from the raw query.
                    table.next = next.map(|cursor| {
                        format!(
                            "/snapshots?repo={}&host={}&tag={}&after={cursor}",
                            f.repo.map_or(String::new(), |r| r.0.to_string()),
                            f.host.map_or(String::new(), |h| h.0.to_string()),
                            query_value(f.tag.as_deref().unwrap_or_default()),
                        )
                    });
                }
                Err(err) => return error_page(err),
            }
            if picked.len() == 1 && table.error.is_none() {
                table.compare_repo = chosen.map(|r| r.0);
                let mut line = format!("cairn ctl snapshots list --repo {}", picked[0].id.0);
                if let Some(h) = f.host {
                    line.push_str(&format!(" --host {}", h.0));
                }
                if let Some(t) = &f.tag {
                    line.push_str(&format!(" --tag {}", shell_word(t)));
                }
                ctl = Some(line);
            }
        }
    }
    if wants_partial(&headers) {
        return (VARY, table).into_response();
    }
    let status = if table.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let hosts = match host_names(&web, &p, None).await {
        Ok(hosts) => hosts,
        Err(err) => return error_page(err),
    };
    let page = SnapshotsPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        table,
        repos: repos.iter().map(|r| (r.id.0, r.name.clone())).collect(),
        hosts,
        repo: q.repo,
        host: q.host,
        tag: q.tag,
        can_operate,
        ctl,
    };
    (status, VARY, page).into_response()
}

/// The refresh form.
#[derive(Debug, Deserialize)]
pub(crate) struct RefreshForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    repo: String,
}

/// `POST /snapshots/refresh`: lists the repository anew on a host that uses
/// it, and shows that job.
pub(crate) async fn refresh(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<RefreshForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let Ok(repo) = form.repo.trim().parse::<i64>() else {
        return error_page(cairn_server::ServiceError::invalid(
            "repository",
            "pick the repository to list anew",
        ));
    };
    match web
        .api
        .jobs
        .refresh_snapshots(&p, RepositoryId(repo), None)
        .await
    {
        Ok(job) => Redirect::to(&format!("/jobs/{}", job.id.0)).into_response(),
        Err(err) => error_page(err),
    }
}
