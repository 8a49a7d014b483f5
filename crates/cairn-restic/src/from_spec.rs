//! Typed job specs (`cairn-domain`), checked and turned into
//! [`Operation`]s. The server calls this to refuse a bad spec before it is
//! stored; the agent calls it again before running anything, trusting
//! nothing it receives.

use cairn_domain as d;

use crate::arg::{ArgError, SafeArg};
use crate::spec::{
    BackupSpec, CheckSpec, ForgetSpec, Grouping, Operation, PruneSpec, RestoreSpec,
    RetentionPolicy, SnapshotRef,
};

fn safe_all(field: &'static str, values: &[String]) -> Result<Vec<SafeArg>, ArgError> {
    values.iter().map(|v| SafeArg::new(field, v)).collect()
}

/// Tags: restic reads a comma as "and" inside one `--tag`, so one entry
/// holding a comma would mean something other than what the spec says.
fn tags(field: &'static str, values: &[String]) -> Result<Vec<SafeArg>, ArgError> {
    if values.iter().any(|t| t.contains(',')) {
        return Err(ArgError::Invalid {
            field,
            reason: "a tag cannot hold a comma".into(),
        });
    }
    safe_all(field, values)
}

fn nonzero(n: u32) -> Option<u32> {
    (n > 0).then_some(n)
}

