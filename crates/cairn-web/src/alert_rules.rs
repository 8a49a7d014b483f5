//! `/alerts/rules`: each rule's severity, threshold, reminders and whether
//! it is on; the per-host and per-schedule overrides; and maintenance
//! windows. Admins change rules and overrides, operators open and end
//! windows; everyone signed in reads.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::{AlertKind, Severity};
use cairn_server::ServiceError;
use cairn_server::alerts::{RuleUpdate, SilenceRequest};
use cairn_store::{HostId, OverrideTarget, ScheduleId, Scope};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::format::{iso, time};
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::error_page;
use crate::session::SignedIn;

pub(crate) struct RuleRow {
    id: i64,
    kind: &'static str,
    name: String,
    enabled: bool,
    severity: &'static str,
    threshold: String,
    default: String,
    has_threshold: bool,
    meaning: &'static str,
    repeat: String,
    notify_on_resolve: bool,
}

pub(crate) struct OverrideRow {
    kind: &'static str,
    target: &'static str,
    target_id: i64,
    threshold: f64,
    clear_ctl: String,
}

pub(crate) struct SilenceRow {
    id: i64,
    hostname: String,
    starts: String,
    starts_iso: String,
    ends: String,
    ends_iso: String,
    note: String,
    by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "alert_rules.html")]
struct RulesPage {
    user: cairn_server::auth::Operator,
    csrf: String,
    rules: Vec<RuleRow>,
    overrides: Vec<OverrideRow>,
    silences: Vec<SilenceRow>,
    hosts: Vec<(i64, String)>,
    severities: Vec<&'static str>,
    threshold_kinds: Vec<&'static str>,
    is_admin: bool,
    can_silence: bool,
    rule_ctl: String,
    override_ctl: String,
    silence_ctl: String,
}

/// What a kind's threshold counts.
fn meaning(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::HostOffline => "seconds without a sign of life",
        AlertKind::BackupOverdue => "times the schedule's interval without a success",
        AlertKind::MissedRuns => "missed runs waiting",
        AlertKind::Anomaly => "times (or one over) the usual",
        AlertKind::JobFailed
        | AlertKind::CheckFailed
        | AlertKind::RepoUnreachable
        | AlertKind::StorageFailing => "",
    }
}

