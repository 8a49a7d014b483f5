//! The console's snapshot pages over real HTTP: the list with its filters in
//! the URL, a snapshot browsed lazily with real restic, a restore of ticked
//! files after a summary (its bytes compared, its `cairn ctl` line run), a
//! diff of two real backups; bad input, viewers and hostile names.

use std::path::Path;
use std::time::Duration;

use cairn_domain::JobSpec;
use cairn_proto::v1 as pb;
use cairn_store::{CachedSnapshot, JobId, Page, RepositoryId, Role, Scope};
use cairn_testkit::fleet::{Fleet, repository};
use cairn_testkit::{TestServer, poll_pause};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, VARY};

use crate::cli::cairn;
use crate::{form_value, get_page, post_response, signed_in};

const PASSWORD: &str = "snapshot-pages-password";
const HOSTILE: &str = "<script>alert(1)</script>";
/// A file name of markup (a name cannot hold `/`).
const HOSTILE_FILE: &str = "<img src=x onerror=alert(2)>";

fn inert(html: &str) {
    assert!(!html.contains("<script>alert"), "raw markup in the page");
    assert!(!html.contains("<img src=x"), "raw markup in the page");
}

/// Text as the page escaped it, back to what it says.
pub(crate) fn unescape(text: &str) -> String {
    text.replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// What an element with `id` holds, up to the end of its `tag`.
pub(crate) fn element<'a>(html: &'a str, id: &str, tag: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let end = html[start..]
        .find(&format!("</{tag}>"))
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// A form posted from the server's own page; the status, the redirect and
/// the body.
pub(crate) async fn post(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let response = post_response(server, cookie, path, fields).await;
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, location, response.text().await.expect("body"))
}

/// What HTMX gets for `path`.
async fn htmx(server: &TestServer, cookie: &str, path: &str) -> (StatusCode, String, String) {
    let response = server
        .http()
        .get(format!("{}{path}", server.url))
        .header(COOKIE, cookie)
        .header("hx-request", "true")
        .send()
        .await
        .expect("request");
    let status = response.status();
    let vary = response
        .headers()
        .get(VARY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, vary, response.text().await.expect("body"))
}

