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
        // In the environment, not argv: every user of a machine can read argv.
        Some((_, secret)) => format!("CAIRN_ENROLL_TOKEN={secret} {}", web.api.agent_command()),
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

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    _csrf: String,
    name: String,
    /// How long the token is valid, in hours.
    hours: u64,
    /// How many hosts may enroll with it (0: any number while it is valid).
    #[serde(default)]
    max_uses: u32,
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
    let ttl = Duration::from_secs(form.hours.saturating_mul(3600));
    match web
        .api
        .fleet
        .create_enrollment_token(&p, &form.name, ttl, form.max_uses, BTreeMap::new())
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
