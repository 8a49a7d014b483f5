//! The store's integration tests, in one binary so they link once.

mod audit;
mod gauges;
mod history;
mod leases;
mod migrations;
mod paging;
mod typed;
mod users_and_tokens;
mod writer;

use cairn_store::{Announce, HostFacts, HostId, Store};

/// A store on a fresh file database in its own temp dir (WAL needs a file).
pub async fn fresh_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("cairn.db"))
        .await
        .expect("open store");
    (store, dir)
}

/// A host announced as `name` (pending), with an identity of its own.
pub async fn host(store: &Store, name: &str) -> HostId {
    store
        .announce_host(Announce {
            identity_hash: name.as_bytes().to_vec(),
            fingerprint: format!("fp-{name}"),
            facts: HostFacts {
                hostname: name.into(),
                ..Default::default()
            },
            addr: None,
            enroll_token_hash: None,
            now: 0,
        })
        .await
        .expect("announce")
        .host
        .id
}
