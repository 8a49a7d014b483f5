//! The console's audit page: every filter in the URL, hostile strings inert,
//! downloads of the same selection, admins only.

use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use reqwest::StatusCode;

use crate::{get_page, signed_in};

const HOSTILE: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn the_audit_page_filters_by_every_field_renders_hostile_strings_inert_and_downloads() {
    let server = TestServer::start().await;
    let token = server.token_for("boss", Role::Admin, Scope::Admin).await;
    // A name the log records, chosen by an admin (hostile on purpose).
    let p = server
        .api
        .auth
        .authenticate_bearer(&token, None)
        .await
        .expect("principal");
    server
        .api
        .fleet
        .create_enrollment_token(
            &p,
            HOSTILE,
            std::time::Duration::from_secs(60),
            1,
            Default::default(),
        )
        .await
        .expect("enrollment token");
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (status, page) = get_page(&server, &admin, "/audit?actor_kind=api_token").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(HOSTILE), "escaped");
    assert!(page.contains("&lt;script&gt;") || !page.contains("script>alert"));
    assert!(
        !page.contains("<code>auth.login</code>"),
        "only token actions"
    );
    assert!(page.contains("/audit/export?format=csv&amp;actor_kind=api_token"));
    assert!(page.contains("cairn ctl audit export --format csv --actor-kind api_token"));
    let (_, dated) = get_page(
        &server,
        &admin,
        "/audit?since=2026-01-31&until=2026-02-01&action=a%20b",
    )
    .await;
    assert!(
        dated.contains("--action &#39;a b&#39; --since 2026-01-31T00:00:00.000Z --until 2026-02-02T00:00:00.000Z")
            || dated.contains("--action &#x27;a b&#x27; --since 2026-01-31T00:00:00.000Z --until 2026-02-02T00:00:00.000Z"),
        "the ctl line is true: {dated}"
    );
    let (_, by_target) = get_page(&server, &admin, "/audit?target=nothing:0").await;
    assert!(by_target.contains("matches these filters"), "empty state");
    let (_, future) = get_page(&server, &admin, "/audit?since=2999-01-01").await;
    assert!(future.contains("matches these filters"));
    let (_, today) = get_page(&server, &admin, "/audit?until=2999-01-01&action=auth.").await;
    assert!(today.contains("<code>auth.login</code>"));
    for (bad, says) in [
        ("/audit?since=yesterday", "since must be a date"),
        ("/audit?actor_kind=robot", "actor kind must be"),
        ("/audit?actor_id=x", "actor id must be a number"),
    ] {
        let (status, page) = get_page(&server, &admin, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.contains(says), "{bad}");
    }

    let (status, csv) = get_page(&server, &admin, "/audit/export?format=csv&action=auth.").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("id,time,actor_kind"), "{csv}");
    assert!(csv.contains("auth.login") && !csv.contains("enrollment_token.create"));
    let (status, jsonl) = get_page(&server, &admin, "/audit/export?format=jsonl").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        jsonl
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    let (status, _) = get_page(&server, &admin, "/audit/export?format=xlsx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (status, _) = get_page(&server, &viewer, "/audit/export?format=csv").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let (_, home) = get_page(&server, &viewer, "/").await;
    assert!(!home.contains("href=\"/audit\""), "no link for a viewer");

    // The retention is a setting on the settings page, refused when out of range.
    let (_, settings) = get_page(&server, &admin, "/settings").await;
    assert!(settings.contains(
        "name=\"audit_retention_days\" type=\"number\" min=\"0\" max=\"36500\" value=\"365\""
    ));
    assert!(settings.contains("--audit-retention-days 365"));
    let csrf = crate::form_value(&settings, "_csrf").expect("csrf");
    let (status, refused) = crate::post_form(
        &server,
        &admin,
        "/settings",
        &[
            ("_csrf", csrf.as_str()),
            ("retention_days", "30"),
            ("audit_retention_days", "99999"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("audit_retention_days"), "{refused}");
    let (status, _) = crate::post_form(
        &server,
        &admin,
        "/settings",
        &[
            ("_csrf", csrf.as_str()),
            ("retention_days", "30"),
            ("audit_retention_days", "0"),
        ],
    )
    .await;
    assert!(status.is_redirection() || status.is_success());
    let (_, saved) = get_page(&server, &admin, "/settings").await;
    assert!(saved.contains("--audit-retention-days 0"), "kept");
}
