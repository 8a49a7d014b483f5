//! Conversions between Cairn's domain types (`cairn-domain`) and the wire
//! types, in one place for the server and the agent alike.
//!
//! From domain to wire is total. From wire to domain is total too where the
//! protocol's zero value has a meaning ("not set"); an enum value the
//! protocol does not know becomes the domain's documented fallback, or
//! `None` where the caller must refuse it.

mod kinds;
mod results;
mod spec;
mod time;

pub use kinds::{
    alert_kind_from_pb, alert_kind_to_pb, alert_severity_from_pb, alert_severity_to_pb,
    alert_state_from_pb, alert_state_to_pb, catch_up_from_pb, catch_up_to_pb, job_kind_from_pb,
    job_kind_to_pb, job_status_from_pb, job_status_to_pb, log_level_from_pb, log_level_to_pb,
    log_stream_from_pb, log_stream_to_pb, overwrite_from_pb, overwrite_to_pb,
    pending_state_from_pb, pending_state_to_pb, trigger_from_pb, trigger_to_pb,
};
pub use results::{
    browse_from_pb, browse_to_pb, diff_from_pb, diff_to_pb, entry_to_pb, progress_from_pb,
    progress_to_pb, summary_from_pb, summary_to_pb,
};
pub use spec::{
    check_subset_from_pb, check_subset_to_pb, max_unused_from_pb, max_unused_to_pb,
    retention_from_pb, retention_to_pb, spec_from_pb, spec_to_pb,
};
pub use time::{duration_ms, millis, timestamp};
