//! Comparing two snapshots of a repository: what was added, removed and
//! changed, with each file's size change and the total. restic's diff
//! names the paths; the sizes come from listing both snapshots (restic ls),
//! all three run as jobs on a host that uses the repository.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_domain::{ChangeKind, EntryKind, SnapshotDiff};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_store::{CachedSnapshot, Page, Repository, RepositoryId, Scope, SnapshotFilter};
use serde::Deserialize;

use crate::Web;
use crate::browse::{job_error, runner};
use crate::command::shell_word;
use crate::format::bytes;
use crate::pages::csrf_of;
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;
use crate::snapshots::{SnapshotRow, snapshot_row};

/// Snapshots offered in the two pickers.
const CHOICES: u32 = 200;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DiffQuery {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
}

/// One changed path.
pub(crate) struct ChangeRow {
    path: String,
    what: &'static str,
    /// `+1.5 KiB`, `-20 B`, or empty when unknown or a folder.
    change: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "snapshot_diff.html")]
struct DiffPage {
    user: Operator,
    csrf: String,
    repo_id: i64,
    repo_name: String,
    /// (id, label) of the repository's newest snapshots.
    choices: Vec<(String, String)>,
    a_id: String,
    b_id: String,
    a: Option<SnapshotRow>,
    b: Option<SnapshotRow>,
    error: Option<String>,
    compared: bool,
    hostname: String,
    added: Vec<ChangeRow>,
    removed: Vec<ChangeRow>,
    changed: Vec<ChangeRow>,
    /// The net size change of the files listed.
    net: String,
    /// restic's totals, in words.
    totals: String,
    /// Some sizes could not be read (a listing failed or was cut short).
    sizes_partial: bool,
    truncated: bool,
    ctl: String,
}

/// `1 file`, `3 files`.
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A signed size change in human units.
fn signed(delta: i128) -> String {
    let size = bytes(u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX));
    match delta {
        0 => "±0 B".into(),
        d if d > 0 => format!("+{size}"),
        _ => format!("-{size}"),
    }
}

/// Sizes of the files of a snapshot listing, by path.
type Sizes = HashMap<String, (EntryKind, u64)>;

async fn sizes(
    web: &Web,
    p: &Principal,
    repo: RepositoryId,
    snapshot: &str,
    host: cairn_store::HostId,
) -> Option<Sizes> {
    // No path: the whole snapshot, as far as one listing holds (a path
    // beyond that has no size here).
    let (_, part) = web
        .api
        .jobs
        .browse(p, repo, snapshot, "", Some(host))
        .await
        .ok()?;
    Some(
        part.entries
            .into_iter()
            .map(|e| (e.path, (e.kind, e.size)))
            .collect(),
    )
}

/// Sorts the diff's paths into added, removed and changed, with sizes.
fn sort(
    diff: &SnapshotDiff,
    a: Option<&Sizes>,
    b: Option<&Sizes>,
) -> Vec<(ChangeKind, ChangeRow, Option<i128>)> {
    let file = |sizes: Option<&Sizes>, path: &str| -> Option<Option<u64>> {
        // Outer None: unknown; inner None: not a file.
        let (kind, size) = sizes?.get(path).copied()?;
        Some((kind == EntryKind::File).then_some(size))
    };
    diff.changes
        .iter()
        .map(|c| {
            let folder = c.path.ends_with('/');
            let path = c.path.trim_end_matches('/');
            let delta: Option<i128> = match c.kind {
                _ if folder => None,
                ChangeKind::Added => file(b, path).flatten().map(i128::from),
                ChangeKind::Removed => file(a, path).flatten().map(|s| -i128::from(s)),
                _ => match (file(a, path).flatten(), file(b, path).flatten()) {
                    (Some(old), Some(new)) => Some(i128::from(new) - i128::from(old)),
                    _ => None,
                },
            };
            let what = match c.kind {
                _ if folder => "folder",
                ChangeKind::Metadata => "metadata",
                ChangeKind::TypeChanged => "type",
                ChangeKind::Modified => "content",
                _ => "file",
            };
            let row = ChangeRow {
                path: c.path.clone(),
                what,
                // A file whose size could not be read says so.
                change: match delta {
                    Some(d) => signed(d),
                    None if folder || c.kind == ChangeKind::Metadata => String::new(),
                    None => "?".into(),
                },
            };
            (c.kind, row, delta)
        })
        .collect()
}

fn bad(status: StatusCode, mut page: DiffPage, text: String) -> Response {
    page.error = Some(text);
    (status, page).into_response()
}

