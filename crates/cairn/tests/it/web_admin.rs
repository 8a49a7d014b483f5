//! The console's admin pages over real HTTP: the audit log with its filters,
//! and the run-time settings with their ranges; neither for a non-admin.

use cairn_store::Role;
use cairn_testkit::TestServer;
use reqwest::StatusCode;

use crate::{form_value, get_page, post_form, signed_in};

#[tokio::test]
async fn the_audit_log_shows_who_did_what_and_filters_in_the_url() {
    let server = TestServer::start().await;
    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (status, _) = get_page(&server, &viewer, "/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (status, page) = get_page(&server, &admin, "/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("auth.login") && page.contains("ada"));
    let (_, denied) = get_page(&server, &admin, "/audit?outcome=denied").await;
    assert!(denied.contains("audit.read"), "the viewer's refused look");
    assert!(!denied.contains("<code>auth.login</code>"), "only denials");
    let (_, logins) = get_page(&server, &admin, "/audit?action=auth.").await;
    assert!(logins.contains("auth.login") && !logins.contains("<code>audit.read</code>"));
    let (status, bad) = get_page(&server, &admin, "/audit?outcome=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("outcome must be"));
}

#[tokio::test]
async fn settings_keep_their_ranges_and_only_an_admin_changes_them() {
    let server = TestServer::start().await;
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (status, _) = get_page(&server, &operator, "/settings").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (_, page) = get_page(&server, &admin, "/settings").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    for (value, says) in [("abc", "whole number of days"), ("0", "must be 1 to 3650")] {
        let (status, refused) = post_form(
            &server,
            &admin,
            "/settings",
            &[("_csrf", csrf.as_str()), ("retention_days", value)],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
        assert!(refused.contains(says), "{value}: {refused}");
    }
    let (status, _) = post_form(
        &server,
        &admin,
        "/settings",
        &[("_csrf", csrf.as_str()), ("retention_days", "45")],
    )
    .await;
    assert!(status.is_redirection() || status.is_success());
    let (_, saved) = get_page(&server, &admin, "/settings?saved=1").await;
    assert!(saved.contains("value=\"45\""), "the new value is kept");
    let (_, audit) = get_page(&server, &admin, "/audit?action=settings.update").await;
    assert!(audit.contains("job_log_retention_days=45"), "and audited");
}

#[tokio::test]
async fn an_admin_adds_operators_changes_roles_and_cannot_demote_the_last_admin() {
    let server = TestServer::start().await;
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (status, _) = get_page(&server, &operator, "/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (_, page) = get_page(&server, &admin, "/users").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");

    let (status, weak) = post_form(
        &server,
        &admin,
        "/users",
        &[
            ("_csrf", csrf.as_str()),
            ("username", "bob"),
            ("password", "x"),
            ("role", "operator"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}");
    assert!(weak.contains("password"), "a clear error: {weak}");
    let (status, _) = post_form(
        &server,
        &admin,
        "/users",
        &[
            ("_csrf", csrf.as_str()),
            ("username", "bob"),
            ("password", cairn_testkit::TEST_PASSWORD),
            ("role", "viewer"),
        ],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    let (_, listed) = get_page(&server, &admin, "/users").await;
    assert!(listed.contains("bob"));

    let store = server.store().await;
    let ada = store
        .user_by_username("ada")
        .await
        .expect("read")
        .expect("ada")
        .id
        .0;
    let (status, refused) = post_form(
        &server,
        &admin,
        &format!("/users/{ada}"),
        &[("_csrf", csrf.as_str()), ("role", "viewer")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(refused.contains("last enabled admin"), "{refused}");
    let bob = store
        .user_by_username("bob")
        .await
        .expect("read")
        .expect("bob")
        .id
        .0;
    let (status, _) = post_form(
        &server,
        &admin,
        &format!("/users/{bob}"),
        &[("_csrf", csrf.as_str()), ("access", "disable")],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    let bob_now = store
        .user_by_username("bob")
        .await
        .expect("read")
        .expect("bob");
    assert!(bob_now.disabled, "bob is disabled");
}
