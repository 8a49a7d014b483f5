//! The console's jobs pages over real HTTP: the list with its filters in the
//! URL, one job with its live stream and its log as a download, cancel;
//! hostile strings render inert, and a viewer can neither see nor use a
//! cancel.

use std::time::Duration;

use cairn_domain::{JobSpec, LogLevel, LogStream};
use cairn_store::{JobId, LogLine, Role};
use cairn_testkit::TestServer;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::{form_value, get_page, signed_in};

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// A queued job on a host whose hostname is markup, with a log line of
/// markup (stored as the host's agent would have sent it).
async fn hostile_job(server: &TestServer) -> JobId {
    let host = server.stored_host(HOSTILE).await;
    let job = server
        .stored_job(host, JobSpec::Check(Default::default()))
        .await;
    let store = server.store().await;
    let line = LogLine {
        at: 1_767_225_600_000,
        stream: LogStream::Stdout,
        level: LogLevel::Info,
        line: format!("file {HOSTILE}"),
    };
    let effect = cairn_store::append_job_log(host, job, vec![line], 100);
    store
        .apply_agent_message_with(host, 1, 1, effect)
        .await
        .expect("log");
    job
}

/// `count` more log lines for `job`, "line number 0000" on, a millisecond
/// apart, as its agent's second message.
async fn append_numbered_lines(
    server: &TestServer,
    job: JobId,
    count: i64,
    stream: LogStream,
    level: LogLevel,
) {
    let store = server.store().await;
    let host = store.job(job).await.expect("job").host_id;
    let lines = (0..count)
        .map(|n| LogLine {
            at: 1_767_225_600_000 + n,
            stream,
            level,
            line: format!("line number {n:04}"),
        })
        .collect();
    let effect = cairn_store::append_job_log(host, job, lines, 10_000);
    store
        .apply_agent_message_with(host, 2, 2, effect)
        .await
        .expect("log");
}

