//! A restore in place (into `/`, over the host's own files) asks the
//! operator to type the host's name on the summary; without it, or with
//! another name, nothing is queued. A restore elsewhere asks nothing.

use cairn_store::{CachedSnapshot, JobFilter, Page, RepositoryId, Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::fleet::repository;
use reqwest::StatusCode;

use crate::web_live::approve;
use crate::web_snapshots::post;
use crate::{form_value, get_page, signed_in};

const SNAPSHOT: &str = "b000000100000000000000000000000000000000000000000000000000000000";

async fn jobs(server: &TestServer) -> usize {
    server
        .store()
        .await
        .list_jobs(JobFilter::default(), Page::first(10))
        .await
        .expect("jobs")
        .items
        .len()
}

#[tokio::test]
async fn a_restore_in_place_runs_only_once_the_hostname_is_typed() {
    let server = TestServer::start().await;
    let token = server.token_for("root", Role::Admin, Scope::Admin).await;
    let cookie = signed_in(&server, "ann", Role::Operator).await;
    let host = server.stored_host("db01").await;
    approve(&server, host).await;
    let repo = repository(&server, &token, "offsite", "/srv/restic/o", "pw", &[host.0]).await;
    let snapshot = CachedSnapshot {
        repository_id: RepositoryId(repo),
        short_id: SNAPSHOT[..8].to_string(),
        snapshot_id: SNAPSHOT.to_string(),
        time: 1_767_225_600_000,
        hostname: "db01".into(),
        host_id: Some(host),
        paths: vec!["/srv".into()],
        tags: vec![],
        parent: None,
        tree: None,
        seen_at: 0,
        summary: None,
    };
    let effect = cairn_store::replace_snapshots(RepositoryId(repo), true, vec![snapshot], 1);
    server
        .store()
        .await
        .apply_agent_message(host, 1, 0, effect)
        .await
        .expect("cache the list");
    let base = format!("/snapshots/{repo}/{SNAPSHOT}");
    let (_, page) = get_page(&server, &cookie, &base).await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let host_id = host.0.to_string();
    let restore = format!("{base}/restore");
    let fields = |target: &'static str, step: &'static str, typed: &'static str| {
        let mut f = vec![
            ("_csrf", csrf.clone()),
            ("select", "/srv".to_string()),
            ("host", host_id.clone()),
            ("target", target.to_string()),
            ("step", step.to_string()),
        ];
        if !typed.is_empty() {
            f.push(("confirm_host", typed.to_string()));
        }
        f
    };
    let send = |f: Vec<(&'static str, String)>| {
        let (server, cookie, restore) = (&server, &cookie, &restore);
        async move {
            let borrowed: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(server, cookie, restore, &borrowed).await
        }
    };

    // The summary of a restore into / asks for the name.
    let (status, _, summary) = send(fields("/", "review", "")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert!(summary.contains("id=\"restore-in-place\""), "{summary}");
    assert!(summary.contains("name=\"confirm_host\""));

    // Confirmed without it, or with another host's name: the summary again,
    // saying why, and no job.
    for typed in ["", "db02", "DB01 "] {
        let (status, location, again) = send(fields("/", "confirm", typed)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "typed {typed:?}");
        assert!(location.is_none(), "nothing was queued for {typed:?}");
        assert!(
            again.contains("type its hostname to confirm")
                && again.contains("name=\"confirm_host\""),
            "{again}"
        );
    }
    assert_eq!(jobs(&server).await, 0, "nothing queued");

    // With the name, the job is queued.
    let (status, location, _) = send(fields("/", "confirm", "db01")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.is_some_and(|l| l.starts_with("/jobs/")));
    assert_eq!(jobs(&server).await, 1);

    // Elsewhere than in place, the summary asks nothing and the confirm runs.
    let (_, _, elsewhere) = send(fields("/var/restore", "review", "")).await;
    assert!(!elsewhere.contains("name=\"confirm_host\""), "{elsewhere}");
    let (status, _, _) = send(fields("/var/restore", "confirm", "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(jobs(&server).await, 2);
}
