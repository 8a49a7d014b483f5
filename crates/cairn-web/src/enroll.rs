//! Adding a host: the exact `cairn agent` command and agent.toml for this
//! server, and (for admins) an enrollment token filled into both, shown once.

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_server::auth::{Operator, Principal};
use cairn_store::Scope;
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

#[derive(Template, WebTemplate)]
#[template(path = "add_host.html")]
struct AddHostPage {
    user: Operator,
    csrf: String,
    command: String,
    agent_toml: String,
    can_enroll: bool,
    /// A token just made: its name and secret (shown once).
    token: Option<(String, String)>,
    error: Option<String>,
}

/// The agent.toml for this server (a token goes in a file of its own).
fn agent_toml(web: &Web, with_token: bool) -> String {
    let trust = match &web.api.tls_fingerprint {
        Some(fp) => format!("server_fingerprint = \"{fp}\""),
        None => "allow_plaintext = true".to_string(),
    };
    let enroll = if with_token {
        "\n# The token above, in a file only root can read (used once, on first announce).\nenroll_token_file = \"/etc/cairn/enroll-token\""
    } else {
        ""
    };
    format!(
        "server = \"{}\"\n{trust}\nstate_dir = \"/var/lib/cairn-agent\"\n# Where backups may read and restores may write.\nbackup_roots = [\"/etc\", \"/srv\"]\nrestore_roots = [\"/var/restore\"]{enroll}\n",
        web.api.public_url
    )
}

fn page(
    web: &Web,
    p: &Principal,
    token: Option<(String, String)>,
    error: Option<String>,
) -> AddHostPage {
    let command = match &token {
        // In the environment, never in argv (every user of a machine can read
        // argv) nor in the typed line (it would land in shell history): the
        // operator pastes it at a silent prompt.
        Some(_) => format!(
            "read -rs CAIRN_ENROLL_TOKEN && export CAIRN_ENROLL_TOKEN   # paste the token, then Enter\n{}",
            web.api.agent_command()
        ),
        None => web.api.agent_command(),
    };
    AddHostPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        agent_toml: agent_toml(web, token.is_some()),
        command,
        can_enroll: p.scope() >= Scope::Admin,
        token,
        error,
    }
}

/// `GET /hosts/add`.
pub(crate) async fn form(State(web): State<Web>, SignedIn(p): SignedIn) -> Response {
    page(&web, &p, None, None).into_response()
}

/// The form as sent: numbers are parsed here, so a bad one gets the form
/// back with a clear error rather than a bare rejection.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    name: String,
    /// How long the token is valid, in hours.
    #[serde(default)]
    hours: String,
    /// How many hosts may enroll with it (0 or empty: any number while it
    /// is valid).
    #[serde(default)]
    max_uses: String,
}

fn numbers(form: &TokenForm) -> Result<(u64, u32), String> {
    let hours = form.hours.trim().parse::<u64>().map_err(|_| {
        format!(
            "valid for must be a whole number of hours, not {:?}",
            form.hours
        )
    })?;
    let max_uses = match form.max_uses.trim() {
        "" => 0,
        n => n
            .parse::<u32>()
            .map_err(|_| format!("hosts must be a whole number, not {:?}", form.max_uses))?,
    };
    Ok((hours, max_uses))
}

/// `POST /hosts/add`: makes an enrollment token and shows it, once.
pub(crate) async fn create_token(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let (hours, max_uses) = match numbers(&form) {
        Ok(numbers) => numbers,
        Err(reason) => {
            return (StatusCode::BAD_REQUEST, page(&web, &p, None, Some(reason))).into_response();
        }
    };
    let ttl = Duration::from_secs(hours.saturating_mul(3600));
    match web
        .api
        .fleet
        .create_enrollment_token(&p, &form.name, ttl, max_uses, BTreeMap::new())
        .await
    {
        Ok(created) => {
            let token = Some((created.token.name, created.secret.expose().to_string()));
            page(&web, &p, token, None).into_response()
        }
        Err(err) if status_of(&err) == StatusCode::BAD_REQUEST => (
            StatusCode::BAD_REQUEST,
            page(&web, &p, None, Some(err.to_string())),
        )
            .into_response(),
        Err(err) => error_page(err),
    }
}
