//! A schedule firing reported by its host: checked against the schedule
//! (its host, its cron, its zone), then made into at most one job.

use cairn_cron::CronSpec;
use cairn_domain::Trigger;
use cairn_store::{HostId, Millis, Schedule};

use super::Fleet;
use super::inbound::Fired;
use super::reports::agent_time;
use crate::error::ServiceResult;

/// Whether `fire_at` is a time `schedule` fires at, by its cron in its zone.
/// A schedule whose cron no longer parses fires at no time.
fn is_firing(schedule: &Schedule, fire_at: Millis) -> bool {
    CronSpec::parse(&schedule.fields.cron, &schedule.fields.timezone)
        .ok()
        .and_then(|spec| spec.next_after(fire_at.checked_sub(1)?))
        == Some(fire_at)
}

/// How far an agent's clock may run ahead of the server's for its firings.
const MAX_CLOCK_AHEAD: Millis = 10 * 60_000;

impl Fleet {
    /// A schedule fired on its host: make that firing's job (once, however
    /// often the firing is reported) and dispatch it. A firing of another
    /// host's schedule, or at a time the schedule's cron never fires (an
    /// agent inventing runs, or a clock gone wrong), is refused: logged and
    /// dropped, the message acknowledged so the spool drains. A firing from
    /// before an edit of the cron is refused the same way: it is no longer a
    /// firing of this schedule.
    pub(super) async fn schedule_fired(
        &self,
        host: HostId,
        fired: &Fired,
        now: Millis,
        replaying: bool,
    ) -> ServiceResult<()> {
        let id = fired.schedule;
        let schedule = match self.store.schedule(id).await {
            Ok(s) if s.host_id == host => s,
            _ => {
                tracing::warn!(%host, schedule = %id, "a firing of a schedule this host does not have: dropped");
                return Ok(());
            }
        };
        if !schedule.fields.enabled {
            // Disabled while the host was away: the agent fired from the set
            // it kept; the operator's word wins.
            tracing::info!(%host, schedule = %id, "a firing of a disabled schedule: dropped");
            return Ok(());
        }
        let Some(fire_at) = agent_time(fired.fire_at, now) else {
            tracing::warn!(%host, schedule = %id, "a firing without a valid time: dropped");
            return Ok(());
        };
        if fire_at > now.saturating_add(MAX_CLOCK_AHEAD) {
            // A firing of the future would run now and swallow the real one.
            tracing::warn!(%host, schedule = %id, fire_at, now, "a firing ahead of the server's clock: dropped");
            return Ok(());
        }
        if !is_firing(&schedule, fire_at) {
            tracing::warn!(%host, schedule = %id, fire_at, cron = %schedule.fields.cron, "a firing at a time this schedule does not fire: dropped");
            return Ok(());
        }
        if self.store.firing_settled(id, fire_at).await? {
            // Catch-up already decided about this firing.
            return Ok(());
        }
        if fired.late {
            // Reported long after its time (the host slept, or was cut off):
            // it is a missed run, run by the schedule's catch-up policy.
            self.store
                .record_missed(id, fire_at, "reported late by the agent".into(), now)
                .await?;
            if !replaying {
                self.drain_missed(host).await?;
            }
            return Ok(());
        }
        let spec = crate::jobs::schedule_spec(&schedule);
        if let Some(job) = self
            .store
            .create_scheduled_job(id, fire_at, Trigger::Schedule, spec, now)
            .await?
        {
            tracing::info!(%host, schedule = %id, %job, "schedule fired: job created");
            self.audit_scheduled_job(job, id, fire_at, "fired").await;
            self.store.settle_firing(id, fire_at, job, now).await?;
            self.request_dispatch(host);
        }
        Ok(())
    }
}

impl Fleet {
    /// Records a job a schedule made (a firing, or a catch-up of a missed
    /// one): the system dispatched it, on the schedule's behalf.
    pub(super) async fn audit_scheduled_job(
        &self,
        job: cairn_store::JobId,
        schedule: cairn_store::ScheduleId,
        fire_at: Millis,
        how: &str,
    ) {
        self.auditor
            .record(
                &crate::auth::Principal::system(),
                "job.create",
                Some(format!("job:{job}")),
                cairn_store::Outcome::Success,
                Some(format!(
                    "schedule:{schedule} {how} for {}",
                    crate::audit_export::rfc3339(fire_at)
                )),
            )
            .await;
    }
}
