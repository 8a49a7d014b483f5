//! Restoring from a snapshot: files and folders ticked in the tree (one
//! form across every folder opened), a target host and directory, then a
//! summary the operator confirms before the job is queued. A refusal comes
//! back on the snapshot's page with everything the operator chose.

use std::collections::BTreeSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::jobs::RestoreRequest;
use cairn_store::{CachedSnapshot, HostId, HostStatus, Repository, Scope};

use crate::Web;
use crate::browse::{TreeItems, clean_path, load, render};
use crate::csrf::token_matches;
use crate::pages::{csrf_of, csrf_refused};
use crate::quote::shell_word;
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;
use crate::snapshots::{SnapshotRow, host_names, snapshot_row};

/// A host the files may be written to.
pub(crate) struct HostChoice {
    pub(crate) id: i64,
    pub(crate) name: String,
    /// The repository is assigned to it (else the job hands it the
    /// repository's secrets: admins only).
    pub(crate) assigned: bool,
    pub(crate) selected: bool,
}

/// What the operator chose, as the restore form and the summary carry it.
#[derive(Default)]
pub(crate) struct RestoreFields {
    /// Full paths inside the snapshot; `/` is all of it.
    pub(crate) selected: BTreeSet<String>,
    pub(crate) host: String,
    pub(crate) target: String,
    pub(crate) verify: bool,
    pub(crate) limit: String,
    pub(crate) error: Option<String>,
    /// The input the error is about: `select`, `host`, `target` or `limit`.
    pub(crate) bad: &'static str,
    /// Filled in for the page: the hosts offered, the selections made in
    /// folders the page does not show, whether all of it is ticked.
    pub(crate) hosts: Vec<HostChoice>,
    pub(crate) kept: Vec<String>,
    pub(crate) everything: bool,
}

impl RestoreFields {
    /// The fields ready for the snapshot's page: the hosts this operator may
    /// restore onto (an admin: every approved host; an operator: those that
    /// use the repository), the snapshot's own host chosen first.
    pub(crate) async fn complete(
        mut self,
        web: &Web,
        p: &Principal,
        repo: &Repository,
        snap: &CachedSnapshot,
        tree: &TreeItems,
    ) -> cairn_server::ServiceResult<RestoreFields> {
        let admin = p.scope() >= Scope::Admin;
        let approved = host_names(web, p, Some(HostStatus::Approved)).await?;
        let mut hosts: Vec<HostChoice> = approved
            .into_iter()
            .map(|(id, name)| HostChoice {
                assigned: repo.host_ids.contains(&HostId(id)),
                id,
                name,
                selected: false,
            })
            .filter(|h| admin || h.assigned)
            .collect();
        let wanted = match self.host.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => snap
                .host_id
                .map(|h| h.0)
                .filter(|id| hosts.iter().any(|h| h.id == *id))
                .or_else(|| hosts.iter().find(|h| h.assigned).map(|h| h.id)),
        };
        for h in &mut hosts {
            h.selected = Some(h.id) == wanted;
        }
        self.hosts = hosts;
        let shown: BTreeSet<&str> = tree.entries.iter().map(|e| e.path.as_str()).collect();
        self.kept = self
            .selected
            .iter()
            .filter(|s| *s != "/" && !shown.contains(s.as_str()))
            .cloned()
            .collect();
        self.everything = self.selected.contains("/");
        Ok(self)
    }
}

/// A posted restore form.
struct Posted {
    csrf: String,
    step: String,
    /// The directory the operator was looking at.
    at: String,
    fields: RestoreFields,
}

fn parse(body: &[u8]) -> Posted {
    let mut posted = Posted {
        csrf: String::new(),
        step: String::new(),
        at: "/".into(),
        fields: RestoreFields::default(),
    };
    // A field repeated (the ticked paths) is why this is not `Form`.
    for (key, value) in form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "_csrf" => posted.csrf = value,
            "step" => posted.step = value,
            "at" => posted.at = value,
            "select" => {
                posted.fields.selected.insert(value);
            }
            "host" => posted.fields.host = value,
            "target" => posted.fields.target = value,
            "verify" => posted.fields.verify = value == "yes",
            "limit" => posted.fields.limit = value,
            _ => {}
        }
    }
    posted
}

