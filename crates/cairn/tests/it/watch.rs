//! `Jobs::watch`, the one service behind gRPC's `WatchJob`, the UI's SSE and
//! `cairn demo`: the job as it stands first, then every change as it
//! happens, pushed (never polled), then the final record; it ends at
//! shutdown and leaves no topic behind.

use std::time::Duration;

use cairn_domain::JobSpec;
use cairn_server::auth::Principal;
use cairn_server::jobs::{Event, JobWatch};
use cairn_store::{JobId, JobStatus};
use cairn_testkit::TestServer;

/// A job queued for a host that never connects: nothing but the server
/// itself moves it.
async fn queued_job(server: &TestServer) -> JobId {
    let host = server.stored_host("watched").await;
    server
        .stored_job(host, JobSpec::Check(Default::default()))
        .await
}

/// The next event, with a deadline a busy machine meets.
async fn next(watch: &mut JobWatch) -> Option<Event> {
    tokio::time::timeout(Duration::from_secs(60), watch.next())
        .await
        .expect("an event within a minute")
        .map(|e| e.event)
}

#[tokio::test]
async fn a_cancel_while_queued_is_pushed_to_the_watcher_as_the_final_record() {
    let (server, _clock) = TestServer::start_manual(1_767_225_600_000, |_| {}).await;
    let job = queued_job(&server).await;
    let cli = Principal::local_cli();
    let mut watch = server.api.jobs.watch(&cli, job).await.expect("watch");
    assert!(
        matches!(next(&mut watch).await, Some(Event::Current(j)) if j.status == JobStatus::Queued)
    );
    assert_eq!(server.api.jobs.hub().topic_count(), 1);

    server
        .api
        .jobs
        .cancel(&cli, job, "not today")
        .await
        .expect("cancel");
    // The manual clock never moves: only a push can bring this.
    match next(&mut watch).await {
        Some(Event::Finished(j)) => {
            assert_eq!(j.status, JobStatus::Cancelled);
            assert!(j.error.unwrap_or_default().contains("not today"));
        }
        other => panic!("expected the final record, got {other:?}"),
    }
    assert_eq!(next(&mut watch).await, None, "nothing after the end");
    drop(watch);
    assert_eq!(server.api.jobs.hub().topic_count(), 0, "no topic left");
}

#[tokio::test]
async fn a_lease_running_out_is_pushed_to_the_watcher() {
    let start = 1_767_225_600_000;
    let (server, clock) = TestServer::start_manual(start, |_| {}).await;
    let job = queued_job(&server).await;
    let store = server.store().await;
    let lease = server.config().job_lease.as_millis() as i64;
    assert!(
        store
            .mark_dispatched(job, start, start + lease)
            .await
            .expect("dispatch")
    );
    let cli = Principal::local_cli();
    let mut watch = server.api.jobs.watch(&cli, job).await.expect("watch");
    assert!(
        matches!(next(&mut watch).await, Some(Event::Current(j)) if j.status == JobStatus::Dispatched)
    );
    clock.advance(Duration::from_millis(lease as u64 + 1_000));
    match next(&mut watch).await {
        Some(Event::Finished(j)) => assert_eq!(j.status, JobStatus::Lost),
        other => panic!("expected the job lost, got {other:?}"),
    }
}

#[tokio::test]
async fn a_finished_job_gives_its_record_alone_and_a_watch_ends_at_shutdown() {
    let (server, _clock) = TestServer::start_manual(1_767_225_600_000, |_| {}).await;
    let cli = Principal::local_cli();
    let ended = queued_job(&server).await;
    server
        .api
        .jobs
        .cancel(&cli, ended, "")
        .await
        .expect("cancel");
    let mut watch = server.api.jobs.watch(&cli, ended).await.expect("watch");
    assert!(matches!(next(&mut watch).await, Some(Event::Finished(_))));
    assert_eq!(next(&mut watch).await, None);

    let host = server.store().await.job(ended).await.expect("job").host_id;
    let live = server
        .stored_job(host, JobSpec::Check(Default::default()))
        .await;
    let mut watch = server.api.jobs.watch(&cli, live).await.expect("watch");
    assert!(matches!(next(&mut watch).await, Some(Event::Current(_))));
    server.stop().await.expect("stop");
    assert_eq!(next(&mut watch).await, None);
    assert!(watch.ended_by_shutdown());
}

#[tokio::test]
async fn watching_a_job_that_does_not_exist_is_not_found_and_leaves_nothing() {
    let server = TestServer::start().await;
    let cli = Principal::local_cli();
    let err = server
        .api
        .jobs
        .watch(&cli, JobId(9_999))
        .await
        .expect_err("no such job");
    assert!(
        matches!(err, cairn_server::ServiceError::NotFound(_)),
        "{err:?}"
    );
    assert_eq!(server.api.jobs.hub().topic_count(), 0);
}

#[tokio::test]
async fn deleting_a_host_ends_the_watches_of_its_jobs() {
    let (server, _clock) = TestServer::start_manual(1_767_225_600_000, |_| {}).await;
    let job = queued_job(&server).await;
    let cli = Principal::local_cli();
    let host = server.store().await.job(job).await.expect("job").host_id;
    let mut watch = server.api.jobs.watch(&cli, job).await.expect("watch");
    assert!(matches!(next(&mut watch).await, Some(Event::Current(_))));
    server.api.fleet.delete(&cli, host).await.expect("delete");
    // The job went with its host: the watch ends rather than wait forever.
    assert_eq!(next(&mut watch).await, None);
    assert!(!watch.ended_by_shutdown());
    drop(watch);
    assert_eq!(server.api.jobs.hub().topic_count(), 0);
}
