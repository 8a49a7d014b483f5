//! A database from Cairn 0.1, whose job rows hold base64 protobuf, is
//! upgraded at start: every value is rewritten as the store's JSON and reads
//! back as what it was.

use base64::Engine;
use cairn_domain::{BackupSpec, JobSpec};
use cairn_proto::v1 as pb;
use cairn_server::auth::Principal;
use cairn_testkit::TestServer;
use prost::Message;

fn legacy(message: &impl Message) -> String {
    base64::engine::general_purpose::STANDARD.encode(message.encode_to_vec())
}

#[tokio::test]
async fn job_rows_from_cairn_0_1_are_rewritten_as_json_at_start() {
    let server = TestServer::start().await;
    let host = server.stored_host("old").await;
    let job = server.stored_job(host, JobSpec::Snapshots).await;
    let db_path = server.data_dir().join("cairn.db");
    let wire_spec = pb::JobSpec {
        spec: Some(pb::job_spec::Spec::Backup(pb::BackupSpec {
            paths: vec!["/srv".into()],
            tags: vec!["nightly".into()],
            ..Default::default()
        })),
    };
    let wire_summary = pb::BackupSummary {
        files_new: 42,
        snapshot_id: "abcdef12".into(),
        ..Default::default()
    };
    let wire_progress = pb::JobProgress {
        percent: 50.0,
        files_done: 7,
        ..Default::default()
    };
    let server = server
        .restart_when(async {
            // What Cairn 0.1 wrote, put in place while the server is down.
            let db = rusqlite::Connection::open(&db_path).expect("open");
            db.execute(
                "UPDATE jobs SET spec = ?1, summary = ?2, progress = ?3 WHERE id = ?4",
                rusqlite::params![
                    legacy(&wire_spec),
                    legacy(&wire_summary),
                    legacy(&wire_progress),
                    job.0
                ],
            )
            .expect("legacy row");
        })
        .await;

    let upgraded = server
        .api
        .jobs
        .get(&Principal::local_cli(), job)
        .await
        .expect("the row reads");
    assert_eq!(
        upgraded.spec,
        JobSpec::Backup(BackupSpec {
            paths: vec!["/srv".into()],
            tags: vec!["nightly".into()],
            ..Default::default()
        })
    );
    assert_eq!(upgraded.summary.expect("summary").files_new, 42);
    assert_eq!(upgraded.progress.expect("progress").files_done, 7);
    let db = rusqlite::Connection::open(&db_path).expect("open");
    let raw: String = db
        .query_row("SELECT spec FROM jobs WHERE id = ?1", [job.0], |r| r.get(0))
        .expect("row");
    assert!(raw.starts_with(r#"{"v":1,"data":{"backup""#), "{raw}");
}
