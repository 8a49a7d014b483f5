//! Filters are part of the query: with a filter matching one row in three and
//! pages of two, every page is full but the last, and a next cursor is given
//! only while more matches exist.

use std::collections::BTreeMap;

use cairn_store::{
    CachedSnapshot, HostFilter, HostId, HostIds, Page, PageOf, RepositoryFields, RepositoryId,
    SealedSecrets, SnapshotFilter, Store, replace_snapshots,
};

use crate::fresh_store;

async fn host(store: &Store, n: usize) -> HostId {
    crate::host(store, &format!("host-{n}")).await
}

/// Reads every page of size 2 and returns each page's length and whether it
/// had a next cursor.
async fn walk<T, F, Fut>(mut read: F) -> Vec<(usize, bool)>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = PageOf<T>>,
{
    let mut shape = Vec::new();
    let mut page = Page::first(2);
    loop {
        let got = read(page).await;
        shape.push((got.items.len(), got.next.is_some()));
        match got.next {
            Some(cursor) => page = Page::after(2, Some(cursor)),
            None => return shape,
        }
        assert!(shape.len() < 20, "paging does not end: {shape:?}");
    }
}

/// Nine rows, every third matching: three matches, so pages [2, 1].
const ROWS: usize = 9;
const FULL_THEN_LAST: &[(usize, bool)] = &[(2, true), (1, false)];

#[tokio::test]
async fn a_label_selector_is_applied_before_paging() {
    let (store, _dir) = fresh_store().await;
    for n in 0..ROWS {
        let id = host(&store, n).await;
        let mut labels = BTreeMap::from([("n".to_string(), n.to_string())]);
        if n % 3 == 0 {
            labels.insert("role".into(), "db".into());
        }
        store.set_host_labels(id, labels).await.expect("labels");
    }
    let selector = BTreeMap::from([("role".to_string(), "db".to_string())]);
    let shape = walk(|page| {
        let filter = HostFilter {
            labels: selector.clone(),
            ..Default::default()
        };
        let store = store.clone();
        async move { store.list_hosts(filter, page).await.expect("list") }
    })
    .await;
    assert_eq!(shape, FULL_THEN_LAST);

    // A value that differs, or a key that is missing, does not match.
    let wrong = HostFilter {
        labels: BTreeMap::from([("role".to_string(), "web".to_string())]),
        ..Default::default()
    };
    let none = store.list_hosts(wrong, Page::first(2)).await.expect("list");
    assert_eq!((none.items.len(), none.next), (0, None));
    // An empty value asks only for the key.
    let any_role = HostFilter {
        labels: BTreeMap::from([("role".to_string(), String::new())]),
        ..Default::default()
    };
    let with_key = store
        .list_hosts(any_role, Page::first(5))
        .await
        .expect("list");
    assert_eq!((with_key.items.len(), with_key.next), (3, None));
}

#[tokio::test]
async fn a_set_of_host_ids_kept_or_left_out_is_applied_before_paging() {
    let (store, _dir) = fresh_store().await;
    let mut chosen = Vec::new();
    for n in 0..ROWS {
        let id = host(&store, n).await;
        if n % 3 == 1 {
            chosen.push(id);
        }
    }
    let within = walk(|page| {
        let filter = HostFilter {
            ids: Some(HostIds::In(chosen.clone())),
            ..Default::default()
        };
        let store = store.clone();
        async move { store.list_hosts(filter, page).await.expect("list") }
    })
    .await;
    assert_eq!(within, FULL_THEN_LAST);

    // Six hosts are not chosen: three full pages, the last without a cursor.
    let without = walk(|page| {
        let filter = HostFilter {
            ids: Some(HostIds::NotIn(chosen.clone())),
            ..Default::default()
        };
        let store = store.clone();
        async move { store.list_hosts(filter, page).await.expect("list") }
    })
    .await;
    assert_eq!(without, &[(2, true), (2, true), (2, false)]);
}

#[tokio::test]
async fn a_tag_filter_on_snapshots_is_applied_before_paging() {
    let (store, _dir) = fresh_store().await;
    let host = host(&store, 0).await;
    let repo = store
        .create_repository(
            RepositoryFields {
                name: "r".into(),
                url_redacted: "/srv/r".into(),
                env_keys: vec![],
            },
            0,
            |_| {
                Ok(SealedSecrets {
                    url: vec![1],
                    password: vec![1],
                    env: None,
                })
            },
        )
        .await
        .expect("repository")
        .id;
    let snapshots = (0..ROWS)
        .map(|n| CachedSnapshot {
            repository_id: repo,
            snapshot_id: format!("{n:064}"),
            short_id: format!("{n:08}"),
            time: 1_000 + n as i64,
            hostname: "host-0".into(),
            host_id: None,
            paths: vec!["/srv".into()],
            tags: if n % 3 == 2 {
                vec!["nightly".into(), "db".into()]
            } else {
                vec!["nightly".into()]
            },
            parent: None,
            tree: None,
            seen_at: 0,
            summary: None,
        })
        .collect();
    store
        .apply_agent_message(host, 1, 0, replace_snapshots(repo, true, snapshots, 5))
        .await
        .expect("cache");

    let list = |tags: Vec<&str>| {
        let store = store.clone();
        let tags: Vec<String> = tags.into_iter().map(str::to_string).collect();
        move |page| {
            let store = store.clone();
            let filter = SnapshotFilter {
                host: None,
                tags: tags.clone(),
            };
            async move {
                store
                    .list_snapshots_matching(RepositoryId(repo.0), filter, page)
                    .await
                    .expect("list")
            }
        }
    };
    assert_eq!(walk(list(vec!["db"])).await, FULL_THEN_LAST);
    assert_eq!(
        walk(list(vec!["db", "nightly"])).await,
        FULL_THEN_LAST,
        "every tag must be on the snapshot"
    );
    assert_eq!(walk(list(vec!["db", "weekly"])).await, &[(0, false)]);
    // No tags asked: every snapshot, in full pages.
    assert_eq!(
        walk(list(vec![])).await,
        &[(2, true), (2, true), (2, true), (2, true), (1, false)]
    );
}
