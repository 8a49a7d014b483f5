//! Restoring from a snapshot: files and folders ticked in the tree (one
//! form across every folder opened), a target host and directory, then a
//! summary the operator confirms before the job is queued. A refusal comes
//! back on the snapshot's page with everything the operator chose.
//!
//! `form` reads the posted form into the service's request (and back into
//! the operator's words); this file holds the fields and the pages.

mod form;

use std::collections::BTreeSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::RestoreOverwrite;
use cairn_server::auth::{Operator, Principal};
use cairn_store::{CachedSnapshot, HostId, HostStatus, Repository, Scope};

use crate::Web;
use crate::browse::{TreeItems, clean_path, load, render};
use crate::csrf::token_matches;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;
use crate::snapshots::{SnapshotRow, host_names, snapshot_row};
use form::{ctl_line, parse, refusal, request};

/// A host the files may be written to.
pub(crate) struct HostChoice {
    pub(crate) id: i64,
    pub(crate) name: String,
    /// The repository is assigned to it (else the job hands it the
    /// repository's secrets: admins only).
    pub(crate) assigned: bool,
    pub(crate) selected: bool,
}

/// What each overwrite mode does, in one line: the form's choices and the
/// summary's words.
fn explain(mode: RestoreOverwrite) -> &'static str {
    match mode {
        RestoreOverwrite::Always => "replace files of the same name",
        RestoreOverwrite::IfChanged => "replace them only when their content differs",
        RestoreOverwrite::IfNewer => "replace them only when the snapshot's copy is newer",
        RestoreOverwrite::Never => "keep what is there",
    }
}

/// One overwrite mode as the form offers it.
pub(crate) struct OverwriteChoice {
    pub(crate) value: &'static str,
    pub(crate) explain: &'static str,
    pub(crate) checked: bool,
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
    /// restic's spelling of the overwrite mode; empty is `always`.
    pub(crate) overwrite: String,
    pub(crate) error: Option<String>,
    /// The input the error is about: `select`, `host`, `target`, `limit`
    /// or `overwrite`.
    pub(crate) bad: &'static str,
    /// Filled in for the page: the hosts offered, the selections made in
    /// folders the page does not show, whether all of it is ticked.
    pub(crate) hosts: Vec<HostChoice>,
    pub(crate) kept: Vec<String>,
    pub(crate) everything: bool,
}

impl RestoreFields {
    /// The overwrite modes, the chosen one checked (`always` when none was).
    pub(crate) fn overwrite_choices(&self) -> Vec<OverwriteChoice> {
        let chosen = match self.overwrite.as_str() {
            "" => RestoreOverwrite::Always.as_str(),
            other => other,
        };
        RestoreOverwrite::ALL
            .iter()
            .map(|mode| OverwriteChoice {
                value: mode.as_str(),
                explain: explain(*mode),
                checked: mode.as_str() == chosen,
            })
            .collect()
    }

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
    /// restic's spelling of the mode, and what it does.
    overwrite: &'static str,
    overwrite_explain: &'static str,
    cross_host: bool,
    /// The files land where they were, over the host's own: the operator
    /// types the hostname to confirm.
    in_place: bool,
    /// Why the confirm did not run (a hostname not typed as it is).
    error: Option<String>,
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
    let target_host = match web.api.fleet.get_host(&p, request.target_host).await {
        Ok(view) => view,
        Err(err) => {
            let (bad, text) = refusal(&err, host);
            fields.bad = bad;
            fields.error = Some(text);
            return back(fields, status_of(&err)).await;
        }
    };
    let hostname = target_host.host.facts.hostname.clone();
    let in_place = request.target_path.trim_end_matches('/').is_empty();
    let mut error = None;
    if posted.step == "confirm" && in_place && posted.confirm_host.trim() != hostname {
        // Back to the summary, which asks for the name: nothing is queued.
        error = Some(format!(
            "This restore writes over {hostname}'s own files: type its hostname to confirm."
        ));
    } else if posted.step == "confirm" {
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
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = SummaryPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        facts: snapshot_row(&snap, &repo.name),
        base: crate::browse::base_of(repo.id, &snap.snapshot_id),
        at,
        items,
        everything,
        host_id: host,
        hostname,
        host_online: target_host.online,
        target: request.target_path.clone(),
        verify: request.verify,
        limit: request.limit_download_kib,
        overwrite: request.overwrite.as_str(),
        overwrite_explain: explain(request.overwrite),
        cross_host: checked.cross_host,
        in_place,
        ctl: ctl_line(&request),
        selected: fields.selected.into_iter().collect(),
        host_field: fields.host,
        target_field: fields.target,
        limit_field: fields.limit,
        error,
    };
    (status, page).into_response()
}
