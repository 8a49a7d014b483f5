//! What `/metrics` reads at scrape time: hosts by status, firing alerts,
//! and last successful backups only of hosts and repositories that exist.

use crate::{fresh_store, host};

#[tokio::test]
async fn gauges_count_hosts_and_firing_alerts_and_forget_deleted_hosts() {
    let (store, dir) = fresh_store().await;
    let a = host(&store, "alpha").await;
    let b = host(&store, "beta").await;
    // Rows the services would write, put in directly: a repository, one
    // succeeded and one failed backup per host, alerts in every state.
    let conn = rusqlite::Connection::open(dir.path().join("cairn.db")).expect("open");
    conn.execute_batch(&format!(
        "INSERT INTO repositories (id, name, url_sealed, url_redacted, password_sealed, created_at, updated_at)
              VALUES (1, 'main', x'00', '/r', x'00', 0, 0);
         INSERT INTO jobs (kind, status, host_id, repository_id, trigger, created_at, finished_at)
              VALUES ('backup', 'succeeded', {a}, 1, 'api', 0, 5000),
                     ('backup', 'succeeded', {a}, 1, 'api', 0, 9000),
                     ('backup', 'failed',    {a}, 1, 'api', 0, 99000),
                     ('backup', 'succeeded', {b}, 1, 'api', 0, 7000);
         INSERT INTO alerts (kind, state, subject, message, fired_at)
              VALUES ('job_failed', 'firing', 'job:1', 'x', 0),
                     ('job_failed', 'firing', 'job:2', 'x', 0),
                     ('host_offline', 'acknowledged', 'host:1', 'x', 0),
                     ('host_offline', 'resolved', 'host:2', 'x', 0);",
        a = a.0,
        b = b.0
    ))
    .expect("arrange");

    let g = store.gauges().await.expect("gauges");
    assert_eq!(g.hosts_by_status, vec![("pending".to_string(), 2)]);
    assert_eq!(g.alerts_firing, vec![("job_failed".to_string(), 2)]);
    let last: Vec<_> = g
        .last_backups
        .iter()
        .map(|l| (l.hostname.as_str(), l.repository.as_str(), l.finished_at))
        .collect();
    assert_eq!(last, [("alpha", "main", 9000), ("beta", "main", 7000)]);

    store.delete_host(b).await.expect("delete");
    let g = store.gauges().await.expect("gauges");
    assert_eq!(g.last_backups.len(), 1, "a deleted host's series goes");
    assert_eq!(g.last_backups[0].hostname, "alpha");
}
