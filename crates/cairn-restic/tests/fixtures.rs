//! Parsing output recorded from real restic runs (see `fixtures/<version>/`).

use cairn_restic::{
    BackupMessage, ExitKind, ResticFailure, ResticVersion, classify_exit, classify_stderr,
    parse_ls, parse_snapshots,
};

fn fixture(version: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/{version}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn restic_0_14_backup_json() {
    let messages: Vec<_> = fixture("0.14", "backup1.json")
        .lines()
        .filter_map(BackupMessage::parse)
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, BackupMessage::Status(s) if s.total_files == 2))
    );
    let Some(BackupMessage::Summary(summary)) = messages.last() else {
        panic!("the last message is the summary: {messages:?}")
    };
    assert_eq!(summary.files_new, 2);
    assert_eq!(summary.data_added, 201_406);
    assert_eq!(summary.data_added_packed, 0, "0.14 does not report it");
    assert_eq!(summary.snapshot_id, "43bcc5ba");
}

#[test]
fn restic_0_14_snapshots_ls_and_version() {
    let snapshots = parse_snapshots(&fixture("0.14", "snapshots.json")).expect("snapshots");
    assert!(snapshots.len() >= 2);
    assert_eq!(snapshots[0].short_id, "43bcc5ba");
    assert_eq!(snapshots[0].paths, vec!["/tmp/rfix/src".to_string()]);
    assert!(
        snapshots
            .iter()
            .any(|s| s.tags == vec!["nightly".to_string()])
    );

    let nodes = parse_ls(&fixture("0.14", "ls.json"));
    assert!(
        nodes
            .iter()
            .any(|n| n.path == "/src2/noread" && n.kind == "file" && n.size == 7)
    );

    let version = ResticVersion::parse(&fixture("0.14", "version.txt")).expect("version");
    assert_eq!(version.to_string(), "0.14.0");
}

#[test]
fn restic_0_14_failures_are_classified() {
    assert_eq!(
        classify_stderr(&fixture("0.14", "wrongpw.err")),
        ResticFailure::WrongPassword
    );
    assert_eq!(
        classify_stderr(&fixture("0.14", "prune_locked.err")),
        ResticFailure::Locked
    );
    assert_eq!(
        classify_stderr(&fixture("0.14", "check_locked.err")),
        ResticFailure::Locked
    );
    assert_eq!(
        classify_stderr("Fatal: something odd\n"),
        ResticFailure::Other("something odd".into())
    );
    assert_eq!(classify_exit(Some(0)), ExitKind::Success);
    assert_eq!(classify_exit(Some(3)), ExitKind::Incomplete);
    assert_eq!(classify_exit(Some(1)), ExitKind::Failed);
    assert_eq!(classify_exit(None), ExitKind::Failed, "killed by a signal");
}

#[test]
fn unknown_and_non_json_lines_are_tolerated() {
    assert_eq!(
        BackupMessage::parse("{\"message_type\":\"verbose_status\",\"action\":\"new\"}"),
        Some(BackupMessage::Other)
    );
    assert_eq!(
        BackupMessage::parse("/nonexistent does not exist, skipping"),
        None
    );
    let err = BackupMessage::parse(
        "{\"message_type\":\"error\",\"error\":{\"message\":\"permission denied\"},\"during\":\"archival\",\"item\":\"/x\"}",
    );
    assert_eq!(
        err,
        Some(BackupMessage::Error {
            item: "/x".into(),
            message: "permission denied".into()
        })
    );
}

#[test]
fn restic_0_18_backup_snapshots_and_errors() {
    let messages: Vec<_> = fixture("0.18", "backup1.json")
        .lines()
        .filter_map(BackupMessage::parse)
        .collect();
    let Some(BackupMessage::Summary(summary)) = messages.last() else {
        panic!("summary last: {messages:?}")
    };
    assert_eq!(summary.files_new, 2);
    assert_eq!(summary.data_added, 201_418);
    assert_eq!(
        summary.data_added_packed, 201_163,
        "0.17+ reports the packed size"
    );
    assert_eq!(
        summary.snapshot_id.len(),
        64,
        "0.17+ reports the full snapshot id"
    );

    let snapshots = parse_snapshots(&fixture("0.18", "snapshots.json")).expect("snapshots");
    assert!(snapshots.len() >= 2);
    assert!(
        snapshots
            .iter()
            .all(|s| s.id.len() == 64 && s.short_id.len() == 8)
    );
    assert!(!parse_ls(&fixture("0.18", "ls.json")).is_empty());
    assert_eq!(
        ResticVersion::parse(&fixture("0.18", "version.txt"))
            .expect("version")
            .to_string(),
        "0.18.0"
    );

    // 0.18 reports failures as a JSON exit_error on stderr, with exit code 12.
    assert_eq!(
        classify_stderr(&fixture("0.18", "wrongpw.err")),
        ResticFailure::WrongPassword
    );
    assert_eq!(
        classify_stderr(
            "{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: disk on fire\"}\n"
        ),
        ResticFailure::Other("disk on fire".into())
    );
    assert_eq!(classify_exit(Some(12)), ExitKind::Failed);
}

#[test]
fn restic_0_14_diff_json() {
    let (changes, totals) = cairn_restic::parse_diff(&fixture("0.14", "diff.json"));
    assert_eq!(
        changes,
        vec![cairn_restic::DiffChange {
            path: "/src/a.txt".into(),
            modifier: "M".into()
        }]
    );
    assert_eq!(totals.changed_files, 1);
    assert_eq!(totals.added_bytes, 1055);
}
