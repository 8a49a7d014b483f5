//! One test per spec field: the protocol's spec in, restic's argv out, by
//! the path the agent takes (wire → domain → operation). A field that stops
//! reaching restic fails its test here.

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_spec::Spec;

use crate::{ArgError, Operation, RepoAccess};

/// The agent's path: the wire spec converted, then checked.
fn operation(spec: &pb::JobSpec, restore_target: Option<&str>) -> Result<Operation, ArgError> {
    let spec = cairn_proto::convert::spec_from_pb(spec).ok_or(ArgError::Invalid {
        field: "spec",
        reason: "empty job spec".into(),
    })?;
    crate::operation(&spec, restore_target)
}

fn argv(spec: Spec) -> Vec<String> {
    let repo = RepoAccess {
        url: "/srv/restic".into(),
        password: "pw".into(),
        env: vec![],
    };
    operation(&pb::JobSpec { spec: Some(spec) }, None)
        .and_then(|op| op.invocation(&repo))
        .expect("valid spec")
        .args
}

/// Whether `argv` holds `flag` followed by `value` (or just `flag`).
fn has(argv: &[String], flag: &str, value: Option<&str>) -> bool {
    argv.iter().enumerate().any(|(i, a)| {
        a == flag && value.is_none_or(|v| argv.get(i + 1).map(String::as_str) == Some(v))
    })
}

fn keep_last_1() -> Option<pb::RetentionPolicy> {
    Some(pb::RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    })
}

fn forget(f: pb::ForgetSpec) -> Vec<String> {
    argv(Spec::Forget(pb::ForgetSpec {
        policy: f.policy.or_else(keep_last_1),
        ..f
    }))
}

#[test]
fn forget_dry_run() {
    let args = forget(pb::ForgetSpec {
        dry_run: true,
        ..Default::default()
    });
    assert!(has(&args, "--dry-run", None), "{args:?}");
    assert!(!has(&forget(Default::default()), "--dry-run", None));
}

#[test]
fn forget_hostnames() {
    let args = forget(pb::ForgetSpec {
        hostnames: vec!["web1".into(), "web2".into()],
        ..Default::default()
    });
    assert!(has(&args, "--host", Some("web1")) && has(&args, "--host", Some("web2")));
}

#[test]
fn forget_tags() {
    let args = forget(pb::ForgetSpec {
        tags: vec!["nightly".into()],
        ..Default::default()
    });
    assert!(has(&args, "--tag", Some("nightly")), "{args:?}");
}

#[test]
fn forget_paths() {
    let args = forget(pb::ForgetSpec {
        paths: vec!["/srv".into()],
        ..Default::default()
    });
    assert!(has(&args, "--path", Some("/srv")), "{args:?}");
}

#[test]
fn forget_group_by() {
    let by = |by_host, by_paths, by_tags| {
        forget(pb::ForgetSpec {
            group_by: Some(pb::SnapshotGrouping {
                by_host,
                by_paths,
                by_tags,
            }),
            ..Default::default()
        })
    };
    assert!(has(&by(true, false, true), "--group-by", Some("host,tags")));
    assert!(has(&by(false, true, false), "--group-by", Some("paths")));
    assert!(
        has(&by(false, false, false), "--group-by", Some("")),
        "all false turns grouping off"
    );
    assert!(!has(&forget(Default::default()), "--group-by", None));
}

#[test]
fn forget_prune() {
    let args = forget(pb::ForgetSpec {
        prune: true,
        ..Default::default()
    });
    assert!(has(&args, "--prune", None), "{args:?}");
}

