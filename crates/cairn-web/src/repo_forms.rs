//! Changing repositories: create (admins), edit, delete, and which hosts
//! use each. A refused form comes back with everything typed but its
//! secrets: the password and backend values are never written into a page,
//! nor a URL that carries credentials.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::repos::{NewRepository, RepositoryUpdate, redact_url};
use cairn_store::{HostId, RepositoryId, Scope};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

/// The create or edit form as the page shows it: what was typed, minus the
/// secrets, and what was wrong with it.
pub(crate) struct RepoFormView {
    pub(crate) name: String,
    /// The URL typed, kept only when it carries no credential.
    pub(crate) url: String,
    /// The backend variables' names typed, one `KEY=` a line (no value).
    pub(crate) env: String,
    /// For an edit: the backend keys to remove.
    pub(crate) unset_env: String,
    /// A URL was typed but not kept, since it carried credentials.
    pub(crate) url_dropped: bool,
    /// A password or backend values were typed but not kept.
    pub(crate) secrets_dropped: bool,
    pub(crate) error: Option<String>,
    /// The field the error is about (`name`, `url`, `password`, `env`).
    pub(crate) field: &'static str,
    pub(crate) command: String,
}

impl Default for RepoFormView {
    fn default() -> Self {
        RepoFormView {
            name: String::new(),
            url: String::new(),
            env: String::new(),
            unset_env: String::new(),
            url_dropped: false,
            secrets_dropped: false,
            error: None,
            field: "",
            command: create_command("", "", false),
        }
    }
}

/// The repository form as posted. Its `Debug` hides the secrets.
#[derive(Deserialize)]
pub(crate) struct RepoForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    password: String,
    /// `KEY=VALUE` lines: the backend's environment.
    #[serde(default)]
    env: String,
    /// For an edit: backend keys to remove, separated by spaces or commas.
    #[serde(default)]
    unset_env: String,
}

impl std::fmt::Debug for RepoForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoForm")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("unset_env", &self.unset_env)
            .finish_non_exhaustive()
    }
}

/// Whether a URL carries credentials (then it is a secret, not shown).
fn has_credentials(url: &str) -> bool {
    redact_url(url) != url
}

/// `cairn ctl repos create` for a repository so named, at such a URL: the
/// password from standard input, the URL and backend keys from files when
/// they are secret.
pub(crate) fn create_command(name: &str, url: &str, with_env: bool) -> String {
    let command = CtlCommand::new(&["repos", "create"]).flag("name", name, "NAME");
    let command = if has_credentials(url) || url.contains("***") {
        command.file("url-file", "url.txt")
    } else {
        command.flag("url", url, "URL")
    };
    let command = command.file("password-file", "-");
    let command = if with_env {
        command.file("env-file", "env.txt")
    } else {
        command
    };
    command.to_string()
}

/// `cairn ctl repos assign`.
pub(crate) fn assign_command(id: i64, host: Option<i64>) -> String {
    let host = host.map(|h| h.to_string()).unwrap_or_default();
    CtlCommand::new(&["repos", "assign"])
        .arg(id)
        .flag("host", &host, "HOST_ID")
        .to_string()
}

/// `KEY=VALUE` lines into a map; an error names the line, never its value.
fn parse_env(text: &str) -> Result<BTreeMap<String, String>, ServiceError> {
    let mut env = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ServiceError::invalid(
                "env",
                format!("line {} is not KEY=VALUE", n + 1),
            ));
        };
        // A refused form comes back with its keys but not their values: sent
        // again as it is, an empty value would erase the stored secret.
        if value.trim().is_empty() {
            return Err(ServiceError::invalid(
                "env",
                format!(
                    "line {}: {} has no value; type it again (values are never shown) or remove the line",
                    n + 1,
                    key.trim()
                ),
            ));
        }
        env.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(env)
}

/// The form as typed, for the page: names kept, secrets dropped.
fn view_of(form: &RepoForm, err: &ServiceError, command: String) -> RepoFormView {
    let url_dropped = has_credentials(&form.url);
    let keys: Vec<String> = form
        .env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| format!("{}=", k.trim())))
        .collect();
    let (error, field) = match err {
        ServiceError::InvalidArgument { field, .. } => (err.to_string(), *field),
        ServiceError::AlreadyExists(_) => (
            format!(
                "a repository named {:?} already exists: choose another name",
                form.name.trim()
            ),
            "name",
        ),
        other => (other.to_string(), ""),
    };
    RepoFormView {
        name: form.name.clone(),
        url: if url_dropped {
            String::new()
        } else {
            form.url.clone()
        },
        env: keys.join("\n"),
        unset_env: form.unset_env.clone(),
        url_dropped,
        secrets_dropped: !form.password.is_empty() || !keys.is_empty(),
        error: Some(error),
        field,
        command,
    }
}

/// Whether a refusal belongs on the form (the operator can fix it there).
fn fixable(err: &ServiceError) -> bool {
    matches!(
        status_of(err),
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT
    )
}

/// `POST /repositories`: creates one (admins).
pub(crate) async fn create(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<RepoForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let made = match parse_env(&form.env) {
        Ok(env) => {
            let new = NewRepository {
                name: form.name.clone(),
                url: form.url.clone(),
                password: form.password.clone(),
                env,
            };
            web.api.repos.create(&p, new).await
        }
        Err(err) => Err(err),
    };
    match made {
        Ok(repo) => Redirect::to(&format!("/repositories?created={}", repo.id.0)).into_response(),
        Err(err) if fixable(&err) => {
            let command = create_command(&form.name, &form.url, !form.env.trim().is_empty());
            let status = status_of(&err);
            let view = view_of(&form, &err, command);
            crate::repos::render(&web, &p, view, crate::repos::Note::None, status).await
        }
        Err(err) => error_page(err),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "repository_edit.html")]
