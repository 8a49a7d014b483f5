//! The console's hosts pages over real HTTP: the list and one host, approval
//! against the agent's fingerprint, confirmations before revoke and delete,
//! hostile hostnames inert, and no action for a viewer.

use cairn_store::{HostId, HostStatus, Role};
use cairn_testkit::TestServer;
use reqwest::StatusCode;

use crate::{form_value, get_page, post_form, signed_in};

const HOSTILE: &str = "<script>alert(1)</script>";

async fn status_of(server: &TestServer, host: HostId) -> Option<HostStatus> {
    server.store().await.host(host).await.ok().map(|h| h.status)
}

#[tokio::test]
async fn a_pending_host_is_approved_only_against_its_own_fingerprint() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let (_, empty) = get_page(&server, &cookie, "/hosts").await;
    assert!(empty.contains("No hosts yet"), "a helpful empty state");

    let host = server.stored_host(HOSTILE).await;
    let fingerprint = server
        .store()
        .await
        .host(host)
        .await
        .expect("host")
        .fingerprint;
    let plain = server.stored_host("web01").await;
    let shown = server
        .store()
        .await
        .host(plain)
        .await
        .expect("host")
        .fingerprint;
    let (_, list) = get_page(&server, &cookie, "/hosts?status=pending").await;
    assert!(
        list.contains(&shown),
        "pending hosts show their fingerprint"
    );
    assert!(
        !list.contains("<script>alert"),
        "the hostname renders inert"
    );
    let (status, bad) = get_page(&server, &cookie, "/hosts?status=sleepy").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("unknown host status"));

    let path = format!("/hosts/{}", host.0);
    let (_, page) = get_page(&server, &cookie, &path).await;
    assert!(
        !page.contains("<script>alert"),
        "the hostname renders inert"
    );
    assert!(page.contains(&format!("cairn ctl hosts approve {} --fingerprint", host.0)));
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let approve = format!("{path}/approve");
    let (status, refused) = post_form(
        &server,
        &cookie,
        &approve,
        &[
            ("_csrf", csrf.as_str()),
            ("fingerprint", "SHA256:not-this-one"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused.contains("fingerprint mismatch"),
        "the page says why"
    );
    assert_eq!(status_of(&server, host).await, Some(HostStatus::Pending));

    let (status, _) = post_form(
        &server,
        &cookie,
        &approve,
        &[
            ("_csrf", csrf.as_str()),
            ("fingerprint", fingerprint.as_str()),
        ],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    assert_eq!(status_of(&server, host).await, Some(HostStatus::Approved));
}

#[tokio::test]
async fn delete_needs_its_confirmation_and_a_viewer_gets_no_action() {
    let server = TestServer::start().await;
    let host = server.stored_host("db01").await;
    let path = format!("/hosts/{}", host.0);

    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (_, page) = get_page(&server, &viewer, &path).await;
    assert!(
        !page.contains("Approve") && !page.contains("Delete"),
        "no buttons"
    );
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let (status, _) = post_form(
        &server,
        &viewer,
        &format!("{path}/approve"),
        &[("_csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&server, host).await, Some(HostStatus::Pending));

    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (_, page) = get_page(&server, &operator, &path).await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let delete = format!("{path}/delete");
    let (status, unconfirmed) =
        post_form(&server, &operator, &delete, &[("_csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        unconfirmed.contains("tick the box"),
        "the page says what is missing"
    );
    assert!(
        status_of(&server, host).await.is_some(),
        "nothing was deleted"
    );
    let (status, _) = post_form(
        &server,
        &operator,
        &delete,
        &[("_csrf", csrf.as_str()), ("confirm", "yes")],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    assert_eq!(status_of(&server, host).await, None);
}

#[tokio::test]
async fn add_host_gives_the_exact_command_and_an_admin_an_enrollment_token_once() {
    let server = TestServer::start().await;
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (status, page) = get_page(&server, &operator, "/hosts/add").await;
    assert_eq!(status, StatusCode::OK);
    let command = format!("cairn agent --server {} --allow-plaintext", server.url);
    assert!(page.contains(&command), "the exact command for this server");
    assert!(
        page.contains("allow_plaintext = true"),
        "and its agent.toml"
    );
    assert!(
        !page.contains("Make a token"),
        "tokens are an admin's to give"
    );

    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (_, page) = get_page(&server, &admin, "/hosts/add").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let (status, refused) = post_form(
        &server,
        &admin,
        "/hosts/add",
        &[("_csrf", csrf.as_str()), ("name", " "), ("hours", "24")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("invalid name"), "a clear error: {refused}");
    let (status, refused) = post_form(
        &server,
        &admin,
        "/hosts/add",
        &[("_csrf", csrf.as_str()), ("name", "x"), ("hours", "1.5")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("whole number of hours"), "{refused}");
    let (status, made) = post_form(
        &server,
        &admin,
        "/hosts/add",
        &[
            ("_csrf", csrf.as_str()),
            ("name", "rollout"),
            ("hours", "24"),
            ("max_uses", "3"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(made.contains("cairn_enroll_"), "the token, shown once");
    assert!(
        made.contains("read -rs CAIRN_ENROLL_TOKEN"),
        "pasted at a silent prompt, never typed into the command line"
    );
    assert!(made.contains("enroll_token_file"), "and in agent.toml");
    let (_, again) = get_page(&server, &admin, "/hosts/add").await;
    assert!(!again.contains("cairn_enroll_"), "shown once");
}

#[tokio::test]
async fn the_dashboard_puts_what_needs_attention_first() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let (status, empty) = get_page(&server, &cookie, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty.contains("No hosts yet"), "a helpful empty state");
    assert!(
        empty.contains("<title>Fleet · Cairn</title>"),
        "nothing to count"
    );

    let host = server.stored_host(HOSTILE).await;
    let (_, page) = get_page(&server, &cookie, "/").await;
    assert!(
        page.contains("<title>(1) Fleet · Cairn</title>"),
        "the tab counts it"
    );
    assert!(page.contains("waits for approval"));
    assert!(page.contains(&format!("href=\"/hosts/{}\"", host.0)));
    assert!(
        !page.contains("<script>alert"),
        "the hostname renders inert"
    );
    assert!(page.contains("Nothing is running."));
}
