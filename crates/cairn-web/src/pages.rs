//! The pages: sign-in, first-run setup, sign-out, and the account page with
//! the operator's API tokens.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;
use cairn_server::admin::TokenRequest;
use cairn_server::auth::{NewLogin, Operator, Principal};
use cairn_store::{ApiTokenId, Page, Scope};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::reply::{MessagePage, error_page, status_of};
use crate::session::{
    ClientInfo, MaybeSignedIn, SignedIn, clear_cookie, session_cookie, set_cookie,
};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    setup_open: bool,
    error: Option<String>,
    username: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    token: String,
    username: String,
    error: Option<String>,
}

/// One API token as the account page shows it.
struct TokenRow {
    id: i64,
    name: String,
    scope: &'static str,
    prefix: String,
    created_at: String,
    expires_at: String,
    last_used_at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    user: Operator,
    csrf: String,
    can_admin: bool,
    tokens: Vec<TokenRow>,
    new_secret: Option<String>,
    error: Option<String>,
    server_url: String,
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) _csrf: String,
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct SetupQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SetupForm {
    token: String,
    username: String,
    password: String,
    password_confirm: String,
}

#[derive(Deserialize)]
pub(crate) struct CreateTokenForm {
    #[serde(default)]
    _csrf: String,
    name: String,
    scope: String,
    ttl_days: Option<u32>,
}

/// Hands the new session to the browser and sends it home.
fn signed_in(web: &Web, login: &NewLogin) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, header::HeaderValue::from_static("/")),
            (
                header::SET_COOKIE,
                set_cookie(web.api.secure_cookies, login.session_token.expose()),
            ),
        ],
    )
        .into_response()
}

fn message(
    status: StatusCode,
    heading: &str,
    text: &str,
    link_href: &'static str,
    link_text: &'static str,
) -> Response {
    let page = MessagePage {
        heading: heading.into(),
        text: text.into(),
        link_href: link_href.into(),
        link_text,
    };
    (status, page).into_response()
}

/// The session's CSRF token, for the page's forms and HTMX requests.
pub(crate) fn csrf_of(principal: &Principal) -> String {
    match &principal.via {
        cairn_server::auth::Via::Session { csrf_token, .. } => csrf_token.clone(),
        _ => String::new(),
    }
}

pub(crate) fn csrf_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Request refused",
        "The page's security token did not match your session. Reload the page and try again.",
        "/",
        "Reload",
    )
}

fn setup_closed() -> Response {
    message(
        StatusCode::GONE,
        "Setup is complete",
        "This server already has an admin, so the setup link no longer works.",
        "/login",
        "Sign in",
    )
}

fn setup_link_invalid() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Invalid setup link",
        "This setup link is not valid. Use the exact link cairn server printed in its log.",
        "/login",
        "Sign in",
    )
}

pub(crate) async fn login_form(
    State(web): State<Web>,
    MaybeSignedIn(principal): MaybeSignedIn,
) -> Response {
    if principal.is_some() {
        return Redirect::to("/").into_response();
    }
    LoginPage {
        setup_open: web.api.auth.setup_open().await,
        error: None,
        username: String::new(),
    }
    .into_response()
}

pub(crate) async fn login(
    State(web): State<Web>,
    client: ClientInfo,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(old) = session_cookie(&headers, web.api.secure_cookies)
        && let Err(err) = web.api.auth.discard_session(&old).await
    {
        return error_page(err);
    }
    match web
        .api
        .auth
        .login(
            &form.username,
            &form.password,
            client.addr,
            client.user_agent,
        )
        .await
    {
        Ok(login) => signed_in(&web, &login),
        Err(err) => {
            let page = LoginPage {
                setup_open: web.api.auth.setup_open().await,
                error: Some(err.to_string()),
                username: form.username,
            };
            (status_of(&err), page).into_response()
        }
    }
}

pub(crate) async fn setup_form(
    State(web): State<Web>,
    Query(query): Query<SetupQuery>,
) -> Response {
    if !web.api.auth.setup_open().await {
        return setup_closed();
    }
    match query.token {
        Some(token) if web.api.auth.setup_token_matches(&token) => SetupPage {
            token,
            username: String::new(),
            error: None,
        }
        .into_response(),
        _ => setup_link_invalid(),
    }
}

