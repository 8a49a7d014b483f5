//! How `cairn ctl` shows values in its tables: dates, and the API's enums as
//! the lowercase words its flags take.

use cairn_proto::v1 as pb;

/// A timestamp's UTC day, `-` when there is none.
pub(super) fn date(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| {
        time::OffsetDateTime::from_unix_timestamp(t.seconds)
            .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
            .unwrap_or_else(|_| "?".into())
    })
    .unwrap_or_else(|| "-".into())
}

pub(super) fn role_name(role: i32) -> &'static str {
    match pb::Role::try_from(role) {
        Ok(pb::Role::Viewer) => "viewer",
        Ok(pb::Role::Operator) => "operator",
        Ok(pb::Role::Admin) => "admin",
        _ => "?",
    }
}

pub(super) fn scope_name(scope: i32) -> &'static str {
    match pb::Scope::try_from(scope) {
        Ok(pb::Scope::Read) => "read",
        Ok(pb::Scope::Operate) => "operate",
        Ok(pb::Scope::Admin) => "admin",
        _ => "?",
    }
}

pub(super) fn host_status_name(status: i32) -> &'static str {
    match pb::HostStatus::try_from(status) {
        Ok(pb::HostStatus::Pending) => "pending",
        Ok(pb::HostStatus::Approved) => "approved",
        Ok(pb::HostStatus::Rejected) => "rejected",
        Ok(pb::HostStatus::Revoked) => "revoked",
        _ => "?",
    }
}

pub(super) fn job_status_name(status: i32) -> &'static str {
    pb::JobStatus::try_from(status)
        .map_or("?", |s| s.as_str_name().trim_start_matches("JOB_STATUS_"))
}

pub(super) fn job_kind_name(kind: i32) -> &'static str {
    pb::JobKind::try_from(kind).map_or("?", |k| k.as_str_name().trim_start_matches("JOB_KIND_"))
}

pub(super) fn pending_state_name(state: i32) -> &'static str {
    pb::PendingRunState::try_from(state).map_or("?", |s| {
        s.as_str_name().trim_start_matches("PENDING_RUN_STATE_")
    })
}
