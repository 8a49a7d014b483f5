//! The forms that add, change and remove notification channels, one per
//! kind. Secret fields are write-only: never filled in, and left empty they
//! keep what is stored. Each form shows the `cairn ctl` command it stands for.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::{AlertKind, Severity};
use cairn_notify::{Kind, Route, Secrets, Settings, SmtpTls};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_server::notifications::{ChannelUpdate, ChannelView, NewChannel};
use cairn_store::ChannelId;
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::notifications::kind_label;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::error_page;
use crate::session::SignedIn;

/// Every field of every kind's form; a kind reads its own. No `Debug`: it
/// holds secrets as typed.
#[derive(Default, Clone, Deserialize)]
pub(crate) struct ChannelForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    tls: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    pings: String,
    #[serde(default)]
    ping_start: String,
    #[serde(default)]
    kinds: String,
    #[serde(default)]
    min_severity: String,
    #[serde(default)]
    send_resolved: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "notification_form.html")]
struct FormPage {
    user: Operator,
    csrf: String,
    kind: &'static str,
    label: &'static str,
    /// The channel being edited, if any.
    id: Option<i64>,
    form: ChannelForm,
    /// Which secrets are stored (an edit), said next to their fields.
    stored: Vec<String>,
    error: Option<String>,
    command: String,
    alert_kinds: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewQuery {
    #[serde(default)]
    kind: String,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// The settings, secrets and route a form says, or why not.
fn parse(kind: Kind, f: &ChannelForm) -> Result<(Settings, Secrets, Route), ServiceError> {
    let secret = (!f.secret.is_empty()).then(|| f.secret.trim().to_string());
    let priority = || -> Result<u8, ServiceError> {
        match f.priority.trim() {
            "" => Ok(0),
            p => p
                .parse()
                .map_err(|_| ServiceError::invalid("priority", "must be a number")),
        }
    };
    let mut secrets = Secrets::default();
    let settings = match kind {
        Kind::Webhook => {
            secrets.signing_secret = secret;
            for line in lines(&f.headers) {
                let (k, v) = line.split_once(':').ok_or_else(|| {
                    ServiceError::invalid("headers", format!("{line:?} is not `Name: value`"))
                })?;
                secrets
                    .headers
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
            Settings::Webhook {
                url: f.url.trim().to_string(),
            }
        }
        Kind::Smtp => {
            secrets.password = secret;
            let tls = SmtpTls::parse(&f.tls).unwrap_or_default();
            let port = match f.port.trim() {
                "" => 0,
                p => p
                    .parse()
                    .map_err(|_| ServiceError::invalid("port", "must be 1 to 65535"))?,
            };
            Settings::Smtp {
                host: f.host.trim().to_string(),
                port,
                tls,
                username: f.username.trim().to_string(),
                from: f.from.trim().to_string(),
                to: f
                    .to
                    .split([',', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            }
        }
        Kind::Ntfy => {
            secrets.token = secret;
            Settings::Ntfy {
                server_url: f.url.trim().to_string(),
                topic: f.topic.trim().to_string(),
                priority: priority()?,
            }
        }
        Kind::Gotify => {
            secrets.token = secret;
            Settings::Gotify {
                server_url: f.url.trim().to_string(),
                priority: priority()?,
            }
        }
        Kind::Slack | Kind::Discord => {
            secrets.webhook_url = secret;
            if kind == Kind::Slack {
                Settings::Slack {}
            } else {
                Settings::Discord {}
            }
        }
        Kind::Healthchecks => {
            for line in lines(&f.pings) {
                let (id, url) = line.split_once('=').ok_or_else(|| {
                    ServiceError::invalid("pings", format!("{line:?} is not `SCHEDULE_ID=URL`"))
                })?;
                let id: i64 = id.trim().parse().map_err(|_| {
                    ServiceError::invalid("pings", format!("{:?} is not a schedule id", id.trim()))
                })?;
                secrets.ping_urls.insert(id, url.trim().to_string());
            }
            Settings::Healthchecks {
                ping_start: f.ping_start == "on",
            }
        }
    };
    let kinds = f
        .kinds
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            AlertKind::parse(k)
                .ok_or_else(|| ServiceError::invalid("kinds", format!("unknown alert kind {k:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let route = Route {
        kinds,
        min_severity: Severity::parse(&f.min_severity).unwrap_or(Severity::Info),
        send_resolved: f.send_resolved == "on",
    };
    Ok((settings, secrets, route))
}

/// The ctl command a form stands for (secrets as files, never values).
fn command(kind: Kind, id: Option<i64>, f: &ChannelForm) -> String {
    let mut c = match id {
        Some(id) => CtlCommand::new(&["notifications", "update"])
            .arg(id)
            .flag_if("name", &f.name),
        None => {
            CtlCommand::new(&["notifications", "add", kind.as_str()]).flag("name", &f.name, "NAME")
        }
    };
    c = match kind {
        Kind::Webhook => c
            .flag_if("url", &f.url)
            .file("secret-file", "SIGNING_SECRET_FILE")
            .file("headers-file", "HEADERS_FILE"),
        Kind::Smtp => {
            let to: Vec<String> =
                f.to.split([',', '\n'])
                    .map(|s| s.trim().to_string())
                    .collect();
            c.flag_if("host", &f.host)
                .flag_if("port", &f.port)
                .flag_if("tls", &f.tls)
                .flag_if("username", &f.username)
                .flag_if("from", &f.from)
                .flag_each("to", &to)
                .file("secret-file", "PASSWORD_FILE")
        }
        Kind::Ntfy => c
            .flag_if("url", &f.url)
            .flag_if("topic", &f.topic)
            .flag_if("priority", &f.priority)
            .file("secret-file", "TOKEN_FILE"),
        Kind::Gotify => c
            .flag_if("url", &f.url)
            .flag_if("priority", &f.priority)
            .file("secret-file", "APP_TOKEN_FILE"),
        Kind::Slack | Kind::Discord => c.file("secret-file", "WEBHOOK_URL_FILE"),
        Kind::Healthchecks => c.file("pings-file", "PINGS_FILE").flag(
            "ping-start",
            if f.ping_start == "on" {
                "true"
            } else {
                "false"
            },
            "",
        ),
    };
    if kind != Kind::Healthchecks {
        c = c
            .flag_if("kinds", &f.kinds)
            .flag_if("min-severity", &f.min_severity)
            .flag(
                "send-resolved",
                if f.send_resolved == "on" {
                    "true"
                } else {
                    "false"
                },
                "",
            );
    }
    c.to_string()
}

fn form_of(view: &ChannelView) -> ChannelForm {
    let mut f = ChannelForm {
        name: view.name.clone(),
        enabled: if view.enabled {
            "on".into()
        } else {
            String::new()
        },
        kinds: view
            .route
            .kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(","),
        min_severity: view.route.min_severity.as_str().into(),
        send_resolved: if view.route.send_resolved {
            "on".into()
        } else {
            String::new()
        },
        ..ChannelForm::default()
    };
    match &view.settings {
        Settings::Webhook { url } => f.url = url.clone(),
        Settings::Smtp {
            host,
            port,
            tls,
            username,
            from,
            to,
        } => {
            f.host = host.clone();
            f.port = if *port == 0 {
                String::new()
            } else {
                port.to_string()
            };
            f.tls = tls.as_str().into();
            f.username = username.clone();
            f.from = from.clone();
            f.to = to.join(", ");
        }
        Settings::Ntfy {
            server_url,
            topic,
            priority,
        } => {
            f.url = server_url.clone();
            f.topic = topic.clone();
            f.priority = priority.to_string();
        }
        Settings::Gotify {
            server_url,
            priority,
        } => {
            f.url = server_url.clone();
            f.priority = priority.to_string();
        }
        Settings::Slack {} | Settings::Discord {} => {}
        Settings::Healthchecks { ping_start } => {
            f.ping_start = if *ping_start {
                "on".into()
            } else {
                String::new()
            }
        }
    }
    f
}

fn stored(view: &ChannelView) -> Vec<String> {
    let s = &view.secrets;
    let mut out = Vec::new();
    if s.has_signing_secret {
        out.push("a signing secret".to_string());
    }
    if s.has_password {
        out.push("a password".to_string());
    }
    if s.has_token {
        out.push("a token".to_string());
    }
    if let Some(url) = &s.webhook_url_redacted {
        out.push(format!("the webhook URL {url}"));
    }
    if !s.header_names.is_empty() {
        out.push(format!("headers {}", s.header_names.join(", ")));
    }
    if !s.ping_schedule_ids.is_empty() {
        let ids: Vec<String> = s.ping_schedule_ids.iter().map(i64::to_string).collect();
        out.push(format!("ping URLs for schedules {}", ids.join(", ")));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn show(
    p: &Principal,
    kind: Kind,
    id: Option<i64>,
    form: ChannelForm,
    stored: Vec<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let command = command(kind, id, &form);
    let page = FormPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        kind: kind.as_str(),
        label: kind_label(kind),
        id,
        form: ChannelForm {
            secret: String::new(),
            ..form
        },
        stored,
        error,
        command,
        alert_kinds: AlertKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    (status, page).into_response()
}

/// `GET /notifications/new?kind=…`.
pub(crate) async fn new_form(SignedIn(p): SignedIn, Query(q): Query<NewQuery>) -> Response {
    // A bare `/notifications/new` (typed, bookmarked) offers the commonest
    // kind; the channels page links each kind.
    let asked = match q.kind.trim() {
        "" => "webhook",
        kind => kind,
    };
    let Some(kind) = Kind::parse(asked) else {
        return error_page(ServiceError::invalid(
            "kind",
            format!("unknown channel kind {:?}", q.kind),
        ));
    };
    let form = ChannelForm {
        enabled: "on".into(),
        send_resolved: "on".into(),
        min_severity: "info".into(),
        ..ChannelForm::default()
    };
    show(&p, kind, None, form, Vec::new(), None, StatusCode::OK)
}

/// `POST /notifications/new?kind=…`.
pub(crate) async fn create(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Query(q): Query<NewQuery>,
    Form(form): Form<ChannelForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let Some(kind) = Kind::parse(&q.kind) else {
        return error_page(ServiceError::invalid(
            "kind",
            format!("unknown channel kind {:?}", q.kind),
        ));
    };
    let result = match parse(kind, &form) {
        Ok((settings, secrets, route)) => {
            let new = NewChannel {
                name: form.name.clone(),
                enabled: form.enabled == "on",
                settings,
                secrets,
                route,
            };
            web.api.notifications.create(&p, new).await.map(drop)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/notifications?done=created").into_response(),
        Err(e @ (ServiceError::InvalidArgument { .. } | ServiceError::AlreadyExists(_))) => show(
            &p,
            kind,
            None,
            form,
            Vec::new(),
            Some(e.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => error_page(e),
    }
}

/// `GET /notifications/{id}/edit`.
pub(crate) async fn edit_form(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    if p.scope() < cairn_store::Scope::Admin {
        return error_page(ServiceError::PermissionDenied { need: "admin" });
    }
    match web.api.notifications.get(&p, ChannelId(id)).await {
        Ok(view) => show(
            &p,
            view.kind,
            Some(id),
            form_of(&view),
            stored(&view),
            None,
            StatusCode::OK,
        ),
        Err(e) => error_page(e),
    }
}

/// `POST /notifications/{id}`: saves an edit.
pub(crate) async fn update(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ChannelForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let api = &web.api.notifications;
    let view = match api.get(&p, ChannelId(id)).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let result = match parse(view.kind, &form) {
        Ok((settings, secrets, route)) => {
            let update = ChannelUpdate {
                name: Some(form.name.clone()),
                enabled: Some(form.enabled == "on"),
                settings: Some(settings),
                secrets,
                route: Some(route),
            };
            api.update(&p, ChannelId(id), update).await.map(drop)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/notifications?done=updated").into_response(),
        Err(e @ (ServiceError::InvalidArgument { .. } | ServiceError::AlreadyExists(_))) => show(
            &p,
            view.kind,
            Some(id),
            form,
            stored(&view),
            Some(e.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => error_page(e),
    }
}

/// `POST /notifications/{id}/delete`.
pub(crate) async fn delete(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ChannelForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    if form.confirm != "yes" {
        return error_page(ServiceError::invalid(
            "confirm",
            "tick the box to remove the channel",
        ));
    }
    match web.api.notifications.delete(&p, ChannelId(id)).await {
        Ok(()) => Redirect::to("/notifications?done=deleted").into_response(),
        Err(e) => error_page(e),
    }
}
