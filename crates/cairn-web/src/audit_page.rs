//! The audit log page (admins): who did what, from where, to what, with what
//! outcome; every filter in the URL, paging newest first, and downloads of
//! the same selection as CSV or JSON lines (`/audit/export?format=…`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_server::audit_export::{ExportFormat, rfc3339};
use cairn_server::auth::{Operator, Principal};
use cairn_store::{ActorKind, AuditFilter, Outcome, Page};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::format::{iso, time};
use crate::pages::csrf_of;
use crate::reply::error_page;
use crate::session::SignedIn;

/// Audit entries per page.
const PAGE: u32 = 100;
const DAY_MS: i64 = 86_400_000;

/// The page's filters as the URL spells them (all optional).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    actor_kind: String,
    #[serde(default)]
    actor_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    outcome: String,
    /// A date (`2026-01-31`, from the start of that day, UTC) or RFC 3339.
    #[serde(default)]
    since: String,
    /// A date (through the end of that day, UTC) or RFC 3339 (before it).
    #[serde(default)]
    until: String,
    #[serde(default)]
    after: String,
    /// For the export: csv or jsonl.
    #[serde(default)]
    format: String,
}

impl AuditQuery {
    /// The store filter, or what is wrong with the URL, by field.
    fn filter(&self) -> Result<AuditFilter, String> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let actor_kind = match self.actor_kind.trim() {
            "" => None,
            k => Some(ActorKind::from_name(k).ok_or_else(|| {
                format!(
                    "actor kind must be user, api_token, agent, system, cli or anonymous, not {k:?}"
                )
            })?),
        };
        let outcome =
            match self.outcome.trim() {
                "" => None,
                o => Some(Outcome::from_name(o).ok_or_else(|| {
                    format!("outcome must be success, denied or failed, not {o:?}")
                })?),
            };
        let actor_id = match self.actor_id.trim() {
            "" => None,
            n => Some(
                n.parse::<i64>()
                    .map_err(|_| format!("actor id must be a number, not {n:?}"))?,
            ),
        };
        Ok(AuditFilter {
            actor_kind,
            actor_id,
            action_prefix: text(&self.action),
            target: text(&self.target),
            outcome,
            since: when("since", &self.since, 0)?,
            until: when("until", &self.until, DAY_MS)?,
        })
    }

    /// The filters as a query string, for paging and download links.
    fn query_string(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor_kind", &self.actor_kind),
            ("actor_id", &self.actor_id),
            ("action", &self.action),
            ("target", &self.target),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }

    fn any(&self) -> bool {
        !self.query_string().is_empty()
    }
}

/// A date (plus `day_end` for an inclusive end) or an RFC 3339 time.
fn when(field: &str, value: &str, day_end: i64) -> Result<Option<i64>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{field} must be a date (2026-01-31) or an RFC 3339 time, not {value:?}");
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(value, &date_format) {
        let start = date.midnight().assume_utc().unix_timestamp() * 1000;
        return Ok(Some(start + day_end));
    }
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map(Some)
        .map_err(|_| bad())
}

pub(crate) struct AuditRow {
    at: String,
    at_iso: String,
    actor: String,
    actor_kind: &'static str,
    actor_id: String,
    source: String,
    action: String,
    target: String,
    outcome: &'static str,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    user: Operator,
    csrf: String,
    rows: Vec<AuditRow>,
    q: AuditQuery,
    /// The filters as a query string (for the download links).
    query: String,
    filtered: bool,
    next: Option<String>,
    error: Option<String>,
    actor_kinds: Vec<&'static str>,
    /// The `cairn ctl audit export` line for the same selection.
    command: String,
}

/// `GET /audit`.
pub(crate) async fn audit(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<AuditQuery>,
) -> Response {
    let parsed = q.filter().and_then(|filter| {
        let after = match q.after.trim() {
            "" => None,
            a => Some(
                a.parse::<i64>()
                    .map_err(|_| format!("after must be a number, not {a:?}"))?,
            ),
        };
        Ok((filter, after))
    });
    let (filter, after) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => {
            let page = audit_page(&p, Vec::new(), q, None, Some(reason));
            return (StatusCode::BAD_REQUEST, page).into_response();
        }
    };
    match web
        .api
        .admin
        .audit_log(&p, filter, Page::after(PAGE, after))
        .await
    {
        Ok(page) => {
            let rows = page.items.iter().map(row).collect();
            // Built from the filters only (never from the raw URL).
            let next = page.next.map(|cursor| {
                let query = q.query_string();
                let sep = if query.is_empty() { "" } else { "&" };
                format!("/audit?{query}{sep}after={cursor}")
            });
            audit_page(&p, rows, q, next, None).into_response()
        }
        Err(err) => error_page(err),
    }
}

/// `GET /audit/export?format=csv|jsonl&…filters`: a download of every
/// matching entry.
pub(crate) async fn export(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(q): Query<AuditQuery>,
) -> Response {
    let parsed = q
        .filter()
        .and_then(|f| Ok((f, q.format.parse::<ExportFormat>()?)));
    let (filter, format) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => return (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response(),
    };
    match web.api.admin.audit_export(&p, filter, format).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, format.content_type().to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"cairn-audit.{}\"",
                        format.extension()
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Err(err) => error_page(err),
    }
}

fn row(r: &cairn_store::AuditRecord) -> AuditRow {
    AuditRow {
        at: time(Some(r.at)),
        at_iso: iso(r.at),
        actor: r.entry.actor_name.clone(),
        actor_kind: r.entry.actor_kind.as_str(),
        actor_id: r.entry.actor_id.map(|n| n.to_string()).unwrap_or_default(),
        source: r.entry.source_addr.clone().unwrap_or_default(),
        action: r.entry.action.clone(),
        target: r.entry.target.clone().unwrap_or_default(),
        outcome: r.entry.outcome.as_str(),
        detail: r.entry.detail.clone().unwrap_or_default(),
    }
}

fn audit_page(
    p: &Principal,
    rows: Vec<AuditRow>,
    q: AuditQuery,
    next: Option<String>,
    error: Option<String>,
) -> AuditPage {
    let command = ctl_command(&q.filter().unwrap_or_default());
    AuditPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        command,
        rows,
        query: q.query_string(),
        filtered: q.any(),
        q,
        next,
        error,
        actor_kinds: ActorKind::ALL.iter().map(|k| k.as_str()).collect(),
    }
}

/// The export command for `filter`, from the parsed values (dates become
/// the exact RFC 3339 instants the page used).
fn ctl_command(f: &AuditFilter) -> String {
    let stamp = |t: Option<i64>| t.map(rfc3339).unwrap_or_default();
    CtlCommand::new(&["audit", "export"])
        .flag("format", "csv", "")
        .flag_if("actor-kind", f.actor_kind.map_or("", ActorKind::as_str))
        .flag_if(
            "actor-id",
            &f.actor_id.map(|n| n.to_string()).unwrap_or_default(),
        )
        .flag_if("action", f.action_prefix.as_deref().unwrap_or_default())
        .flag_if("target", f.target.as_deref().unwrap_or_default())
        .flag_if("outcome", f.outcome.map_or("", Outcome::as_str))
        .flag_if("since", &stamp(f.since))
        .flag_if("until", &stamp(f.until))
        .to_string()
}
