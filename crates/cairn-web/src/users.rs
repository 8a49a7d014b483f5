//! Operators (admins only): who may sign in, with which role; add one, change
//! a role, disable or enable an account. Every change is the admin service's,
//! so it is checked and audited there (the last admin cannot be demoted).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_server::ServiceError;
use cairn_server::auth::{Operator, Principal};
use cairn_store::{Page, Role, UserId, UserUpdate};
use serde::Deserialize;

use crate::Web;
use crate::csrf::token_matches;
use crate::format::time;
use crate::pages::{csrf_of, csrf_refused};
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

pub(crate) struct UserRow {
    id: i64,
    username: String,
    role: &'static str,
    disabled: bool,
    created_at: String,
    last_login_at: String,
    is_me: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    user: Operator,
    csrf: String,
    rows: Vec<UserRow>,
    roles: [&'static str; 3],
    error: Option<String>,
}

async fn render(web: &Web, p: &Principal, error: Option<(StatusCode, String)>) -> Response {
    let users = match web
        .api
        .admin
        .list_users(p, Page::first(Page::MAX_LIMIT))
        .await
    {
        Ok(page) => page.items,
        Err(err) => return error_page(err),
    };
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id.0,
            username: u.username.clone(),
            role: u.role.as_str(),
            disabled: u.disabled,
            created_at: time(Some(u.created_at)),
            last_login_at: time(u.last_login_at),
            is_me: u.id == p.user.id,
        })
        .collect();
    let (status, error) = match error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    let page = UsersPage {
        user: p.user.clone(),
        csrf: csrf_of(p),
        rows,
        roles: ["viewer", "operator", "admin"],
        error,
    };
    (status, page).into_response()
}

/// `GET /users`.
pub(crate) async fn list(State(web): State<Web>, SignedIn(p): SignedIn) -> Response {
    render(&web, &p, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewUserForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

fn role_of(text: &str) -> Result<Role, ServiceError> {
    Role::parse(text)
        .ok_or_else(|| ServiceError::invalid("role", "must be viewer, operator or admin"))
}

/// What a refused change looks like: on the page, with its status, when the
/// admin can fix it; an error page otherwise.
async fn refused(web: &Web, p: &Principal, err: ServiceError) -> Response {
    let status = status_of(&err);
    if matches!(status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
        render(web, p, Some((status, err.to_string()))).await
    } else {
        error_page(err)
    }
}

/// `POST /users`: adds an operator.
pub(crate) async fn create(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Form(form): Form<NewUserForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let made = match role_of(&form.role) {
        Ok(role) => {
            web.api
                .admin
                .create_user(&p, form.username.trim(), &form.password, role)
                .await
        }
        Err(err) => Err(err),
    };
    match made {
        Ok(_) => Redirect::to("/users").into_response(),
        Err(err) => refused(&web, &p, err).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct UpdateForm {
    #[serde(default)]
    _csrf: String,
    /// A new role, or empty.
    #[serde(default)]
    role: String,
    /// `disable`, `enable`, or empty.
    #[serde(default)]
    access: String,
}

/// `POST /users/{id}`: changes a role, or disables or enables an account.
pub(crate) async fn update(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<UpdateForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let role = match form.role.as_str() {
        "" => None,
        r => match role_of(r) {
            Ok(role) => Some(role),
            Err(err) => return refused(&web, &p, err).await,
        },
    };
    let disabled = match form.access.as_str() {
        "" => None,
        "disable" => Some(true),
        "enable" => Some(false),
        other => {
            let err = ServiceError::invalid(
                "access",
                format!("must be disable or enable, not {other:?}"),
            );
            return refused(&web, &p, err).await;
        }
    };
    match web
        .api
        .admin
        .update_user(&p, UserId(id), UserUpdate { role, disabled })
        .await
    {
        Ok(_) => Redirect::to("/users").into_response(),
        Err(err) => refused(&web, &p, err).await,
    }
}