pub(crate) async fn setup(
    State(web): State<Web>,
    client: ClientInfo,
    Form(form): Form<SetupForm>,
) -> Response {
    if !web.api.auth.setup_open().await {
        return setup_closed();
    }
    let retry = |error: String, status: StatusCode| {
        (
            status,
            SetupPage {
                token: form.token.clone(),
                username: form.username.clone(),
                error: Some(error),
            },
        )
            .into_response()
    };
    if form.password != form.password_confirm {
        return retry("The two passwords differ.".into(), StatusCode::BAD_REQUEST);
    }
    match web
        .api
        .auth
        .setup(
            &form.token,
            &form.username,
            &form.password,
            client.addr,
            client.user_agent,
        )
        .await
    {
        Ok(login) => signed_in(&web, &login),
        Err(ServiceError::Unauthenticated(_)) => setup_link_invalid(),
        Err(ServiceError::FailedPrecondition(_)) => setup_closed(),
        Err(err @ ServiceError::InvalidArgument { .. }) => {
            retry(err.to_string(), StatusCode::BAD_REQUEST)
        }
        Err(err) => error_page(err),
    }
}

pub(crate) async fn logout(
    State(web): State<Web>,
    SignedIn(principal): SignedIn,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !token_matches(&principal, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    if let Err(err) = web.api.auth.logout(&principal).await {
        return error_page(err);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, header::HeaderValue::from_static("/login")),
            (header::SET_COOKIE, clear_cookie(web.api.secure_cookies)),
        ],
    )
        .into_response()
}

pub(crate) async fn account(State(web): State<Web>, SignedIn(principal): SignedIn) -> Response {
    render_account(&web, &principal, None, None, StatusCode::OK).await
}

async fn render_account(
    web: &Web,
    principal: &Principal,
    new_secret: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let tokens = match web
        .api
        .admin
        .list_api_tokens(principal, false, false, Page::first(Page::MAX_LIMIT))
        .await
    {
        Ok(page) => page.items,
        Err(err) => return error_page(err),
    };
    let csrf = csrf_of(principal);
    let page = AccountPage {
        user: principal.user.clone(),
        csrf,
        can_admin: principal.scope() >= Scope::Admin,
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id.0,
                name: t.name,
                scope: t.scope.as_str(),
                prefix: t.prefix,
                created_at: crate::format::time(Some(t.created_at)),
                expires_at: t
                    .expires_at
                    .map_or_else(|| "never".into(), |at| crate::format::time(Some(at))),
                last_used_at: crate::format::time(t.last_used_at),
            })
            .collect(),
        new_secret,
        error,
        server_url: web.api.public_url.clone(),
    };
    (status, page).into_response()
}

pub(crate) async fn create_token(
    State(web): State<Web>,
    SignedIn(principal): SignedIn,
    headers: HeaderMap,
    Form(form): Form<CreateTokenForm>,
) -> Response {
    if !token_matches(&principal, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let Some(scope) = Scope::parse(&form.scope) else {
        let err = ServiceError::invalid("scope", "must be read, operate or admin");
        return render_account(
            &web,
            &principal,
            None,
            Some(err.to_string()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let request = TokenRequest {
        name: form.name,
        scope,
        ttl: form
            .ttl_days
            .filter(|d| *d > 0)
            .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
        user_id: None,
    };
    match web.api.admin.create_api_token(&principal, request).await {
        Ok(created) => {
            render_account(
                &web,
                &principal,
                Some(created.secret.expose().to_string()),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(err @ (ServiceError::InvalidArgument { .. } | ServiceError::FailedPrecondition(_))) => {
            let status = status_of(&err);
            render_account(&web, &principal, None, Some(err.to_string()), status).await
        }
        Err(err) => error_page(err),
    }
}

pub(crate) async fn revoke_token(
    State(web): State<Web>,
    SignedIn(principal): SignedIn,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !token_matches(&principal, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    match web
        .api
        .admin
        .revoke_api_token(&principal, ApiTokenId(id))
        .await
    {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(err) => error_page(err),
    }
}
