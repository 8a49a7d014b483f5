//! Job specs: domain ↔ protobuf. Every message is destructured without
//! `..`, so a field added on either side does not compile until it is
//! mapped here.

use cairn_domain::{
    BackupSpec, BrowseSpec, CheckSpec, DiffSpec, ForgetSpec, InitSpec, JobSpec, MaxUnused,
    PruneSpec, ReadDataSubset, RestoreOverwrite, RestoreSpec, RetentionPolicy, RetentionSpan,
    SnapshotGrouping, UnlockSpec,
};

use super::kinds::{overwrite_from_pb, overwrite_to_pb};
use crate::v1 as pb;
use crate::v1::job_spec::Spec;

/// A spec from the wire; `None` for an empty spec (no operation set).
pub fn spec_from_pb(spec: &pb::JobSpec) -> Option<JobSpec> {
    Some(match spec.spec.as_ref()? {
        Spec::Backup(b) => JobSpec::Backup(backup_from_pb(b)),
        Spec::Forget(f) => JobSpec::Forget(forget_from_pb(f)),
        Spec::Prune(p) => JobSpec::Prune(prune_from_pb(p)),
        Spec::Check(c) => JobSpec::Check(check_from_pb(c)),
        Spec::Restore(r) => JobSpec::Restore(restore_from_pb(r)),
        Spec::Init(pb::InitSpec { repository_version }) => JobSpec::Init(InitSpec {
            repository_version: *repository_version,
        }),
        Spec::Unlock(pb::UnlockSpec { remove_all }) => JobSpec::Unlock(UnlockSpec {
            remove_all: *remove_all,
        }),
        Spec::Snapshots(pb::SnapshotsSpec {}) => JobSpec::Snapshots,
        Spec::Browse(pb::BrowseSpec { snapshot_id, path }) => JobSpec::Browse(BrowseSpec {
            snapshot_id: snapshot_id.clone(),
            path: path.clone(),
        }),
        Spec::Diff(pb::DiffSpec {
            snapshot_a,
            snapshot_b,
            metadata,
        }) => JobSpec::Diff(DiffSpec {
            snapshot_a: snapshot_a.clone(),
            snapshot_b: snapshot_b.clone(),
            metadata: *metadata,
        }),
    })
}

/// A spec for the wire.
pub fn spec_to_pb(spec: &JobSpec) -> pb::JobSpec {
    let spec = match spec {
        JobSpec::Backup(b) => Spec::Backup(backup_to_pb(b)),
        JobSpec::Forget(f) => Spec::Forget(forget_to_pb(f)),
        JobSpec::Prune(p) => Spec::Prune(prune_to_pb(p)),
        JobSpec::Check(c) => Spec::Check(check_to_pb(c)),
        JobSpec::Restore(r) => Spec::Restore(restore_to_pb(r)),
        JobSpec::Init(InitSpec { repository_version }) => Spec::Init(pb::InitSpec {
            repository_version: *repository_version,
        }),
        JobSpec::Unlock(UnlockSpec { remove_all }) => Spec::Unlock(pb::UnlockSpec {
            remove_all: *remove_all,
        }),
        JobSpec::Snapshots => Spec::Snapshots(pb::SnapshotsSpec {}),
        JobSpec::Browse(BrowseSpec { snapshot_id, path }) => Spec::Browse(pb::BrowseSpec {
            snapshot_id: snapshot_id.clone(),
            path: path.clone(),
        }),
        JobSpec::Diff(DiffSpec {
            snapshot_a,
            snapshot_b,
            metadata,
        }) => Spec::Diff(pb::DiffSpec {
            snapshot_a: snapshot_a.clone(),
            snapshot_b: snapshot_b.clone(),
            metadata: *metadata,
        }),
    };
    pb::JobSpec { spec: Some(spec) }
}

fn backup_from_pb(b: &pb::BackupSpec) -> BackupSpec {
    let pb::BackupSpec {
        paths,
        excludes,
        tags,
        hooks,
        limit_upload_kib,
        limit_download_kib,
    } = b;
    BackupSpec {
        paths: paths.clone(),
        excludes: excludes.clone(),
        tags: tags.clone(),
        hooks: hooks.clone(),
        limit_upload_kib: *limit_upload_kib,
        limit_download_kib: *limit_download_kib,
    }
}

