//! Making and changing schedules (operators): the create and edit form, on
//! and off, delete. A refused form comes back as typed, with the field that
//! is wrong named; the firings preview and the `cairn ctl` command follow
//! the form as it is typed (`schedule_preview`).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::CatchUp;
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::schedules::zone_names;
use cairn_store::{
    HostId, HostStatus, Page, RepositoryId, Schedule, ScheduleFields, ScheduleId, Scope,
};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::hosts::host_names;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::schedule_preview::{PreviewView, preview};
use crate::session::SignedIn;

/// The schedule form as typed: every field as text, so a refused one comes
/// back exactly so.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ScheduleForm {
    #[serde(default)]
    _csrf: String,
    /// The schedule being edited (empty for a new one); the preview reads it.
    #[serde(default)]
    pub(crate) schedule_id: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    pub(crate) cron: String,
    #[serde(default)]
    pub(crate) timezone: String,
    /// One path a line.
    #[serde(default)]
    paths: String,
    /// One pattern a line.
    #[serde(default)]
    excludes: String,
    /// Separated by commas.
    #[serde(default)]
    tags: String,
    /// Separated by commas or spaces.
    #[serde(default)]
    hooks: String,
    #[serde(default)]
    catch_up: String,
    #[serde(default)]
    limit_upload_kib: String,
    #[serde(default)]
    limit_download_kib: String,
    /// `yes`: create it turned off.
    #[serde(default)]
    disabled: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn split(text: &str, on: &[char]) -> Vec<String> {
    text.split(on)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn hooks(form: &ScheduleForm) -> Vec<String> {
    split(&form.hooks, &[',', ' ', '\t', '\n'])
}

fn limit(text: &str, field: &'static str) -> Result<Option<u32>, ServiceError> {
    match text.trim() {
        "" => Ok(None),
        n => match n.parse::<u32>() {
            Ok(kib) if kib > 0 => Ok(Some(kib)),
            _ => Err(ServiceError::invalid(
                field,
                "a whole number of KiB/s above 0, or empty for no limit",
            )),
        },
    }
}

fn id_of(text: &str, field: &'static str, what: &str) -> Result<i64, ServiceError> {
    text.trim()
        .parse()
        .map_err(|_| ServiceError::invalid(field, format!("choose a {what}")))
}

/// The form's fields as the service takes them (`enabled` from the form
/// for a new schedule; an edit keeps what the schedule has).
fn fields_of(form: &ScheduleForm) -> Result<ScheduleFields, ServiceError> {
    let catch_up = CatchUp::parse(form.catch_up.trim())
        .ok_or_else(|| ServiceError::invalid("catch_up", "must be once, skip or all"))?;
    Ok(ScheduleFields {
        name: form.name.trim().to_string(),
        cron: form.cron.trim().to_string(),
        timezone: match form.timezone.trim() {
            "" => "UTC".to_string(),
            zone => zone.to_string(),
        },
        paths: lines(&form.paths),
        excludes: lines(&form.excludes),
        tags: split(&form.tags, &[',']),
        hooks: hooks(form),
        limit_upload_kib: limit(&form.limit_upload_kib, "limit_upload_kib")?,
        limit_download_kib: limit(&form.limit_download_kib, "limit_download_kib")?,
        catch_up,
        enabled: form.disabled != "yes",
    })
}

/// A stored schedule as the form shows it.
fn form_of(s: &Schedule) -> ScheduleForm {
    let f = &s.fields;
    ScheduleForm {
        schedule_id: s.id.0.to_string(),
        host: s.host_id.0.to_string(),
        repository: s.repository_id.0.to_string(),
        name: f.name.clone(),
        cron: f.cron.clone(),
        timezone: f.timezone.clone(),
        paths: f.paths.join("\n"),
        excludes: f.excludes.join("\n"),
        tags: f.tags.join(", "),
        hooks: f.hooks.join(", "),
        catch_up: f.catch_up.as_str().to_string(),
        limit_upload_kib: f
            .limit_upload_kib
            .map(|n| n.to_string())
            .unwrap_or_default(),
        limit_download_kib: f
            .limit_download_kib
            .map(|n| n.to_string())
            .unwrap_or_default(),
        disabled: if f.enabled {
            String::new()
        } else {
            "yes".into()
        },
        ..ScheduleForm::default()
    }
}

/// `cairn ctl schedules create|edit` for the form as typed.
pub(crate) fn command_of(form: &ScheduleForm, editing: Option<i64>) -> String {
    let command = match editing {
        Some(id) => CtlCommand::new(&["schedules", "edit"]).arg(id),
        None => CtlCommand::new(&["schedules", "create"])
            .flag("host", &form.host, "HOST_ID")
            .flag("repo", &form.repository, "REPO_ID"),
    };
    let paths = lines(&form.paths);
    let command = command
        .flag("name", &form.name, "NAME")
        .flag("cron", form.cron.trim(), "CRON")
        .flag("timezone", form.timezone.trim(), "UTC");
    let command = if paths.is_empty() {
        command.flag("path", "", "PATH")
    } else {
        command.flag_each("path", &paths)
    };
    command
        .flag_each("exclude", &lines(&form.excludes))
        .flag_each("tag", &split(&form.tags, &[',']))
        .flag_each("hook", &hooks(form))
        .flag("catch-up", form.catch_up.trim(), "once")
        .flag_if("limit-upload-kib", form.limit_upload_kib.trim())
        .flag_if("limit-download-kib", form.limit_download_kib.trim())
        .switch("disabled", editing.is_none() && form.disabled == "yes")
        .to_string()
}

/// A repository to choose, with the hosts that may use it.
pub(crate) struct RepoOption {
    id: i64,
    name: String,
    hosts: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "schedule_form.html")]
