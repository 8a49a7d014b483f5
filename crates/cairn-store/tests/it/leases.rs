//! Leases: renewed only for the host that runs the job, and only while the
//! job is live; a job whose lease runs out is lost exactly once.

use cairn_store::{HostId, JobId, JobStatus, NewJob, Store};

use crate::{fresh_store, host};

async fn dispatched_job(store: &Store, host: HostId, lease_until: i64) -> JobId {
    let job = store
        .create_job(
            NewJob {
                host_id: host,
                repository_id: None,
                trigger: cairn_domain::Trigger::Api,
                spec: cairn_domain::JobSpec::Check(Default::default()),
                created_by: None,
            },
            0,
        )
        .await
        .expect("create");
    assert!(
        store
            .mark_dispatched(job, 0, lease_until)
            .await
            .expect("dispatch")
    );
    job
}

#[tokio::test]
async fn only_the_running_host_renews_a_lease_and_an_expired_one_is_lost_once() {
    let (store, _dir) = fresh_store().await;
    let owner = host(&store, "owner").await;
    let other = host(&store, "other").await;
    let renewed = dispatched_job(&store, owner, 1_000).await;
    let claimed = dispatched_job(&store, owner, 1_000).await;

    assert_eq!(
        store
            .renew_leases(owner, vec![renewed], 10_000, None)
            .await
            .expect("renew"),
        1
    );
    // Another host naming the job in its heartbeat renews nothing.
    assert_eq!(
        store
            .renew_leases(other, vec![claimed], 10_000, None)
            .await
            .expect("renew"),
        0
    );
    // A renewal never shortens a lease.
    store
        .renew_leases(owner, vec![renewed], 500, None)
        .await
        .expect("renew");

    let lost = store.expire_leases(2_000).await.expect("expire");
    assert_eq!(lost.iter().map(|j| j.id).collect::<Vec<_>>(), [claimed]);
    assert_eq!(
        store.job(claimed).await.expect("job").status,
        JobStatus::Lost
    );
    assert!(store.expire_leases(2_000).await.expect("expire").is_empty());
    assert_eq!(
        store.job(renewed).await.expect("job").status,
        JobStatus::Dispatched
    );
    // An ended job's lease is never renewed.
    assert_eq!(
        store
            .renew_leases(owner, vec![claimed], 50_000, None)
            .await
            .expect("renew"),
        0
    );
}

#[tokio::test]
async fn no_heartbeat_keeps_a_job_alive_past_its_life() {
    let (store, _dir) = fresh_store().await;
    let owner = host(&store, "owner").await;
    let job = dispatched_job(&store, owner, 1_000).await; // dispatched at 0
    // Renewed to 60 s from "now" = 50 s, but the job may live 30 s at most.
    store
        .renew_leases(owner, vec![job], 110_000, Some(30_000))
        .await
        .expect("renew");
    assert_eq!(
        store.job(job).await.expect("job").lease_expires_at,
        Some(30_000)
    );
    assert_eq!(store.expire_leases(30_001).await.expect("expire").len(), 1);
}

#[tokio::test]
async fn a_page_of_long_log_lines_stops_at_its_byte_budget() {
    let (store, _dir) = fresh_store().await;
    let owner = host(&store, "owner").await;
    let job = dispatched_job(&store, owner, 1_000).await;
    let lines = (0..10)
        .map(|n| cairn_store::LogLine {
            at: n,
            stream: cairn_store::LogStream::Stdout,
            level: cairn_store::LogLevel::Info,
            line: format!("{n}{}", "x".repeat(999)),
        })
        .collect();
    store
        .apply_agent_message_with(
            owner,
            1,
            0,
            cairn_store::append_job_log(owner, job, lines, 1_000),
        )
        .await
        .expect("append");
    let mut seen = 0;
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .job_log_page(job, 500, 3_000, cursor)
            .await
            .expect("page");
        assert!(
            !page.items.is_empty() && page.items.len() <= 2,
            "{}",
            page.items.len()
        );
        seen += page.items.len();
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!((seen, pages), (10, 5), "every line, two to a page");
}
