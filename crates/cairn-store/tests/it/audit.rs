use cairn_store::{ActorKind, AuditEntry, AuditFilter, Outcome, Page};

use crate::fresh_store;

#[tokio::test]
async fn audit_log_is_append_only() {
    let (store, dir) = fresh_store().await;
    store
        .append_audit(
            AuditEntry {
                actor_kind: ActorKind::User,
                actor_id: Some(1),
                actor_name: "ann".into(),
                source_addr: Some("192.0.2.7".into()),
                action: "auth.login".into(),
                target: Some("user:1".into()),
                outcome: Outcome::Success,
                detail: None,
            },
            5,
        )
        .await
        .expect("append");
    drop(store);

    let conn = rusqlite::Connection::open(dir.path().join("cairn.db")).expect("open");
    let update = conn.execute("UPDATE audit_log SET outcome = 'denied'", []);
    assert!(update.is_err(), "update must be refused");
    let delete = conn.execute("DELETE FROM audit_log", []);
    assert!(delete.is_err(), "delete must be refused");
}

#[tokio::test]
async fn filters_by_action_prefix_and_outcome_newest_first() {
    let (store, _dir) = fresh_store().await;
    for (action, outcome) in [
        ("auth.login", Outcome::Denied),
        ("auth.login", Outcome::Success),
        ("api_token.create", Outcome::Success),
        ("auth_x.other", Outcome::Success),
    ] {
        store
            .append_audit(
                AuditEntry {
                    actor_kind: ActorKind::Anonymous,
                    actor_id: None,
                    actor_name: "x".into(),
                    source_addr: None,
                    action: action.into(),
                    target: None,
                    outcome,
                    detail: None,
                },
                1,
            )
            .await
            .expect("append");
    }
    let auth = store
        .list_audit(
            AuditFilter {
                action_prefix: Some("auth.".into()),
                outcome: None,
                ..AuditFilter::default()
            },
            Page::first(10),
        )
        .await
        .expect("list");
    // `auth_x.other` must not match `auth.` (the `_`/`.` are literal).
    assert_eq!(auth.items.len(), 2);
    assert_eq!(
        auth.items[0].entry.outcome,
        Outcome::Success,
        "newest first"
    );

    let denied = store
        .list_audit(
            AuditFilter {
                action_prefix: None,
                outcome: Some(Outcome::Denied),
                ..AuditFilter::default()
            },
            Page::first(10),
        )
        .await
        .expect("list");
    assert_eq!(denied.items.len(), 1);
}
