//! The fleet overview's reads: backups per host and UTC day, missed firings
//! by the day they were due, each host's last and last good backup; and the
//! host search; and where log lines stand in their job's log.

use cairn_domain::{CatchUp, JobSpec, JobStatus, Trigger};
use cairn_store::{
    BackupDay, DAY_MS, HostFilter, JobEnd, NewJob, Page, RepositoryFields, ScheduleFields,
    SealedSecrets, Store,
};

use crate::{fresh_store, host};

async fn ended(store: &Store, host: cairn_store::HostId, seq: u64, status: JobStatus, at: i64) {
    let job = NewJob {
        host_id: host,
        repository_id: None,
        trigger: Trigger::Api,
        spec: JobSpec::Backup(Default::default()),
        created_by: None,
    };
    let job = store.create_job(job, 0).await.expect("job");
    let end = JobEnd {
        status,
        warning: false,
        exit_code: None,
        error: None,
        summary: None,
        snapshot_id: None,
    };
    store
        .apply_agent_message_with(host, seq, at, cairn_store::job_finished(host, job, end, at))
        .await
        .expect("finish");
}

#[tokio::test]
async fn backups_are_counted_per_host_and_utc_day_with_missed_firings() {
    let (store, _dir) = fresh_store().await;
    let a = host(&store, "a").await;
    let b = host(&store, "b").await;
    let day = 20_000;
    ended(&store, a, 1, JobStatus::Succeeded, day * DAY_MS + 1).await;
    ended(&store, a, 2, JobStatus::Failed, day * DAY_MS + 2).await;
    ended(&store, a, 3, JobStatus::Lost, (day + 1) * DAY_MS - 1).await;
    ended(&store, a, 4, JobStatus::Succeeded, (day + 2) * DAY_MS).await;
    // Too old for the window.
    ended(&store, b, 1, JobStatus::Succeeded, (day - 5) * DAY_MS).await;
    let repo = store
        .create_repository(
            RepositoryFields {
                name: "r".into(),
                url_redacted: "/srv/r".into(),
                env_keys: vec![],
            },
            0,
            |_| {
                Ok(SealedSecrets {
                    url: vec![1],
                    password: vec![1],
                    env: None,
                })
            },
        )
        .await
        .expect("repository")
        .id;
    store.assign_repository(repo, b, 0).await.expect("assign");
    let fields = ScheduleFields {
        name: "nightly".into(),
        cron: "0 2 * * *".into(),
        timezone: "UTC".into(),
        paths: vec!["/srv".into()],
        excludes: vec![],
        tags: vec![],
        hooks: vec![],
        limit_upload_kib: None,
        limit_download_kib: None,
        catch_up: CatchUp::Once,
        enabled: true,
    };
    let schedule = store
        .create_schedule(b, repo, fields, 0)
        .await
        .expect("schedule");
    for n in 0..2 {
        let at = (day + 1) * DAY_MS + 7_200_000 + n;
        assert!(
            store
                .record_missed(schedule.id, at, "away".into(), at)
                .await
                .expect("missed")
        );
    }

    let days = store.backup_days(day * DAY_MS).await.expect("days");
    let of = |d: &BackupDay| (d.host, d.day, d.succeeded, d.failed, d.missed);
    assert_eq!(
        days.iter().map(of).collect::<Vec<_>>(),
        [
            (a, day, 1, 2, 0),
            (a, day + 2, 1, 0, 0),
            (b, day + 1, 0, 0, 2),
        ]
    );
    // One host's days alone: the same rows, read by seeking its own.
    let of_b = store
        .backup_days_of(day * DAY_MS, &[b])
        .await
        .expect("b's days");
    assert_eq!(
        of_b.iter().map(of).collect::<Vec<_>>(),
        [(b, day + 1, 0, 0, 2)]
    );
    let of_a = store
        .backup_days_of(day * DAY_MS, &[a])
        .await
        .expect("a's days");
    assert_eq!(of_a.len(), 2);
    assert!(
        store
            .backup_days_of(day * DAY_MS, &[])
            .await
            .expect("none")
            .is_empty()
    );

    let last = store.last_backups().await.expect("last");
    assert_eq!(
        last[&a].last,
        Some((JobStatus::Succeeded, (day + 2) * DAY_MS))
    );
    assert_eq!(last[&a].good, Some((day + 2) * DAY_MS));
    assert_eq!(last[&b].good, Some((day - 5) * DAY_MS));
    ended(&store, b, 2, JobStatus::Failed, (day + 3) * DAY_MS).await;
    let last = store.last_backups().await.expect("last");
    assert_eq!(last[&b].last, Some((JobStatus::Failed, (day + 3) * DAY_MS)));
    assert_eq!(
        last[&b].good,
        Some((day - 5) * DAY_MS),
        "the last good one stays"
    );
}

#[tokio::test]
async fn hosts_are_found_by_part_of_their_name_or_the_start_of_their_fingerprint() {
    let (store, _dir) = fresh_store().await;
    let db = host(&store, "DB01.example.com").await;
    let web = host(&store, "web01.example.com").await;
    let find = |search: &str| {
        let store = store.clone();
        let filter = HostFilter {
            search: search.into(),
            ..Default::default()
        };
        async move {
            let found = store
                .list_hosts(filter, Page::first(10))
                .await
                .expect("list");
            found.items.iter().map(|h| h.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(find("db01").await, [db], "ignores case");
    assert_eq!(find(".example.").await, [db, web]);
    assert_eq!(find("fp-web").await, [web], "a fingerprint's start");
    assert_eq!(
        find("example.com-fp").await,
        Vec::<cairn_store::HostId>::new()
    );
    // Wildcards are text, not patterns.
    assert_eq!(find("%").await, Vec::<cairn_store::HostId>::new());
    assert_eq!(find("_").await, Vec::<cairn_store::HostId>::new());
    assert_eq!(find("").await, [db, web]);
}

#[tokio::test]
async fn log_lines_know_their_position_and_are_read_from_one() {
    let (store, _dir) = fresh_store().await;
    let h = host(&store, "a").await;
    let job = NewJob {
        host_id: h,
        repository_id: None,
        trigger: Trigger::Api,
        spec: JobSpec::Check(Default::default()),
        created_by: None,
    };
    let job = store.create_job(job, 0).await.expect("job");
    let line = |n: u32| cairn_store::LogLine {
        at: 1,
        stream: cairn_store::LogStream::Stdout,
        level: cairn_store::LogLevel::Info,
        line: format!("line {n}"),
    };
    let mut firsts = Vec::new();
    for (seq, batch) in [(1, 0..3), (2, 3..5)] {
        let effect = cairn_store::append_job_log(h, job, batch.map(line).collect(), 100);
        let stored = store
            .apply_agent_message_with(h, seq, 1, effect)
            .await
            .expect("append")
            .expect("applied");
        firsts.push(stored.first);
    }
    assert_eq!(firsts, [0, 3]);
    let from = store.job_log_from(job, 2, 10).await.expect("read");
    let texts: Vec<&str> = from.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(texts, ["line 2", "line 3", "line 4"]);
    assert!(
        store
            .job_log_from(job, 5, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(store.job_log_from(job, 1, 2).await.expect("read").len(), 2);
}
