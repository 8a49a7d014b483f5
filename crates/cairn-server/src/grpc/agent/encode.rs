//! The core's messages to an agent (`fleet::ToAgent`), encoded for the wire.

use cairn_proto::convert::{catch_up_to_pb, spec_to_pb, timestamp};
use cairn_proto::v1 as pb;
use cairn_proto::v1::server_message::Body;
use cairn_store::Schedule;

use crate::fleet::{Greeting, RunJob, ToAgent, Welcome};

/// One message to an agent.
pub(super) fn message(message: ToAgent) -> pb::ServerMessage {
    let body = match message {
        ToAgent::Welcome(welcome) => Body::Welcome(welcome_to_pb(welcome)),
        ToAgent::Ack(seq) => Body::Ack(pb::Ack { seq }),
        ToAgent::SetSchedules { version, schedules } => Body::SetSchedules(pb::SetSchedules {
            version,
            schedules: schedules.iter().map(agent_schedule).collect(),
        }),
        ToAgent::RunJob(run) => Body::RunJob(run_job(run)),
        ToAgent::CancelJob {
            job,
            reason,
            grace_seconds,
        } => Body::CancelJob(pb::CancelJob {
            job_id: job.0,
            reason,
            grace_seconds,
        }),
    };
    pb::ServerMessage { body: Some(body) }
}

fn welcome_to_pb(w: Welcome) -> pb::Welcome {
    pb::Welcome {
        status: match w.greeting {
            Greeting::Approved => pb::WelcomeStatus::Approved,
            Greeting::PendingApproval => pb::WelcomeStatus::PendingApproval,
            Greeting::Rejected => pb::WelcomeStatus::Rejected,
            Greeting::Incompatible => pb::WelcomeStatus::Incompatible,
        } as i32,
        reason: w.reason,
        host_id: w.host_id.0,
        fingerprint: w.fingerprint,
        heartbeat_interval_seconds: w.heartbeat_interval_seconds,
        server_time: Some(timestamp(w.server_time)),
        max_message_bytes: w.max_message_bytes,
        protocol_version: w.protocol_version,
        oldest_agent_protocol: w.oldest_agent_protocol,
    }
}

fn run_job(run: RunJob) -> pb::RunJob {
    pb::RunJob {
        job_id: run.job.0,
        spec: Some(spec_to_pb(&run.spec)),
        repository: Some(pb::RepositoryAccess {
            repository_id: run.repository.0,
            url: run.access.url,
            password: run.access.password,
            env: run.access.env.into_iter().collect(),
        }),
        timeout_seconds: run.timeout_seconds,
    }
}

/// One schedule as the agent runs it.
fn agent_schedule(s: &Schedule) -> pb::AgentSchedule {
    let backup = match spec_to_pb(&crate::jobs::schedule_spec(s)).spec {
        Some(pb::job_spec::Spec::Backup(b)) => Some(b),
        _ => None,
    };
    pb::AgentSchedule {
        id: s.id.0,
        name: s.fields.name.clone(),
        cron: s.fields.cron.clone(),
        timezone: s.fields.timezone.clone(),
        repository_id: s.repository_id.0,
        catch_up: catch_up_to_pb(s.fields.catch_up) as i32,
        backup,
    }
}
