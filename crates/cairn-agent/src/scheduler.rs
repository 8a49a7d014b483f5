//! The agent's own clock: it fires the schedules the server pushed, whether
//! or not the server is reachable at that moment. Each firing goes to the
//! spool as a `ScheduleFired`, so one the server misses while away arrives
//! when it is back; the server makes at most one job per firing.
//!
//! The loop wakes at least every 30 s and scans the wall clock from where it
//! last looked, so firings that fell into a suspend or a clock jump are still
//! fired (marked late).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cairn_clock::Clock;
use cairn_cron::CronSpec;
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use prost::Message;
use tokio::sync::watch;

use crate::spool::Spool;

/// The longest sleep between looks at the clock.
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// A firing reported this long after its time is late.
const LATE_AFTER_MS: i64 = 60_000;
/// Firings reported for one schedule in one scan, at most.
const MAX_BURST: usize = 100;

/// The schedules this agent runs, as last pushed.
#[derive(Debug)]
pub(crate) struct Scheduler {
    path: PathBuf,
    set: watch::Sender<pb::SetSchedules>,
    clock: Clock,
}

impl Scheduler {
    /// Loads the last set kept in the state dir (so schedules keep firing
    /// after an agent restart while the server is away).
    pub(crate) fn open(state_dir: &Path, clock: Clock) -> Scheduler {
        let path = state_dir.join("schedules.pb");
        let set = std::fs::read(&path)
            .ok()
            .and_then(|bytes| pb::SetSchedules::decode(bytes.as_slice()).ok())
            .unwrap_or_default();
        Scheduler {
            path,
            set: watch::channel(set).0,
            clock,
        }
    }

    /// The version of the set in force.
    pub(crate) fn version(&self) -> u64 {
        self.set.borrow().version
    }

    /// Takes on a new set; returns the schedules that cannot run here.
    pub(crate) fn apply(&self, set: pb::SetSchedules) -> Vec<pb::ScheduleProblem> {
        let problems = set
            .schedules
            .iter()
            .filter_map(|s| {
                CronSpec::parse(&s.cron, &s.timezone)
                    .err()
                    .map(|e| pb::ScheduleProblem {
                        schedule_id: s.id,
                        message: e.to_string(),
                    })
            })
            .collect();
        let tmp = self.path.with_extension("tmp");
        let saved = std::fs::write(&tmp, set.encode_to_vec())
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(err) = saved {
            tracing::warn!(error = %err, "could not keep the schedule set on disk");
        }
        self.set.send_replace(set);
        problems
    }

    /// Fires schedules until `shutdown`.
    pub(crate) async fn run(
        self: Arc<Self>,
        spool: Arc<Spool>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut changes = self.set.subscribe();
        let mut moves = self.clock.moves();
        moves.seen();
        let mut cursor = self.clock.now();
        tokio::pin!(shutdown);
        loop {
            moves.seen();
            let set = changes.borrow_and_update().clone();
            let specs: Vec<(pb::AgentSchedule, CronSpec)> = set
                .schedules
                .iter()
                .filter_map(|s| {
                    CronSpec::parse(&s.cron, &s.timezone)
                        .ok()
                        .map(|spec| (s.clone(), spec))
                })
                .collect();
            let now = self.clock.now();
            let mut due: Vec<(i64, i64)> = specs
                .iter()
                .flat_map(|(s, spec)| {
                    spec.firings_between(cursor, now, MAX_BURST)
                        .into_iter()
                        .map(move |at| (at, s.id))
                })
                .collect();
            due.sort_unstable();
            for (fire_at, schedule_id) in due {
                let fired = pb::ScheduleFired {
                    schedule_id,
                    fire_at: Some(cairn_proto::convert::timestamp(fire_at)),
                    schedule_set_version: set.version,
                    late: now - fire_at > LATE_AFTER_MS,
                };
                tracing::info!(schedule = schedule_id, late = fired.late, "schedule fired");
                if let Err(err) = spool.push(Body::ScheduleFired(fired)) {
                    tracing::error!(error = %err, "could not spool a schedule firing");
                }
            }
            cursor = now;
            let next = specs
                .iter()
                .filter_map(|(_, spec)| spec.next_after(now))
                .min();
            let sleep = next
                .map(|at| Duration::from_millis((at - now).max(0) as u64 + 1))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                _ = changes.changed() => {}
                () = moves.moved() => {}
                () = &mut shutdown => return,
            }
        }
    }
}
