//! The store's integration tests, in one binary so they link once.

mod audit;
mod leases;
mod migrations;
mod paging;
mod typed;
mod users_and_tokens;
mod writer;

use cairn_store::Store;

/// A store on a fresh file database in its own temp dir (WAL needs a file).
pub async fn fresh_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("cairn.db"))
        .await
        .expect("open store");
    (store, dir)
}
