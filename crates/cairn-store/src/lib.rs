//! Cairn's store: the SQLite schema, typed queries over newtype IDs, and one
//! writer that commits whatever is queued in a single transaction.
//!
//! The store knows nothing of gRPC or HTML. Reads go through a few reader
//! connections; every write goes through [`Writer`], which batches concurrent
//! writes into one transaction (group commit) so that a burst of log lines
//! costs one fsync, not thousands.
//!
//! Durability: WAL mode with `synchronous=FULL` — a write whose future has
//! resolved survives a process kill and a power cut. See `docs/store.md`.

#![forbid(unsafe_code)]

mod agent_seq;
mod alert_inputs;
mod alerts;
mod audit;
mod backup;
pub mod codec;
mod enrollment;
mod error;
mod gauges;
mod history;
mod hosts;
mod ids;
mod job_logs;
mod job_reports;
mod jobs;
mod maintenance;
mod migrations;
mod notifications;
mod open;
mod page;
mod pending;
mod repositories;
mod reserve;
mod schedules;
mod settings;
mod snapshots;
mod tokens;
mod upgrade;
mod users;
mod writer;

pub use agent_seq::schedules_applied;
pub use alert_inputs::{
    NewSilence, OUTCOME_HORIZON_MS, RecentEnd, Silence, WatchedHost, WatchedSchedule,
};
pub use alerts::{
    Alert, AlertFilter, AlertKind, AlertOverride, AlertRule, AlertState, NewAlert, OverrideTarget,
    RuleChange, Severity,
};
pub use audit::{ActorKind, AuditEntry, AuditFilter, AuditRecord, Outcome};
pub use backup::{DatabaseCopy, copy_database};
pub use enrollment::{EnrollmentCheck, EnrollmentToken, NewEnrollmentToken};
pub use error::{StoreError, StoreResult};
pub use gauges::{Gauges, LastBackup};
pub use history::{BackupDay, DAY_MS, LastBackups};
pub use hosts::{Announce, Announced, Host, HostFacts, HostFilter, HostIds, HostStatus};
pub use ids::{
    ApiTokenId, AuditId, ChannelId, DeliveryId, EnrollmentTokenId, HostId, JobId, RepositoryId,
    ScheduleId, SessionId, UserId,
};
pub use job_logs::{
    LOG_PAGE_DEFAULT, LOG_PAGE_MAX, LogLevel, LogLine, LogStream, StoredLines, append_job_log,
};
pub use job_reports::{ProgressTaken, job_accepted, job_finished, job_progress};
pub use jobs::{EndedJob, Job, JobEnd, JobFilter, JobSpec, JobState, JobStatus, NewJob};
pub use maintenance::{Chore, MaintenancePlan, PlanFields};
pub use migrations::{MIGRATIONS_DIR, latest_version};
pub use notifications::{Attempt, AttemptOutcome, Channel, ChannelFields, Delivery, NewDelivery};
pub use open::Store;
pub use page::{Page, PageOf};
pub use pending::{PendingRun, PendingState};
pub use repositories::{Repository, RepositoryFields, SealedSecrets};
pub use reserve::RESERVE_BYTES;
pub use schedules::{Schedule, ScheduleFields};
pub use settings::SettingKey;
pub use snapshots::{CachedSnapshot, SnapshotFilter, replace_snapshots};
pub use tokens::{ApiToken, NewApiToken, Scope, TokenFilter};
pub use upgrade::{LegacyValue, TYPED_COLUMNS};
pub use users::{NewSession, NewUser, Role, Session, User, UserUpdate};
pub use writer::WriterStats;

/// Milliseconds since the Unix epoch, UTC: how every time is stored.
pub use cairn_domain::Millis;

/// The current time as stored.
pub fn now_millis() -> Millis {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as Millis
}
