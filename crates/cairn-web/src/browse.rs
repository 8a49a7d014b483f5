//! Browsing a snapshot as a lazy tree: a page shows one directory; with
//! HTMX each folder opens by fetching only its own children. Every listing
//! is a `restic ls` job on a host that uses the repository, which the
//! service waits for; the page says so while it waits.

use std::collections::BTreeSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::EntryKind;
use cairn_server::auth::{Operator, Principal};
use cairn_server::{ServiceError, ServiceResult};
use cairn_store::{CachedSnapshot, HostId, Repository, RepositoryId, Scope};
use serde::Deserialize;

use crate::Web;
use crate::format::{bytes, iso, time};
use crate::pages::csrf_of;
use crate::quote::{query_value, shell_word};
use crate::reply::error_page;
use crate::restore::RestoreFields;
use crate::session::SignedIn;
use crate::snapshots::{SnapshotRow, VARY, snapshot_row, wants_partial};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BrowseQuery {
    #[serde(default)]
    path: String,
}

/// A snapshot's repository and cached facts; a viewer is refused here, as
/// the service would refuse the job (browsing, comparing and restoring run
/// restic on a host).
pub(crate) async fn load(
    web: &Web,
    p: &Principal,
    repo: i64,
    snapshot: &str,
) -> ServiceResult<(Repository, CachedSnapshot)> {
    p.require(Scope::Operate)?;
    let repository = web.api.repos.get(p, RepositoryId(repo)).await?;
    let snapshot = web.api.jobs.snapshot(p, repository.id, snapshot).await?;
    Ok((repository, snapshot))
}

/// The host that runs restic for a snapshot's pages: `preferred` (the
/// snapshot's own host) when it is connected and uses the repository, else
/// any connected host that uses it. When none is connected the page says so
/// at once, and no job is queued to wait for one.
pub(crate) async fn runner(
    web: &Web,
    p: &Principal,
    repo: &Repository,
    preferred: Option<HostId>,
) -> Result<(HostId, String), String> {
    let mut candidates: Vec<HostId> = preferred
        .filter(|h| repo.host_ids.contains(h))
        .into_iter()
        .collect();
    candidates.extend(repo.host_ids.iter().filter(|h| Some(**h) != preferred));
    let mut names = Vec::new();
    for id in candidates {
        let view = web
            .api
            .fleet
            .get_host(p, id)
            .await
            .map_err(|e| e.to_string())?;
        if view.online && view.host.status == cairn_store::HostStatus::Approved {
            return Ok((id, view.host.facts.hostname));
        }
        names.push(view.host.facts.hostname);
    }
    Err(if names.is_empty() {
        format!(
            "repository {} is assigned to no host: restic runs on a host that uses it",
            repo.name
        )
    } else {
        format!(
            "no host that uses repository {} is connected ({}): restic runs on one of them; try again when one is online",
            repo.name,
            names.join(", ")
        )
    })
}

/// What a failed listing or comparison says, with a hint when the host
/// took too long.
pub(crate) fn job_error(err: &ServiceError, host: &str) -> String {
    match err {
        ServiceError::FailedPrecondition(text) if text.contains("no result within") => format!(
            "{host} did not answer in time ({text}); it may have gone offline or be busy with another job"
        ),
        other => other.to_string(),
    }
}

/// A path inside a snapshot, as one form: absolute, no trailing `/`, no
/// `.` or empty segments; `..` is refused.
pub(crate) fn clean_path(path: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("{path:?} is not a path inside the snapshot")),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    }
}

/// An element id for a path (ids must not carry the path's own bytes).
pub(crate) fn dom_id(path: &str) -> String {
    // FNV-1a: short, stable, and collisions do not matter at this scale.
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// One entry of a directory, as a row of the tree.
pub(crate) struct EntryRow {
    name: String,
    pub(crate) path: String,
    query: String,
    dom: String,
    is_dir: bool,
    kind: &'static str,
    size: String,
    mtime: String,
    mtime_iso: String,
    checked: bool,
}

pub(crate) fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "folder",
        EntryKind::Symlink => "link",
        EntryKind::Other => "other",
    }
}