struct FormPage {
    user: Operator,
    csrf: String,
    /// The schedule edited, or none for a new one.
    editing: Option<i64>,
    form: ScheduleForm,
    hosts: Vec<(i64, String)>,
    repos: Vec<RepoOption>,
    error: Option<String>,
    field: &'static str,
    preview: PreviewView,
    command: String,
    oob: bool,
    zones: Vec<&'static str>,
    catch_ups: [(&'static str, &'static str); 3],
}

/// The form page as typed, with `error` when a submit was refused.
pub(crate) async fn render_form(
    web: &Web,
    p: &Principal,
    editing: Option<i64>,
    form: ScheduleForm,
    error: Option<ServiceError>,
) -> Response {
    if p.scope() < Scope::Operate {
        return error_page(ServiceError::PermissionDenied { need: "operate" });
    }
    let approved = host_names(web, p, Some(HostStatus::Approved)).await;
    let repos = web
        .api
        .repos
        .list(p, None, Page::first(Page::MAX_LIMIT))
        .await;
    let (approved, repos) = match (approved, repos) {
        (Ok(hosts), Ok(repos)) => (hosts, repos.items),
        (Err(err), _) | (_, Err(err)) => return error_page(err),
    };
    let names: BTreeMap<HostId, String> = approved
        .iter()
        .map(|(id, name)| (HostId(*id), name.clone()))
        .collect();
    let repos = repos
        .into_iter()
        .map(|r| RepoOption {
            id: r.id.0,
            hosts: r
                .host_ids
                .iter()
                .map(|h| names.get(h).cloned().unwrap_or_else(|| format!("#{}", h.0)))
                .collect::<Vec<_>>()
                .join(", "),
            name: r.name,
        })
        .collect();
    let (status, error, field) = match &error {
        None => (StatusCode::OK, None, ""),
        Some(err) => {
            let (text, field) = explain(err, &form);
            (status_of(err), Some(text), field)
        }
    };
    let page = FormPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        editing,
        hosts: names.into_iter().map(|(id, name)| (id.0, name)).collect(),
        repos,
        error,
        field,
        preview: preview(web, p, &form.cron, &form.timezone),
        command: command_of(&form, editing),
        oob: false,
        zones: zone_names().collect(),
        catch_ups: [
            ("once", "once: one backup for all the firings it missed"),
            ("skip", "skip: none; the misses stay on record"),
            ("all", "all: one backup per missed firing"),
        ],
        form,
    };
    (status, page).into_response()
}

/// A refusal in words, and the field it is about.
fn explain(err: &ServiceError, form: &ScheduleForm) -> (String, &'static str) {
    match err {
        ServiceError::InvalidArgument { field, reason } => {
            // restic's own check of paths, excludes and tags says "spec".
            let field = if *field == "spec" { "paths" } else { field };
            // The cron's own errors already say "invalid cron …".
            let text = if reason.starts_with("invalid ") {
                reason.clone()
            } else {
                err.to_string()
            };
            (text, field)
        }
        ServiceError::AlreadyExists(_) => (
            format!(
                "a schedule named {:?} already exists on this host: choose another name",
                form.name.trim()
            ),
            "name",
        ),
        ServiceError::FailedPrecondition(text) => (text.clone(), "repository"),
        ServiceError::NotFound(what) => {
            (err.to_string(), if *what == "host" { "host" } else { "" })
        }
        other => (other.to_string(), ""),
    }
}