struct EditPage {
    user: Operator,
    csrf: String,
    id: i64,
    current_name: String,
    current_url: String,
    env_keys: String,
    form: RepoFormView,
}

/// `cairn ctl repos update` for what the edit form says (secrets from
/// files or standard input).
fn update_command(id: i64, form: Option<&RepoForm>) -> String {
    let command = CtlCommand::new(&["repos", "update"]).arg(id);
    let Some(form) = form else {
        return command.to_string();
    };
    let command = command.flag_if("name", &form.name);
    let command = match form.url.as_str() {
        "" => command,
        url if has_credentials(url) => command.file("url-file", "url.txt"),
        url => command.flag("url", url, ""),
    };
    let command = match form.password.is_empty() {
        true => command,
        false => command.file("password-file", "-"),
    };
    let command = match form.env.trim().is_empty() {
        true => command,
        false => command.file("env-file", "env.txt"),
    };
    command
        .flag_each("unset-env", &unset_keys(&form.unset_env))
        .to_string()
}

fn unset_keys(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

async fn render_edit(
    web: &Web,
    p: &Principal,
    id: RepositoryId,
    form: Option<RepoFormView>,
    status: StatusCode,
) -> Response {
    if p.scope() < Scope::Admin {
        return error_page(ServiceError::PermissionDenied { need: "admin" });
    }
    let repo = match web.api.repos.get(p, id).await {
        Ok(repo) => repo,
        Err(err) => return error_page(err),
    };
    let form = form.unwrap_or_else(|| RepoFormView {
        name: repo.name.clone(),
        command: update_command(id.0, None),
        ..RepoFormView::default()
    });
    let page = EditPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        id: id.0,
        current_name: repo.name,
        current_url: repo.url_redacted,
        env_keys: repo.env_keys.join(", "),
        form,
    };
    (status, page).into_response()
}

/// `GET /repositories/{id}/edit` (admins).
pub(crate) async fn edit_form(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    render_edit(&web, &p, RepositoryId(id), None, StatusCode::OK).await
}

/// `POST /repositories/{id}`: saves an edit; empty secrets stay as they are.
pub(crate) async fn update(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RepoForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let id = RepositoryId(id);
    let current = match web.api.repos.get(&p, id).await {
        Ok(repo) => repo,
        Err(err) => return error_page(err),
    };
    let saved = match parse_env(&form.env) {
        Ok(set_env) => {
            let update = RepositoryUpdate {
                name: (form.name != current.name).then(|| form.name.clone()),
                url: (!form.url.is_empty()).then(|| form.url.clone()),
                password: (!form.password.is_empty()).then(|| form.password.clone()),
                set_env,
                unset_env: unset_keys(&form.unset_env),
            };
            web.api.repos.update(&p, id, update).await
        }
        Err(err) => Err(err),
    };
    match saved {
        Ok(_) => Redirect::to("/repositories?done=updated").into_response(),
        Err(err) if fixable(&err) => {
            let status = status_of(&err);
            let view = view_of(&form, &err, update_command(id.0, Some(&form)));
            render_edit(&web, &p, id, Some(view), status).await
        }
        Err(err) => error_page(err),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct HostForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    host: String,
    /// `yes` when the operator ticked the confirmation.
    #[serde(default)]
    confirm: String,
}

/// A refusal shown on the repositories page (or an error page).
async fn refused(web: &Web, p: &Principal, err: ServiceError) -> Response {
    if fixable(&err) {
        let status = status_of(&err);
        let form = RepoFormView::default();
        let note = crate::repos::Note::Error(err.to_string());
        crate::repos::render(web, p, form, note, status).await
    } else {
        error_page(err)
    }
}

fn confirmed(form: &HostForm, what: &str) -> Result<(), ServiceError> {
    if form.confirm == "yes" {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "confirm",
            format!("tick the box to confirm you want to {what}"),
        ))
    }
}

fn host_of(form: &HostForm) -> Result<HostId, ServiceError> {
    form.host
        .trim()
        .parse()
        .map(HostId)
        .map_err(|_| ServiceError::invalid("host", "choose a host"))
}

/// `POST /repositories/{id}/{action}`: `assign`, `unassign` or `delete`.
pub(crate) async fn act(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<HostForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let id = RepositoryId(id);
    let repos = &web.api.repos;
    let done = match action.as_str() {
        "assign" => match host_of(&form) {
            Ok(host) => repos.assign(&p, id, host).await.map(|_| "assigned"),
            Err(err) => Err(err),
        },
        "unassign" => match host_of(&form)
            .and_then(|h| confirmed(&form, "stop this host using the repository").map(|()| h))
        {
            Ok(host) => repos.unassign(&p, id, host).await.map(|_| "unassigned"),
            Err(err) => Err(err),
        },
        "delete" => match confirmed(&form, "delete this repository") {
            Ok(()) => repos.delete(&p, id).await.map(|()| "deleted"),
            Err(err) => Err(err),
        },
        _ => Err(ServiceError::NotFound("action")),
    };
    match done {
        Ok(done) => Redirect::to(&format!("/repositories?done={done}")).into_response(),
        Err(err) => refused(&web, &p, err).await,
    }
}
