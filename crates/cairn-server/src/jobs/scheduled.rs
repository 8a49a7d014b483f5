//! Schedules as the agent protocol carries them, and the job a firing makes.

use cairn_proto::v1 as pb;
use cairn_store::Schedule;

/// The backup a schedule runs.
pub fn schedule_spec(s: &Schedule) -> pb::JobSpec {
    pb::JobSpec {
        spec: Some(pb::job_spec::Spec::Backup(pb::BackupSpec {
            paths: s.fields.paths.clone(),
            excludes: s.fields.excludes.clone(),
            tags: s.fields.tags.clone(),
            hooks: s.fields.hooks.clone(),
            limit_upload_kib: s.fields.limit_upload_kib.unwrap_or(0),
            limit_download_kib: s.fields.limit_download_kib.unwrap_or(0),
        })),
    }
}

/// The catch-up policy, as the protocol spells it.
pub fn catch_up_to_pb(policy: &str) -> pb::CatchUpPolicy {
    match policy {
        "skip" => pb::CatchUpPolicy::Skip,
        "all" => pb::CatchUpPolicy::All,
        _ => pb::CatchUpPolicy::Once,
    }
}

/// One schedule as the agent runs it.
pub fn agent_schedule(s: &Schedule) -> pb::AgentSchedule {
    let backup = match schedule_spec(s).spec {
        Some(pb::job_spec::Spec::Backup(b)) => Some(b),
        _ => None,
    };
    pb::AgentSchedule {
        id: s.id.0,
        name: s.fields.name.clone(),
        cron: s.fields.cron.clone(),
        timezone: s.fields.timezone.clone(),
        repository_id: s.repository_id.0,
        catch_up: catch_up_to_pb(&s.fields.catch_up) as i32,
        backup,
    }
}
