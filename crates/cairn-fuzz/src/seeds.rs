//! The seed corpus: one well-formed input of each shape a target reads, so
//! a fuzzer starts from inputs that reach deep into the code rather than
//! from noise. `cairn-fuzz-seeds <dir>` writes them for `make fuzz`.

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use prost::Message;

/// restic's real output, as the parser tests keep it.
const RESTIC_OUTPUT: &[&str] = &[
    include_str!("../../cairn-restic/tests/fixtures/0.18/backup1.json"),
    include_str!("../../cairn-restic/tests/fixtures/0.18/ls.json"),
    include_str!("../../cairn-restic/tests/fixtures/0.18/restore.json"),
    include_str!("../../cairn-restic/tests/fixtures/0.18/snapshots.json"),
    include_str!("../../cairn-restic/tests/fixtures/0.18/wrongpw.err"),
];

/// The seeds of the target called `name` (none for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "agent_message" => agent_messages()
            .into_iter()
            .map(|m| m.encode_to_vec())
            .collect(),
        "client_request" => client_requests(),
        "server_config" => vec![
            cairn_server::config::example_toml().into_bytes(),
            b"listen = \"127.0.0.1:8443\"\njob_lease = \"10m\"\nmax_message_size = \"4MiB\"\n"
                .to_vec(),
        ],
        "run_job" => run_jobs().into_iter().map(|m| m.encode_to_vec()).collect(),
        "restic_output" => RESTIC_OUTPUT
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect(),
        "repository_url" => [
            "/srv/restic/main",
            "rest:https://user:secret@backup.example.com:8000/host1/",
            "sftp:backup@nas.example.com:/srv/restic",
            "s3:s3.eu-west-1.amazonaws.com/bucket/prefix\nAWS_ACCESS_KEY_ID=AKIAEXAMPLE",
            "b2:bucket:path\nB2_ACCOUNT_ID=0012345",
            "rclone:remote:restic",
            "azure:container:/path\nAZURE_ACCOUNT_NAME=acct",
            "gs:bucket:/path",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect(),
        "agent_config" => vec![cairn_agent::EXAMPLE_CONFIG.as_bytes().to_vec()],
        _ => Vec::new(),
    }
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn agent_messages() -> Vec<pb::AgentMessage> {
    let with = |seq, body| pb::AgentMessage {
        seq,
        body: Some(body),
    };
    vec![
        with(
            0,
            Body::Hello(pb::Hello {
                identity_token: "A".repeat(43),
                facts: Some(pb::HostFacts {
                    hostname: "web-01.example.com".into(),
                    os: "linux".into(),
                    arch: "x86_64".into(),
                    ..Default::default()
                }),
                last_seq: 12,
                running_job_ids: vec![7],
                ..Default::default()
            }),
        ),
        with(
            0,
            Body::Heartbeat(pb::Heartbeat {
                running_job_ids: vec![7, 8],
                ..Default::default()
            }),
        ),
        with(
            13,
            Body::JobLog(pb::JobLog {
                job_id: 7,
                lines: vec![pb::JobLogLine {
                    time: ts(1_800_000_000),
                    stream: pb::JobLogStream::Stderr as i32,
                    level: pb::JobLogLevel::Warn as i32,
                    text: "unable to open /etc/shadow: permission denied".into(),
                }],
            }),
        ),
        with(
            14,
            Body::JobProgress(pb::JobProgress {
                job_id: 7,
                percent: 42.5,
                current_files: vec!["/home/a.txt".into()],
                ..Default::default()
            }),
        ),
        with(
            15,
            Body::JobFinished(pb::JobFinished {
                job_id: 7,
                outcome: pb::JobOutcome::Succeeded as i32,
                summary: Some(pb::BackupSummary {
                    files_new: 3,
                    snapshot_id: "0123456789abcdef".repeat(4),
                    ..Default::default()
                }),
                finished_at: ts(1_800_000_100),
                ..Default::default()
            }),
        ),
        with(
            16,
            Body::SnapshotList(pb::SnapshotList {
                job_id: 8,
                repository_id: 1,
                snapshots: vec![pb::Snapshot {
                    id: "0123456789abcdef".repeat(4),
                    short_id: "01234567".into(),
                    time: ts(1_799_000_000),
                    hostname: "web-01".into(),
                    paths: vec!["/home".into()],
                    tags: vec!["daily".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
    ]
}

/// Requests, each behind the byte that picks its kind in `client_request`
/// (the order of its table).
fn client_requests() -> Vec<Vec<u8>> {
    let tagged = |kind: u8, bytes: Vec<u8>| [vec![kind], bytes].concat();
    vec![
        tagged(
            0,
            pb::ListAuditEventsRequest {
                action_prefix: "host.".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        tagged(
            6,
            pb::CreateScheduleRequest {
                name: "nightly".into(),
                cron: "30 2 * * *".into(),
                timezone: "Europe/Paris".into(),
                paths: vec!["/home".into()],
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        tagged(
            12,
            pb::CreateRepositoryRequest {
                url: "rest:https://u:p@backup.example.com/r".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    ]
}

fn run_jobs() -> Vec<pb::RunJob> {
    let access = Some(pb::RepositoryAccess {
        repository_id: 1,
        url: "rest:https://backup.example.com:8000/host1/".into(),
        password: "correct horse battery staple".into(),
        env: [("AWS_ACCESS_KEY_ID".to_string(), "AKIA".to_string())].into(),
    });
    let job = |spec| pb::RunJob {
        job_id: 1,
        spec: Some(pb::JobSpec { spec: Some(spec) }),
        repository: access.clone(),
        timeout_seconds: 3_600,
    };
    use pb::job_spec::Spec;
    vec![
        job(Spec::Backup(pb::BackupSpec {
            paths: vec!["/home".into(), "/etc".into()],
            excludes: vec!["*.tmp".into()],
            tags: vec!["daily".into()],
            ..Default::default()
        })),
        job(Spec::Restore(pb::RestoreSpec {
            snapshot_id: "0123abcd".into(),
            path: "/home".into(),
            includes: vec!["/home/a".into()],
            target_path: "/var/restore".into(),
            ..Default::default()
        })),
        job(Spec::Forget(pb::ForgetSpec {
            policy: Some(pb::RetentionPolicy {
                keep_daily: 7,
                ..Default::default()
            }),
            ..Default::default()
        })),
        job(Spec::Check(pb::CheckSpec::default())),
    ]
}
