//! The console's repository and schedule forms over real HTTP: create, edit,
//! delete, assign; a refused form keeps what was typed (but its secrets)
//! and names the field; the firings preview as you type; the `cairn ctl`
//! command each form shows runs and does the same; viewers get no button
//! and a direct post is refused; hostile strings render inert.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};

use cairn_domain::CatchUp;
use cairn_proto::v1 as pb;
use cairn_server::auth::Principal;
use cairn_server::repos::NewRepository;
use cairn_store::{HostId, RepositoryId, Role, ScheduleFields, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::fleet::Fleet;
use reqwest::StatusCode;

use crate::{form_value, get_page, post_form, signed_in};

/// An approved host (known to the store only) with a repository assigned.
async fn host_with_repo(server: &TestServer, hostname: &str, repo: &str) -> (HostId, RepositoryId) {
    let cli = Principal::local_cli();
    let host = server.stored_host(hostname).await;
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
                name: repo.into(),
                url: format!("/srv/restic/{hostname}"),
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
    (host, repo.id)
}

fn nightly(name: &str) -> ScheduleFields {
    ScheduleFields {
        name: name.into(),
        cron: "0 2 * * *".into(),
        timezone: "UTC".into(),
        paths: vec!["/srv".into()],
        excludes: vec![],
        tags: vec![],
        hooks: vec![],
        limit_upload_kib: None,
        limit_download_kib: None,
        catch_up: CatchUp::Once,
        enabled: true,
    }
}

/// A form post's status and where it redirects (empty if it does not).
async fn post_to(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = server
        .http()
        .post(format!("{}{path}", server.url))
        .header(reqwest::header::COOKIE, cookie)
        .header("sec-fetch-site", "same-origin")
        .form(fields)
        .send()
        .await
        .expect("request");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (response.status(), location)
}

/// What the page shows as text: its entities read back.
fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The text of the element with `id` (no markup inside it).
fn text_by_id(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id}"));
    let open = html[start..].find('>').expect("tag end") + start + 1;
    let close = html[open..].find('<').expect("closing tag") + open;
    unescape(&html[open..close])
}

