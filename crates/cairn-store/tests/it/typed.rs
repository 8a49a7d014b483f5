//! Typed values (job specs, progress, summaries) are kept as the store's
//! versioned JSON; a row that does not decode is an error naming the row, and
//! values Cairn 0.1 wrote are found and rewritten by the upgrade.

use cairn_domain::{BackupSpec, JobSpec, Trigger};
use cairn_store::{NewJob, Store, StoreError};

use crate::{fresh_store, host};

async fn backup_job(store: &Store) -> i64 {
    let host = host(store, "web01").await;
    let spec = JobSpec::Backup(BackupSpec {
        paths: vec!["/srv".into()],
        ..Default::default()
    });
    let job = NewJob {
        host_id: host,
        repository_id: None,
        trigger: Trigger::Api,
        spec,
        created_by: None,
    };
    store.create_job(job, 1).await.expect("job").0
}

fn set_spec(dir: &std::path::Path, job: i64, text: &str) {
    let db = rusqlite::Connection::open(dir.join("cairn.db")).expect("open");
    db.execute(
        "UPDATE jobs SET spec = ?1 WHERE id = ?2",
        rusqlite::params![text, job],
    )
    .expect("update");
}

#[tokio::test]
async fn a_spec_is_stored_as_versioned_json_and_read_back_typed() {
    let (store, dir) = fresh_store().await;
    let id = backup_job(&store).await;
    let db = rusqlite::Connection::open(dir.path().join("cairn.db")).expect("open");
    let text: String = db
        .query_row("SELECT spec FROM jobs WHERE id = ?1", [id], |r| r.get(0))
        .expect("row");
    assert_eq!(
        text,
        r#"{"v":1,"data":{"backup":{"paths":["/srv"],"excludes":[],"tags":[],"hooks":[],"limit_upload_kib":0,"limit_download_kib":0}}}"#,
        "the documented shape (docs/store.md)"
    );
    let job = store.job(cairn_store::JobId(id)).await.expect("job");
    assert_eq!(job.kind, cairn_domain::JobKind::Backup);
    assert!(matches!(job.spec, JobSpec::Backup(b) if b.paths == ["/srv"]));
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_an_error_naming_it_and_loses_nothing() {
    let (store, dir) = fresh_store().await;
    let id = backup_job(&store).await;
    set_spec(dir.path(), id, r#"{"v":1,"data":{"teleport":{}}}"#);
    match store.job(cairn_store::JobId(id)).await {
        Err(StoreError::Corrupt { column, detail }) => {
            assert_eq!(column, "spec");
            assert!(
                detail.starts_with(&format!("jobs row {id}: spec does not decode")),
                "{detail}"
            );
        }
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    // The bad row is kept as it was, for an operator to inspect.
    let db = rusqlite::Connection::open(dir.path().join("cairn.db")).expect("open");
    let kept: String = db
        .query_row("SELECT spec FROM jobs WHERE id = ?1", [id], |r| r.get(0))
        .expect("row");
    assert!(kept.contains("teleport"));
}

#[tokio::test]
async fn legacy_values_are_found_and_rewritten_only_if_unchanged() {
    let (store, dir) = fresh_store().await;
    let id = backup_job(&store).await;
    assert!(
        store
            .legacy_values(("jobs", "spec"), 0)
            .await
            .expect("scan")
            .is_empty()
    );
    set_spec(dir.path(), id, "CgYKBC9zcnY=");
    let legacy = store
        .legacy_values(("jobs", "spec"), 0)
        .await
        .expect("scan");
    assert_eq!(legacy.len(), 1);
    assert_eq!(
        (legacy[0].table, legacy[0].column, legacy[0].row),
        ("jobs", "spec", id)
    );
    let json = cairn_store::codec::encode(&JobSpec::Snapshots);
    // A value that changed since it was read is left alone.
    let mut stale = legacy[0].clone();
    stale.text = "something else".into();
    assert_eq!(
        store
            .upgrade_values(vec![(stale, Some(json.clone()))])
            .await
            .expect("write"),
        0
    );
    assert_eq!(
        store
            .upgrade_values(vec![(legacy[0].clone(), Some(json))])
            .await
            .expect("write"),
        1
    );
    let job = store.job(cairn_store::JobId(id)).await.expect("job");
    assert_eq!(job.spec, JobSpec::Snapshots);
    assert!(
        store
            .legacy_values(("jobs", "spec"), 0)
            .await
            .expect("scan")
            .is_empty()
    );
}

#[tokio::test]
async fn a_row_that_does_not_decode_still_expires_and_the_rest_are_unaffected() {
    let (store, dir) = fresh_store().await;
    let bad = backup_job(&store).await;
    let good = store
        .create_job(
            NewJob {
                host_id: store
                    .job(cairn_store::JobId(bad))
                    .await
                    .expect("job")
                    .host_id,
                repository_id: None,
                trigger: Trigger::Api,
                spec: JobSpec::Snapshots,
                created_by: None,
            },
            1,
        )
        .await
        .expect("job");
    for id in [cairn_store::JobId(bad), good] {
        assert!(store.mark_dispatched(id, 1, 10).await.expect("dispatch"));
    }
    set_spec(dir.path(), bad, "garbage");
    let state = store
        .job_state(cairn_store::JobId(bad))
        .await
        .expect("state");
    assert_eq!(state.status, cairn_store::JobStatus::Dispatched);
    let lost = store.expire_leases(11).await.expect("expire");
    assert_eq!(lost.len(), 2, "the bad row expires like the good one");
    assert_eq!(
        store.job(good).await.expect("job").status,
        cairn_store::JobStatus::Lost
    );
}
