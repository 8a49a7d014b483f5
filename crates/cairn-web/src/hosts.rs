//! Hosts: the fleet list, with search, labels, status and liveness filters in
//! the URL. One host's page is `host_page`.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::fleet::{HostQuery, HostView};
use cairn_store::{HostId, HostStatus, Page};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::format::{iso, time};
use crate::pages::csrf_of;
use crate::quote::query_value;
use crate::reply::error_page;
use crate::session::SignedIn;

/// Hosts shown per page.
const PAGE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HostsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    online: String,
    /// Text in the hostname, or the start of the fingerprint.
    #[serde(default)]
    q: String,
    /// Labels the hosts must carry: `key=value` or `key`, separated by
    /// commas.
    #[serde(default)]
    labels: String,
    #[serde(default)]
    after: String,
}

/// Parses the label filter: `role=db, env=prod` or `backup` (any value).
/// Items are separated by commas or new lines only: a label's value may
/// hold spaces (`site=eu west`).
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for item in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        if key.is_empty() {
            return Err(format!("label {item:?} has no key: write key=value or key"));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

/// One host as a row of the list.
pub(crate) struct HostRow {
    pub(crate) id: i64,
    pub(crate) hostname: String,
    pub(crate) status: &'static str,
    pub(crate) online: bool,
    pub(crate) os: String,
    pub(crate) agent: String,
    pub(crate) last_seen: String,
    pub(crate) last_seen_iso: String,
    /// Each label as `key=value`, with the list filtered by it.
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) fingerprint: String,
    /// Why this server turns the host's agent away (its protocol version),
    /// if it does; empty when it does not, or the agent never said.
    pub(crate) incompatible: String,
}

pub(crate) fn host_row(view: &HostView) -> HostRow {
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
        incompatible: cairn_domain::protocol::incompatibility_here(h.facts.protocol_version)
            .unwrap_or_default(),
        last_seen: time(h.last_seen_at),
        last_seen_iso: h.last_seen_at.map(iso).unwrap_or_default(),
        labels: h
            .labels
            .iter()
            .map(|(k, v)| {
                let text = format!("{k}={v}");
                let href = format!("/hosts?labels={}", query_value(&text));
                (text, href)
            })
            .collect(),
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
            .list_hosts(p, &HostQuery::default(), Page::first(PAGE))
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

/// The `cairn ctl hosts list` line for a filter (quoted for a shell).
fn ctl_list(q: &HostsQuery) -> String {
    let labels: Vec<String> = parse_labels(&q.labels)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    CtlCommand::new(&["hosts", "list"])
        .flag_if("status", &q.status)
        .flag_if("online", &q.online)
        .flag_if("search", q.q.trim())
        .flag_each("label", &labels)
        .to_string()
}

/// Hosts as (id, name), optionally only those with `status` (the first
/// page: what a form offers to choose from).
pub(crate) async fn host_names(
    web: &Web,
    p: &Principal,
    status: Option<HostStatus>,
) -> cairn_server::ServiceResult<Vec<(i64, String)>> {
    let hosts = web
        .api
        .fleet
        .list_hosts(
            p,
            &HostQuery {
                status,
                ..Default::default()
            },
            Page::first(Page::MAX_LIMIT),
        )
        .await?;
    Ok(hosts
        .items
        .into_iter()
        .map(|v| (v.host.id.0, v.host.facts.hostname))
        .collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "hosts.html")]
struct HostsPage {
    user: Operator,
    csrf: String,
    rows: Vec<HostRow>,
    status: String,
    online: String,
    search: String,
    labels: String,
    /// The `cairn ctl` line that lists the same hosts.
    ctl: String,
    statuses: Vec<&'static str>,
    next: Option<String>,
    error: Option<String>,
}

fn parse_query(q: &HostsQuery) -> Result<(HostQuery, Page), String> {
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
    let query = HostQuery {
        status,
        labels: parse_labels(&q.labels)?,
        online,
        search: q.q.trim().to_string(),
    };
    Ok((query, Page::after(PAGE, after)))
}

/// `GET /hosts`.
pub(crate) async fn list(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<HostsQuery>,
) -> Response {
    let (rows, next, error) = match parse_query(&q) {
        Ok((query, page)) => match web.api.fleet.list_hosts(&p, &query, page).await {
            Ok(hosts) => (
                hosts.items.iter().map(host_row).collect(),
                hosts.next.map(|cursor| {
                    // Built from the parsed query, encoded: never the raw text.
                    let cursor = cursor.to_string();
                    let pairs = [
                        ("status", query.status.map_or("", HostStatus::as_str)),
                        ("online", q.online.as_str()),
                        ("q", query.search.as_str()),
                        ("labels", q.labels.as_str()),
                        ("after", cursor.as_str()),
                    ];
                    let encoded: Vec<String> = pairs
                        .iter()
                        .map(|(k, v)| format!("{k}={}", query_value(v)))
                        .collect();
                    format!("/hosts?{}", encoded.join("&"))
                }),
                None,
            ),
            // A search the service refuses is shown on the page, not lost.
            Err(err @ ServiceError::InvalidArgument { .. }) => {
                (Vec::new(), None, Some(err.to_string()))
            }
            Err(err) => return error_page(err),
        },
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
        ctl: ctl_list(&q),
        status: q.status,
        online: q.online,
        search: q.q,
        labels: q.labels,
        statuses: ["pending", "approved", "rejected", "revoked"].to_vec(),
        next,
        error,
    };
    (code, page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_split_on_commas_and_keep_spaces_in_values() {
        let labels = parse_labels("role=db, site=eu west\nbackup").expect("labels");
        assert_eq!(labels["role"], "db");
        assert_eq!(labels["site"], "eu west");
        assert_eq!(labels["backup"], "");
        assert!(parse_labels("=x").is_err());
    }
}