/// One directory's children, as the tree shows them (for HTMX, alone).
#[derive(Template, WebTemplate)]
#[template(path = "snapshot_tree.html")]
pub(crate) struct TreeItems {
    pub(crate) entries: Vec<EntryRow>,
    truncated: bool,
    error: Option<String>,
    /// This directory's page (a retry that works without script).
    retry: String,
    base: String,
    can_restore: bool,
}

/// The base URL of a snapshot's pages.
pub(crate) fn base_of(repo: RepositoryId, snapshot: &str) -> String {
    format!("/snapshots/{}/{snapshot}", repo.0)
}

/// Lists `path` of the snapshot on a host that uses its repository.
pub(crate) async fn list_dir(
    web: &Web,
    p: &Principal,
    repo: &Repository,
    snap: &CachedSnapshot,
    path: &str,
    selected: &BTreeSet<String>,
) -> TreeItems {
    let base = base_of(repo.id, &snap.snapshot_id);
    let mut items = TreeItems {
        entries: Vec::new(),
        truncated: false,
        error: None,
        retry: format!("{base}?path={}", query_value(path)),
        base,
        can_restore: p.scope() >= Scope::Operate,
    };
    let (host, hostname) = match runner(web, p, repo, snap.host_id).await {
        Ok(host) => host,
        Err(text) => {
            items.error = Some(text);
            return items;
        }
    };
    let listed = web
        .api
        .jobs
        .browse(p, repo.id, &snap.snapshot_id, path, Some(host))
        .await;
    let part = match listed {
        Ok((_, part)) => part,
        Err(err) => {
            items.error = Some(job_error(&err, &hostname));
            return items;
        }
    };
    items.truncated = part.truncated;
    // restic lists the directory itself beside its children.
    let mut entries: Vec<_> = part
        .entries
        .into_iter()
        .filter(|e| e.path != path && parent(&e.path) == path)
        .collect();
    entries.sort_by(|a, b| {
        (b.kind == EntryKind::Dir)
            .cmp(&(a.kind == EntryKind::Dir))
            .then_with(|| a.name.cmp(&b.name))
    });
    items.entries = entries
        .into_iter()
        .map(|e| EntryRow {
            query: query_value(&e.path),
            dom: dom_id(&e.path),
            is_dir: e.kind == EntryKind::Dir,
            kind: kind_name(e.kind),
            size: if e.kind == EntryKind::File {
                bytes(e.size)
            } else {
                String::new()
            },
            mtime: e.mtime.map(|t| time(Some(t))).unwrap_or_default(),
            mtime_iso: e.mtime.map(iso).unwrap_or_default(),
            checked: selected.contains(&e.path),
            name: e.name,
            path: e.path,
        })
        .collect();
    items
}

#[derive(Template, WebTemplate)]
#[template(path = "snapshot.html")]
struct BrowsePage {
    user: Operator,
    csrf: String,
    facts: SnapshotRow,
    base: String,
    path: String,
    /// (path, name, escaped path) from the root down to `path`.
    crumbs: Vec<(String, String, String)>,
    tree: TreeItems,
    form: RestoreFields,
    can_restore: bool,
    ctl: String,
}

fn crumbs(path: &str) -> Vec<(String, String, String)> {
    let mut out = vec![("/".to_string(), "root".to_string(), query_value("/"))];
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push('/');
        at.push_str(part);
        out.push((at.clone(), part.to_string(), query_value(&at)));
    }
    out
}