fn fixable(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::InvalidArgument { .. }
            | ServiceError::AlreadyExists(_)
            | ServiceError::FailedPrecondition(_)
            | ServiceError::NotFound(_)
    )
}

/// `GET /schedules/new`, filled in from the query (`?host=3`).
pub(crate) async fn new_form(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Query(mut form): Query<ScheduleForm>,
) -> Response {
    if form.cron.trim().is_empty() {
        form.cron = "0 2 * * *".into();
    }
    if form.timezone.trim().is_empty() {
        form.timezone = "UTC".into();
    }
    if form.catch_up.trim().is_empty() {
        form.catch_up = "once".into();
    }
    render_form(&web, &p, None, form, None).await
}

/// `GET /schedules/{id}/edit`.
pub(crate) async fn edit_form(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    match web.api.schedules.get(&p, ScheduleId(id)).await {
        Ok(s) => render_form(&web, &p, Some(id), form_of(&s), None).await,
        Err(err) => error_page(err),
    }
}

/// `POST /schedules`: creates one.
pub(crate) async fn create(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<ScheduleForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let made = async {
        let host = id_of(&form.host, "host", "host")?;
        let repository = id_of(&form.repository, "repository", "repository")?;
        let fields = fields_of(&form)?;
        web.api
            .schedules
            .create(&p, HostId(host), RepositoryId(repository), fields)
            .await
    };
    match made.await {
        Ok(s) => {
            Redirect::to(&format!("/schedules?done=created#schedule-{}", s.id.0)).into_response()
        }
        Err(err) if fixable(&err) => render_form(&web, &p, None, form, Some(err)).await,
        Err(err) => error_page(err),
    }
}

/// `POST /schedules/{id}`: saves an edit (its host, repository and whether
/// it is on stay as they are).
pub(crate) async fn update(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ScheduleForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let current = match web.api.schedules.get(&p, ScheduleId(id)).await {
        Ok(s) => s,
        Err(err) => return error_page(err),
    };
    // The host and repository shown are the schedule's own, whatever came.
    let form = ScheduleForm {
        host: current.host_id.0.to_string(),
        repository: current.repository_id.0.to_string(),
        schedule_id: id.to_string(),
        ..form
    };
    let saved = match fields_of(&form) {
        Ok(fields) => {
            web.api
                .schedules
                .edit(&p, ScheduleId(id), None, fields)
                .await
        }
        Err(err) => Err(err),
    };
    match saved {
        Ok(_) => Redirect::to(&format!("/schedules?done=saved#schedule-{id}")).into_response(),
        Err(err) if fixable(&err) => render_form(&web, &p, Some(id), form, Some(err)).await,
        Err(err) => error_page(err),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /schedules/{id}/{action}`: `enable`, `disable` or `delete`.
pub(crate) async fn act(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let schedules = &web.api.schedules;
    let id = ScheduleId(id);
    let done = match action.as_str() {
        "enable" => schedules.set_enabled(&p, id, true).await.map(|_| "enabled"),
        "disable" => schedules
            .set_enabled(&p, id, false)
            .await
            .map(|_| "disabled"),
        "delete" if form.confirm == "yes" => schedules.delete(&p, id).await.map(|()| "deleted"),
        "delete" => Err(ServiceError::invalid(
            "confirm",
            "tick the box to confirm you want to delete this schedule",
        )),
        _ => Err(ServiceError::NotFound("action")),
    };
    match done {
        Ok("deleted") => Redirect::to("/schedules?done=deleted").into_response(),
        Ok(done) => {
            Redirect::to(&format!("/schedules?done={done}#schedule-{}", id.0)).into_response()
        }
        Err(err @ ServiceError::InvalidArgument { .. }) => {
            crate::schedules::render_list(
                &web,
                &p,
                None,
                Some((StatusCode::BAD_REQUEST, err.to_string())),
            )
            .await
        }
        Err(err) => error_page(err),
    }
}
