//! The agent protocol's messages, decoded into the core's types
//! (`fleet::inbound`). Nothing is judged here: ranges, ownership and
//! cleaning are the session's.

use cairn_proto::convert::{
    browse_from_pb, diff_from_pb, log_level_from_pb, log_stream_from_pb, millis, progress_from_pb,
    summary_from_pb,
};
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use cairn_store::{HostFacts, JobId, RepositoryId, ScheduleId};

use crate::fleet::{
    AgentMessage, Finished, Fired, Hello, JobOutcome, ListedSnapshot, Report, ReportedLine,
    SnapshotPart,
};

/// A `Hello`.
pub(crate) fn hello(hello: pb::Hello) -> Hello {
    let facts = hello.facts.unwrap_or_default();
    Hello {
        identity_token: hello.identity_token,
        enroll_token: hello.enroll_token,
        facts: HostFacts {
            hostname: facts.hostname,
            os: facts.os,
            os_version: facts.os_version,
            arch: facts.arch,
            kernel: facts.kernel,
            agent_version: facts.agent_version,
            restic_version: facts.restic_version,
            protocol_version: hello.protocol_version,
        },
        last_seq: hello.last_seq,
        running: running(&hello.running_job_ids),
    }
}

/// Running job ids, at most as many as a session reads.
fn running(ids: &[i64]) -> Vec<JobId> {
    ids.iter().take(MAX_IDS).map(|id| JobId(*id)).collect()
}

/// Job ids decoded from one message (the session keeps fewer).
const MAX_IDS: usize = 4_096;

/// Any message after `Hello`.
pub(crate) fn message(message: pb::AgentMessage) -> AgentMessage {
    let report = match message.body {
        None => Report::Empty,
        Some(Body::Hello(_)) => Report::Hello,
        Some(Body::Heartbeat(beat)) => Report::Heartbeat {
            running: running(&beat.running_job_ids),
            sent_at: beat.sent_at.as_ref().and_then(millis),
        },
        Some(Body::SchedulesApplied(applied)) => Report::SchedulesApplied {
            version: applied.version,
        },
        Some(Body::ScheduleFired(fired)) => Report::ScheduleFired(Fired {
            schedule: ScheduleId(fired.schedule_id),
            fire_at: fired.fire_at.as_ref().and_then(millis),
            late: fired.late,
        }),
        Some(Body::JobAccepted(accepted)) => Report::JobAccepted {
            job: JobId(accepted.job_id),
        },
        Some(Body::JobLog(log)) => Report::JobLog {
            job: JobId(log.job_id),
            lines: log
                .lines
                .into_iter()
                // The session keeps 1,000 a message; decoding stops a
                // little past, so the cut is the session's to make.
                .take(MAX_IDS)
                .map(|l| ReportedLine {
                    at: l.time.as_ref().and_then(millis),
                    stream: log_stream_from_pb(l.stream),
                    level: log_level_from_pb(l.level),
                    text: l.text,
                })
                .collect(),
        },
        Some(Body::JobProgress(progress)) => Report::JobProgress {
            job: JobId(progress.job_id),
            progress: progress_from_pb(&progress),
        },
        Some(Body::JobFinished(finished)) => Report::JobFinished(job_finished(&finished)),
        Some(Body::SnapshotList(list)) => Report::SnapshotList(SnapshotPart {
            job: JobId(list.job_id),
            repository: RepositoryId(list.repository_id),
            part: list.part,
            snapshots: list.snapshots.iter().map(snapshot).collect(),
        }),
        Some(Body::BrowseResult(result)) => Report::BrowseResult {
            job: JobId(result.job_id),
            part: browse_from_pb(&result),
        },
    };
    AgentMessage {
        seq: message.seq,
        report,
    }
}

fn job_finished(f: &pb::JobFinished) -> Finished {
    Finished {
        job: JobId(f.job_id),
        outcome: match pb::JobOutcome::try_from(f.outcome) {
            Ok(pb::JobOutcome::Succeeded) => JobOutcome::Succeeded,
            Ok(pb::JobOutcome::Cancelled) => JobOutcome::Cancelled,
            // Unset or unknown counts as failed, as the protocol says.
            _ => JobOutcome::Failed,
        },
        warning: f.warning,
        exit_code: f.exit_code,
        error: f.error.clone(),
        summary: f.summary.as_ref().map(summary_from_pb),
        diff: f
            .details
            .as_ref()
            .map(|pb::job_finished::Details::Diff(diff)| diff_from_pb(diff)),
    }
}

fn snapshot(s: &pb::Snapshot) -> ListedSnapshot {
    ListedSnapshot {
        id: s.id.clone(),
        short_id: s.short_id.clone(),
        time: s.time.as_ref().and_then(millis),
        hostname: s.hostname.clone(),
        paths: s.paths.clone(),
        tags: s.tags.clone(),
        parent: s.parent.clone(),
        tree: s.tree.clone(),
    }
}
