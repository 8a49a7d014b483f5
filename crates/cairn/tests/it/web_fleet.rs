//! The console's schedules and repositories pages over real HTTP: a
//! schedule's next firings as its own zone reads them, a repository's
//! redacted URL and its hosts, and the connection test.

use std::collections::BTreeMap;

use cairn_domain::CatchUp;
use cairn_server::auth::Principal;
use cairn_server::repos::NewRepository;
use cairn_store::{Role, ScheduleFields};
use cairn_testkit::TestServer;
use reqwest::StatusCode;

use crate::{form_value, get_page, post_form, signed_in};

/// A host with a repository (its URL carrying a password) and a nightly
/// schedule in Berlin.
async fn fleet(server: &TestServer) -> (i64, i64) {
    let cli = Principal::local_cli();
    let host = server.stored_host("db01").await;
    server
        .api
        .fleet
        .approve(&cli, host, None)
        .await
        .expect("approve");
    let repo = server
        .api
        .repos
        .create(
            &cli,
            NewRepository {
                name: "offsite".into(),
                url: "rest:https://ann:hunter2@backup.example.com:8000/db".into(),
                password: "pw".into(),
                env: BTreeMap::new(),
            },
        )
        .await
        .expect("repository");
    server
        .api
        .repos
        .assign(&cli, repo.id, host)
        .await
        .expect("assign");
    let fields = ScheduleFields {
        name: "nightly".into(),
        cron: "0 2 * * *".into(),
        timezone: "Europe/Berlin".into(),
        paths: vec!["/srv".into()],
        excludes: vec![],
        tags: vec![],
        hooks: vec!["pg-dump".into()],
        limit_upload_kib: None,
        limit_download_kib: None,
        catch_up: CatchUp::Once,
        enabled: true,
    };
    server
        .api
        .schedules
        .create(&cli, host, repo.id, fields)
        .await
        .expect("schedule");
    (host.0, repo.id.0)
}

#[tokio::test]
async fn schedules_show_their_next_firings_in_their_own_zone() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "vic", Role::Viewer).await;
    let (_, empty) = get_page(&server, &cookie, "/schedules").await;
    assert!(empty.contains("No schedules"), "a helpful empty state");
    let (host, _) = fleet(&server).await;
    let (status, page) = get_page(&server, &cookie, &format!("/schedules?host={host}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<code>0 2 * * *</code> in Europe/Berlin"));
    // Five firings, each at 02:00 as Berlin reads it (CET or CEST).
    let at_two = page.matches(" 02:00 CE").count();
    assert_eq!(at_two, 5, "{page}");
    assert!(page.contains("pg-dump") && page.contains("caught up: once"));
    let (status, bad) = get_page(&server, &cookie, "/schedules?host=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("host must be a number"));
}

#[tokio::test]
async fn repositories_hide_their_secrets_and_a_connection_test_is_a_job() {
    let server = TestServer::start().await;
    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (_, empty) = get_page(&server, &viewer, "/repositories").await;
    assert!(empty.contains("No repositories yet"));
    let (host, repo) = fleet(&server).await;
    let (_, page) = get_page(&server, &viewer, "/repositories").await;
    assert!(page.contains("offsite"));
    assert!(
        !page.contains("hunter2"),
        "the URL's password is never shown"
    );
    assert!(
        page.contains(&format!("href=\"/hosts/{host}\"")),
        "its hosts"
    );
    assert!(!page.contains("Test connection"), "no button for a viewer");

    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (_, page) = get_page(&server, &operator, "/repositories").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let response = server
        .http()
        .post(format!("{}/repositories/{repo}/test", server.url))
        .header(reqwest::header::COOKIE, &operator)
        .header("sec-fetch-site", "same-origin")
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("test");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(location.starts_with("/jobs/"), "{location}");
    let (_, job) = get_page(&server, &operator, &location).await;
    assert!(job.contains("snapshots"), "the test is a snapshots job");
    let (status, _) = post_form(
        &server,
        &viewer,
        &format!("/repositories/{repo}/test"),
        &[("_csrf", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
