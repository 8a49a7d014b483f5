//! Entry points for the fuzzers (`make fuzz`, and `crates/cairn-fuzz`, whose
//! regression tests replay every input a fuzzer ever crashed on). Each takes
//! raw bytes as a peer would send them and runs them through the server's
//! own decoding and cleaning, the steps before anything reaches the store.
//! Not an API: the server itself never calls these.

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_store::{Millis, RepositoryId};
use prost::Message;

use crate::fleet::clean::{check_token, clean_facts};
use crate::fleet::reports::{cached_snapshot, clean_progress, job_end, log_line};
use crate::fleet::{ListedSnapshot, Report};
use crate::grpc::agent::decode;

/// The server's time in the fuzzers: agent times are judged against it.
const NOW: Millis = 1_800_000_000_000;

/// One frame of an agent's session stream: decoded as the wire edge does,
/// then cleaned as the session does before storing any of it.
pub fn agent_message(data: &[u8]) {
    let Ok(message) = pb::AgentMessage::decode(data) else {
        return;
    };
    if let Some(Body::Hello(hello)) = &message.body {
        let hello = decode::hello(hello.clone());
        let _ = check_token("identity_token", &hello.identity_token);
        let _ = check_token("enroll_token", &hello.enroll_token);
        if let Ok(facts) = clean_facts(hello.facts) {
            assert!(!facts.hostname.is_empty(), "a kept hostname is never empty");
            assert!(
                facts.hostname.len() <= 253,
                "hostnames are cut at 253 bytes"
            );
            assert!(!facts.hostname.chars().any(char::is_control));
        }
    }
    match decode::message(message).report {
        Report::JobLog { lines, .. } => {
            for line in lines {
                let stored = log_line(line, NOW);
                assert!(stored.at <= NOW + 86_400_000, "no time past tomorrow");
                assert!(stored.line.len() <= 4_096, "log lines are cut at 4 KiB");
            }
        }
        Report::JobProgress { progress, .. } => {
            let progress = clean_progress(progress, NOW);
            assert!((0.0..=100.0).contains(&progress.percent));
        }
        Report::JobFinished(finished) => {
            let end = job_end(&finished);
            if let Some(error) = end.error {
                assert!(error.len() <= 2_000);
            }
        }
        Report::SnapshotList(part) => snapshots(part.repository, &part.snapshots),
        _ => {}
    }
}

/// Listed snapshots as the cache keeps them: ids are hex or dropped.
fn snapshots(repository: RepositoryId, listed: &[ListedSnapshot]) {
    for s in listed {
        if let Some(kept) = cached_snapshot(repository, s, NOW) {
            assert!(kept.snapshot_id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(kept.short_id.len() <= 16 && kept.short_id.len() >= 8);
        }
    }
}

/// One request a client sends, of the kind the first byte picks: decoded as
/// tonic does, and checked by the pure conversions the services apply
/// before they look at the store.
pub fn client_request(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    macro_rules! requests {
        ($($ty:ident => $check:expr),* $(,)?) => {{
            let decoders: &[fn(&[u8])] = &[$(|bytes| {
                if let Ok(request) = pb::$ty::decode(bytes) {
                    #[allow(clippy::redundant_closure_call)]
                    ($check)(request);
                }
            }),*];
            decoders[usize::from(kind) % decoders.len()](body);
        }};
    }
    use crate::grpc::convert::{audit_filter_from_pb, page_from_pb, role_from_pb, scope_from_pb};
    use crate::grpc::notifications::{config_from_pb, route_from_pb};
    use crate::grpc::schedules::{created_fields, updated_fields};
    use cairn_proto::convert::{retention_from_pb, spec_from_pb};
    requests! {
        ListAuditEventsRequest => |r: pb::ListAuditEventsRequest| {
            let _ = audit_filter_from_pb(&r);
            let _ = page_from_pb(r.page);
        },
        ListHostsRequest => |r: pb::ListHostsRequest| { let _ = page_from_pb(r.page); },
        ListJobsRequest => |r: pb::ListJobsRequest| { let _ = page_from_pb(r.page); },
        CreateUserRequest => |r: pb::CreateUserRequest| { let _ = role_from_pb(r.role); },
        UpdateUserRequest => |r: pb::UpdateUserRequest| {
            if let Some(role) = r.role {
                let _ = role_from_pb(role);
            }
        },
        CreateApiTokenRequest => |r: pb::CreateApiTokenRequest| { let _ = scope_from_pb(r.scope); },
        CreateScheduleRequest => |r: pb::CreateScheduleRequest| {
            let _ = crate::schedules::check_fields(&created_fields(r));
        },
        UpdateScheduleRequest => |r: pb::UpdateScheduleRequest| {
            let _ = crate::schedules::check_fields(&updated_fields(r));
        },
        UpsertMaintenancePlanRequest => |r: pb::UpsertMaintenancePlanRequest| {
            if let Some(retention) = &r.retention {
                let _ = retention_from_pb(retention);
            }
        },
        CreateChannelRequest => |r: pb::CreateChannelRequest| {
            let _ = config_from_pb(r.config);
            if let Some(route) = r.route {
                let _ = route_from_pb(route);
            }
        },
        RunBackupRequest => |r: pb::RunBackupRequest| {
            let spec = pb::JobSpec { spec: r.spec.map(pb::job_spec::Spec::Backup) };
            let _ = spec_from_pb(&spec);
        },
        RestoreSnapshotRequest => |r: pb::RestoreSnapshotRequest| {
            let _ = crate::jobs::snapshots::check_target_path(&r.target_path);
        },
        CreateRepositoryRequest => |r: pb::CreateRepositoryRequest| {
            let _ = crate::repos::redact_url(&r.url);
            let _ = cairn_restic::check_repository_url(&r.url);
        },
        UpdateSettingsRequest => |_r: pb::UpdateSettingsRequest| {},
        SetHostLabelsRequest => |_r: pb::SetHostLabelsRequest| {},
        CreateSilenceRequest => |_r: pb::CreateSilenceRequest| {},
        SetAlertOverrideRequest => |_r: pb::SetAlertOverrideRequest| {},
        DiffSnapshotsRequest => |_r: pb::DiffSnapshotsRequest| {},
        BrowseSnapshotRequest => |_r: pb::BrowseSnapshotRequest| {},
        WatchJobRequest => |_r: pb::WatchJobRequest| {},
        GetJobLogsRequest => |_r: pb::GetJobLogsRequest| {},
    }
}

/// A configuration file's text, as `cairn server --config` reads it. Keys
/// that name a file to read (`*_file`) are left out: they would make the
/// fuzzer read the machine's files.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("_file") {
        return;
    }
    let _ = crate::config::from_text(text);
}
