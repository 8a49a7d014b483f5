//! healthchecks-style pings: a scheduled backup that starts running pings
//! `<url>/start` (if the channel asks), one that succeeds pings `<url>`, one
//! that fails (or is lost) pings `<url>/fail`. Pings go through the outbox
//! like alerts, so a ping endpoint that is down is retried.

use cairn_domain::{JobKind, JobStatus};
use cairn_notify::{Kind, Outgoing, PingPhase};
use cairn_store::{Job, NewDelivery};
use tokio::sync::broadcast;

use super::Notifications;
use super::outbox::pings_start;
use crate::error::ServiceResult;
use crate::jobs::{Event, JobEvent};

impl Notifications {
    /// Queues the pings a job's event calls for.
    pub async fn job_changed(&self, event: &JobEvent) -> ServiceResult<usize> {
        let (job, phase) = match &event.event {
            Event::State {
                to: JobStatus::Running,
                ..
            } => (self.store.job(event.job).await?, PingPhase::Start),
            Event::Finished(job) => {
                let phase = match job.status {
                    JobStatus::Succeeded => PingPhase::Success,
                    JobStatus::Failed | JobStatus::Lost => PingPhase::Fail,
                    // A cancelled backup is neither a success nor a failure.
                    _ => return Ok(0),
                };
                (job.clone(), phase)
            }
            _ => return Ok(0),
        };
        let Some((schedule, _)) = job.schedule else {
            return Ok(0);
        };
        if job.kind != JobKind::Backup {
            return Ok(0);
        }
        let out = Outgoing::Ping {
            schedule_id: schedule.0,
            phase,
            text: summary(&job, phase),
        };
        let payload = serde_json::to_string(&out)
            .map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
        let mut queued = Vec::new();
        for channel in self.store.list_channels().await? {
            let view = self.view(channel).await?;
            let wanted = view.enabled
                && view.kind == Kind::Healthchecks
                && view.secrets.ping_schedule_ids.contains(&schedule.0)
                && (phase != PingPhase::Start || pings_start(&view.settings));
            if wanted {
                queued.push(NewDelivery {
                    channel_id: view.id,
                    alert_id: None,
                    schedule_id: Some(schedule.0),
                    job_id: Some(job.id.0),
                    event: format!("ping.{}", phase_name(phase)),
                    payload: payload.clone(),
                });
            }
        }
        let count = queued.len();
        self.enqueue(queued).await?;
        Ok(count)
    }

    /// Follows every job's lifecycle and queues pings, until `stop`.
    pub async fn follow_jobs(
        self,
        mut events: broadcast::Receiver<JobEvent>,
        stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) {
        let mut stop = stop;
        loop {
            let event = tokio::select! {
                () = &mut stop => return,
                event = events.recv() => event,
            };
            match event {
                Ok(event) => {
                    if let Err(err) = self.job_changed(&event).await {
                        tracing::error!(error = %err, job = %event.job, "could not queue a job's pings");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "the ping follower fell behind; some pings were not sent"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

fn phase_name(phase: PingPhase) -> &'static str {
    match phase {
        PingPhase::Start => "start",
        PingPhase::Success => "success",
        PingPhase::Fail => "fail",
        PingPhase::Log => "log",
    }
}

/// What the ping's body says (healthchecks shows it with the ping).
fn summary(job: &Job, phase: PingPhase) -> String {
    match phase {
        PingPhase::Start => format!("Cairn: backup job {} started on {}", job.id, job.hostname),
        PingPhase::Success => format!(
            "Cairn: backup job {} on {} succeeded{}",
            job.id,
            job.hostname,
            job.snapshot_id
                .as_deref()
                .map(|s| format!(", snapshot {s}"))
                .unwrap_or_default()
        ),
        _ => format!(
            "Cairn: backup job {} on {} {}: {}",
            job.id,
            job.hostname,
            job.status,
            job.error.as_deref().unwrap_or("no reason given")
        ),
    }
}
