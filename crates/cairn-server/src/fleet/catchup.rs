//! Missed runs: the server knows when each schedule should have fired. A
//! firing that led to no job (the host was away, asleep, or its agent down)
//! becomes a `missed` pending run; when the host is back, each schedule's
//! catch-up policy decides what runs: `once` (one run for all missed
//! firings, the default), `skip` (none, the misses stay on record) or `all`
//! (one run per firing, one at a time).

use std::collections::BTreeMap;

use cairn_cron::CronSpec;
use cairn_domain::{CatchUp, PendingState, Trigger};
use cairn_store::{HostId, Millis, PendingRun, ScheduleId};

use super::Fleet;
use crate::error::ServiceResult;

impl Fleet {
    /// Records, for every enabled schedule, the firings up to `grace` ago
    /// that have no job; then drains the misses of connected hosts.
    pub(crate) async fn account_expected(&self) -> ServiceResult<()> {
        let now = self.clock.now();
        let until = now - self.settings.schedule_grace.as_millis() as Millis;
        let mut hosts_with_misses = std::collections::BTreeSet::new();
        for schedule in self.store.list_schedules(None).await? {
            let from = schedule.expected_through_at.unwrap_or(schedule.created_at);
            if !schedule.fields.enabled || from >= until {
                continue;
            }
            if let Ok(spec) = CronSpec::parse(&schedule.fields.cron, &schedule.fields.timezone) {
                // A host still replaying its spool may yet report these
                // firings: they count as missed but are not run until the
                // replay is over (its reconcile drains what is left).
                let synced = self.registry.is_synced(schedule.host_id);
                for fire_at in spec.firings_between(from, until, 1_000) {
                    let reason = if synced {
                        "the agent reported no firing"
                    } else {
                        "the host was offline"
                    };
                    if self
                        .store
                        .record_missed(schedule.id, fire_at, reason.into(), now)
                        .await?
                    {
                        tracing::info!(schedule = %schedule.id, host = %schedule.host_id, fire_at, reason, "missed run recorded");
                        hosts_with_misses.insert(schedule.host_id);
                    }
                }
            }
            self.store.set_expected_through(schedule.id, until).await?;
        }
        for host in hosts_with_misses
            .into_iter()
            .filter(|h| self.registry.is_synced(*h))
        {
            self.drain_missed(host).await?;
        }
        Ok(())
    }

    /// Runs a connected host's missed firings by each schedule's policy.
    pub(crate) async fn drain_missed(&self, host: HostId) -> ServiceResult<()> {
        let now = self.clock.now();
        let mut by_schedule: BTreeMap<ScheduleId, Vec<PendingRun>> = BTreeMap::new();
        for run in self.store.missed_runs(host).await? {
            by_schedule.entry(run.schedule_id).or_default().push(run);
        }
        for (schedule_id, runs) in by_schedule {
            let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
            let Ok(schedule) = self.store.schedule(schedule_id).await else {
                self.store
                    .resolve_pending(ids, PendingState::Skipped, None, now)
                    .await?;
                continue;
            };
            if !schedule.fields.enabled {
                self.store
                    .resolve_pending(ids, PendingState::Skipped, None, now)
                    .await?;
                continue;
            }
            match schedule.fields.catch_up {
                CatchUp::Skip => {
                    self.store
                        .resolve_pending(ids, PendingState::Skipped, None, now)
                        .await?
                }
                CatchUp::All => {
                    for run in &runs {
                        let job = self.catch_up_job(&schedule, run.fire_at, now).await?;
                        self.store
                            .resolve_pending(vec![run.id], PendingState::Drained, job, now)
                            .await?;
                    }
                }
                CatchUp::Once => {
                    // `once`: one run, for the newest missed firing, settles them all.
                    let newest = runs.iter().map(|r| r.fire_at).max().unwrap_or(now);
                    let job = self.catch_up_job(&schedule, newest, now).await?;
                    self.store
                        .resolve_pending(ids, PendingState::Drained, job, now)
                        .await?;
                }
            }
        }
        self.request_dispatch(host);
        Ok(())
    }

    /// The job of a missed firing (made now, or the one that exists).
    async fn catch_up_job(
        &self,
        schedule: &cairn_store::Schedule,
        fire_at: Millis,
        now: Millis,
    ) -> ServiceResult<Option<cairn_store::JobId>> {
        let spec = crate::jobs::schedule_spec(schedule);
        match self
            .store
            .create_scheduled_job(schedule.id, fire_at, Trigger::CatchUp, spec, now)
            .await?
        {
            Some(job) => {
                self.audit_scheduled_job(job, schedule.id, fire_at, "caught up")
                    .await;
                Ok(Some(job))
            }
            None => Ok(self.store.job_for_firing(schedule.id, fire_at).await?),
        }
    }
}
