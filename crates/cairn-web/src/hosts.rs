//! Hosts: the fleet list (status and liveness filters in the URL), one host
//! with its facts, schedule set and recent jobs, and the operator's actions
//! on it: approve (against the fingerprint its agent printed), reject,
//! revoke, delete.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::fleet::HostView;
use cairn_store::{HostId, HostStatus, JobFilter, Page, Scope};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::{iso, time};
use crate::jobs::{JobsTable, row};
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

/// Hosts shown per page.
const PAGE: u32 = 100;
/// Jobs shown on a host's page.
const RECENT_JOBS: u32 = 20;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HostsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    online: String,
    #[serde(default)]
    after: String,
}

/// One host as a row of the list.
pub(crate) struct HostRow {
    id: i64,
    hostname: String,
    status: &'static str,
    online: bool,
    os: String,
    agent: String,
    last_seen: String,
    last_seen_iso: String,
    labels: String,
    fingerprint: String,
}

fn host_row(view: &HostView) -> HostRow {
    let h = &view.host;
    HostRow {
        id: h.id.0,
        hostname: h.facts.hostname.clone(),
        status: h.status.as_str(),
        online: view.online,
        os: format!("{} {} {}", h.facts.os, h.facts.os_version, h.facts.arch)
            .trim()
            .to_string(),
        agent: h.facts.agent_version.clone(),
        last_seen: time(h.last_seen_at),
        last_seen_iso: h.last_seen_at.map(iso).unwrap_or_default(),
        labels: h
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        fingerprint: h.fingerprint.clone(),
    }
}

/// Hostnames by id, for pages that name many hosts: the fleet's first page
/// is read once; a host beyond it is read when it is asked for.
pub(crate) struct Hostnames(BTreeMap<HostId, String>);

impl Hostnames {
    pub(crate) async fn load(web: &Web, p: &Principal) -> cairn_server::ServiceResult<Hostnames> {
        let hosts = web
            .api
            .fleet
            .list_hosts(p, None, &BTreeMap::new(), None, Page::first(PAGE))
            .await?;
        Ok(Hostnames(
            hosts
                .items
                .into_iter()
                .map(|v| (v.host.id, v.host.facts.hostname))
                .collect(),
        ))
    }

    /// A host's name (`?` for one that is gone).
    pub(crate) async fn get(&mut self, web: &Web, p: &Principal, id: HostId) -> String {
        if let Some(name) = self.0.get(&id) {
            return name.clone();
        }
        let name = match web.api.fleet.get_host(p, id).await {
            Ok(view) => view.host.facts.hostname,
            Err(_) => "?".into(),
        };
        self.0.insert(id, name.clone());
        name
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "hosts.html")]
struct HostsPage {
    user: Operator,
    csrf: String,
    rows: Vec<HostRow>,
    status: String,
    online: String,
    statuses: Vec<&'static str>,
    next: Option<String>,
    error: Option<String>,
}

fn parse_query(q: &HostsQuery) -> Result<(Option<HostStatus>, Option<bool>, Page), String> {
    let status = match q.status.as_str() {
        "" => None,
        s => Some(HostStatus::parse(s).ok_or_else(|| format!("unknown host status {s:?}"))?),
    };
    let online = match q.online.as_str() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        o => return Err(format!("online must be yes or no, not {o:?}")),
    };
    let after = match q.after.as_str() {
        "" => None,
        a => Some(
            a.parse::<i64>()
                .map_err(|_| format!("after must be a number, not {a:?}"))?,
        ),
    };
    Ok((status, online, Page::after(PAGE, after)))
}

/// `GET /hosts`.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<HostsQuery>,
) -> Response {
    let (rows, next, error) = match parse_query(&q) {
        Ok((status, online, page)) => {
            match web
                .api
                .fleet
                .list_hosts(&p, status, &BTreeMap::new(), online, page)
                .await
            {
                Ok(hosts) => (
                    hosts.items.iter().map(host_row).collect(),
                    hosts.next.map(|cursor| {
                        format!(
                            "/hosts?status={}&online={}&after={cursor}",
                            q.status, q.online
                        )
                    }),
                    None,
                ),
                Err(err) => return error_page(err),
            }
        }
        Err(reason) => (Vec::new(), None, Some(reason)),
    };
    let code = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = HostsPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        rows,
        status: q.status,
        online: q.online,
        statuses: ["pending", "approved", "rejected", "revoked"].to_vec(),
        next,
        error,
    };
    (code, page).into_response()
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
    created_at: String,
    schedules_desired: u64,
    schedules_applied: u64,
    repositories: usize,
    jobs: JobsTable,
    can_operate: bool,
    pending: bool,
    approved: bool,
    error: Option<String>,
}

async fn render_host(
    web: &Web,
    p: &Principal,
    id: HostId,
    error: Option<(StatusCode, String)>,
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
    let h = &view.host;
    let (status, error) = match error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    let page = HostPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        reason: h.status_reason.clone().unwrap_or_default(),
        kernel: h.facts.kernel.clone(),
        restic: h.facts.restic_version.clone(),
        address: h.last_addr.clone().unwrap_or_default(),
        created_at: time(Some(h.created_at)),
        schedules_desired: h.schedules_desired_version,
        schedules_applied: h.schedules_applied_version,
        repositories: h.repository_ids.len(),
        jobs: JobsTable {
            rows: jobs.items.iter().map(row).collect(),
            filtered: false,
            next: jobs.next.map(|_| format!("/jobs?host={}", id.0)),
            error: None,
        },
        can_operate: p.scope() >= Scope::Operate,
        pending: matches!(h.status, HostStatus::Pending | HostStatus::Rejected),
        approved: h.status == HostStatus::Approved,
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
    render_host(&web, &p, HostId(id), None).await
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
            render_host(&web, &p, id, Some((status_of(&err), err.to_string()))).await
        }
        Err(err) => error_page(err),
    }
}