fn backup_to_pb(b: &BackupSpec) -> pb::BackupSpec {
    let BackupSpec {
        paths,
        excludes,
        tags,
        hooks,
        limit_upload_kib,
        limit_download_kib,
    } = b;
    pb::BackupSpec {
        paths: paths.clone(),
        excludes: excludes.clone(),
        tags: tags.clone(),
        hooks: hooks.clone(),
        limit_upload_kib: *limit_upload_kib,
        limit_download_kib: *limit_download_kib,
    }
}

fn span_from_pb(s: &pb::RetentionSpan) -> RetentionSpan {
    let pb::RetentionSpan {
        years,
        months,
        days,
        hours,
    } = *s;
    RetentionSpan {
        years,
        months,
        days,
        hours,
    }
}

fn span_to_pb(s: &RetentionSpan) -> pb::RetentionSpan {
    let RetentionSpan {
        years,
        months,
        days,
        hours,
    } = *s;
    pb::RetentionSpan {
        years,
        months,
        days,
        hours,
    }
}

/// A retention policy from the wire.
pub fn retention_from_pb(p: &pb::RetentionPolicy) -> RetentionPolicy {
    let pb::RetentionPolicy {
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
    RetentionPolicy {
        keep_last: *keep_last,
        keep_hourly: *keep_hourly,
        keep_daily: *keep_daily,
        keep_weekly: *keep_weekly,
        keep_monthly: *keep_monthly,
        keep_yearly: *keep_yearly,
        keep_within: keep_within.as_ref().map(span_from_pb),
        keep_within_hourly: keep_within_hourly.as_ref().map(span_from_pb),
        keep_within_daily: keep_within_daily.as_ref().map(span_from_pb),
        keep_within_weekly: keep_within_weekly.as_ref().map(span_from_pb),
        keep_within_monthly: keep_within_monthly.as_ref().map(span_from_pb),
        keep_within_yearly: keep_within_yearly.as_ref().map(span_from_pb),
        keep_tags: keep_tags.clone(),
    }
}

/// A retention policy for the wire.
pub fn retention_to_pb(p: &RetentionPolicy) -> pb::RetentionPolicy {
    let RetentionPolicy {
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
    pb::RetentionPolicy {
        keep_last: *keep_last,
        keep_hourly: *keep_hourly,
        keep_daily: *keep_daily,
        keep_weekly: *keep_weekly,
        keep_monthly: *keep_monthly,
        keep_yearly: *keep_yearly,
        keep_within: keep_within.as_ref().map(span_to_pb),
        keep_within_hourly: keep_within_hourly.as_ref().map(span_to_pb),
        keep_within_daily: keep_within_daily.as_ref().map(span_to_pb),
        keep_within_weekly: keep_within_weekly.as_ref().map(span_to_pb),
        keep_within_monthly: keep_within_monthly.as_ref().map(span_to_pb),
        keep_within_yearly: keep_within_yearly.as_ref().map(span_to_pb),
        keep_tags: keep_tags.clone(),
    }
}

fn grouping_from_pb(g: &pb::SnapshotGrouping) -> SnapshotGrouping {
    let pb::SnapshotGrouping {
        by_host,
        by_paths,
        by_tags,
    } = *g;
    SnapshotGrouping {
        by_host,
        by_paths,
        by_tags,
    }
}

fn grouping_to_pb(g: &SnapshotGrouping) -> pb::SnapshotGrouping {
    let SnapshotGrouping {
        by_host,
        by_paths,
        by_tags,
    } = *g;
    pb::SnapshotGrouping {
        by_host,
        by_paths,
        by_tags,
    }
}

fn forget_from_pb(f: &pb::ForgetSpec) -> ForgetSpec {
    let pb::ForgetSpec {
        policy,
        hostnames,
        tags,
        paths,
        group_by,
        prune,
        dry_run,
    } = f;
    ForgetSpec {
        policy: policy.as_ref().map(retention_from_pb),
        hostnames: hostnames.clone(),
        tags: tags.clone(),
        paths: paths.clone(),
        group_by: group_by.as_ref().map(grouping_from_pb),
        prune: *prune,
        dry_run: *dry_run,
    }
}

fn forget_to_pb(f: &ForgetSpec) -> pb::ForgetSpec {
    let ForgetSpec {
        policy,
        hostnames,
        tags,
        paths,
        group_by,
        prune,
        dry_run,
    } = f;
    pb::ForgetSpec {
        policy: policy.as_ref().map(retention_to_pb),
        hostnames: hostnames.clone(),
        tags: tags.clone(),
        paths: paths.clone(),
        group_by: group_by.as_ref().map(grouping_to_pb),
        prune: *prune,
        dry_run: *dry_run,
    }
}

/// `max_unused` from the wire; unset (or `unlimited: false`) is `None`.
pub fn max_unused_from_pb(m: &pb::MaxUnused) -> Option<MaxUnused> {
    match m.limit? {
        pb::max_unused::Limit::Percent(p) => Some(MaxUnused::Percent(p)),
        pb::max_unused::Limit::SizeBytes(n) => Some(MaxUnused::SizeBytes(n)),
        pb::max_unused::Limit::Unlimited(true) => Some(MaxUnused::Unlimited),
        pb::max_unused::Limit::Unlimited(false) => None,
    }
}

/// `max_unused` for the wire.
pub fn max_unused_to_pb(m: &MaxUnused) -> pb::MaxUnused {
    let limit = match *m {
        MaxUnused::Percent(p) => pb::max_unused::Limit::Percent(p),
        MaxUnused::SizeBytes(n) => pb::max_unused::Limit::SizeBytes(n),
        MaxUnused::Unlimited => pb::max_unused::Limit::Unlimited(true),
    };
    pb::MaxUnused { limit: Some(limit) }
}

fn prune_from_pb(p: &pb::PruneSpec) -> PruneSpec {
    let pb::PruneSpec {
        max_unused,
        max_repack_bytes,
        dry_run,
    } = p;
    PruneSpec {
        max_unused: max_unused.as_ref().and_then(max_unused_from_pb),
        max_repack_bytes: *max_repack_bytes,
        dry_run: *dry_run,
    }
}

fn prune_to_pb(p: &PruneSpec) -> pb::PruneSpec {
    let PruneSpec {
        max_unused,
        max_repack_bytes,
        dry_run,
    } = p;
    pb::PruneSpec {
        max_unused: max_unused.as_ref().map(max_unused_to_pb),
        max_repack_bytes: *max_repack_bytes,
        dry_run: *dry_run,
    }
}

/// `read_data_subset` from the wire; unset is `None`.
pub fn check_subset_from_pb(s: &pb::ReadDataSubset) -> Option<ReadDataSubset> {
    Some(match s.subset? {
        pb::read_data_subset::Subset::Percent(p) => ReadDataSubset::Percent(p),
        pb::read_data_subset::Subset::SizeBytes(n) => ReadDataSubset::SizeBytes(n),
        pb::read_data_subset::Subset::Part(pb::DataSubsetPart { index, total }) => {
            ReadDataSubset::Part { index, total }
        }
    })
}

/// `read_data_subset` for the wire.
pub fn check_subset_to_pb(s: &ReadDataSubset) -> pb::ReadDataSubset {
    let subset = match *s {
        ReadDataSubset::Percent(p) => pb::read_data_subset::Subset::Percent(p),
        ReadDataSubset::SizeBytes(n) => pb::read_data_subset::Subset::SizeBytes(n),
        ReadDataSubset::Part { index, total } => {
            pb::read_data_subset::Subset::Part(pb::DataSubsetPart { index, total })
        }
    };
    pb::ReadDataSubset {
        subset: Some(subset),
    }
}

fn check_from_pb(c: &pb::CheckSpec) -> CheckSpec {
    let pb::CheckSpec {
        read_all_data,
        read_data_subset,
    } = c;
    CheckSpec {
        read_all_data: *read_all_data,
        read_data_subset: read_data_subset.as_ref().and_then(check_subset_from_pb),
    }
}

fn check_to_pb(c: &CheckSpec) -> pb::CheckSpec {
    let CheckSpec {
        read_all_data,
        read_data_subset,
    } = c;
    pb::CheckSpec {
        read_all_data: *read_all_data,
        read_data_subset: read_data_subset.as_ref().map(check_subset_to_pb),
    }
}

fn restore_from_pb(r: &pb::RestoreSpec) -> RestoreSpec {
    let pb::RestoreSpec {
        snapshot_id,
        path,
        includes,
        excludes,
        target_path,
        target_host_id,
        verify,
        limit_download_kib,
        overwrite,
    } = r;
    RestoreSpec {
        snapshot_id: snapshot_id.clone(),
        path: path.clone(),
        includes: includes.clone(),
        excludes: excludes.clone(),
        target_path: target_path.clone(),
        target_host_id: *target_host_id,
        verify: *verify,
        limit_download_kib: *limit_download_kib,
        // A mode this build does not know becomes the one that loses
        // nothing; the agent refuses such a job before it gets here.
        overwrite: overwrite_from_pb(*overwrite).unwrap_or(RestoreOverwrite::Never),
    }
}

fn restore_to_pb(r: &RestoreSpec) -> pb::RestoreSpec {
    let RestoreSpec {
        snapshot_id,
        path,
        includes,
        excludes,
        target_path,
        target_host_id,
        verify,
        limit_download_kib,
        overwrite,
    } = r;
    pb::RestoreSpec {
        snapshot_id: snapshot_id.clone(),
        path: path.clone(),
        includes: includes.clone(),
        excludes: excludes.clone(),
        target_path: target_path.clone(),
        target_host_id: *target_host_id,
        verify: *verify,
        limit_download_kib: *limit_download_kib,
        overwrite: overwrite_to_pb(*overwrite) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_spec_round_trips_through_the_wire() {
        let specs = [
            JobSpec::Backup(BackupSpec {
                paths: vec!["/srv".into()],
                tags: vec!["nightly".into()],
                limit_upload_kib: 100,
                ..Default::default()
            }),
            JobSpec::Forget(ForgetSpec {
                policy: Some(RetentionPolicy {
                    keep_daily: 7,
                    keep_within: Some(RetentionSpan {
                        years: 1,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                group_by: Some(SnapshotGrouping {
                    by_host: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            JobSpec::Prune(PruneSpec {
                max_unused: Some(MaxUnused::Percent(5.0)),
                ..Default::default()
            }),
            JobSpec::Check(CheckSpec {
                read_data_subset: Some(ReadDataSubset::Part { index: 1, total: 7 }),
                ..Default::default()
            }),
            JobSpec::Restore(RestoreSpec {
                snapshot_id: "latest".into(),
                target_path: "/restore".into(),
                ..Default::default()
            }),
            JobSpec::Restore(RestoreSpec {
                snapshot_id: "latest".into(),
                target_path: "/restore".into(),
                overwrite: RestoreOverwrite::IfNewer,
                ..Default::default()
            }),
            JobSpec::Init(InitSpec {
                repository_version: 2,
            }),
            JobSpec::Unlock(UnlockSpec::default()),
            JobSpec::Snapshots,
            JobSpec::Browse(BrowseSpec {
                snapshot_id: "abcdef12".into(),
                path: "/etc".into(),
            }),
            JobSpec::Diff(DiffSpec {
                snapshot_a: "abcdef12".into(),
                snapshot_b: "12abcdef".into(),
                metadata: true,
            }),
        ];
        for spec in specs {
            assert_eq!(spec_from_pb(&spec_to_pb(&spec)), Some(spec.clone()));
        }
        assert_eq!(spec_from_pb(&pb::JobSpec { spec: None }), None);
    }

    #[test]
    fn a_restore_without_an_overwrite_mode_overwrites_and_an_unknown_one_keeps() {
        let mode = |overwrite: i32| {
            let wire = pb::JobSpec {
                spec: Some(Spec::Restore(pb::RestoreSpec {
                    snapshot_id: "latest".into(),
                    overwrite,
                    ..Default::default()
                })),
            };
            match spec_from_pb(&wire) {
                Some(JobSpec::Restore(r)) => r.overwrite,
                other => panic!("not a restore: {other:?}"),
            }
        };
        assert_eq!(
            mode(0),
            RestoreOverwrite::Always,
            "a sender from before the field"
        );
        assert_eq!(
            mode(pb::RestoreOverwrite::Never as i32),
            RestoreOverwrite::Never
        );
        assert_eq!(
            mode(99),
            RestoreOverwrite::Never,
            "unknown: nothing is lost"
        );
    }
}
