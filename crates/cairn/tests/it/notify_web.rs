//! The notifications page: channels, the per-kind forms, the Test button
//! (inline with HTMX), deliveries; a viewer sees no button and is refused.

use cairn_store::Role;
use cairn_testkit::TestServer;
use cairn_testkit::receivers::HttpReceiver;

use crate::{form_value, get_page, post_form, post_response, signed_in};

#[tokio::test]
async fn notify_web_adds_a_channel_tests_it_inline_and_hides_buttons_from_viewers() {
    let server = TestServer::start_with(|c| c.allow_private_notification_targets = true).await;
    let receiver = HttpReceiver::start().await;
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (status, page) = get_page(&server, &admin, "/notifications").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("No channels yet") && page.contains("href=\"/notifications\""),
        "{page}"
    );
    let (_, form) = get_page(&server, &admin, "/notifications/new?kind=webhook").await;
    assert!(
        form.contains("cairn ctl notifications add webhook"),
        "{form}"
    );
    let csrf = form_value(&form, "_csrf").expect("csrf");
    // A refused destination keeps the form with the reason; nothing stored.
    let (status, again) = post_form(
        &server,
        &admin,
        "/notifications/new?kind=webhook",
        &[
            ("_csrf", &csrf),
            ("name", "bad"),
            ("url", "http://0x7f000001@/x"),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{again}");
    let url = receiver.url("/web");
    let hostile = "<script>alert(1)</script>";
    let response = post_response(
        &server,
        &admin,
        "/notifications/new?kind=webhook",
        &[
            ("_csrf", &csrf),
            ("name", hostile),
            ("url", &url),
            ("enabled", "on"),
            ("secret", "web-signing-secret"),
            ("min_severity", "warning"),
            ("send_resolved", "on"),
        ],
    )
    .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    let (_, page) = get_page(&server, &admin, "/notifications").await;
    assert!(
        !page.contains(hostile) && page.contains("alert(1)"),
        "escaped"
    );
    assert!(!page.contains("web-signing-secret"));
    assert!(
        page.contains("Test!") && page.contains("cairn ctl notifications test 1"),
        "{page}"
    );
    // The Test button, as HTMX sends it: a fragment with the outcome.
    let answer = server
        .http()
        .post(format!("{}/notifications/1/test", server.url))
        .header(reqwest::header::COOKIE, &admin)
        .header("sec-fetch-site", "same-origin")
        .header("hx-request", "true")
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("test");
    let fragment = answer.text().await.expect("body");
    assert!(
        fragment.contains("Test accepted") && !fragment.contains("<html"),
        "{fragment}"
    );
    assert_eq!(receiver.received().len(), 1);
    let (_, edit) = get_page(&server, &admin, "/notifications/1/edit").await;
    assert!(
        edit.contains("Stored (never shown): a signing secret")
            && !edit.contains("web-signing-secret"),
        "{edit}"
    );

    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (_, page) = get_page(&server, &viewer, "/notifications").await;
    assert!(
        !page.contains("Test!") && !page.contains("Add a channel") && !page.contains("/edit"),
        "{page}"
    );
    let viewer_csrf = form_value(&page, "_csrf").expect("csrf");
    let (status, _) = post_form(
        &server,
        &viewer,
        "/notifications/1/test",
        &[("_csrf", &viewer_csrf)],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post_form(
        &server,
        &viewer,
        "/notifications/1/delete",
        &[("_csrf", &viewer_csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        receiver.received().len(),
        1,
        "the viewer's test sent nothing"
    );
}