#[test]
fn forget_policy_every_rule() {
    let span = |days| {
        Some(pb::RetentionSpan {
            days,
            ..Default::default()
        })
    };
    let args = forget(pb::ForgetSpec {
        policy: Some(pb::RetentionPolicy {
            keep_last: 1,
            keep_hourly: 2,
            keep_daily: 3,
            keep_weekly: 4,
            keep_monthly: 5,
            keep_yearly: 6,
            keep_within: span(7),
            keep_within_hourly: span(8),
            keep_within_daily: span(9),
            keep_within_weekly: span(10),
            keep_within_monthly: span(11),
            keep_within_yearly: span(12),
            keep_tags: vec!["keep".into()],
        }),
        ..Default::default()
    });
    for (flag, value) in [
        ("--keep-last", "1"),
        ("--keep-hourly", "2"),
        ("--keep-daily", "3"),
        ("--keep-weekly", "4"),
        ("--keep-monthly", "5"),
        ("--keep-yearly", "6"),
        ("--keep-within", "7d"),
        ("--keep-within-hourly", "8d"),
        ("--keep-within-daily", "9d"),
        ("--keep-within-weekly", "10d"),
        ("--keep-within-monthly", "11d"),
        ("--keep-within-yearly", "12d"),
        ("--keep-tag", "keep"),
    ] {
        assert!(has(&args, flag, Some(value)), "{flag} {value}: {args:?}");
    }
}

#[test]
fn forget_without_a_policy_and_tags_with_commas_are_refused() {
    let spec = |f| pb::JobSpec {
        spec: Some(Spec::Forget(f)),
    };
    assert!(operation(&spec(pb::ForgetSpec::default()), None).is_err());
    let comma = pb::ForgetSpec {
        policy: keep_last_1(),
        tags: vec!["a,b".into()],
        ..Default::default()
    };
    assert!(operation(&spec(comma), None).is_err());
}

#[test]
fn prune_dry_run() {
    let args = argv(Spec::Prune(pb::PruneSpec {
        dry_run: true,
        ..Default::default()
    }));
    assert_eq!(args, ["prune", "--dry-run"]);
}

#[test]
fn prune_max_repack_bytes() {
    let args = argv(Spec::Prune(pb::PruneSpec {
        max_repack_bytes: 1 << 30,
        ..Default::default()
    }));
    assert!(
        has(&args, "--max-repack-size", Some("1073741824")),
        "{args:?}"
    );
}

#[test]
fn prune_max_unused() {
    let args = argv(Spec::Prune(pb::PruneSpec {
        max_unused: Some(pb::MaxUnused {
            limit: Some(pb::max_unused::Limit::Percent(10.0)),
        }),
        ..Default::default()
    }));
    assert!(has(&args, "--max-unused", Some("10%")), "{args:?}");
}

#[test]
fn check_read_all_data() {
    let args = argv(Spec::Check(pb::CheckSpec {
        read_all_data: true,
        read_data_subset: None,
    }));
    assert_eq!(args, ["check", "--read-data"]);
}

#[test]
fn check_read_data_subset_and_not_both() {
    let part = Some(pb::ReadDataSubset {
        subset: Some(pb::read_data_subset::Subset::Part(pb::DataSubsetPart {
            index: 2,
            total: 5,
        })),
    });
    let args = argv(Spec::Check(pb::CheckSpec {
        read_all_data: false,
        read_data_subset: part,
    }));
    assert_eq!(args, ["check", "--read-data-subset", "2/5"]);
    let both = pb::JobSpec {
        spec: Some(Spec::Check(pb::CheckSpec {
            read_all_data: true,
            read_data_subset: part,
        })),
    };
    let err = operation(&both, None).expect_err("both refused");
    assert!(err.to_string().contains("both"), "{err}");
}

fn restore(r: pb::RestoreSpec) -> Vec<String> {
    argv(Spec::Restore(pb::RestoreSpec {
        snapshot_id: "03bfeb45".into(),
        target_path: "/restore".into(),
        ..r
    }))
}

#[test]
fn restore_verify() {
    let args = restore(pb::RestoreSpec {
        verify: true,
        ..Default::default()
    });
    assert!(has(&args, "--verify", None), "{args:?}");
    assert!(!has(&restore(Default::default()), "--verify", None));
}

#[test]
fn restore_limit_download_kib() {
    let args = restore(pb::RestoreSpec {
        limit_download_kib: 300,
        ..Default::default()
    });
    assert!(has(&args, "--limit-download", Some("300")), "{args:?}");
}