/// The page of a snapshot at `path`, with the restore form as `form` has it.
pub(crate) async fn render(
    web: &Web,
    p: &Principal,
    repo: &Repository,
    snap: &CachedSnapshot,
    path: &str,
    form: RestoreFields,
    status: StatusCode,
) -> Response {
    let tree = list_dir(web, p, repo, snap, path, &form.selected).await;
    let form = match form.complete(web, p, repo, snap, &tree).await {
        Ok(form) => form,
        Err(err) => return error_page(err),
    };
    let mut ctl = format!(
        "cairn ctl snapshots browse --repo {} --snapshot {}",
        repo.id.0,
        shell_word(&snap.snapshot_id)
    );
    if path != "/" {
        ctl.push_str(&format!(" --path {}", shell_word(path)));
    }
    let page = BrowsePage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        facts: snapshot_row(snap, &repo.name),
        base: base_of(repo.id, &snap.snapshot_id),
        path: path.to_string(),
        crumbs: crumbs(path),
        can_restore: p.scope() >= Scope::Operate,
        tree,
        form,
        ctl,
    };
    (status, page).into_response()
}

/// The snapshot and the directory a browse URL names, or the page that
/// says why not.
async fn open(
    web: &Web,
    p: &Principal,
    (repo, snapshot): (i64, String),
    path: &str,
) -> Result<(Repository, CachedSnapshot, String), Response> {
    let (repo, snap) = load(web, p, repo, &snapshot).await.map_err(error_page)?;
    let path =
        clean_path(path).map_err(|reason| error_page(ServiceError::invalid("path", reason)))?;
    Ok((repo, snap, path))
}

/// `GET /snapshots/{repo}/{snapshot}?path=`: the snapshot at one directory.
pub(crate) async fn page(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(at): Path<(i64, String)>,
    Query(q): Query<BrowseQuery>,
) -> Response {
    let (repo, snap, path) = match open(&web, &p, at, &q.path).await {
        Ok(opened) => opened,
        Err(refused) => return refused,
    };
    let form = RestoreFields::default();
    render(&web, &p, &repo, &snap, &path, form, StatusCode::OK).await
}

/// `GET /snapshots/{repo}/{snapshot}/tree?path=`: one directory's children,
/// for HTMX to put under its folder; a plain request gets the page there.
pub(crate) async fn children(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(at): Path<(i64, String)>,
    Query(q): Query<BrowseQuery>,
) -> Response {
    let (repo, snap, path) = match open(&web, &p, at, &q.path).await {
        Ok(opened) => opened,
        Err(refused) => return refused,
    };
    if !wants_partial(&headers) {
        let base = base_of(repo.id, &snap.snapshot_id);
        return Redirect::to(&format!("{base}?path={}", query_value(&path))).into_response();
    }
    // A failed listing is still a 200: HTMX swaps only those, and the
    // error belongs under the folder that was opened.
    let items = list_dir(&web, &p, &repo, &snap, &path, &BTreeSet::new()).await;
    (VARY, items).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_never_climb() {
        assert_eq!(clean_path("").as_deref(), Ok("/"));
        assert_eq!(clean_path("/srv//data/./x/").as_deref(), Ok("/srv/data/x"));
        assert_eq!(clean_path("srv").as_deref(), Ok("/srv"));
        assert!(clean_path("/srv/../etc").is_err());
        assert_eq!(parent("/srv/a"), "/srv");
        assert_eq!(parent("/srv"), "/");
    }

    #[test]
    fn a_host_that_took_too_long_is_named() {
        let late = ServiceError::FailedPrecondition(
            "job 5 gave no result within a minute; follow it with WatchJob".into(),
        );
        let text = job_error(&late, "web01");
        assert!(text.starts_with("web01 did not answer in time"), "{text}");
        assert!(text.contains("job 5"));
        let other = ServiceError::NotFound("snapshot");
        assert_eq!(job_error(&other, "web01"), "snapshot not found");
    }

    #[test]
    fn crumbs_lead_from_the_root() {
        let c = crumbs("/srv/a b");
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].0, "/srv/a b");
        assert_eq!(c[2].2, "%2Fsrv%2Fa+b");
        assert_ne!(dom_id("/a"), dom_id("/b"));
    }
}