fn inert(html: &str) {
    assert!(!html.contains("<script>alert"), "raw markup in the page");
    assert!(!html.contains("<img src=x"), "raw markup in the page");
    let at = html.find("alert(1)").expect("the hostile text is shown");
    let shown = &html[at.saturating_sub(30)..(at + 30).min(html.len())];
    assert!(
        shown.contains("&lt;script&gt;") || shown.contains("&#60;script&#62;"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_job_list_filters_in_the_url_and_renders_hostile_strings_inert() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let (status, empty) = get_page(&server, &cookie, "/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty.contains("No jobs yet"), "a helpful empty state");

    let job = hostile_job(&server).await;
    let (_, list) = get_page(&server, &cookie, "/jobs").await;
    assert!(list.contains(&format!("href=\"/jobs/{}\"", job.0)));
    inert(&list);

    let (_, filtered) = get_page(&server, &cookie, "/jobs?kind=backup").await;
    assert!(filtered.contains("No job matches these filters"));
    let (_, matching) = get_page(&server, &cookie, "/jobs?kind=check&status=queued").await;
    assert!(matching.contains(&format!("#{}", job.0)));

    let (status, bad) = get_page(&server, &cookie, "/jobs?kind=teleport").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("unknown job kind"), "a clear error");

    // An HTMX request gets the table alone, a plain one the whole page.
    let partial = server
        .http()
        .get(format!("{}/jobs?kind=check", server.url))
        .header(COOKIE, &cookie)
        .header("hx-request", "true")
        .send()
        .await
        .expect("partial")
        .text()
        .await
        .expect("body");
    assert!(!partial.contains("<html"), "a partial, not a page");
    assert!(partial.contains(&format!("#{}", job.0)));
    // A refused filter, asked by HTMX, comes as a table that says why (HTMX
    // does not swap a 4xx answer).
    let refused = server
        .http()
        .get(format!("{}/jobs?host=abc", server.url))
        .header(COOKIE, &cookie)
        .header("hx-request", "true")
        .send()
        .await
        .expect("partial");
    assert_eq!(refused.status(), StatusCode::OK);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("host must be a number")
    );
}

#[tokio::test]
async fn a_job_page_shows_its_log_inert_and_follows_the_job_to_its_end() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let job = hostile_job(&server).await;
    let (status, page) = get_page(&server, &cookie, &format!("/jobs/{}", job.0)).await;
    assert_eq!(status, StatusCode::OK);
    inert(&page);
    // The stream starts after the one log line the page shows.
    assert!(page.contains(&format!(
        "data-job-events=\"/jobs/{}/events?from=1\"",
        job.0
    )));
    assert!(page.contains("Cancel job"));
    assert!(page.contains(&format!("cairn ctl jobs cancel {}", job.0)));

    let mut events = server
        .http()
        .get(format!("{}/jobs/{}/events", server.url, job.0))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(
        events
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    assert!(events.headers().contains_key("content-security-policy"));
    let csrf = form_value(&page, "_csrf").expect("csrf token");
    let cancelled = server
        .http()
        .post(format!("{}/jobs/{}/cancel", server.url, job.0))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("cancel");
    assert!(cancelled.status().is_redirection() || cancelled.status().is_success());
    // The stream tells the state, then the final record, and ends.
    let mut body = String::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = events.chunk().await.expect("chunk") {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    read.await.expect("the stream ends after the final record");
    assert!(body.contains("event: state"), "{body}");
    assert!(body.contains("event: finished"), "{body}");
    assert!(body.contains("\"status\":\"cancelled\""), "{body}");
}

#[tokio::test]
async fn a_viewer_sees_no_cancel_and_cannot_post_one_nor_can_another_site() {
    let server = TestServer::start().await;
    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let job = hostile_job(&server).await;
    let (_, page) = get_page(&server, &viewer, &format!("/jobs/{}", job.0)).await;
    assert!(
        !page.contains("Cancel job"),
        "no button the viewer may not use"
    );
    let csrf = form_value(&page, "_csrf").expect("csrf token");
    let refused = server
        .http()
        .post(format!("{}/jobs/{}/cancel", server.url, job.0))
        .header(COOKIE, &viewer)
        .header("sec-fetch-site", "same-origin")
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("cancel");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let operator = signed_in(&server, "olga", Role::Operator).await;
    let cross_site = server
        .http()
        .post(format!("{}/jobs/{}/cancel", server.url, job.0))
        .header(COOKIE, &operator)
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", "anything")])
        .send()
        .await
        .expect("cancel");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let (_, still) = get_page(&server, &operator, &format!("/jobs/{}", job.0)).await;
    assert!(still.contains("status-queued"), "nothing was cancelled");
}

#[tokio::test]
async fn the_ui_scripts_are_served_from_the_binary() {
    let server = TestServer::start().await;
    for (path, needle) in [
        ("/static/htmx.min.js", "htmx"),
        ("/static/app.js", "EventSource"),
        ("/static/app.css", "--accent"),
    ] {
        let response = server
            .http()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.text().await.expect("body").contains(needle),
            "{path}"
        );
    }
    let missing = server
        .http()
        .get(format!("{}/static/nope.js", server.url))
        .send()
        .await
        .expect("asset");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_long_log_opens_at_its_newest_lines_and_says_what_it_left_out() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let job = hostile_job(&server).await;
    append_numbered_lines(&server, job, 700, LogStream::Stdout, LogLevel::Info).await;
    let (_, page) = get_page(&server, &cookie, &format!("/jobs/{}", job.0)).await;
    assert!(
        page.contains("line number 0699"),
        "the newest line is shown"
    );
    assert!(
        !page.contains("line number 0100"),
        "the oldest are left out"
    );
    assert!(
        page.contains("201 earlier lines are not shown"),
        "and it says so"
    );
}

#[tokio::test]
async fn the_whole_log_downloads_as_text_and_as_json_lines() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let job = hostile_job(&server).await;
    // More than one page of the store's reads.
    append_numbered_lines(&server, job, 6_000, LogStream::Stderr, LogLevel::Warn).await;
    let (_, page) = get_page(&server, &cookie, &format!("/jobs/{}", job.0)).await;
    assert!(page.contains(&format!("/jobs/{}/log?format=ndjson", job.0)));

    let download = |format: &'static str| {
        server
            .http()
            .get(format!("{}/jobs/{}/log?format={format}", server.url, job.0))
            .header(COOKIE, &cookie)
            .send()
    };
    let text = download("txt").await.expect("txt");
    assert_eq!(text.status(), StatusCode::OK);
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        text.headers()["content-disposition"],
        format!("attachment; filename=\"cairn-job-{}.txt\"", job.0)
    );
    let body = text.text().await.expect("body");
    let rows: Vec<&str> = body.lines().collect();
    assert_eq!(rows.len(), 6_001, "every line, the first page and the rest");
    assert!(
        rows[0].ends_with(&format!("stdout info file {HOSTILE}")),
        "{}",
        rows[0]
    );
    assert_eq!(
        rows[6_000],
        "2026-01-01T00:00:05.999Z stderr warn line number 5999"
    );

    let json = download("ndjson").await.expect("ndjson");
    assert_eq!(json.headers()["content-type"], "application/x-ndjson");
    let body = json.text().await.expect("body");
    let parsed: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(parsed.len(), 6_001);
    assert_eq!(parsed[0]["line"], format!("file {HOSTILE}"));
    assert_eq!(parsed[6_000]["level"], "warn");

    let refused = download("html").await.expect("html");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let missing = server
        .http()
        .get(format!("{}/jobs/999999/log?format=txt", server.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let anonymous = server
        .http()
        .get(format!("{}/jobs/{}/log?format=txt", server.url, job.0))
        .send()
        .await
        .expect("anonymous");
    assert!(
        !anonymous.status().is_success(),
        "no log without a session: {}",
        anonymous.status()
    );
}
