//! What a simulated agent says: restic-shaped progress (stamped with its
//! send time, for the latency benchmarks), verbose log lines, a job's end.

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;

use crate::sse::{now_micros, stamped_file};

pub fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

/// A job reported done at once, successfully.
pub fn finished(seq: u64, job_id: i64) -> pb::AgentMessage {
    pb::AgentMessage {
        seq,
        body: Some(Body::JobFinished(pb::JobFinished {
            job_id,
            outcome: pb::JobOutcome::Succeeded.into(),
            exit_code: Some(0),
            finished_at: Some(now()),
            ..Default::default()
        })),
    }
}

/// `lines` lines of restic-shaped verbose output.
pub fn log_lines(job_id: i64, lines: u32) -> pb::JobLog {
    pb::JobLog {
        job_id,
        lines: (0..lines)
            .map(|n| pb::JobLogLine {
                time: Some(now()),
                stream: pb::JobLogStream::Stdout.into(),
                level: pb::JobLogLevel::Info.into(),
                text: format!(
                    "new       /srv/data/projects/archive/2026/q{}/report-{n:05}.pdf, saved in 0.012s (41.203 KiB added)",
                    n % 4 + 1
                ),
            })
            .collect(),
    }
}

/// A restic-shaped progress report, stamped with the time it is made.
pub fn progress(job_id: i64) -> pb::JobProgress {
    pb::JobProgress {
        job_id,
        time: Some(now()),
        percent: 42.0,
        files_done: 7_702,
        files_total: 18_234,
        bytes_done: 1_043_216_384,
        bytes_total: 4_503_216_384,
        current_files: vec![stamped_file(now_micros())],
        seconds_elapsed: 12,
        seconds_remaining: 40,
        error_count: 0,
    }
}
