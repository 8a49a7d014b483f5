//! The agent protocol's typed job specs, checked and turned into
//! [`Operation`]s. The server calls this to refuse a bad spec before it is
//! stored; the agent calls it again before running anything, trusting
//! nothing it receives.

use cairn_proto::v1 as pb;
use cairn_proto::v1::job_spec::Spec;

use crate::arg::{ArgError, SafeArg};
use crate::spec::{BackupSpec, Operation, RestoreSpec, RetentionPolicy, SnapshotRef};

fn safe_all(field: &'static str, values: &[String]) -> Result<Vec<SafeArg>, ArgError> {
    values.iter().map(|v| SafeArg::new(field, v)).collect()
}

fn nonzero(n: u32) -> Option<u32> {
    (n > 0).then_some(n)
}

fn span(s: &Option<pb::RetentionSpan>) -> Result<Option<SafeArg>, ArgError> {
    let Some(s) = s else { return Ok(None) };
    let mut text = String::new();
    for (n, unit) in [
        (s.years, "y"),
        (s.months, "m"),
        (s.days, "d"),
        (s.hours, "h"),
    ] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    if text.is_empty() {
        Ok(None)
    } else {
        SafeArg::new("keep_within", &text).map(Some)
    }
}

/// Checks a job spec and turns it into the operation to run. `restore_target`
/// is the already-resolved target directory for a restore (the agent resolves
/// it against its restore roots; the server passes the requested path).
pub fn operation(spec: &pb::JobSpec, restore_target: Option<&str>) -> Result<Operation, ArgError> {
    let Some(spec) = &spec.spec else {
        return Err(ArgError::Invalid {
            field: "spec",
            reason: "empty job spec".into(),
        });
    };
    Ok(match spec {
        Spec::Backup(b) => Operation::Backup(BackupSpec {
            paths: safe_all("path", &b.paths)?,
            excludes: safe_all("exclude", &b.excludes)?,
            tags: safe_all("tag", &b.tags)?,
            host: None,
            limit_upload: nonzero(b.limit_upload_kib),
            limit_download: nonzero(b.limit_download_kib),
        }),
        Spec::Init(_) => Operation::Init,
        Spec::Unlock(u) => {
            if u.remove_all {
                return Err(ArgError::Invalid {
                    field: "unlock",
                    reason: "removing all locks (including live ones) is never done from a job"
                        .into(),
                });
            }
            Operation::Unlock
        }
        Spec::Snapshots(_) => Operation::Snapshots { host: None },
        Spec::Browse(b) => Operation::Ls {
            snapshot: SnapshotRef::new(&b.snapshot_id)?,
            path: if b.path.is_empty() {
                None
            } else {
                Some(SafeArg::new("path", &b.path)?)
            },
        },
        Spec::Diff(d) => Operation::Diff {
            from: SnapshotRef::new(&d.snapshot_a)?,
            to: SnapshotRef::new(&d.snapshot_b)?,
        },
        Spec::Restore(r) => {
            let snapshot = SnapshotRef::new(&r.snapshot_id)?;
            let mut includes = safe_all("include", &r.includes)?;
            if !r.path.is_empty() {
                includes.push(SafeArg::new("path", &r.path)?);
            }
            let target = restore_target.unwrap_or(&r.target_path);
            Operation::Restore(RestoreSpec {
                snapshot,
                target: SafeArg::new("target_path", target)?,
                includes,
                excludes: safe_all("exclude", &r.excludes)?,
            })
        }
        Spec::Forget(f) => {
            let p = f.policy.clone().unwrap_or_default();
            let policy = RetentionPolicy {
                keep_last: nonzero(p.keep_last),
                keep_hourly: nonzero(p.keep_hourly),
                keep_daily: nonzero(p.keep_daily),
                keep_weekly: nonzero(p.keep_weekly),
                keep_monthly: nonzero(p.keep_monthly),
                keep_yearly: nonzero(p.keep_yearly),
                keep_within: span(&p.keep_within)?,
                keep_tags: safe_all("keep_tag", &p.keep_tags)?,
            };
            if policy.is_empty() {
                return Err(ArgError::Invalid {
                    field: "retention policy",
                    reason: "keeps nothing: set at least one keep rule".into(),
                });
            }
            Operation::Forget { policy, host: None }
        }
        Spec::Prune(p) => Operation::Prune {
            max_unused: match p.max_unused.as_ref().and_then(|m| m.limit.as_ref()) {
                Some(pb::max_unused::Limit::Percent(pct)) if (0.0..=100.0).contains(pct) => {
                    Some(SafeArg::new("max_unused", &format!("{pct}%"))?)
                }
                Some(pb::max_unused::Limit::SizeBytes(n)) => {
                    Some(SafeArg::new("max_unused", &n.to_string())?)
                }
                Some(pb::max_unused::Limit::Unlimited(true)) => {
                    Some(SafeArg::new("max_unused", "unlimited")?)
                }
                Some(pb::max_unused::Limit::Percent(_)) => {
                    return Err(ArgError::Invalid {
                        field: "max_unused",
                        reason: "percent must be 0 to 100".into(),
                    });
                }
                _ => None,
            },
        },
        Spec::Check(c) => Operation::Check {
            read_data_subset: match c.read_data_subset.as_ref().and_then(|s| s.subset.as_ref()) {
                Some(pb::read_data_subset::Subset::Percent(pct)) if *pct > 0.0 && *pct <= 100.0 => {
                    Some(SafeArg::new("read_data_subset", &format!("{pct}%"))?)
                }
                Some(pb::read_data_subset::Subset::Part(part))
                    if part.total > 0 && (1..=part.total).contains(&part.index) =>
                {
                    Some(SafeArg::new(
                        "read_data_subset",
                        &format!("{}/{}", part.index, part.total),
                    )?)
                }
                Some(pb::read_data_subset::Subset::SizeBytes(n)) if *n > 0 => {
                    Some(SafeArg::new("read_data_subset", &n.to_string())?)
                }
                Some(_) => {
                    return Err(ArgError::Invalid {
                        field: "read_data_subset",
                        reason: "out of range".into(),
                    });
                }
                None => None,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(paths: &[&str], excludes: &[&str], tags: &[&str]) -> pb::JobSpec {
        pb::JobSpec {
            spec: Some(Spec::Backup(pb::BackupSpec {
                paths: paths.iter().map(|s| s.to_string()).collect(),
                excludes: excludes.iter().map(|s| s.to_string()).collect(),
                tags: tags.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn injection_in_any_field_is_refused() {
        for spec in [
            backup(&["--password-command=sh -c id"], &[], &[]),
            backup(&["/ok"], &["-o sftp.command=evil"], &[]),
            backup(&["/ok"], &[], &["nightly\n--insecure-tls"]),
            backup(&["/ok", "-x"], &[], &[]),
        ] {
            assert!(operation(&spec, None).is_err(), "{spec:?}");
        }
        assert!(operation(&backup(&["/srv"], &["*.tmp"], &["nightly"]), None).is_ok());
        let unlock_all = pb::JobSpec {
            spec: Some(Spec::Unlock(pb::UnlockSpec { remove_all: true })),
        };
        assert!(operation(&unlock_all, None).is_err());
        assert!(operation(&pb::JobSpec { spec: None }, None).is_err());
    }

    #[test]
    fn retention_spans_become_restic_durations() {
        let spec = pb::JobSpec {
            spec: Some(Spec::Forget(pb::ForgetSpec {
                policy: Some(pb::RetentionPolicy {
                    keep_daily: 7,
                    keep_within: Some(pb::RetentionSpan {
                        years: 1,
                        days: 2,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })),
        };
        let Operation::Forget { policy, .. } = operation(&spec, None).expect("forget") else {
            panic!("forget")
        };
        assert_eq!(policy.keep_daily, Some(7));
        assert_eq!(
            policy.keep_within.map(|s| s.to_string()),
            Some("1y2d".to_string())
        );
    }
}
