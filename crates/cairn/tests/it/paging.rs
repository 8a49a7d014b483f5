//! Filters apply before paging: with a filter that matches one host or
//! snapshot in three and pages of two, every page but the last is full, and a
//! next token comes only while more matches exist.

use std::collections::HashMap;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::server_message::Body as ServerBody;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
use cairn_store::{CachedSnapshot, HostId, RepositoryId, Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RawSession};
use cairn_testkit::fleet::repository;

use crate::with_token;

const WAIT: Duration = Duration::from_secs(30);

/// Nine rows, every third matching: three matches, so pages of [2, 1].
const ROWS: usize = 9;
const FULL_THEN_LAST: &[(usize, bool)] = &[(2, true), (1, false)];

/// Reads every page of two; returns each page's length and whether it had a
/// next token, and every item seen.
async fn walk<T, F, Fut>(mut read: F) -> (Vec<(usize, bool)>, Vec<T>)
where
    F: FnMut(pb::PageRequest) -> Fut,
    Fut: std::future::Future<Output = (Vec<T>, pb::PageResponse)>,
{
    let (mut shape, mut all) = (Vec::new(), Vec::new());
    let mut token = String::new();
    loop {
        let (items, page) = read(pb::PageRequest {
            page_size: 2,
            page_token: token,
        })
        .await;
        shape.push((items.len(), !page.next_page_token.is_empty()));
        all.extend(items);
        if page.next_page_token.is_empty() {
            return (shape, all);
        }
        token = page.next_page_token;
        assert!(shape.len() < 20, "paging does not end: {shape:?}");
    }
}

/// A host that only the store knows of: it never connected.
async fn offline_host(server: &TestServer, n: usize) -> i64 {
    server.stored_host(&format!("host-{n}")).await.0
}

/// A host whose (pending) agent is connected, and its session.
async fn online_host(server: &TestServer, n: usize) -> (i64, RawSession) {
    let mut session = agents::open(
        &server.url,
        agents::hello(&agents::new_identity(), &format!("host-{n}")),
    )
    .await
    .expect("open");
    let Ok(Some(pb::ServerMessage {
        body: Some(ServerBody::Welcome(welcome)),
    })) = session.next(WAIT).await
    else {
        panic!("welcome")
    };
    (welcome.host_id, session)
}

#[tokio::test]
async fn host_label_and_online_filters_fill_every_page() {
    // The clock stands still: no session times out while the test pages.
    let (server, _clock) = TestServer::start_manual(cairn_store::now_millis(), |_| {}).await;
    let token = server
        .token_for("olga", Role::Operator, Scope::Operate)
        .await;
    let mut hosts = HostServiceClient::new(server.channel().await);
    let mut sessions = Vec::new();
    let (mut db, mut online) = (Vec::new(), Vec::new());
    for n in 0..ROWS {
        let id = if n % 3 == 0 {
            let (id, session) = online_host(&server, n).await;
            sessions.push(session);
            online.push(id);
            id
        } else {
            offline_host(&server, n).await
        };
        let mut labels = HashMap::from([("n".to_string(), n.to_string())]);
        if n % 3 == 1 {
            labels.insert("role".into(), "db".into());
            db.push(id);
        }
        hosts
            .set_host_labels(with_token(
                pb::SetHostLabelsRequest {
                    host_id: id,
                    labels,
                },
                &token,
            ))
            .await
            .expect("labels");
    }

    let list = |request: pb::ListHostsRequest| {
        let hosts = hosts.clone();
        let token = token.clone();
        move |page| {
            let mut hosts = hosts.clone();
            let request = pb::ListHostsRequest {
                page: Some(page),
                ..request.clone()
            };
            let token = token.clone();
            async move {
                let got = hosts
                    .list_hosts(with_token(request, &token))
                    .await
                    .expect("list hosts")
                    .into_inner();
                (got.hosts, got.page.expect("page"))
            }
        }
    };
    let ids = |hosts: &[pb::Host]| hosts.iter().map(|h| h.id).collect::<Vec<_>>();

    let (shape, got) = walk(list(pb::ListHostsRequest {
        label_selector: HashMap::from([("role".to_string(), "db".to_string())]),
        ..Default::default()
    }))
    .await;
    assert_eq!(shape, FULL_THEN_LAST, "label selector");
    assert_eq!(ids(&got), db);

    let (shape, got) = walk(list(pb::ListHostsRequest {
        online: Some(true),
        ..Default::default()
    }))
    .await;
    assert_eq!(shape, FULL_THEN_LAST, "online");
    assert_eq!(ids(&got), online);
    assert!(got.iter().all(|h| h.online));

    let (shape, got) = walk(list(pb::ListHostsRequest {
        online: Some(false),
        ..Default::default()
    }))
    .await;
    assert_eq!(shape, &[(2, true), (2, true), (2, false)], "offline");
    assert!(got.iter().all(|h| !h.online && !online.contains(&h.id)));

    // Both at once: no connected host is a db host.
    let (shape, _) = walk(list(pb::ListHostsRequest {
        online: Some(true),
        label_selector: HashMap::from([("role".to_string(), "db".to_string())]),
        ..Default::default()
    }))
    .await;
    assert_eq!(shape, &[(0, false)]);
    drop(sessions);
}

#[tokio::test]
async fn the_snapshot_tag_filter_fills_every_page() {
    let server = TestServer::start().await;
    let token = server.token_for("olga", Role::Admin, Scope::Admin).await;
    let host = offline_host(&server, 0).await;
    let repo = repository(&server, &token, "r", "/srv/restic/r", "pw", &[host]).await;
    let snapshots = (0..ROWS)
        .map(|n| CachedSnapshot {
            repository_id: RepositoryId(repo),
            snapshot_id: format!("{n:064}"),
            short_id: format!("{n:08}"),
            time: 1_000 + n as i64,
            hostname: "host-0".into(),
            host_id: None,
            paths: vec!["/srv".into()],
            tags: if n % 3 == 0 {
                vec!["db".into(), "nightly".into()]
            } else {
                vec!["nightly".into()]
            },
            parent: None,
            tree: None,
            seen_at: 0,
            summary: None,
        })
        .collect();
    server
        .store()
        .await
        .apply_agent_message(
            HostId(host),
            1,
            0,
            cairn_store::replace_snapshots(RepositoryId(repo), true, snapshots, 5),
        )
        .await
        .expect("cache the list");

    let client = SnapshotServiceClient::new(server.channel().await);
    let (shape, got) = walk(|page| {
        let mut client = client.clone();
        let token = token.clone();
        async move {
            let got = client
                .list_snapshots(with_token(
                    pb::ListSnapshotsRequest {
                        repository_id: repo,
                        tags: vec!["db".into()],
                        page: Some(page),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .expect("list snapshots")
                .into_inner();
            (got.snapshots, got.page.expect("page"))
        }
    })
    .await;
    assert_eq!(shape, FULL_THEN_LAST);
    assert!(got.iter().all(|s| s.tags.contains(&"db".to_string())));
}