/// restic's `--include` takes patterns; a name holding `*`, `?`, `[` or
/// `\` must match only itself.
fn include_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The ticked paths without those inside another ticked folder.
fn outermost(selected: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in selected {
        let inside = out.iter().any(|o| {
            o == "/"
                || path
                    .strip_prefix(o.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        });
        if !inside {
            out.push(path.clone());
        }
    }
    out
}

/// The request the form asks for, or which input is wrong and why.
fn request(
    repo: &Repository,
    snap: &CachedSnapshot,
    f: &RestoreFields,
) -> Result<(RestoreRequest, Vec<String>), (&'static str, String)> {
    let mut paths = BTreeSet::new();
    for s in &f.selected {
        paths.insert(clean_path(s).map_err(|reason| ("select", reason))?);
    }
    if paths.is_empty() {
        return Err((
            "select",
            "tick at least one file or folder to restore (or everything in this snapshot)".into(),
        ));
    }
    let paths = outermost(&paths);
    let host = f
        .host
        .trim()
        .parse::<i64>()
        .map_err(|_| ("host", "pick the host that writes the files".to_string()))?;
    let target = f.target.trim();
    if target.is_empty() {
        return Err((
            "target",
            "say where to restore to: a directory on that host, under its agent's restore roots"
                .into(),
        ));
    }
    let limit = match f.limit.trim() {
        "" => 0,
        l => l.parse::<u32>().map_err(|_| {
            (
                "limit",
                format!("the download limit is a whole number of KiB/s, not {l:?}"),
            )
        })?,
    };
    let includes = if paths.iter().any(|p| p == "/") {
        Vec::new()
    } else {
        paths.iter().map(|p| include_pattern(p)).collect()
    };
    let request = RestoreRequest {
        repository: repo.id,
        snapshot_id: snap.snapshot_id.clone(),
        path: String::new(),
        includes,
        excludes: Vec::new(),
        target_host: HostId(host),
        target_path: target.to_string(),
        verify: f.verify,
        limit_download_kib: limit,
    };
    Ok((request, paths))
}

/// Which input a refusal from the service is about, in the operator's words.
fn refusal(err: &ServiceError, host: i64) -> (&'static str, String) {
    match err {
        ServiceError::InvalidArgument { field: "target_path", reason } => {
            ("target", format!("the target directory {reason}"))
        }
        ServiceError::NotFound("host") => (
            "host",
            format!("there is no host {host}: pick one of the approved hosts listed"),
        ),
        // Viewers never get this far: this is a restore onto a host the
        // repository is not assigned to.
        ServiceError::PermissionDenied { .. } => (
            "host",
            "restoring onto a host the repository is not assigned to hands that host the repository's credentials: only an admin may; pick a host that uses the repository".into(),
        ),
        ServiceError::FailedPrecondition(text) => ("host", text.clone()),
        other => ("", other.to_string()),
    }
}

/// The equivalent command line.
fn ctl_line(r: &RestoreRequest) -> String {
    let mut line = format!(
        "cairn ctl restore --repo {} --snapshot {} --host {} --target {}",
        r.repository.0,
        shell_word(&r.snapshot_id),
        r.target_host.0,
        shell_word(&r.target_path)
    );
    for include in &r.includes {
        line.push_str(&format!(" --include {}", shell_word(include)));
    }
    if r.verify {
        line.push_str(" --verify");
    }
    if r.limit_download_kib > 0 {
        line.push_str(&format!(" --limit-download {}", r.limit_download_kib));
    }
    line.push_str(" --wait");
    line
}

#[derive(Template, WebTemplate)]
#[template(path = "snapshot_restore.html")]
struct SummaryPage {
    user: Operator,
    csrf: String,
    facts: SnapshotRow,
    base: String,
    at: String,
    /// (path inside the snapshot, where it lands on the host).
    items: Vec<(String, String)>,
    everything: bool,
    host_id: i64,
    hostname: String,
    host_online: bool,
    target: String,
    verify: bool,
    limit: u32,
    cross_host: bool,
    ctl: String,
    /// The form's fields, carried to the confirm (and back to the form).
    selected: Vec<String>,
    host_field: String,
    target_field: String,
    limit_field: String,
}

/// `POST /snapshots/{repo}/{snapshot}/restore`: `step=review` shows the
/// summary, `step=confirm` queues the job and opens it, `step=edit` goes
/// back to the form with every choice kept.
pub(crate) async fn restore(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path((repo, snapshot)): Path<(i64, String)>,
    body: Bytes,
) -> Response {
    let posted = parse(&body);
    if !token_matches(&p, &headers, Some(&posted.csrf)) {
        return csrf_refused();
    }
    let (repo, snap) = match load(&web, &p, repo, &snapshot).await {
        Ok(found) => found,
        Err(err) => return error_page(err),
    };
    let at = clean_path(&posted.at).unwrap_or_else(|_| "/".into());
    let mut fields = posted.fields;
    let back = |fields: RestoreFields, status| {
        let (web, p, repo, snap, at) = (&web, &p, &repo, &snap, &at);
        async move { render(web, p, repo, snap, at, fields, status).await }
    };
    if posted.step == "edit" {
        return back(fields, StatusCode::OK).await;
    }
    let (request, paths) = match request(&repo, &snap, &fields) {
        Ok(ok) => ok,
        Err((bad, text)) => {
            fields.bad = bad;
            fields.error = Some(text);
            return back(fields, StatusCode::BAD_REQUEST).await;
        }
    };
    let host = request.target_host.0;
    if posted.step == "confirm" {
        return match web.api.jobs.restore(&p, request).await {
            Ok(job) => Redirect::to(&format!("/jobs/{}", job.id.0)).into_response(),
            Err(err) => {
                let (bad, text) = refusal(&err, host);
                fields.bad = bad;
                fields.error = Some(text);
                back(fields, status_of(&err)).await
            }
        };
    }
    let checked = match web.api.jobs.check_restore(&p, &request).await {
        Ok(checked) => checked,
        Err(err) => {
            let (bad, text) = refusal(&err, host);
            fields.bad = bad;
            fields.error = Some(text);
            return back(fields, status_of(&err)).await;
        }
    };
    let target_host = match web.api.fleet.get_host(&p, request.target_host).await {
        Ok(view) => view,
        Err(err) => return error_page(err),
    };
    let root = request.target_path.trim_end_matches('/');
    let everything = request.includes.is_empty();
    let items = if everything {
        snap.paths
            .iter()
            .map(|p| ("/".to_string(), format!("{root}{p}")))
            .collect()
    } else {
        paths
            .iter()
            .map(|p| (p.clone(), format!("{root}{p}")))
            .collect()
    };
    SummaryPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        facts: snapshot_row(&snap, &repo.name),
        base: crate::browse::base_of(repo.id, &snap.snapshot_id),
        at,
        items,
        everything,
        host_id: host,
        hostname: target_host.host.facts.hostname,
        host_online: target_host.online,
        target: request.target_path.clone(),
        verify: request.verify,
        limit: request.limit_download_kib,
        cross_host: checked.cross_host,
        ctl: ctl_line(&request),
        selected: fields.selected.into_iter().collect(),
        host_field: fields.host,
        target_field: fields.target,
        limit_field: fields.limit,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_pattern_characters_match_only_themselves() {
        assert_eq!(include_pattern("/srv/a.txt"), "/srv/a.txt");
        assert_eq!(include_pattern("/srv/star*"), r"/srv/star\*");
        assert_eq!(include_pattern(r"/x/[a]?\b"), r"/x/\[a]\?\\b");
    }

    #[test]
    fn a_folder_covers_what_is_inside_it() {
        let set: BTreeSet<String> = ["/srv", "/srv/a", "/srvx", "/etc/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(outermost(&set), vec!["/etc/x", "/srv", "/srvx"]);
        let all: BTreeSet<String> = ["/", "/srv"].iter().map(|s| s.to_string()).collect();
        assert_eq!(outermost(&all), vec!["/"]);
    }

    #[test]
    fn repeated_fields_are_all_kept() {
        let posted =
            parse(b"_csrf=t&select=%2Fa&select=%2Fb+c&host=3&target=%2Fr&verify=yes&step=review");
        assert_eq!(posted.fields.selected.len(), 2);
        assert!(posted.fields.selected.contains("/b c"));
        assert!(posted.fields.verify);
        assert_eq!(posted.step, "review");
    }
}