fn invalid(field: &'static str, reason: &str) -> ArgError {
    ArgError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn span(field: &'static str, s: &Option<d::RetentionSpan>) -> Result<Option<SafeArg>, ArgError> {
    let Some(d::RetentionSpan {
        years,
        months,
        days,
        hours,
    }) = s
    else {
        return Ok(None);
    };
    let mut text = String::new();
    for (n, unit) in [(years, "y"), (months, "m"), (days, "d"), (hours, "h")] {
        if *n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    if text.is_empty() {
        Ok(None)
    } else {
        SafeArg::new(field, &text).map(Some)
    }
}

fn retention(p: &d::RetentionPolicy) -> Result<RetentionPolicy, ArgError> {
    let d::RetentionPolicy {
        keep_last,
        keep_hourly,
        keep_daily,
        keep_weekly,
        keep_monthly,
        keep_yearly,
        keep_within,
        keep_within_hourly,
        keep_within_daily,
        keep_within_weekly,
        keep_within_monthly,
        keep_within_yearly,
        keep_tags,
    } = p;
    let policy = RetentionPolicy {
        keep_last: nonzero(*keep_last),
        keep_hourly: nonzero(*keep_hourly),
        keep_daily: nonzero(*keep_daily),
        keep_weekly: nonzero(*keep_weekly),
        keep_monthly: nonzero(*keep_monthly),
        keep_yearly: nonzero(*keep_yearly),
        keep_within: span("keep_within", keep_within)?,
        keep_within_hourly: span("keep_within_hourly", keep_within_hourly)?,
        keep_within_daily: span("keep_within_daily", keep_within_daily)?,
        keep_within_weekly: span("keep_within_weekly", keep_within_weekly)?,
        keep_within_monthly: span("keep_within_monthly", keep_within_monthly)?,
        keep_within_yearly: span("keep_within_yearly", keep_within_yearly)?,
        keep_tags: tags("keep_tag", keep_tags)?,
    };
    if policy.is_empty() {
        return Err(invalid(
            "retention policy",
            "keeps nothing: set at least one keep rule",
        ));
    }
    Ok(policy)
}

fn forget(f: &d::ForgetSpec) -> Result<ForgetSpec, ArgError> {
    let d::ForgetSpec {
        policy,
        hostnames,
        tags: only_tags,
        paths,
        group_by,
        prune,
        dry_run,
    } = f;
    let Some(policy) = policy else {
        return Err(invalid("retention policy", "required"));
    };
    Ok(ForgetSpec {
        policy: retention(policy)?,
        hosts: safe_all("hostname", hostnames)?,
        tags: tags("tag", only_tags)?,
        paths: safe_all("path", paths)?,
        group_by: group_by.as_ref().map(
            |d::SnapshotGrouping {
                 by_host,
                 by_paths,
                 by_tags,
             }| Grouping {
                host: *by_host,
                paths: *by_paths,
                tags: *by_tags,
            },
        ),
        prune: *prune,
        dry_run: *dry_run,
    })
}

fn prune(p: &d::PruneSpec) -> Result<PruneSpec, ArgError> {
    let d::PruneSpec {
        max_unused,
        max_repack_bytes,
        dry_run,
    } = p;
    let max_unused = match max_unused {
        Some(d::MaxUnused::Percent(pct)) if (0.0..=100.0).contains(pct) => {
            Some(SafeArg::new("max_unused", &format!("{pct}%"))?)
        }
        Some(d::MaxUnused::SizeBytes(n)) => Some(SafeArg::new("max_unused", &n.to_string())?),
        Some(d::MaxUnused::Unlimited) => Some(SafeArg::new("max_unused", "unlimited")?),
        Some(d::MaxUnused::Percent(_)) => {
            return Err(invalid("max_unused", "percent must be 0 to 100"));
        }
        None => None,
    };
    Ok(PruneSpec {
        max_unused,
        max_repack_bytes: (*max_repack_bytes > 0).then_some(*max_repack_bytes),
        dry_run: *dry_run,
    })
}

fn check(c: &d::CheckSpec) -> Result<CheckSpec, ArgError> {
    let d::CheckSpec {
        read_all_data,
        read_data_subset,
    } = c;
    let subset = match read_data_subset {
        Some(d::ReadDataSubset::Percent(pct)) if *pct > 0.0 && *pct <= 100.0 => {
            Some(SafeArg::new("read_data_subset", &format!("{pct}%"))?)
        }
        Some(d::ReadDataSubset::Part { index, total })
            if *total > 0 && (1..=*total).contains(index) =>
        {
            Some(SafeArg::new(
                "read_data_subset",
                &format!("{index}/{total}"),
            )?)
        }
        Some(d::ReadDataSubset::SizeBytes(n)) if *n > 0 => {
            Some(SafeArg::new("read_data_subset", &n.to_string())?)
        }
        Some(_) => return Err(invalid("read_data_subset", "out of range")),
        None => None,
    };
    if *read_all_data && subset.is_some() {
        return Err(invalid(
            "check",
            "read_all_data and read_data_subset cannot both be set",
        ));
    }
    Ok(CheckSpec {
        read_data: *read_all_data,
        read_data_subset: subset,
    })
}

fn restore(r: &d::RestoreSpec, restore_target: Option<&str>) -> Result<RestoreSpec, ArgError> {
    let d::RestoreSpec {
        snapshot_id,
        path,
        includes,
        excludes,
        target_path,
        // Which host writes is the job's host; the server checks that it
        // matches, the agent has nothing to do with it.
        target_host_id: _,
        verify,
        limit_download_kib,
        overwrite,
    } = r;
    let snapshot = SnapshotRef::new(snapshot_id)?;
    let mut includes = safe_all("include", includes)?;
    if !path.is_empty() {
        includes.push(SafeArg::new("path", path)?);
    }
    let target = restore_target.unwrap_or(target_path);
    Ok(RestoreSpec {
        snapshot,
        target: SafeArg::new("target_path", target)?,
        includes,
        excludes: safe_all("exclude", excludes)?,
        verify: *verify,
        limit_download: nonzero(*limit_download_kib),
        overwrite: *overwrite,
    })
}

fn backup(b: &d::BackupSpec) -> Result<BackupSpec, ArgError> {
    let d::BackupSpec {
        paths,
        excludes,
        tags: snapshot_tags,
        // Hooks are names in the agent's own config: the agent's runner
        // looks them up and runs them around restic.
        hooks: _,
        limit_upload_kib,
        limit_download_kib,
    } = b;
    Ok(BackupSpec {
        paths: safe_all("path", paths)?,
        excludes: safe_all("exclude", excludes)?,
        tags: tags("tag", snapshot_tags)?,
        host: None,
        limit_upload: nonzero(*limit_upload_kib),
        limit_download: nonzero(*limit_download_kib),
    })
}

/// Checks a job spec and turns it into the operation to run. `restore_target`
/// is the already-resolved target directory for a restore (the agent resolves
/// it against its restore roots; the server passes the requested path).
///
/// Every spec is destructured without `..`: a field added to a spec does
/// not compile until it is mapped here.
pub fn operation(spec: &d::JobSpec, restore_target: Option<&str>) -> Result<Operation, ArgError> {
    Ok(match spec {
        d::JobSpec::Backup(b) => Operation::Backup(backup(b)?),
        d::JobSpec::Init(d::InitSpec { repository_version }) => Operation::Init {
            repository_version: match repository_version {
                0 => None,
                1 | 2 => Some(*repository_version),
                _ => return Err(invalid("repository_version", "must be 1 or 2 (or 0)")),
            },
        },
        d::JobSpec::Unlock(d::UnlockSpec { remove_all }) => {
            if *remove_all {
                return Err(invalid(
                    "unlock",
                    "removing all locks (including live ones) is never done from a job",
                ));
            }
            Operation::Unlock
        }
        d::JobSpec::Snapshots => Operation::Snapshots { host: None },
        d::JobSpec::Browse(d::BrowseSpec { snapshot_id, path }) => Operation::Ls {
            snapshot: SnapshotRef::new(snapshot_id)?,
            path: if path.is_empty() {
                None
            } else {
                Some(SafeArg::new("path", path)?)
            },
        },
        d::JobSpec::Diff(d::DiffSpec {
            snapshot_a,
            snapshot_b,
            metadata,
        }) => Operation::Diff {
            from: SnapshotRef::new(snapshot_a)?,
            to: SnapshotRef::new(snapshot_b)?,
            metadata: *metadata,
        },
        d::JobSpec::Restore(r) => Operation::Restore(restore(r, restore_target)?),
        d::JobSpec::Forget(f) => Operation::Forget(forget(f)?),
        d::JobSpec::Prune(p) => Operation::Prune(prune(p)?),
        d::JobSpec::Check(c) => Operation::Check(check(c)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(paths: &[&str], excludes: &[&str], tags: &[&str]) -> d::JobSpec {
        d::JobSpec::Backup(d::BackupSpec {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
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
        let unlock_all = d::JobSpec::Unlock(d::UnlockSpec { remove_all: true });
        assert!(operation(&unlock_all, None).is_err());
    }

    #[test]
    fn retention_spans_become_restic_durations() {
        let spec = d::JobSpec::Forget(d::ForgetSpec {
            policy: Some(d::RetentionPolicy {
                keep_daily: 7,
                keep_within: Some(d::RetentionSpan {
                    years: 1,
                    days: 2,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        let Operation::Forget(ForgetSpec { policy, .. }) = operation(&spec, None).expect("forget")
        else {
            panic!("forget")
        };
        assert_eq!(policy.keep_daily, Some(7));
        assert_eq!(
            policy.keep_within.map(|s| s.to_string()),
            Some("1y2d".to_string())
        );
    }
}
