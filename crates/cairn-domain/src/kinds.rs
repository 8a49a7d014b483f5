//! The small vocabularies of jobs and schedules, each defined once: its
//! variants, its stored spelling, and its parsing.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary: the enum, its spellings (`as_str`,
/// `parse`, `ALL`), `Display`, and serde as the same spellings.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses the stored spelling.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What a job does: one restic operation.
    JobKind {
        Backup = "backup",
        Forget = "forget",
        Prune = "prune",
        Check = "check",
        Restore = "restore",
        Init = "init",
        Unlock = "unlock",
        Snapshots = "snapshots",
        Browse = "browse",
        Diff = "diff",
    }
}

vocabulary! {
    /// Where a job is in its life:
    /// `queued → dispatched → running → succeeded | failed | cancelled | lost`.
    JobStatus {
        Queued = "queued",
        Dispatched = "dispatched",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Lost = "lost",
    }
}

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Lost
        )
    }
}

vocabulary! {
    /// Who or what made a job.
    Trigger {
        /// An operator in the web UI.
        Manual = "manual",
        /// A script or `cairn ctl` through the API.
        Api = "api",
        /// A schedule's firing.
        Schedule = "schedule",
        /// A missed firing, drained when its host came back.
        CatchUp = "catch_up",
        /// The maintenance ticker.
        Maintenance = "maintenance",
    }
}

vocabulary! {
    /// What happens to a schedule's firings missed while its host was away.
    CatchUp {
        /// Run once for all of them.
        Once = "once",
        /// Run none.
        Skip = "skip",
        /// Run each (bounded by the server).
        All = "all",
    }
}

vocabulary! {
    /// The stream a job's log line came from.
    LogStream {
        Stdout = "stdout",
        Stderr = "stderr",
        /// The agent itself ("running hook db-dump").
        Agent = "agent",
    }
}

vocabulary! {
    /// How serious a log line is.
    LogLevel {
        Debug = "debug",
        Info = "info",
        Warn = "warn",
        Error = "error",
    }
}

vocabulary! {
    /// Where a missed schedule firing stands.
    PendingState {
        /// Missed; waiting for its host.
        Missed = "missed",
        /// A catch-up job was made for it.
        Queued = "queued",
        /// Folded into another firing's catch-up run.
        Drained = "drained",
        /// Dropped by the catch-up policy.
        Skipped = "skipped",
    }
}

vocabulary! {
    /// What a restore does with a file already at the target: restic
    /// 0.17's `restore --overwrite`, spelled as restic spells it. restic
    /// before 0.17 has no such flag and always overwrites, so `Always` is
    /// the default: a spec stored or sent before the field existed means
    /// what it always did.
    #[derive(Default)]
    RestoreOverwrite {
        /// Replace a file of the same name (restic's default).
        #[default]
        Always = "always",
        /// Replace it only when its content differs (restic first trusts a
        /// matching size and modification time).
        IfChanged = "if-changed",
        /// Replace it only when the snapshot's copy is newer (mtime).
        IfNewer = "if-newer",
        /// Never replace it: keep what is there.
        Never = "never",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips_and_unknown_ones_are_refused() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(*kind));
        }
        for trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(&trigger.to_string()), Some(*trigger));
        }
        assert_eq!(JobKind::parse("Backup"), None);
        assert_eq!(CatchUp::parse(""), None);
        for mode in RestoreOverwrite::ALL {
            assert_eq!(RestoreOverwrite::parse(mode.as_str()), Some(*mode));
        }
        assert_eq!(RestoreOverwrite::default(), RestoreOverwrite::Always);
        assert_eq!(RestoreOverwrite::parse("if_changed"), None);
    }

    #[test]
    fn serde_uses_the_stored_spelling() {
        let text = serde_json::to_string(&Trigger::CatchUp).expect("serializes");
        assert_eq!(text, "\"catch_up\"");
        let back: LogLevel = serde_json::from_str("\"warn\"").expect("deserializes");
        assert_eq!(back, LogLevel::Warn);
    }
}

vocabulary! {
    /// What an alert is about; one rule per kind.
    AlertKind {
        /// A job failed or was lost.
        JobFailed = "job_failed",
        /// A host has shown no sign of life for longer than its threshold.
        HostOffline = "host_offline",
        /// A schedule has not succeeded within N times its interval.
        BackupOverdue = "backup_overdue",
        /// A repository check failed.
        CheckFailed = "check_failed",
        /// A host has missed schedule firings waiting.
        MissedRuns = "missed_runs",
        /// A repository could not be reached (network, credentials, missing).
        RepoUnreachable = "repo_unreachable",
        /// A backup far outside its schedule's usual size, file count or
        /// duration.
        Anomaly = "anomaly",
        /// The server cannot write its database (the disk is full, an I/O
        /// error, a read-only mount): one alert for the whole server.
        StorageFailing = "storage_failing",
    }
}

vocabulary! {
    /// Where an alert stands: `firing ⇄ acknowledged → resolved`.
    AlertState {
        Firing = "firing",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
    }
}

vocabulary! {
    /// How urgent an alert is, lowest first (so `>=` means "at least").
    Severity {
        Info = "info",
        Warning = "warning",
        Critical = "critical",
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |s: &Severity| Severity::ALL.iter().position(|v| v == s);
        rank(self).cmp(&rank(other))
    }
}
