//! A host's latest snapshots, for its page: [`host_snapshots`] renders the
//! table, and `GET /hosts/{id}/snapshots` serves it to an HTMX `load`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceResult;
use cairn_server::auth::Principal;
use cairn_store::{HostId, Page, Scope, SnapshotFilter};

use crate::Web;
use crate::session::SignedIn;
use crate::snapshots::{SnapshotsTable, VARY, merged, rows_of, wants_partial};

/// Snapshots a host's page shows.
const HOST_LATEST: u32 = 10;

/// A host's latest snapshots (those it made, in every repository it
/// uses), for its page: `{{ snapshots|safe }}`.
pub(crate) async fn host_snapshots(
    web: &Web,
    p: &Principal,
    host: HostId,
    limit: u32,
) -> ServiceResult<SnapshotsTable> {
    let view = web.api.fleet.get_host(p, host).await?;
    let mut repos = Vec::new();
    for id in &view.host.repository_ids {
        repos.push(web.api.repos.get(p, *id).await?);
    }
    let filter = SnapshotFilter {
        host: Some(host),
        tags: Vec::new(),
    };
    let (snapshots, next) = merged(web, p, &repos, &filter, Page::first(limit)).await?;
    Ok(SnapshotsTable {
        rows: rows_of(&snapshots),
        compare_repo: None,
        can_operate: p.scope() >= Scope::Operate,
        filtered: true,
        no_repos: false,
        next: None,
        all_link: next.map(|_| format!("/snapshots?host={}", host.0)),
        for_host: true,
        error: None,
    })
}

/// `GET /hosts/{id}/snapshots`: a host's latest snapshots, for its page to
/// load (`hx-get`, `hx-trigger="load"`); a plain request gets the list
/// filtered to the host.
pub(crate) async fn for_host(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if !wants_partial(&headers) {
        return Redirect::to(&format!("/snapshots?host={id}")).into_response();
    }
    let table = match host_snapshots(&web, &p, HostId(id), HOST_LATEST).await {
        Ok(table) => table,
        Err(err) => SnapshotsTable {
            rows: Vec::new(),
            compare_repo: None,
            can_operate: false,
            filtered: true,
            no_repos: false,
            next: None,
            all_link: None,
            for_host: true,
            error: Some(err.to_string()),
        },
    };
    (VARY, table).into_response()
}