#[test]
fn restore_overwrite() {
    // restic's default is left unsaid, so restic before 0.17 (which has no
    // such flag) runs it as it always did.
    let always = restore(pb::RestoreSpec {
        overwrite: pb::RestoreOverwrite::Always as i32,
        ..Default::default()
    });
    assert!(!always.iter().any(|a| a == "--overwrite"), "{always:?}");
    assert!(
        !restore(Default::default())
            .iter()
            .any(|a| a == "--overwrite")
    );
    for (mode, spelled) in [
        (pb::RestoreOverwrite::IfChanged, "if-changed"),
        (pb::RestoreOverwrite::IfNewer, "if-newer"),
        (pb::RestoreOverwrite::Never, "never"),
    ] {
        let args = restore(pb::RestoreSpec {
            overwrite: mode as i32,
            ..Default::default()
        });
        assert!(has(&args, "--overwrite", Some(spelled)), "{args:?}");
    }
}

#[test]
fn restore_path_includes_excludes_and_target() {
    let args = restore(pb::RestoreSpec {
        path: "/etc".into(),
        includes: vec!["*.conf".into()],
        excludes: vec!["*.bak".into()],
        ..Default::default()
    });
    assert_eq!(&args[..4], ["restore", "03bfeb45", "--target", "/restore"]);
    assert!(has(&args, "--include", Some("*.conf")) && has(&args, "--include", Some("/etc")));
    assert!(has(&args, "--exclude", Some("*.bak")), "{args:?}");
}

#[test]
fn init_repository_version() {
    let init = |repository_version| argv(Spec::Init(pb::InitSpec { repository_version }));
    assert_eq!(init(0), ["init"]);
    assert_eq!(init(2), ["init", "--repository-version", "2"]);
    let three = pb::JobSpec {
        spec: Some(Spec::Init(pb::InitSpec {
            repository_version: 3,
        })),
    };
    assert!(operation(&three, None).is_err());
}

#[test]
fn backup_every_field() {
    let args = argv(Spec::Backup(pb::BackupSpec {
        paths: vec!["/srv".into()],
        excludes: vec!["*.tmp".into()],
        tags: vec!["nightly".into()],
        hooks: vec!["db".into()],
        limit_upload_kib: 100,
        limit_download_kib: 200,
    }));
    assert_eq!(
        args,
        [
            "backup",
            "--json",
            "--tag",
            "nightly",
            "--exclude",
            "*.tmp",
            "--limit-upload",
            "100",
            "--limit-download",
            "200",
            "--",
            "/srv"
        ],
        "hooks are the runner's, never restic's"
    );
}

#[test]
fn diff_metadata() {
    let diff = |metadata| {
        argv(Spec::Diff(pb::DiffSpec {
            snapshot_a: "aaaaaaaa".into(),
            snapshot_b: "bbbbbbbb".into(),
            metadata,
        }))
    };
    assert_eq!(
        diff(true),
        ["diff", "--json", "--metadata", "aaaaaaaa", "bbbbbbbb"]
    );
    assert_eq!(diff(false), ["diff", "--json", "aaaaaaaa", "bbbbbbbb"]);
}

#[test]
fn browse_snapshot_and_path() {
    let args = argv(Spec::Browse(pb::BrowseSpec {
        snapshot_id: "aaaaaaaa".into(),
        path: "/srv".into(),
    }));
    assert_eq!(args, ["ls", "--json", "aaaaaaaa", "--", "/srv"]);
}

#[test]
fn snapshot_ids_that_look_like_one_are_refused_and_case_is_one_id() {
    use crate::SnapshotRef;
    assert_eq!(
        SnapshotRef::new("AbCdEf12").map(|r| r.as_str().to_string()),
        Ok("abcdef12".to_string()),
        "hex in either case is one id"
    );
    for lookalike in [
        "ａｂｃｄｅｆ１２", // full-width
        "abcdef1\u{200B}2", // a zero-width space
        "abcdef12\0",
        "abcdef12 ",
        "Latest",
        "latest~1",
        "abcdef1",
        "0xabcdef12",
        "--latest",
    ] {
        assert!(SnapshotRef::new(lookalike).is_err(), "{lookalike:?}");
    }
}