/// `GET /alerts/rules`.
pub(crate) async fn page(State(web): State<Web>, SignedIn(p): SignedIn) -> Response {
    let alerts = &web.api.alerts;
    let (rules, overrides, silences) = match (
        alerts.rules(&p).await,
        alerts.overrides(&p).await,
        alerts.silences(&p).await,
    ) {
        (Ok(r), Ok(o), Ok(s)) => (r, o, s),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error_page(e),
    };
    let rules = rules
        .iter()
        .map(|r| {
            let default = alerts.default_threshold(r.kind);
            RuleRow {
                id: r.id,
                kind: r.kind.as_str(),
                name: r.name.clone(),
                enabled: r.enabled,
                severity: r.severity.as_str(),
                threshold: r.threshold.map(|t| t.to_string()).unwrap_or_default(),
                default: default.map(|t| t.to_string()).unwrap_or_default(),
                has_threshold: default.is_some(),
                meaning: meaning(r.kind),
                repeat: r
                    .repeat_every_seconds
                    .map(|s| format!("{s}s"))
                    .unwrap_or_default(),
                notify_on_resolve: r.notify_on_resolve,
            }
        })
        .collect();
    let overrides = overrides
        .iter()
        .map(|o| {
            let (target, target_id) = match o.target {
                OverrideTarget::Host(h) => ("host", h.0),
                OverrideTarget::Schedule(s) => ("schedule", s.0),
            };
            OverrideRow {
                kind: o.kind.as_str(),
                target,
                target_id,
                threshold: o.threshold,
                clear_ctl: CtlCommand::new(&["alerts", "override", "clear", o.kind.as_str()])
                    .flag(target, &target_id.to_string(), "")
                    .to_string(),
            }
        })
        .collect();
    let silences = silences
        .iter()
        .map(|s| SilenceRow {
            id: s.id,
            hostname: s.hostname.clone(),
            starts: time(Some(s.starts_at)),
            starts_iso: iso(s.starts_at),
            ends: time(Some(s.ends_at)),
            ends_iso: iso(s.ends_at),
            note: s.note.clone(),
            by: s.created_by_name.clone().unwrap_or_default(),
        })
        .collect();
    RulesPage {
        user: p.user.clone(),
        csrf: csrf_of(&p),
        rules,
        overrides,
        silences,
        hosts: crate::hosts::host_names(&web, &p, None).await.unwrap_or_default(),
        severities: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        threshold_kinds: AlertKind::ALL
            .iter()
            .filter(|k| alerts.default_threshold(**k).is_some())
            .map(|k| k.as_str())
            .collect(),
        is_admin: p.scope() >= Scope::Admin,
        can_silence: p.scope() >= Scope::Operate,
        rule_ctl: "cairn ctl alerts rule-set KIND --enabled true|false --severity SEVERITY --threshold N|--default-threshold --repeat-every DURATION|off --notify-on-resolve true|false".into(),
        override_ctl: "cairn ctl alerts override set KIND --host ID|--schedule ID --threshold N".into(),
        silence_ctl: "cairn ctl alerts silence add --host ID --for DURATION --note NOTE".into(),
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuleForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    repeat_every: String,
    #[serde(default)]
    notify_on_resolve: Option<String>,
}

fn bad(field: &'static str, reason: String) -> ServiceError {
    ServiceError::InvalidArgument { field, reason }
}

fn number(field: &'static str, text: &str) -> Result<f64, ServiceError> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| bad(field, format!("{text:?} is not a number")))
}

fn length(field: &'static str, text: &str) -> Result<Duration, ServiceError> {
    cairn_server::config::parse_duration(text.trim()).map_err(|e| bad(field, e))
}

/// `POST /alerts/rules/{id}`.
pub(crate) async fn update(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RuleForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let parsed = (|| -> Result<RuleUpdate, ServiceError> {
        let severity = Severity::parse(&form.severity)
            .ok_or_else(|| bad("severity", format!("unknown severity {:?}", form.severity)))?;
        let threshold = match form.threshold.trim() {
            "" => None,
            t => Some(number("threshold", t)?),
        };
        let repeat = match form.repeat_every.trim() {
            "" | "off" => None,
            t => Some(length("repeat_every", t)?),
        };
        Ok(RuleUpdate {
            enabled: Some(form.enabled.is_some()),
            severity: Some(severity),
            threshold: Some(threshold),
            repeat_every: Some(repeat),
            notify_on_resolve: Some(form.notify_on_resolve.is_some()),
        })
    })();
    let done = match parsed {
        Ok(update) => web.api.alerts.update_rule(&p, id, update).await.map(drop),
        Err(e) => Err(e),
    };
    finish(done)
}

fn finish(done: Result<(), ServiceError>) -> Response {
    match done {
        Ok(()) => Redirect::to("/alerts/rules").into_response(),
        Err(err) => error_page(err),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct OverrideForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    target_id: String,
    #[serde(default)]
    threshold: String,
}

/// `POST /alerts/overrides/{set|clear}`.
pub(crate) async fn override_act(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<OverrideForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let alerts = &web.api.alerts;
    let done = async {
        let kind = AlertKind::parse(&form.kind)
            .ok_or_else(|| bad("kind", format!("unknown alert kind {:?}", form.kind)))?;
        let id: i64 = form
            .target_id
            .trim()
            .parse()
            .map_err(|_| bad("target_id", "pick a host or give a schedule id".into()))?;
        let on = match form.target.as_str() {
            "host" => OverrideTarget::Host(HostId(id)),
            "schedule" => OverrideTarget::Schedule(ScheduleId(id)),
            t => return Err(bad("target", format!("{t:?} is neither host nor schedule"))),
        };
        let rule = alerts
            .rules(&p)
            .await?
            .into_iter()
            .find(|r| r.kind == kind)
            .ok_or(ServiceError::NotFound("alert rule"))?;
        match action.as_str() {
            "set" => {
                alerts
                    .set_override(&p, rule.id, on, number("threshold", &form.threshold)?)
                    .await
            }
            "clear" => alerts.clear_override(&p, rule.id, on).await,
            _ => Err(ServiceError::NotFound("action")),
        }
    }
    .await;
    finish(done)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SilenceForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    length: String,
    #[serde(default)]
    note: String,
}

/// `POST /alerts/silences`.
pub(crate) async fn silence(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<SilenceForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let alerts = &web.api.alerts;
    let done = async {
        let host: i64 = form
            .host
            .trim()
            .parse()
            .map_err(|_| bad("host", "pick a host".into()))?;
        let length = length("length", &form.length)?;
        let now = alerts.now();
        let ends_at = now.saturating_add(i64::try_from(length.as_millis()).unwrap_or(i64::MAX));
        let request = SilenceRequest {
            host: HostId(host),
            starts_at: now,
            ends_at,
            note: form.note.clone(),
        };
        alerts.create_silence(&p, request).await.map(drop)
    }
    .await;
    finish(done)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PlainForm {
    #[serde(default)]
    _csrf: String,
}

/// `POST /alerts/silences/{id}/delete`.
pub(crate) async fn end_silence(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<PlainForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    finish(web.api.alerts.delete_silence(&p, id).await)
}
