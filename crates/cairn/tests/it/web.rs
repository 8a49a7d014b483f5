//! The web UI's authentication flows, over real HTTP.

use cairn_store::{AuditFilter, Outcome, Page, Role, Store};
use cairn_testkit::{TEST_PASSWORD, TestServer};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::{form_value, session_cookie};

async fn login(
    server: &TestServer,
    username: &str,
    password: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .http()
        .post(format!("{}/login", server.url))
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", username), ("password", password)]);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.expect("login request")
}

async fn home(server: &TestServer, cookie: &str) -> reqwest::Response {
    server
        .http()
        .get(format!("{}/", server.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("home request")
}

async fn audit_actions(server: &TestServer) -> Vec<(String, Outcome)> {
    let store = Store::open(&server.data_dir().join("cairn.db"))
        .await
        .expect("open store");
    let page = store
        .list_audit(AuditFilter::default(), Page::first(500))
        .await
        .expect("audit");
    page.items
        .into_iter()
        .rev()
        .map(|r| (r.entry.action, r.entry.outcome))
        .collect()
}

#[tokio::test]
async fn setup_link_works_once_and_signs_the_admin_in() {
    let server = TestServer::start().await;
    let link = server
        .setup_link
        .clone()
        .expect("setup link while no operator exists");
    let token = link
        .split("token=")
        .nth(1)
        .expect("token in link")
        .to_string();

    let form = server.http().get(&link).send().await.expect("get setup");
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(
        form_value(&form.text().await.expect("body"), "token"),
        Some(token.clone())
    );

    let fields = [
        ("token", token.as_str()),
        ("username", "root-admin"),
        ("password", TEST_PASSWORD),
        ("password_confirm", TEST_PASSWORD),
    ];
    let created = server
        .http()
        .post(format!("{}/setup", server.url))
        .header("sec-fetch-site", "same-origin")
        .form(&fields)
        .send()
        .await
        .expect("post setup");
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&created).expect("signed in after setup");
    let page = home(&server, &cookie).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("body")
            .contains("Signed in as root-admin")
    );

    // The link is dead now, for viewing and for posting.
    let again = server
        .http()
        .get(&link)
        .send()
        .await
        .expect("get setup again");
    assert_eq!(again.status(), StatusCode::GONE);
    let mut second = fields;
    second[1] = ("username", "intruder");
    let replay = server
        .http()
        .post(format!("{}/setup", server.url))
        .header("sec-fetch-site", "same-origin")
        .form(&second)
        .send()
        .await
        .expect("replay setup");
    assert_eq!(replay.status(), StatusCode::GONE);
    assert!(server.api.admin.user_by_username("intruder").await.is_err());
    assert!(
        audit_actions(&server)
            .await
            .contains(&("auth.setup".into(), Outcome::Success))
    );
}

