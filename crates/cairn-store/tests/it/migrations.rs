use cairn_store::{MIGRATIONS_DIR, Store, StoreError, latest_version};
use sha2::{Digest, Sha256};

use crate::fresh_store;

/// Landed migrations and the SHA-256 of their text. A landed migration is
/// never edited (databases in the field already ran the old text): add a new
/// migration instead, and add its line here when it lands.
const LANDED: &[(&str, &str)] = &[
    (
        "0001_initial.sql",
        "093b61c8e6875d461d173d11c985bc69d58b984582548674310cf609093b73fb",
    ),
    (
        "0002_job_grants_and_cancel_reasons.sql",
        "ed451b64201dd8ee9099634de8646085ebe5485086e706f674daaadc01988f00",
    ),
    (
        "0003_backup_history_index.sql",
        "82aadf4de1fa0519fe4aeeaf4330be8835571fb29f10a2fd0ac6357f8dd527f7",
    ),
    (
        "0004_alerts.sql",
        "0428f115cfcbbec6ff52e4f83311e82e4895c8176968176699182aa7a2e70f84",
    ),
    (
        "0005_notifications.sql",
        "7605369adf66084bbe0f43a8031db8ef3b35172b7acfabecf3962f9e64d5d42e",
    ),
    (
        "0006_audit_retention.sql",
        "b7bade0c83b6f93fc5a5faf195a42faba8b11148111c489580073db47049ccc0",
    ),
    (
        "0007_host_backup_lookup_index.sql",
        "54dbb2a564898583406471130fa3c04c65987e623862f788f0997769c859e440",
    ),
    (
        "0008_storage_alert.sql",
        "f9ca6998373bb1be66ce1df64494b92f6fa2669ce06ed8c0fc160860ef8b71a2",
    ),
    (
        "0009_host_protocol_version.sql",
        "1b16eb95182fc37205ece374b6a454c2933501e99294f0f4c842cecf1cbff39a",
    ),
];

#[test]
fn landed_migrations_are_never_edited() {
    for (name, want) in LANDED {
        let file = MIGRATIONS_DIR
            .get_file(name)
            .unwrap_or_else(|| panic!("landed migration {name} was removed"));
        let got = hex::encode(Sha256::digest(file.contents()));
        assert_eq!(
            &got, want,
            "landed migration {name} was edited: add a new migration instead"
        );
    }
}

#[tokio::test]
async fn apply_to_an_empty_file_and_reopen_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cairn.db");
    let store = Store::open(&path).await.expect("first open migrates");
    assert_eq!(
        store.schema_version().await.expect("version"),
        latest_version()
    );
    assert!(latest_version() >= 1);
    drop(store);

    let store = Store::open(&path).await.expect("reopen");
    assert_eq!(
        store.schema_version().await.expect("version"),
        latest_version()
    );
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn every_connection_has_wal_and_foreign_keys() {
    let (store, dir) = fresh_store().await;
    drop(store);
    // WAL is a property of the file: another tool opening it sees it too.
    let mode: String = rusqlite_connection(&dir.path().join("cairn.db"))
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
    // Foreign keys are enforced by the store's own connections: a session for
    // a user that does not exist is refused.
    let (store, _dir) = fresh_store().await;
    let err = store
        .create_session(cairn_store::NewSession {
            token_hash: vec![1; 32],
            user_id: cairn_store::UserId(999),
            csrf_token: "x".into(),
            now: 1,
            expires_at: 2,
            client_addr: None,
            user_agent: None,
        })
        .await
        .expect_err("foreign key enforced");
    assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open")
}

#[tokio::test]
async fn a_database_from_a_newer_cairn_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cairn.db");
    drop(Store::open(&path).await.expect("open"));
    let conn = rusqlite_connection(&path);
    conn.pragma_update(None, "user_version", latest_version() as i64 + 5)
        .expect("bump version");
    drop(conn);
    let err = Store::open(&path).await.expect_err("too new");
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
}