/// `GET /snapshots/diff?repo=&a=&b=`: the two pickers, and once both are
/// chosen, what changed from `a` to `b`.
pub(crate) async fn page(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<DiffQuery>,
) -> Response {
    // Comparing runs restic on a host: operators and admins, as the
    // service has it.
    if let Err(err) = p.require(Scope::Operate) {
        return error_page(err);
    }
    let repo = match q.repo.trim().parse::<i64>() {
        Ok(id) => match web.api.repos.get(&p, RepositoryId(id)).await {
            Ok(repo) => repo,
            Err(err) => return error_page(err),
        },
        Err(_) => {
            return error_page(ServiceError::invalid(
                "repo",
                "say which repository's snapshots to compare (open Compare from the snapshot list)",
            ));
        }
    };
    let choices = match web
        .api
        .jobs
        .list_snapshots(&p, repo.id, SnapshotFilter::default(), Page::first(CHOICES))
        .await
    {
        Ok(page) => page
            .items
            .iter()
            .map(|s| (s.snapshot_id.clone(), choice_label(s)))
            .collect(),
        Err(err) => return error_page(err),
    };
    let (a_id, b_id) = (q.a.trim().to_string(), q.b.trim().to_string());
    let mut page = DiffPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        repo_id: repo.id.0,
        repo_name: repo.name.clone(),
        choices,
        // Typed by whoever made the link: quoted, so pasting the line can
        // only ever run `cairn ctl`.
        ctl: format!(
            "cairn ctl snapshots diff --repo {} {} {}",
            repo.id.0,
            shell_word(&a_id),
            shell_word(&b_id)
        ),
        a_id,
        b_id,
        a: None,
        b: None,
        error: None,
        compared: false,
        hostname: String::new(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        net: String::new(),
        totals: String::new(),
        sizes_partial: false,
        truncated: false,
    };
    if page.a_id.is_empty() || page.b_id.is_empty() {
        return page.into_response();
    }
    let (a, b) = match pair(&web, &p, &repo, &page.a_id, &page.b_id).await {
        Ok(pair) => pair,
        Err(err) => return bad(status_of(&err), page, err.to_string()),
    };
    page.a = Some(snapshot_row(&a, &repo.name));
    page.b = Some(snapshot_row(&b, &repo.name));
    page.ctl = format!(
        "cairn ctl snapshots diff --repo {} {} {}",
        repo.id.0,
        shell_word(&a.snapshot_id),
        shell_word(&b.snapshot_id)
    );
    let (host, hostname) = match runner(&web, &p, &repo, b.host_id.or(a.host_id)).await {
        Ok(host) => host,
        Err(text) => return bad(StatusCode::SERVICE_UNAVAILABLE, page, text),
    };
    let diff = match web
        .api
        .jobs
        .diff(
            &p,
            repo.id,
            &a.snapshot_id,
            &b.snapshot_id,
            false,
            Some(host),
        )
        .await
    {
        Ok((_, diff)) => diff,
        Err(err) => return bad(status_of(&err), page, job_error(&err, &hostname)),
    };
    page.compared = true;
    page.hostname = hostname;
    page.truncated = diff.truncated;
    let (sizes_a, sizes_b) = if diff.changes.is_empty() {
        (None, None)
    } else {
        futures::join!(
            sizes(&web, &p, repo.id, &a.snapshot_id, host),
            sizes(&web, &p, repo.id, &b.snapshot_id, host)
        )
    };
    let mut net: i128 = 0;
    for (kind, row, delta) in sort(&diff, sizes_a.as_ref(), sizes_b.as_ref()) {
        if row.what != "folder" && row.what != "metadata" && delta.is_none() {
            page.sizes_partial = true;
        }
        net += delta.unwrap_or(0);
        match kind {
            ChangeKind::Added => page.added.push(row),
            ChangeKind::Removed => page.removed.push(row),
            _ => page.changed.push(row),
        }
    }
    page.net = signed(net);
    if let Some(s) = diff.stats {
        page.totals = format!(
            "{} changed; {} and {} added ({} of new data); {} and {} removed ({} of data no longer referenced)",
            count(s.changed_files, "file"),
            count(s.added_files, "file"),
            count(s.added_dirs, "folder"),
            bytes(s.added_bytes),
            count(s.removed_files, "file"),
            count(s.removed_dirs, "folder"),
            bytes(s.removed_bytes)
        );
    }
    page.into_response()
}

/// The two snapshots, by id, from the repository's cached list.
async fn pair(
    web: &Web,
    p: &Principal,
    repo: &Repository,
    a: &str,
    b: &str,
) -> cairn_server::ServiceResult<(CachedSnapshot, CachedSnapshot)> {
    let a = web.api.jobs.snapshot(p, repo.id, a).await?;
    let b = web.api.jobs.snapshot(p, repo.id, b).await?;
    Ok((a, b))
}

fn choice_label(s: &CachedSnapshot) -> String {
    format!(
        "{} · {} · {} · {}",
        s.short_id,
        crate::format::time(Some(s.time)),
        s.hostname,
        s.paths.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_domain::DiffChange;

    #[test]
    fn sizes_change_per_file_and_folders_have_none() {
        let diff = SnapshotDiff {
            changes: vec![
                DiffChange {
                    path: "/s/a".into(),
                    kind: ChangeKind::Modified,
                },
                DiffChange {
                    path: "/s/new/".into(),
                    kind: ChangeKind::Added,
                },
                DiffChange {
                    path: "/s/new/f".into(),
                    kind: ChangeKind::Added,
                },
                DiffChange {
                    path: "/s/gone".into(),
                    kind: ChangeKind::Removed,
                },
            ],
            ..Default::default()
        };
        let a: Sizes = [("/s/a", 10), ("/s/gone", 7)]
            .iter()
            .map(|(p, s)| (p.to_string(), (EntryKind::File, *s)))
            .collect();
        let mut b: Sizes = [("/s/a", 25), ("/s/new/f", 3)]
            .iter()
            .map(|(p, s)| (p.to_string(), (EntryKind::File, *s)))
            .collect();
        b.insert("/s/new".into(), (EntryKind::Dir, 0));
        let rows = sort(&diff, Some(&a), Some(&b));
        let deltas: Vec<_> = rows.iter().map(|(_, _, d)| *d).collect();
        assert_eq!(deltas, vec![Some(15), None, Some(3), Some(-7)]);
        assert_eq!(rows[0].1.change, "+15 B");
        assert_eq!(rows[3].1.change, "-7 B");
        assert_eq!(rows[1].1.what, "folder");
        assert_eq!(signed(0), "±0 B");
    }
}
