//! Newtype IDs, so a host id can never be passed where a job id is expected.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    )*};
}

id_type!(
    /// An operator account.
    UserId,
    /// A signed-in browser session.
    SessionId,
    /// An API token.
    ApiTokenId,
    /// An enrollment token.
    EnrollmentTokenId,
    /// An agent's host.
    HostId,
    /// A restic repository.
    RepositoryId,
    /// A backup schedule.
    ScheduleId,
    /// A job.
    JobId,
    /// A notification channel.
    ChannelId,
    /// One queued notification delivery (the outbox).
    DeliveryId,
    /// An audit log entry.
    AuditId,
);
