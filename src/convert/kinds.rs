//! The vocabularies: domain enums ↔ protobuf enums, each pair listed once.

use cairn_domain::{
    AlertKind, AlertState, CatchUp, JobKind, JobStatus, LogLevel, LogStream, PendingState,
    RestoreOverwrite, Severity, Trigger,
};

use crate::v1 as pb;

/// Declares `to_pb` (total) and `from_pb` (`None` for a value the pairs do
/// not list, including "unspecified").
macro_rules! pairs {
    ($to:ident, $from:ident: $domain:ident => $wire:ident { $($d:ident = $w:ident),+ $(,)? }) => {
        /// The wire value of a domain value.
        pub fn $to(value: $domain) -> pb::$wire {
            match value {
                $($domain::$d => pb::$wire::$w,)+
            }
        }

        /// The domain value of a wire value, if it names one.
        pub fn $from(value: i32) -> Option<$domain> {
            match pb::$wire::try_from(value).ok()? {
                $(pb::$wire::$w => Some($domain::$d),)+
                #[allow(unreachable_patterns)]
                _ => None,
            }
        }
    };
}

pairs!(job_kind_to_pb, job_kind_from_pb: JobKind => JobKind {
    Backup = Backup, Forget = Forget, Prune = Prune, Check = Check, Restore = Restore,
    Init = Init, Unlock = Unlock, Snapshots = Snapshots, Browse = Browse, Diff = Diff,
});

pairs!(job_status_to_pb, job_status_from_pb: JobStatus => JobStatus {
    Queued = Queued, Dispatched = Dispatched, Running = Running, Succeeded = Succeeded,
    Failed = Failed, Cancelled = Cancelled, Lost = Lost,
});

pairs!(trigger_to_pb, trigger_from_pb: Trigger => JobTrigger {
    Manual = Manual, Api = Api, Schedule = Schedule, CatchUp = CatchUp, Maintenance = Maintenance,
});

pairs!(alert_kind_to_pb, alert_kind_from_pb: AlertKind => AlertKind {
    JobFailed = JobFailed, HostOffline = HostOffline, BackupOverdue = BackupOverdue,
    CheckFailed = CheckFailed, MissedRuns = MissedRuns, RepoUnreachable = RepoUnreachable,
    Anomaly = Anomaly, StorageFailing = StorageFailing,
});

pairs!(alert_state_to_pb, alert_state_from_pb: AlertState => AlertState {
    Firing = Firing, Acknowledged = Acknowledged, Resolved = Resolved,
});

pairs!(alert_severity_to_pb, alert_severity_from_pb: Severity => AlertSeverity {
    Info = Info, Warning = Warning, Critical = Critical,
});

pairs!(catch_up_to_pb, catch_up_from_pb: CatchUp => CatchUpPolicy {
    Once = Once, Skip = Skip, All = All,
});

pairs!(pending_state_to_pb, pending_state_from_pb: PendingState => PendingRunState {
    Missed = Missed, Queued = Queued, Drained = Drained, Skipped = Skipped,
});

pairs!(log_stream_to_pb, log_stream_wire: LogStream => JobLogStream {
    Stdout = Stdout, Stderr = Stderr, Agent = Agent,
});

pairs!(log_level_to_pb, log_level_wire: LogLevel => JobLogLevel {
    Debug = Debug, Info = Info, Warn = Warn, Error = Error,
});

pairs!(overwrite_to_pb, overwrite_wire: RestoreOverwrite => RestoreOverwrite {
    Always = Always, IfChanged = IfChanged, IfNewer = IfNewer, Never = Never,
});

/// A restore's overwrite mode: unset is `Always` (what a sender that
/// predates the field means); `None` for a value this build does not know,
/// which the caller refuses rather than guess at.
pub fn overwrite_from_pb(value: i32) -> Option<RestoreOverwrite> {
    if value == pb::RestoreOverwrite::Unspecified as i32 {
        return Some(RestoreOverwrite::Always);
    }
    overwrite_wire(value)
}

/// A log line's stream; unset or unknown is the agent's own.
pub fn log_stream_from_pb(value: i32) -> LogStream {
    log_stream_wire(value).unwrap_or(LogStream::Agent)
}

/// A log line's level; unset or unknown is `info`.
pub fn log_level_from_pb(value: i32) -> LogLevel {
    log_level_wire(value).unwrap_or(LogLevel::Info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_value_has_a_wire_value_that_maps_back() {
        for c in CatchUp::ALL {
            assert_eq!(catch_up_from_pb(catch_up_to_pb(*c) as i32), Some(*c));
        }
        for s in LogStream::ALL {
            assert_eq!(log_stream_from_pb(log_stream_to_pb(*s) as i32), *s);
        }
        for l in LogLevel::ALL {
            assert_eq!(log_level_from_pb(log_level_to_pb(*l) as i32), *l);
        }
        for o in RestoreOverwrite::ALL {
            assert_eq!(overwrite_from_pb(overwrite_to_pb(*o) as i32), Some(*o));
        }
        assert_eq!(overwrite_from_pb(0), Some(RestoreOverwrite::Always));
        assert_eq!(
            overwrite_from_pb(99),
            None,
            "an unknown mode is not guessed"
        );
        assert_eq!(catch_up_from_pb(0), None, "unspecified is not a policy");
        assert_eq!(log_level_from_pb(99), LogLevel::Info);
        assert_eq!(log_stream_from_pb(0), LogStream::Agent);
    }
}
