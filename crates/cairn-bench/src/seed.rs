//! A fleet's history made straight in a server's database before it starts:
//! hosts approved, each with a backup a day going back, mostly succeeded,
//! some failed. The first job of each host goes through the store (so its
//! spec is encoded as the server encodes it); the rest are copies of it in
//! one SQL transaction, which makes 100,000 jobs in seconds.

use std::path::Path;

use anyhow::Context as _;
use cairn_store::{Announce, DAY_MS, HostFacts, HostStatus, NewJob, Store};

/// What was made.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub hosts: usize,
    pub jobs: usize,
}

/// Makes `hosts` approved hosts with `jobs_per_host` finished backups each
/// (one a day, the latest today; every 13th failed) in the database of
/// `data_dir`, which must not be served yet.
pub async fn fleet_history(
    data_dir: &Path,
    hosts: usize,
    jobs_per_host: usize,
) -> anyhow::Result<Seeded> {
    std::fs::create_dir_all(data_dir)?;
    let db = data_dir.join("cairn.db");
    let store = Store::open(&db)
        .await
        .context("opening the store to seed it")?;
    let now = chrono::Utc::now().timestamp_millis();
    let spec = cairn_domain::JobSpec::Backup(cairn_domain::BackupSpec {
        paths: vec!["/srv".into(), "/etc".into()],
        ..Default::default()
    });
    for n in 0..hosts {
        let hostname = format!("bench-host-{n:05}");
        let announced = store
            .announce_host(Announce {
                identity_hash: format!("seeded-{hostname}").into_bytes(),
                fingerprint: format!("sha256:seeded{n:05}"),
                facts: HostFacts {
                    hostname: hostname.clone(),
                    os: "linux".into(),
                    os_version: "Debian 12".into(),
                    arch: "x86_64".into(),
                    ..Default::default()
                },
                addr: None,
                enroll_token_hash: None,
                now,
            })
            .await
            .with_context(|| format!("announcing {hostname}"))?;
        let host = announced.host.id;
        store
            .set_host_status(
                host,
                &[HostStatus::Pending],
                HostStatus::Approved,
                None,
                None,
                now,
            )
            .await?;
        store
            .create_job(
                NewJob {
                    host_id: host,
                    repository_id: None,
                    trigger: cairn_domain::Trigger::Schedule,
                    spec: spec.clone(),
                    created_by: None,
                },
                now,
            )
            .await?;
    }
    drop(store);
    let per_host = jobs_per_host.max(1) as i64;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut db = rusqlite::Connection::open(&db)?;
        let tx = db.transaction()?;
        // Day 0 is the job made above; days 1.. are its copies, further back.
        tx.execute(
            "UPDATE jobs SET status = 'succeeded', dispatched_at = created_at, started_at = created_at,
                 finished_at = created_at + 120000, exit_code = 0, snapshot_id = printf('%064x', id)",
            [],
        )?;
        tx.execute(
            "WITH RECURSIVE days(d) AS (SELECT 1 UNION ALL SELECT d + 1 FROM days WHERE d < ?1)
             INSERT INTO jobs (kind, status, host_id, trigger, spec, created_at, dispatched_at, started_at,
                               finished_at, exit_code, error, snapshot_id)
             SELECT j.kind,
                    CASE WHEN (j.host_id + d) % 13 = 0 THEN 'failed' ELSE 'succeeded' END,
                    j.host_id, j.trigger, j.spec,
                    j.created_at - d * ?2, j.created_at - d * ?2, j.created_at - d * ?2,
                    j.created_at - d * ?2 + 120000,
                    CASE WHEN (j.host_id + d) % 13 = 0 THEN 1 ELSE 0 END,
                    CASE WHEN (j.host_id + d) % 13 = 0 THEN 'Fatal: unable to open repository' END,
                    CASE WHEN (j.host_id + d) % 13 = 0 THEN NULL ELSE printf('%032x%08x', j.host_id, d) END
             FROM jobs j, days",
            rusqlite::params![per_host - 1, DAY_MS],
        )?;
        tx.commit()?;
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")?;
        Ok(())
    })
    .await
    .context("the seeding thread")??;
    Ok(Seeded {
        hosts,
        jobs: hosts * jobs_per_host.max(1),
    })
}