#[tokio::test]
async fn a_wrong_setup_token_is_refused() {
    let server = TestServer::start().await;
    let page = server
        .http()
        .get(format!("{}/setup?token=cairn_setup_wrong", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let post = server
        .http()
        .post(format!("{}/setup", server.url))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("token", "nope"),
            ("username", "x"),
            ("password", TEST_PASSWORD),
            ("password_confirm", TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), StatusCode::FORBIDDEN);
    assert!(
        server.api.auth.setup_open().await,
        "a failed attempt does not close setup"
    );
}

#[tokio::test]
async fn wrong_password_is_refused_and_the_kth_attempt_is_rate_limited() {
    const K: u32 = 3;
    let server = TestServer::start_with(|c| c.login_max_failures = K).await;
    server.create_user("ann", Role::Operator).await;

    for _ in 0..K {
        let refused = login(&server, "ann", "not the password", None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(session_cookie(&refused).is_none());
        assert!(
            refused
                .text()
                .await
                .expect("body")
                .contains("wrong username or password")
        );
    }
    // Over the limit: refused even with the right password.
    let limited = login(&server, "ann", TEST_PASSWORD, None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(session_cookie(&limited).is_none());
    assert!(
        limited
            .text()
            .await
            .expect("body")
            .contains("too many attempts")
    );

    // Another account from another client is unaffected.
    let actions = audit_actions(&server).await;
    let denied = actions
        .iter()
        .filter(|a| a.0 == "auth.login" && a.1 == Outcome::Denied)
        .count();
    assert_eq!(denied, K as usize + 1, "every refusal is audited");
}

#[tokio::test]
async fn unknown_users_get_the_same_answer_as_wrong_passwords() {
    let server = TestServer::start().await;
    server.create_user("ann", Role::Viewer).await;
    let unknown = login(&server, "nobody", TEST_PASSWORD, None).await;
    let wrong = login(&server, "ann", "wrong password!", None).await;
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(
        unknown.text().await.expect("a"),
        wrong
            .text()
            .await
            .expect("b")
            .replace("value=\"ann\"", "value=\"nobody\"")
    );
}

#[tokio::test]
async fn the_session_changes_at_login_and_dies_at_logout() {
    let server = TestServer::start().await;
    server.create_user("ann", Role::Operator).await;

    let first =
        session_cookie(&login(&server, "ann", TEST_PASSWORD, None).await).expect("first session");
    let second_response = login(&server, "ann", TEST_PASSWORD, Some(&first)).await;
    assert_eq!(second_response.status(), StatusCode::SEE_OTHER);
    let second = session_cookie(&second_response).expect("second session");
    assert_ne!(first, second, "a new session id at every login");
    assert_eq!(
        home(&server, &first).await.status(),
        StatusCode::SEE_OTHER,
        "the old session is gone"
    );

    let page = home(&server, &second).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = form_value(&page.text().await.expect("body"), "_csrf").expect("csrf token in page");

    let out = server
        .http()
        .post(format!("{}/logout", server.url))
        .header(COOKIE, &second)
        .header("sec-fetch-site", "same-origin")
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        out.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    let after = home(&server, &second).await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the cookie is dead after logout"
    );
    assert_eq!(
        after.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/login")
    );

    let actions = audit_actions(&server).await;
    assert!(actions.contains(&("auth.login".into(), Outcome::Success)));
    assert!(actions.contains(&("auth.logout".into(), Outcome::Success)));
}

#[tokio::test]
async fn cross_site_and_tokenless_posts_are_refused() {
    let server = TestServer::start().await;
    server.create_user("ann", Role::Admin).await;
    let cookie =
        session_cookie(&login(&server, "ann", TEST_PASSWORD, None).await).expect("session");
    let page = home(&server, &cookie).await.text().await.expect("body");
    let csrf = form_value(&page, "_csrf").expect("csrf");

    let post = |site: Option<&'static str>, origin: Option<&'static str>, token: &str| {
        let mut request = server
            .http()
            .post(format!("{}/tokens", server.url))
            .header(COOKIE, &cookie)
            .form(&[
                ("_csrf", token),
                ("name", "forged"),
                ("scope", "admin"),
                ("ttl_days", "1"),
            ]);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    // A page on another site submitting the form, with the right token even.
    let cross = post(Some("cross-site"), Some("https://evil.example"), &csrf)
        .await
        .expect("send");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let origin_only = post(None, Some("https://evil.example"), &csrf)
        .await
        .expect("send");
    assert_eq!(origin_only.status(), StatusCode::FORBIDDEN);
    // Same origin but without the session's token.
    let no_token = post(Some("same-origin"), None, "").await.expect("send");
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let wrong_token = post(Some("same-origin"), None, "forged-token")
        .await
        .expect("send");
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
    let listed = server
        .api
        .admin
        .list_api_tokens(
            &cairn_server::auth::Principal::local_cli(),
            true,
            true,
            Page::first(50),
        )
        .await
        .expect("list");
    assert!(listed.items.is_empty(), "no forged token was made");

    // The real form, same origin and the right token, works.
    let ok = post(Some("same-origin"), None, &csrf).await.expect("send");
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.expect("body").contains("cairn_pat_"));
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let server =
        TestServer::start_with(|c| c.public_url = "https://cairn.example.com".into()).await;
    server.create_user("ann", Role::Viewer).await;
    let response = login(&server, "ann", TEST_PASSWORD, None).await;
    let raw = response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_string();
    assert!(raw.starts_with("__Host-cairn_session="), "{raw}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(raw.contains(attribute), "{raw} lacks {attribute}");
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_unknown_paths_are_404() {
    let server = TestServer::start().await;
    let page = server
        .http()
        .get(format!("{}/login", server.url))
        .send()
        .await
        .expect("get");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(
        page.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let missing = server
        .http()
        .get(format!("{}/no/such/page", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let health = server
        .http()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(health.status(), StatusCode::OK);
    let ready = server
        .http()
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(ready.status(), StatusCode::OK);
}
