//! Group commit: many concurrent writes, far fewer transactions, none lost,
//! and one failing write does not take its batch down with it.

use cairn_store::{ActorKind, AuditEntry, AuditFilter, Outcome, Page};

use crate::fresh_store;

fn entry(n: usize) -> AuditEntry {
    AuditEntry {
        actor_kind: ActorKind::System,
        actor_id: None,
        actor_name: "test".into(),
        source_addr: None,
        action: format!("test.write.{n}"),
        target: None,
        outcome: Outcome::Success,
        detail: None,
    }
}

async fn count_rows(store: &cairn_store::Store) -> usize {
    let mut total = 0;
    let mut cursor = None;
    loop {
        let page = store
            .list_audit(AuditFilter::default(), Page::after(500, cursor))
            .await
            .expect("list");
        total += page.items.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => return total,
        }
    }
}

// A current-thread runtime makes the interleaving deterministic: every spawned
// task queues its write before the writer task gets to run.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_writes_from_many_tasks_share_few_transactions() {
    const N: usize = 2_000;
    let (store, _dir) = fresh_store().await;
    let before = store.writer_stats().transactions();

    let tasks: Vec<_> = (0..N)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.append_audit(entry(n), 1).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("write");
    }

    let transactions = store.writer_stats().transactions() - before;
    assert_eq!(count_rows(&store).await, N, "every write persisted");
    assert!(
        transactions * 20 <= N as u64,
        "{N} writes took {transactions} transactions: group commit is not batching"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_on_many_threads_all_persist() {
    const N: usize = 1_000;
    let (store, _dir) = fresh_store().await;
    let before = store.writer_stats().transactions();
    let writes = (0..N).map(|n| {
        let store = store.clone();
        async move { store.append_audit(entry(n), 1).await }
    });
    for result in futures::future::join_all(writes).await {
        result.expect("write");
    }
    assert_eq!(count_rows(&store).await, N);
    assert!(store.writer_stats().transactions() - before < N as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_write_rolls_back_alone() {
    let (store, _dir) = fresh_store().await;
    let new_user = |name: &str| cairn_store::NewUser {
        username: name.into(),
        password_hash: "$argon2id$placeholder".into(),
        role: cairn_store::Role::Viewer,
    };
    // The second insert breaks the UNIQUE rule on usernames; the other two
    // share its transaction and must still land.
    let (a, b, c) = tokio::join!(
        store.create_user(new_user("ann"), 1),
        store.create_user(new_user("ann"), 1),
        store.create_user(new_user("bob"), 1),
    );
    a.expect("first ann");
    assert!(
        matches!(b, Err(cairn_store::StoreError::Conflict { .. })),
        "{b:?}"
    );
    c.expect("bob");
    assert_eq!(store.count_users().await.expect("count"), 2);
}