/// Runs a command the page showed, through the shell as an operator would
/// paste it, with `cairn` on the PATH and the server and token in the
/// environment; `stdin` is what is typed into it.
fn run_shown(
    server: &TestServer,
    token: &str,
    command: &str,
    dir: &std::path::Path,
    stdin: &str,
) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let link = bin.join("cairn");
    if !link.exists() {
        symlink(env!("CARGO_BIN_EXE_cairn"), &link).expect("symlink");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("CAIRN_SERVER", &server.url)
        .env("CAIRN_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_repository_form_keeps_all_but_its_secrets_and_names_the_field() {
    let server = TestServer::start().await;
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (_, page) = get_page(&server, &admin, "/repositories").await;
    for id in [
        "repo-create",
        "repo-name",
        "repo-url",
        "repo-password",
        "repo-env",
        "repo-create-submit",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "#{id} for the browser tests"
        );
    }
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let secret_url = "rest:https://ann:hunter2@backup.example.com/db";

    // No password: the name is kept, the URL (it carries one) and the backend value are not.
    let (status, refused) = post_form(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "offsite"),
            ("url", secret_url),
            ("password", ""),
            ("env", "AWS_SECRET_ACCESS_KEY=topsecret-value"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused.contains("invalid password"),
        "the field is named: {refused}"
    );
    assert!(refused.contains("id=\"repo-password\" name=\"password\" type=\"password\" required autocomplete=\"new-password\" aria-invalid=\"true\""));
    assert!(refused.contains("value=\"offsite\""), "the name is kept");
    assert!(
        refused.contains("AWS_SECRET_ACCESS_KEY="),
        "the key's name is kept"
    );
    for secret in ["hunter2", "topsecret-value"] {
        assert!(!refused.contains(secret), "{secret} never comes back");
    }
    assert!(refused.contains("carried credentials, so it was not kept"));

    // A bad URL with a password: the password is not echoed, the URL is (it holds no secret).
    let (status, refused) = post_form(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "offsite"),
            ("url", "-o rclone.args=x"),
            ("password", "pw-s3cret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("invalid url"), "{refused}");
    assert!(
        refused.contains("value=\"-o rclone.args=x\""),
        "the URL is kept"
    );
    assert!(!refused.contains("pw-s3cret"));

    let (status, refused) = post_form(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "offsite"),
            ("url", "/srv/r"),
            ("password", "pw"),
            ("env", "AWS_ACCESS_KEY_ID"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("line 1 is not KEY=VALUE"), "{refused}");

    let (status, refused) = post_form(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", ""),
            ("url", "/srv/r"),
            ("password", "pw"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing name");
    assert!(refused.contains("invalid name"));

    // It is made; the page says so with the command that does the same.
    let (status, location) = post_to(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "offsite"),
            ("url", secret_url),
            ("password", "pw"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, made) = get_page(&server, &admin, &location).await;
    assert!(
        made.contains("cairn ctl repos create --name offsite --url-file url.txt --password-file -"),
        "{made}"
    );
    assert!(!made.contains("hunter2"));

    // The same name again: refused on the name field.
    let (status, refused) = post_form(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "offsite"),
            ("url", "/srv/other"),
            ("password", "pw"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refused.contains("already exists: choose another name"),
        "{refused}"
    );
    assert!(refused.contains(
        "value=\"offsite\" required maxlength=\"64\" autocomplete=\"off\" aria-invalid=\"true\""
    ));
    assert!(
        refused.contains("value=\"/srv/other\""),
        "a URL without credentials is kept"
    );

    let (_, audit) = get_page(&server, &admin, "/audit?action=repository.").await;
    assert!(audit.contains("repository.create") && !audit.contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repository_commands_shown_run_and_do_what_the_form_did() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (host, _) = host_with_repo(&server, "db01", "first").await;
    let (_, page) = get_page(&server, &admin, "/repositories").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let dir = tempfile::tempdir().expect("dir");
    let repo_dir = dir.path().join("second repo");
    let url = repo_dir.display().to_string();

    // A refused form shows the command for what was typed; run, it makes it.
    let (_, refused) = post_form(
        &server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "second"),
            ("url", &url),
            ("password", ""),
        ],
    )
    .await;
    let command = text_by_id(&refused, "repo-create-command");
    assert!(
        command.contains("--password-file -") && !command.contains("--password "),
        "{command}"
    );
    let out = run_shown(&server, &token, &command, dir.path(), "the-password\n");
    assert!(out.contains("created repository"), "{out}");
    let repos = server
        .api
        .repos
        .list(&Principal::local_cli(), None, cairn_store::Page::first(10))
        .await
        .expect("list");
    let second = repos
        .items
        .iter()
        .find(|r| r.name == "second")
        .expect("made by the command");
    assert_eq!(second.url_redacted, url);

    // The assign command, with the host filled in, assigns.
    let (_, page) = get_page(&server, &admin, "/repositories").await;
    let assign = format!("cairn ctl repos assign {} --host HOST_ID", second.id.0);
    assert!(page.contains(&assign), "{page}");
    run_shown(
        &server,
        &token,
        &assign.replace("HOST_ID", &host.0.to_string()),
        dir.path(),
        "",
    );
    let second = server
        .api
        .repos
        .get(&Principal::local_cli(), second.id)
        .await
        .expect("get");
    assert_eq!(second.host_ids, vec![host]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_assigns_and_deletes_and_the_host_is_told_what_it_lost() {
    let server = TestServer::start().await;
    let admin = signed_in(&server, "ada", Role::Admin).await;
    let cli = Principal::local_cli();
    let (host, repo) = host_with_repo(&server, "db01", "offsite").await;
    let other = server.stored_host("web01").await;
    server
        .api
        .fleet
        .approve(&cli, other, None)
        .await
        .expect("approve");
    server
        .api
        .schedules
        .create(&cli, host, repo, nightly("nightly"))
        .await
        .expect("schedule");
    let (_, page) = get_page(&server, &admin, "/repositories").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    assert!(page.contains("1 schedule"), "what each host has on it");

    // Edit: a new name; an empty password keeps the old one.
    let (_, edit) = get_page(&server, &admin, &format!("/repositories/{}/edit", repo.0)).await;
    assert!(edit.contains("value=\"offsite\"") && edit.contains("cairn ctl repos update"));
    let (status, refused) = post_form(
        &server,
        &admin,
        &format!("/repositories/{}", repo.0),
        &[("_csrf", &csrf), ("name", ""), ("password", "new-secret")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("invalid name") && !refused.contains("new-secret"));
    let (status, _) = post_to(
        &server,
        &admin,
        &format!("/repositories/{}", repo.0),
        &[("_csrf", &csrf), ("name", "offsite-2"), ("password", "")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        server.api.repos.get(&cli, repo).await.expect("get").name,
        "offsite-2"
    );

    // Assign another host.
    let (status, _) = post_to(
        &server,
        &admin,
        &format!("/repositories/{}/assign", repo.0),
        &[("_csrf", &csrf), ("host", &other.0.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = get_page(&server, &admin, "/repositories").await;
    assert!(page.contains(&format!("href=\"/hosts/{}\"", other.0)));

    // Unassign: needs the confirmation; takes the host's schedule, and the
    // host is told its set changed.
    let before = server
        .store()
        .await
        .host(host)
        .await
        .expect("host")
        .schedules_desired_version;
    let path = format!("/repositories/{}/unassign", repo.0);
    let (status, refused) = post_form(
        &server,
        &admin,
        &path,
        &[("_csrf", &csrf), ("host", &host.0.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("tick the box"), "{refused}");
    let (status, _) = post_to(
        &server,
        &admin,
        &path,
        &[
            ("_csrf", &csrf),
            ("host", &host.0.to_string()),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let after = server
        .store()
        .await
        .host(host)
        .await
        .expect("host")
        .schedules_desired_version;
    assert!(
        after > before,
        "the schedule set changed: {before} → {after}"
    );
    let left = server
        .api
        .schedules
        .list(&cli, Default::default())
        .await
        .expect("list");
    assert!(left.is_empty(), "its schedule went with it");

    // Delete: refused while a job on it is unfinished, then with the box ticked.
    let job = server
        .api
        .jobs
        .refresh_snapshots(&cli, repo, Some(other))
        .await
        .expect("job");
    let delete = format!("/repositories/{}/delete", repo.0);
    let (status, refused) = post_form(
        &server,
        &admin,
        &delete,
        &[("_csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused.contains(&format!(
            "job {} on this repository has not finished",
            job.id.0
        )),
        "{refused}"
    );
    server
        .api
        .jobs
        .cancel(&cli, job.id, "make way")
        .await
        .expect("cancel");
    let (status, refused) = post_form(&server, &admin, &delete, &[("_csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("tick the box"));
    let (status, location) = post_to(
        &server,
        &admin,
        &delete,
        &[("_csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    assert!(server.api.repos.get(&cli, repo).await.is_err(), "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_get_no_buttons_and_their_direct_posts_are_refused() {
    let server = TestServer::start().await;
    let cli = Principal::local_cli();
    let (host, repo) = host_with_repo(&server, "db01", "offsite").await;
    let schedule = server
        .api
        .schedules
        .create(&cli, host, repo, nightly("nightly"))
        .await
        .expect("schedule");
    let viewer = signed_in(&server, "vic", Role::Viewer).await;
    let (_, repos) = get_page(&server, &viewer, "/repositories").await;
    let (_, schedules) = get_page(&server, &viewer, "/schedules").await;
    for (page, absent) in [
        (&repos, "repo-create"),
        (&repos, "Test connection"),
        (&repos, "/edit"),
        (&repos, "/delete"),
        (&repos, "/unassign"),
        (&schedules, "New schedule"),
        (&schedules, "/edit"),
        (&schedules, "/disable"),
        (&schedules, "/delete"),
    ] {
        assert!(!page.contains(absent), "a viewer sees no {absent}");
    }
    for path in [
        "/schedules/new".to_string(),
        format!("/repositories/{}/edit", repo.0),
        format!("/schedules/{}/edit", schedule.id.0),
    ] {
        let (status, _) = get_page(&server, &viewer, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let csrf = form_value(&repos, "_csrf").expect("csrf");
    let (h, r, s) = (host.0.to_string(), repo.0.to_string(), schedule.id.0);
    for (path, fields) in [
        (
            "/repositories".to_string(),
            vec![("name", "x"), ("url", "/srv/x"), ("password", "pw")],
        ),
        (format!("/repositories/{r}"), vec![("name", "renamed")]),
        (
            format!("/repositories/{r}/assign"),
            vec![("host", h.as_str())],
        ),
        (
            format!("/repositories/{r}/unassign"),
            vec![("host", h.as_str()), ("confirm", "yes")],
        ),
        (
            format!("/repositories/{r}/delete"),
            vec![("confirm", "yes")],
        ),
        (format!("/repositories/{r}/test"), vec![]),
        (
            "/schedules".to_string(),
            vec![
                ("host", h.as_str()),
                ("repository", r.as_str()),
                ("name", "x"),
                ("cron", "0 3 * * *"),
                ("paths", "/srv"),
                ("catch_up", "once"),
            ],
        ),
        (
            format!("/schedules/{s}"),
            vec![
                ("name", "x"),
                ("cron", "0 3 * * *"),
                ("paths", "/srv"),
                ("catch_up", "once"),
            ],
        ),
        (format!("/schedules/{s}/disable"), vec![]),
        (format!("/schedules/{s}/delete"), vec![("confirm", "yes")]),
    ] {
        let mut fields = fields;
        fields.push(("_csrf", csrf.as_str()));
        let (status, _) = post_form(&server, &viewer, &path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let still = server
        .api
        .schedules
        .get(&cli, schedule.id)
        .await
        .expect("still there");
    assert!(still.fields.enabled && still.fields.name == "nightly");
    let repo_now = server.api.repos.get(&cli, repo).await.expect("still there");
    assert_eq!(
        (repo_now.name.as_str(), repo_now.host_ids.len()),
        ("offsite", 1)
    );

    // An operator runs and schedules but does not hold repository secrets.
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (_, repos) = get_page(&server, &operator, "/repositories").await;
    assert!(repos.contains("Test connection") && !repos.contains("repo-create"));
    let (status, _) = post_form(
        &server,
        &operator,
        "/repositories",
        &[
            ("_csrf", &form_value(&repos, "_csrf").expect("csrf")),
            ("name", "x"),
            ("url", "/srv/x"),
            ("password", "pw"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The schedule form as a browser posts it, with `changes` applied.
fn schedule_form<'a>(
    csrf: &'a str,
    host: &'a str,
    repo: &'a str,
    changes: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("_csrf", csrf),
        ("host", host),
        ("repository", repo),
        ("name", "nightly"),
        ("cron", "30 2 * * 1-5"),
        ("timezone", "Europe/Berlin"),
        ("paths", "/srv\n/etc"),
        ("excludes", "*.tmp"),
        ("tags", "daily"),
        ("hooks", "pg-dump"),
        ("catch_up", "skip"),
        ("limit_upload_kib", ""),
        ("limit_download_kib", ""),
    ];
    for (key, value) in changes {
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = value,
            None => fields.push((key, value)),
        }
    }
    fields
}

/// A path with its query, as a browser would send the form by GET.
fn with_query(server: &TestServer, path: &str, fields: &[(&str, &str)]) -> String {
    let url =
        reqwest::Url::parse_with_params(&format!("{}{path}", server.url), fields).expect("url");
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_schedule_keeps_what_was_typed_and_names_the_field() {
    let server = TestServer::start().await;
    let cli = Principal::local_cli();
    let (host, repo) = host_with_repo(&server, "db01", "offsite").await;
    let (_, unassigned) = host_with_repo(&server, "web01", "elsewhere").await;
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (status, page) = get_page(
        &server,
        &operator,
        &format!("/schedules/new?host={}", host.0),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("<option value=\"{}\" selected>db01", host.0)),
        "the host is chosen"
    );
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let (h, r, elsewhere) = (
        host.0.to_string(),
        repo.0.to_string(),
        unassigned.0.to_string(),
    );

    for (changes, status, says, field) in [
        (
            vec![("cron", "99 * * * *")],
            StatusCode::BAD_REQUEST,
            "invalid cron",
            "schedule-cron",
        ),
        (
            vec![("timezone", "Mars/Olympus")],
            StatusCode::BAD_REQUEST,
            "invalid timezone",
            "schedule-timezone",
        ),
        (
            vec![("paths", "")],
            StatusCode::BAD_REQUEST,
            "invalid paths",
            "schedule-paths",
        ),
        (
            vec![("name", "")],
            StatusCode::BAD_REQUEST,
            "invalid name",
            "schedule-name",
        ),
        (
            vec![("hooks", "pg;rm")],
            StatusCode::BAD_REQUEST,
            "hook name &#34;pg;rm&#34;",
            "schedule-hooks",
        ),
        (
            vec![("limit_upload_kib", "fast")],
            StatusCode::BAD_REQUEST,
            "whole number of KiB/s",
            "schedule-up",
        ),
        (
            vec![("catch_up", "sometimes")],
            StatusCode::BAD_REQUEST,
            "must be once, skip or all",
            "schedule-catch-up",
        ),
        (
            vec![("repository", elsewhere.as_str())],
            StatusCode::CONFLICT,
            "assign it first",
            "schedule-repository",
        ),
    ] {
        let fields = schedule_form(&csrf, &h, &r, &changes);
        let (got, refused) = post_form(&server, &operator, "/schedules", &fields).await;
        assert_eq!(got, status, "{changes:?}: {refused}");
        assert!(refused.contains(says), "{changes:?} says {says}: {refused}");
        let marker = format!("id=\"{field}\"");
        let tag = &refused[refused.find(&marker).expect("the field")..];
        let tag = &tag[..tag.find('>').expect("tag end")];
        assert!(
            tag.contains("aria-invalid=\"true\""),
            "{changes:?} marks #{field}: {tag}"
        );
        // Everything typed is still there.
        for (key, kept) in [
            ("name", "nightly"),
            ("cron", "30 2 * * 1-5"),
            ("paths", "/srv\n/etc"),
            ("hooks", "pg-dump"),
        ] {
            if changes.iter().any(|(k, _)| *k == key) {
                continue;
            }
            assert!(refused.contains(kept), "{changes:?} keeps {key}");
        }
        assert!(refused.contains("*.tmp") && refused.contains("value=\"daily\""));
    }
    let (_, kept) = post_form(
        &server,
        &operator,
        "/schedules",
        &schedule_form(&csrf, &h, &r, &[("cron", "99 * * * *")]),
    )
    .await;
    assert!(
        kept.contains("value=\"99 * * * *\""),
        "the bad cron itself is kept"
    );
    assert!(
        kept.contains("<option value=\"skip\" selected>"),
        "and the catch-up chosen"
    );

    let (status, location) = post_to(
        &server,
        &operator,
        "/schedules",
        &schedule_form(&csrf, &h, &r, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let (_, list) = get_page(&server, &operator, &location).await;
    assert!(list.contains("At 02:30, Monday to Friday"), "{list}");
    assert_eq!(
        list.matches(" 02:30 CE").count(),
        5,
        "five firings in Berlin"
    );
    assert!(list.contains("caught up: skip") && list.contains("pg-dump"));
    let made = &server
        .api
        .schedules
        .list(&cli, Default::default())
        .await
        .expect("list")[0];
    assert_eq!(
        made.fields.paths,
        vec!["/srv".to_string(), "/etc".to_string()]
    );
    assert_eq!((made.fields.excludes.len(), made.fields.tags.len()), (1, 1));

    let (status, dup) = post_form(
        &server,
        &operator,
        "/schedules",
        &schedule_form(&csrf, &h, &r, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        dup.contains("already exists on this host: choose another name"),
        "{dup}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firings_preview_is_rendered_by_the_server_as_you_type() {
    let server = TestServer::start().await;
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (_, form) = get_page(&server, &operator, "/schedules/new").await;
    assert!(
        form.contains("hx-get=\"/schedules/preview\"")
            && form.contains("hx-trigger=\"input changed delay:300ms\"")
    );
    assert!(
        form.contains("id=\"schedule-preview\""),
        "the preview's place in the form"
    );
    let typed = |cron: &'static str, zone: &'static str| {
        let path = with_query(
            &server,
            "/schedules/preview",
            &[
                ("cron", cron),
                ("timezone", zone),
                ("name", "nightly"),
                ("paths", "/srv"),
            ],
        );
        let request = server
            .http()
            .get(format!("{}{path}", server.url))
            .header(reqwest::header::COOKIE, &operator)
            .header("hx-request", "true");
        async move {
            let response = request.send().await.expect("preview");
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "HTMX swaps only a success"
            );
            let vary = response
                .headers()
                .get("vary")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            assert!(vary.contains("HX-Request"), "{vary}");
            response.text().await.expect("body")
        }
    };
    let part = typed("30 2 * * 1-5", "Europe/Berlin").await;
    assert!(
        !part.contains("<html") && !part.contains("<nav"),
        "a fragment"
    );
    assert!(part.contains("At 02:30, Monday to Friday"), "{part}");
    assert_eq!(part.matches(" 02:30 CE").count(), 5, "{part}");
    let command = text_by_id(&part, "schedule-command");
    assert!(
        command
            .contains("--name nightly --cron '30 2 * * 1-5' --timezone Europe/Berlin --path /srv"),
        "{command}"
    );
    assert!(
        part.contains("hx-swap-oob=\"true\""),
        "the command follows too"
    );

    let bad = typed("61 * * * *", "UTC").await;
    assert!(
        bad.contains("id=\"schedule-preview-error\"") && bad.contains("invalid cron"),
        "{bad}"
    );
    let zone = typed("0 2 * * *", "Mars/Olympus").await;
    assert!(
        zone.contains("Mars/Olympus") && zone.contains("IANA"),
        "{zone}"
    );
    let empty = typed("", "UTC").await;
    assert!(empty.contains("Type a cron expression"));
    let hostile = typed("<script>alert(1)</script>", "UTC").await;
    assert!(
        !hostile.contains("<script>alert(1)") && hostile.contains("&#60;script&#62;"),
        "{hostile}"
    );
    let daily = typed("@daily", "Asia/Tokyo").await;
    assert!(
        daily.contains("At 00:00, every day") && daily.matches(" 00:00 JST").count() == 5,
        "{daily}"
    );

    // Reloaded without HTMX, the same URL is the whole form, filled in.
    let path = with_query(
        &server,
        "/schedules/preview",
        &[("cron", "15 4 * * 6,0"), ("timezone", "UTC")],
    );
    let (status, whole) = get_page(&server, &operator, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(whole.contains("id=\"schedule-form\"") && whole.contains("value=\"15 4 * * 6,0\""));
    assert!(
        whole.contains("At 04:15, on Saturday and Sunday"),
        "{whole}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_commands_shown_create_and_edit_the_same_schedule() {
    let server = TestServer::start().await;
    let token = server
        .token_for("ops", Role::Operator, Scope::Operate)
        .await;
    let cli = Principal::local_cli();
    let (host, repo) = host_with_repo(&server, "db01", "offsite").await;
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let dir = tempfile::tempdir().expect("dir");
    let (h, r) = (host.0.to_string(), repo.0.to_string());
    let typed = [
        ("host", h.as_str()),
        ("repository", r.as_str()),
        ("name", "from ctl"),
        ("cron", "30 2 * * 1-5"),
        ("timezone", "Europe/Berlin"),
        ("paths", "/srv\n/var/my files"),
        ("excludes", "*.tmp"),
        ("hooks", "pg-dump"),
        ("catch_up", "all"),
        ("limit_upload_kib", "512"),
        ("disabled", "yes"),
    ];
    let (_, page) = get_page(
        &server,
        &operator,
        &with_query(&server, "/schedules/new", &typed),
    )
    .await;
    let command = text_by_id(&page, "schedule-command");
    run_shown(&server, &token, &command, dir.path(), "");
    let made = server
        .api
        .schedules
        .list(&cli, Default::default())
        .await
        .expect("list");
    let made = made.first().expect("the command made it");
    let f = &made.fields;
    assert_eq!(
        (f.name.as_str(), f.cron.as_str(), f.timezone.as_str()),
        ("from ctl", "30 2 * * 1-5", "Europe/Berlin")
    );
    assert_eq!(
        f.paths,
        vec!["/srv".to_string(), "/var/my files".to_string()]
    );
    assert_eq!(
        (f.hooks.clone(), f.catch_up, f.limit_upload_kib, f.enabled),
        (vec!["pg-dump".to_string()], CatchUp::All, Some(512), false)
    );

    // The edit form's command, as changed, edits it.
    let (_, edit) = get_page(
        &server,
        &operator,
        &format!("/schedules/{}/edit", made.id.0),
    )
    .await;
    assert!(
        text_by_id(&edit, "schedule-command")
            .starts_with(&format!("cairn ctl schedules edit {}", made.id.0))
    );
    let id = made.id.0.to_string();
    let changed = [
        ("schedule_id", id.as_str()),
        ("name", "from ctl"),
        ("cron", "0 3 * * *"),
        ("timezone", "UTC"),
        ("paths", "/srv"),
        ("hooks", "pg-dump"),
        ("catch_up", "once"),
    ];
    let (_, edit) = get_page(
        &server,
        &operator,
        &with_query(&server, "/schedules/preview", &changed),
    )
    .await;
    let command = text_by_id(&edit, "schedule-command");
    assert!(
        command.starts_with(&format!("cairn ctl schedules edit {id} ")),
        "{command}"
    );
    run_shown(&server, &token, &command, dir.path(), "");
    let edited = server.api.schedules.get(&cli, made.id).await.expect("get");
    assert_eq!(
        (edited.fields.cron.as_str(), edited.fields.catch_up),
        ("0 3 * * *", CatchUp::Once)
    );
    assert!(!edited.fields.enabled, "an edit leaves it off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_edits_turns_off_and_deletes_a_schedule() {
    let server = TestServer::start().await;
    let cli = Principal::local_cli();
    let (host, repo) = host_with_repo(&server, "db01", "offsite").await;
    let mut fields = nightly("nightly");
    fields.hooks = vec!["pg".into()];
    let s = server
        .api
        .schedules
        .create(&cli, host, repo, fields)
        .await
        .expect("schedule");
    let operator = signed_in(&server, "olga", Role::Operator).await;
    let (_, edit) = get_page(&server, &operator, &format!("/schedules/{}/edit", s.id.0)).await;
    assert!(
        edit.contains("value=\"nightly\"")
            && edit.contains("value=\"0 2 * * *\"")
            && edit.contains("value=\"pg\"")
    );
    let csrf = form_value(&edit, "_csrf").expect("csrf");
    let (h, r) = (host.0.to_string(), repo.0.to_string());
    let path = format!("/schedules/{}", s.id.0);

    let (status, refused) = post_form(
        &server,
        &operator,
        &path,
        &schedule_form(&csrf, &h, &r, &[("cron", "0 25 * * *")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("invalid cron") && refused.contains("value=\"0 25 * * *\""));
    let (status, _) = post_to(
        &server,
        &operator,
        &path,
        &schedule_form(
            &csrf,
            &h,
            &r,
            &[("cron", "15 4 * * 6,0"), ("timezone", "UTC")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = get_page(&server, &operator, "/schedules").await;
    assert!(list.contains("At 04:15, on Saturday and Sunday"), "{list}");

    let (status, _) = post_to(
        &server,
        &operator,
        &format!("{path}/disable"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = get_page(&server, &operator, "/schedules?done=disabled").await;
    assert!(
        list.contains("never: turned off")
            && list.contains("Turn on")
            && list.contains("cairn ctl schedules enable")
    );
    assert!(
        !server
            .api
            .schedules
            .get(&cli, s.id)
            .await
            .expect("get")
            .fields
            .enabled
    );
    let (status, _) = post_to(
        &server,
        &operator,
        &format!("{path}/enable"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        server
            .api
            .schedules
            .get(&cli, s.id)
            .await
            .expect("get")
            .fields
            .enabled
    );

    let (status, refused) = post_form(
        &server,
        &operator,
        &format!("{path}/delete"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("tick the box"));
    let (status, _) = post_to(
        &server,
        &operator,
        &format!("{path}/delete"),
        &[("_csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        server.api.schedules.get(&cli, s.id).await.is_err(),
        "deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_render_inert_on_the_forms_and_lists() {
    let server = TestServer::start().await;
    let cli = Principal::local_cli();
    let host = server.stored_host("<img src=x onerror=alert(1)>").await;
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
                name: "<script>alert(\"repo\")</script>".into(),
                url: "/srv/<b>repo</b>".into(),
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
    let s = server
        .api
        .schedules
        .create(
            &cli,
            host,
            repo.id,
            nightly("<b onmouseover=alert(1)>x</b>"),
        )
        .await
        .expect("schedule");
    let admin = signed_in(&server, "ada", Role::Admin).await;
    for path in [
        "/repositories".to_string(),
        format!("/repositories/{}/edit", repo.id.0),
        "/schedules".to_string(),
        "/schedules/new".to_string(),
        format!("/schedules/{}/edit", s.id.0),
    ] {
        let (status, page) = get_page(&server, &admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for raw in ["<script>alert(", "<img src=x", "<b onmouseover", "<b>repo"] {
            assert!(!page.contains(raw), "{path} has {raw} raw");
        }
        assert!(page.contains("&#60;"), "{path} shows them escaped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_tests_the_connection_and_the_list_shows_the_last_check() {
    let mut fleet = Fleet::start().await;
    let admin = signed_in(&fleet.server, "ada", Role::Admin).await;
    let (_, page) = get_page(&fleet.server, &admin, "/repositories").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let dir = tempfile::tempdir().expect("dir");
    let url = dir.path().join("repo").display().to_string();
    let (status, _) = post_to(
        &fleet.server,
        &admin,
        "/repositories",
        &[
            ("_csrf", &csrf),
            ("name", "local"),
            ("url", &url),
            ("password", "pw"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let repo = fleet
        .server
        .api
        .repos
        .list(&Principal::local_cli(), None, cairn_store::Page::first(5))
        .await
        .expect("list")
        .items[0]
        .id;
    let (status, _) = post_to(
        &fleet.server,
        &admin,
        &format!("/repositories/{}/assign", repo.0),
        &[("_csrf", &csrf), ("host", &fleet.host_id.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    cairn_testkit::fleet::init(&fleet.server, &fleet.token, fleet.host_id, repo.0).await;

    let (status, location) = post_to(
        &fleet.server,
        &admin,
        &format!("/repositories/{}/test", repo.0),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let test_job: i64 = location
        .trim_start_matches("/jobs/")
        .parse()
        .expect("a job id");
    let tested = fleet.finish(test_job).await;
    assert_eq!(
        tested.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        tested.error
    );
    let check = fleet
        .maintenance(
            repo.0,
            pb::run_maintenance_request::Spec::Check(pb::CheckSpec::default()),
        )
        .await;
    assert_eq!(
        check.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        check.error
    );

    let (_, page) = get_page(&fleet.server, &admin, "/repositories").await;
    let facts = &page[page.find("Last check").expect("last check")..];
    let check_line = &facts[..facts.find("</dd>").expect("dd")];
    assert!(
        check_line.contains("status-succeeded")
            && check_line.contains(&format!("href=\"/jobs/{}\"", check.id)),
        "{check_line}"
    );
    let facts = &page[page.find("Connection test").expect("connection test")..];
    let test_line = &facts[..facts.find("</dd>").expect("dd")];
    assert!(
        test_line.contains("status-succeeded")
            && test_line.contains(&format!("href=\"/jobs/{test_job}\"")),
        "{test_line}"
    );
}