/// A query-string value, percent-encoded.
fn q(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A cached snapshot as an agent's listing would have stored it.
fn cached(repo: i64, n: u32, tags: &[&str]) -> CachedSnapshot {
    let id = format!("a{n:07}{}", "0".repeat(56));
    CachedSnapshot {
        repository_id: RepositoryId(repo),
        short_id: id[..8].to_string(),
        snapshot_id: id,
        time: 1_767_225_600_000 + i64::from(n) * 60_000,
        hostname: HOSTILE.into(),
        host_id: None,
        paths: vec![format!("/srv/{HOSTILE}")],
        tags: tags.iter().map(|t| t.to_string()).collect(),
        parent: None,
        tree: None,
        seen_at: 0,
        summary: None,
    }
}

#[tokio::test]
async fn the_snapshot_list_filters_and_pages_in_the_url_and_renders_hostile_strings_inert() {
    let server = TestServer::start().await;
    let token = server.token_for("root", Role::Admin, Scope::Admin).await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let (status, empty) = get_page(&server, &cookie, "/snapshots").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        empty.contains("No repositories yet"),
        "a helpful empty state"
    );
    assert!(
        empty.contains("href=\"/snapshots\">Snapshots</a>"),
        "in the nav"
    );

    let host = server.stored_host(HOSTILE).await;
    let repo = repository(&server, &token, "offsite", "/srv/restic/o", "pw", &[host.0]).await;
    let (_, none) = get_page(&server, &cookie, "/snapshots").await;
    assert!(none.contains("No snapshot is known yet"), "{none}");

    // 55 snapshots, every third tagged `db` and one tagged with markup.
    let snapshots: Vec<CachedSnapshot> = (1..=55)
        .map(|n| match n {
            55 => cached(repo, n, &[HOSTILE]),
            n if n % 3 == 0 => cached(repo, n, &["db", "nightly"]),
            n => cached(repo, n, &["nightly"]),
        })
        .collect();
    let newest = snapshots[54].clone();
    let effect = cairn_store::replace_snapshots(RepositoryId(repo), true, snapshots, 5);
    server
        .store()
        .await
        .apply_agent_message(host, 1, 0, effect)
        .await
        .expect("cache the list");

    let (status, list) = get_page(&server, &cookie, "/snapshots").await;
    assert_eq!(status, StatusCode::OK);
    inert(&list);
    assert!(list.contains("&#60;script&#62;alert(1)") || list.contains("&lt;script&gt;alert(1)"));
    // Newest first, 50 a page, then a link to the older ones.
    let first = list.find(&newest.short_id).expect("the newest");
    let second = list.find("a0000054").expect("the one before");
    assert!(first < second, "newest first");
    assert!(!list.contains("a0000005"), "beyond the first page");
    let older = format!(
        "/snapshots?repo=&host=&tag=&after={}",
        1_767_225_600_000_i64 + 6 * 60_000
    );
    assert!(
        unescape(&list).contains(&older),
        "older snapshots are a URL away"
    );
    let (_, page2) = get_page(&server, &cookie, &older).await;
    assert!(page2.contains("a0000005") && page2.contains("a0000001"));
    assert!(!page2.contains("a0000006"));
    // The operator's actions: browse, compare two, compare with previous,
    // refresh; with a `cairn ctl` line.
    assert!(list.contains(&format!(
        "href=\"/snapshots/{repo}/{}\"",
        newest.snapshot_id
    )));
    assert!(list.contains("id=\"compare-form\"") && list.contains("name=\"a\""));
    assert!(list.contains("Compare with previous"));
    assert!(list.contains("id=\"snapshots-refresh\""));
    assert!(list.contains(&format!("cairn ctl snapshots list --repo {repo}")));

    let (_, tagged) = get_page(&server, &cookie, "/snapshots?tag=db").await;
    assert!(tagged.contains("a0000033") && !tagged.contains("a0000034"));
    assert!(tagged.contains(&format!("cairn ctl snapshots list --repo {repo} --tag db")));
    let (_, nothing) = get_page(&server, &cookie, "/snapshots?tag=weekly").await;
    assert!(nothing.contains("No snapshot matches these filters"));
    // None of them came from a backup here, so none is the host's.
    let (_, by_host) = get_page(&server, &cookie, &format!("/snapshots?host={}", host.0)).await;
    assert!(by_host.contains("No snapshot matches these filters"));
    for (query, says) in [
        ("repo=abc", "repository must be a number"),
        ("repo=999", "there is no repository 999"),
        ("host=x", "host must be a number"),
    ] {
        let (status, bad) = get_page(&server, &cookie, &format!("/snapshots?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(bad.contains(says), "{query}: a clear error");
        assert!(bad.contains("name=\"tag\""), "the filters stay to fix it");
    }

    // An HTMX request gets the table alone, and caches keep both apart.
    let (status, vary, partial) = htmx(&server, &cookie, "/snapshots?tag=db").await;
    assert_eq!(status, StatusCode::OK);
    assert!(vary.contains("HX-Request"));
    assert!(!partial.contains("<html") && partial.contains("a0000033"));

    // The refresh goes to a host that uses the repository: this one is
    // still pending, and the refusal says why.
    let csrf = form_value(&list, "_csrf").expect("csrf");
    let repo_id = repo.to_string();
    let (status, _, refused) = post(
        &server,
        &cookie,
        "/snapshots/refresh",
        &[("_csrf", &csrf), ("repo", &repo_id)],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(refused.contains("approved hosts only"), "{refused}");

    // A viewer reads the list, and sees and can use nothing that runs a job.
    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (status, seen) = get_page(&server, &viewer, "/snapshots").await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen.contains(&newest.short_id));
    assert!(
        !seen.contains(&format!("href=\"/snapshots/{repo}/")),
        "no browse link"
    );
    assert!(!seen.contains("snapshots-refresh") && !seen.contains("compare-form"));
    assert!(!seen.contains("Compare with previous"));
    let viewer_csrf = form_value(&seen, "_csrf").expect("csrf");
    let (status, _, _) = post(
        &server,
        &viewer,
        "/snapshots/refresh",
        &[("_csrf", &viewer_csrf), ("repo", &repo_id)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let browse = format!("/snapshots/{repo}/{}", newest.snapshot_id);
    assert_eq!(
        get_page(&server, &viewer, &browse).await.0,
        StatusCode::FORBIDDEN
    );
    let diff = format!(
        "/snapshots/diff?repo={repo}&a={0}&b={0}",
        newest.snapshot_id
    );
    assert_eq!(
        get_page(&server, &viewer, &diff).await.0,
        StatusCode::FORBIDDEN
    );
    let restore = format!("{browse}/restore");
    let (status, _, _) = post(
        &server,
        &viewer,
        &restore,
        &[
            ("_csrf", &viewer_csrf),
            ("select", "/srv"),
            ("host", "1"),
            ("target", "/r"),
            ("step", "confirm"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without the page's token nothing is done.
    let (status, _, _) = post(
        &server,
        &cookie,
        &restore,
        &[("select", "/srv"), ("step", "confirm")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The snapshots of `repo`, newest first, from the server's cache.
pub(crate) async fn cached_ids(server: &TestServer, repo: i64) -> Vec<String> {
    server
        .store()
        .await
        .list_snapshots(RepositoryId(repo), None, Page::first(10))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|s| s.snapshot_id)
        .collect()
}

pub(crate) async fn backed_up(fleet: &mut Fleet, repo: i64, source: &Path) {
    let job = fleet
        .backup(repo, vec![source.display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
}

pub(crate) async fn fleet_with_repo(dir: &Path) -> (Fleet, i64) {
    let mut fleet = Fleet::start().await;
    let repo = fleet
        .repository(&dir.join("repo").display().to_string(), PASSWORD)
        .await;
    let init = fleet
        .maintenance(
            repo,
            pb::run_maintenance_request::Spec::Init(pb::InitSpec::default()),
        )
        .await;
    assert_eq!(
        init.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        init.error
    );
    (fleet, repo)
}

/// Runs a `cairn ctl` line as the page shows it, against this server (not
/// blocking the runtime the server runs on).
pub(crate) async fn run_ctl(server: &TestServer, token: &str, shown: &str) -> String {
    let line = unescape(shown);
    let rest = line.strip_prefix("cairn ctl ").expect("a cairn ctl line");
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("\"$CAIRN\" ctl --server \"$URL\" {rest}"))
        .env("CAIRN", cairn().get_program())
        .env("URL", &server.url)
        .env("CAIRN_TOKEN", token)
        .output()
        .await
        .expect("run ctl");
    assert!(
        output.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Gets `path` until its body says `what` (the server notices a gone agent
/// in its own time). It first waits for the server to see every agent gone:
/// a page opened while the host still counts as connected sends it a job
/// and waits for it, which on a busy machine outlasts any short deadline.
async fn until_says(
    server: &TestServer,
    cookie: &str,
    path: &str,
    what: &str,
) -> (StatusCode, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while server
        .api
        .fleet
        .list_hosts(
            &cairn_server::auth::Principal::local_cli(),
            &cairn_server::fleet::HostQuery {
                online: Some(true),
                ..Default::default()
            },
            cairn_store::Page::first(10),
        )
        .await
        .is_ok_and(|online| !online.items.is_empty())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "an agent stays connected"
        );
        poll_pause().await;
    }
    loop {
        let (status, body) = get_page(server, cookie, path).await;
        if body.contains(what) {
            return (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never said {what:?}"
        );
        poll_pause().await;
    }
}

#[tokio::test]
async fn a_snapshot_is_browsed_lazily_and_ticked_files_are_restored_after_a_summary() {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).expect("mkdir");
    std::fs::write(source.join("a.txt"), "alpha").expect("write");
    std::fs::write(source.join("sub/b.txt"), "bravo bytes").expect("write");
    std::fs::write(source.join("star*"), "starry").expect("write");
    std::fs::write(source.join(HOSTILE_FILE), "hostile").expect("write");
    std::fs::write(source.join("other.txt"), "not ticked").expect("write");
    let (mut fleet, repo) = fleet_with_repo(dir.path()).await;
    backed_up(&mut fleet, repo, &source).await;
    let id = cached_ids(&fleet.server, repo).await.remove(0);
    let server = &fleet.server;
    let cookie = signed_in(server, "olga", Role::Operator).await;
    let src = source.display().to_string();
    let base = format!("/snapshots/{repo}/{id}");

    // The root: the first folder of the backed-up path, closed.
    let (status, root) = get_page(server, &cookie, &base).await;
    assert_eq!(status, StatusCode::OK, "{root}");
    let top = format!(
        "/{}",
        src.trim_start_matches('/').split('/').next().expect("top")
    );
    assert!(root.contains("id=\"snapshot-tree\""));
    assert!(root.contains("class=\"tree-toggle\" id=\"toggle-"));
    assert!(root.contains(&format!("data-path=\"{top}\"")), "{root}");
    assert!(root.contains(&format!(
        "cairn ctl snapshots browse --repo {repo} --snapshot {id}"
    )));
    // The source folder's page (what a folder link opens without script).
    let (status, page) = get_page(server, &cookie, &format!("{base}?path={}", q(&src))).await;
    assert_eq!(status, StatusCode::OK);
    inert(&page);
    assert!(page.contains(&format!("name=\"select\" value=\"{src}/a.txt\"")));
    assert!(page.contains("5 B"), "sizes in human units");
    assert!(
        page.contains(&format!("data-path=\"{src}/sub\"")),
        "a folder opens"
    );
    assert!(
        !page.contains("sub/b.txt"),
        "lazy: a folder's children wait for it to open"
    );
    assert!(
        page.contains("aria-current=\"page\">source</span>"),
        "breadcrumbs"
    );
    // Opening a folder fetches only its children.
    let (status, _, children) = htmx(
        server,
        &cookie,
        &format!("{base}/tree?path={}", q(&format!("{src}/sub"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!children.contains("<html") && !children.contains("a.txt"));
    assert!(children.contains(&format!("value=\"{src}/sub/b.txt\" form=\"restore-form\"")));
    assert!(children.contains("11 B"));
    let plain = server
        .http()
        .get(format!("{}{base}/tree?path={}", server.url, q(&src)))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("plain");
    assert!(plain.status().is_redirection());

    let csrf = form_value(&page, "_csrf").expect("csrf");
    let host = fleet.host_id.to_string();
    let target_dir = fleet.restore_root().join("web");
    let target = target_dir.display().to_string();
    let a = format!("{src}/a.txt");
    let sub = format!("{src}/sub");
    let star = format!("{src}/star*");
    let hostile = format!("{src}/{HOSTILE_FILE}");
    let restore = format!("{base}/restore");
    let form = |select: Vec<&str>, host: &str, target: &str, step: &str| {
        let mut fields = vec![("_csrf", csrf.clone()), ("at", "/".to_string())];
        fields.extend(select.into_iter().map(|s| ("select", s.to_string())));
        fields.extend([
            ("host", host.to_string()),
            ("target", target.to_string()),
            ("step", step.to_string()),
        ]);
        fields
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let restore = restore.clone();
        let cookie = cookie.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(server, &cookie, &restore, &pairs).await
        }
    };

    // Bad input: a clear error on the form, and nothing the operator chose
    // is lost.
    let (status, _, nothing) = send(form(vec![], &host, &target, "review")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(nothing.contains("tick at least one file or folder"));
    assert!(
        nothing.contains(&format!("value=\"{target}\"")),
        "the target is kept"
    );
    for (bad_target, says) in [
        ("relative/dir", "must be an absolute path"),
        (
            &format!("{target}/../../etc") as &str,
            "must be an absolute path",
        ),
    ] {
        let (status, _, refused) = send(form(vec![&a, &sub], &host, bad_target, "review")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_target}");
        assert!(refused.contains(says), "{bad_target}: {refused}");
        assert!(refused.contains("aria-invalid=\"true\""));
        // Ticked in folders this page does not show: kept, still ticked.
        assert!(refused.contains(&format!("name=\"select\" value=\"{a}\" checked")));
        assert!(refused.contains(&format!("name=\"select\" value=\"{sub}\" checked")));
        assert!(
            refused.contains(&format!("value=\"{bad_target}\"")),
            "the target is kept"
        );
    }
    let (status, _, unknown) = send(form(vec![&a], "99999", &target, "review")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown.contains("there is no host 99999"));
    let mut limited = form(vec![&a], &host, &target, "review");
    limited.push(("limit", "fast".into()));
    let (status, _, slow) = send(limited).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(slow.contains("whole number of KiB/s"));

    // The summary: what, from where, to which host and path, the command.
    let mut chosen = form(vec![&a, &sub, &star, &hostile], &host, &target, "review");
    chosen.push(("verify", "yes".into()));
    let (status, _, summary) = send(chosen.clone()).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    inert(&summary);
    assert!(summary.contains("id=\"restore-confirm\""));
    assert!(
        summary.contains(&format!("{target}{src}/a.txt")),
        "where it lands"
    );
    assert!(summary.contains("4 items"));
    let ctl = unescape(
        element(&summary, "restore-ctl", "code").trim_start_matches("id=\"restore-ctl\">"),
    );
    assert!(
        ctl.starts_with(&format!(
            "cairn ctl restore --repo {repo} --snapshot {id} --host {host} --target {target} --include "
        )),
        "{ctl}"
    );
    assert!(
        ctl.contains(r"star\*") && ctl.contains("--verify") && ctl.ends_with("--wait"),
        "{ctl}"
    );

    // Confirmed: the job, with exactly the chosen paths and target.
    chosen.retain(|(k, _)| *k != "step");
    chosen.push(("step", "confirm".into()));
    let (status, location, _) = send(chosen).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job: i64 = location
        .as_deref()
        .and_then(|l| l.strip_prefix("/jobs/"))
        .and_then(|n| n.parse().ok())
        .expect("to the job's page");
    let stored = server.store().await.job(JobId(job)).await.expect("job");
    let JobSpec::Restore(spec) = stored.spec else {
        panic!("not a restore: {:?}", stored.spec)
    };
    assert_eq!(spec.target_path, target);
    assert_eq!(spec.target_host_id, fleet.host_id);
    assert!(spec.verify);
    let mut includes = spec.includes.clone();
    includes.sort();
    let mut wanted = vec![
        a.clone(),
        sub.clone(),
        format!(r"{src}/star\*"),
        hostile.clone(),
    ];
    wanted.sort();
    assert_eq!(includes, wanted);
    let done = cairn_testkit::jobs::finish(server, &fleet.token, job).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );
    let landed = target_dir.join(src.trim_start_matches('/'));
    let read = |name: &str| {
        std::fs::read_to_string(landed.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(read("a.txt"), "alpha");
    assert_eq!(read("sub/b.txt"), "bravo bytes");
    assert_eq!(read("star*"), "starry");
    assert_eq!(read(HOSTILE_FILE), "hostile");
    assert!(!landed.join("other.txt").exists(), "only what was ticked");

    // The page's command is true: run as shown, it restores again, over
    // the file changed since.
    std::fs::write(landed.join("a.txt"), "changed since").expect("write");
    run_ctl(&fleet.server, &fleet.token, &ctl).await;
    assert_eq!(
        read("a.txt"),
        "alpha",
        "written over with the snapshot's version"
    );

    // The host's latest snapshots, for its page.
    let (status, _, latest) = htmx(
        server,
        &cookie,
        &format!("/hosts/{}/snapshots", fleet.host_id),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(latest.contains(&id[..8]) && !latest.contains("<html"));
    // A refresh from the repository is a job of its own.
    let (status, location, _) = post(
        server,
        &cookie,
        "/snapshots/refresh",
        &[("_csrf", &csrf), ("repo", &repo.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap_or_default().starts_with("/jobs/"));

    // With the host gone, the page says so at once and queues nothing.
    fleet.agent.stop().await.expect("stop");
    let (status, offline) = until_says(
        &fleet.server,
        &cookie,
        &base,
        "no host that uses repository",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the page still opens");
    assert!(offline.contains("Could not list this folder"));
}

#[tokio::test]
async fn two_real_backups_are_compared_with_each_size_change_and_the_total() {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).expect("mkdir");
    std::fs::write(source.join("a.txt"), "first").expect("write");
    std::fs::write(source.join("sub/b.txt"), "stays").expect("write");
    std::fs::write(source.join("gone.txt"), "to be removed").expect("write");
    std::fs::write(source.join(HOSTILE_FILE), "x").expect("write");
    let (mut fleet, repo) = fleet_with_repo(dir.path()).await;
    backed_up(&mut fleet, repo, &source).await;
    std::fs::write(source.join("a.txt"), "second, longer").expect("write");
    std::fs::write(source.join("new.txt"), "added").expect("write");
    std::fs::remove_file(source.join("gone.txt")).expect("remove");
    std::fs::create_dir(source.join("newdir")).expect("mkdir");
    std::fs::write(source.join("newdir/f"), "ff").expect("write");
    std::fs::write(source.join(HOSTILE_FILE), "xy").expect("write");
    backed_up(&mut fleet, repo, &source).await;
    let ids = cached_ids(&fleet.server, repo).await;
    let (b, a) = (&ids[0], &ids[1]);
    let server = &fleet.server;
    let cookie = signed_in(server, "olga", Role::Operator).await;
    let src = source.display().to_string();

    // The list links each snapshot to the one before it.
    let (_, list) = get_page(server, &cookie, "/snapshots").await;
    let link = format!("/snapshots/diff?repo={repo}&amp;a={a}&amp;b={b}");
    assert!(list.contains(&link), "compare with previous");
    let (status, picker) = get_page(server, &cookie, &format!("/snapshots/diff?repo={repo}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(picker.contains("id=\"diff-form\"") && !picker.contains("id=\"diff-added\""));
    let (status, diff) = get_page(server, &cookie, &unescape(&link)).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    inert(&diff);
    let added = element(&diff, "diff-added", "section");
    assert!(
        added.contains(&format!("{src}/new.txt")) && added.contains("+5 B"),
        "{added}"
    );
    assert!(added.contains(&format!("{src}/newdir/")) && added.contains("folder"));
    assert!(added.contains(&format!("{src}/newdir/f")) && added.contains("+2 B"));
    let removed = element(&diff, "diff-removed", "section");
    assert!(
        removed.contains(&format!("{src}/gone.txt")) && removed.contains("-13 B"),
        "{removed}"
    );
    let changed = element(&diff, "diff-changed", "section");
    assert!(
        changed.contains(&format!("{src}/a.txt")) && changed.contains("+9 B"),
        "{changed}"
    );
    assert!(
        changed.contains("alert(2)") && changed.contains("+1 B"),
        "the hostile name, as text"
    );
    assert!(
        !diff.contains("sub/b.txt"),
        "unchanged files are not listed"
    );
    assert!(element(&diff, "diff-added-count", "dd").ends_with(">3"));
    assert!(element(&diff, "diff-removed-count", "dd").ends_with(">1"));
    assert!(element(&diff, "diff-changed-count", "dd").ends_with(">2"));
    // 5 + 2 - 13 + 9 + 1
    assert!(element(&diff, "diff-net", "dd").contains("+4 B"), "{diff}");
    let ctl = element(&diff, "diff-ctl", "code").trim_start_matches("id=\"diff-ctl\">");
    assert_eq!(
        ctl,
        format!("cairn ctl snapshots diff --repo {repo} {a} {b}")
    );
    let printed = run_ctl(&fleet.server, &fleet.token, ctl).await;
    assert!(
        printed.contains(&format!("+    {src}/new.txt")),
        "{printed}"
    );
    assert!(printed.contains(&format!("M    {src}/a.txt")), "{printed}");

    let (status, unknown) = get_page(
        server,
        &cookie,
        &format!("/snapshots/diff?repo={repo}&a=deadbeef&b={b}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown.contains("snapshot not found") && unknown.contains("id=\"diff-form\""));
    let (status, _) = get_page(server, &cookie, "/snapshots/diff?a=1&b=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    fleet.agent.stop().await.expect("stop");
    let (status, offline) = until_says(
        &fleet.server,
        &cookie,
        &unescape(&link),
        "no host that uses repository",
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(offline.contains("id=\"diff-form\""), "the pickers stay");
}
