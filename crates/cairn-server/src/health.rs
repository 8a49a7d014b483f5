//! How the server is, in one report: whether the database answers and what
//! became of each background worker. `/readyz`, gRPC health and the
//! operator's status call all read it.

use crate::worker::WorkerStatus;

/// The server's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Whether the database answers.
    pub database: bool,
    /// Why the database cannot be written (the disk is full, an I/O error),
    /// while that lasts: reads are served, writes are refused cleanly.
    pub storage: Option<String>,
    /// Every background worker, in the order started.
    pub workers: Vec<WorkerStatus>,
}

impl HealthReport {
    /// Whether a worker is gone while the server runs: requests are still
    /// answered, but the work it did (dispatch, liveness, maintenance…) is
    /// not done until the server restarts.
    pub fn degraded(&self) -> bool {
        self.storage.is_some() || self.workers.iter().any(|w| w.state.is_failed())
    }

    /// Whether the server should get traffic.
    pub fn ready(&self) -> bool {
        self.database && !self.degraded()
    }

    /// The probe's one-line answer. It names failed workers but never a
    /// panic's message: the probe answers anyone, the message is for
    /// operators (see `Api::server_status`).
    pub fn probe_text(&self) -> String {
        if !self.database {
            return "database unavailable\n".into();
        }
        let storage = self
            .storage
            .as_ref()
            .map(|why| format!("database writes failing ({why})"));
        let failed: Vec<String> = storage
            .into_iter()
            .chain(
                self.workers
                    .iter()
                    .filter(|w| w.state.is_failed())
                    .map(|w| match w.state {
                        crate::worker::WorkerState::Panicked(_) => format!("{} panicked", w.name),
                        _ => format!("{} stopped", w.name),
                    }),
            )
            .collect();
        if failed.is_empty() {
            "ready\n".into()
        } else {
            format!("degraded: {}\n", failed.join(", "))
        }
    }
}

/// How often a write is tried while the filesystem refuses them.
pub(crate) const STORAGE_PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// While database writes fail, looks every `every` whether space returned
/// (remaking the disk-space reserve) and tries one small write, so the fault
/// clears by itself, on an idle server too, with no restart.
pub(crate) async fn run_storage_watch(
    store: cairn_store::Store,
    clock: crate::clock::Clock,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if store.storage_fault().is_some() {
                    store.recover_storage(clock.now()).await;
                }
            }
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::watch;

    use super::*;
    use crate::clock::Clock;
    use crate::worker::{WorkerState, Workers};

    #[tokio::test]
    async fn a_panicked_worker_makes_health_degraded_and_the_probe_says_which() {
        let (_tx, rx) = watch::channel(false);
        let workers = Workers::new(Clock::system(), rx);
        workers.spawn("dispatcher", |stop| stop);
        let healthy = HealthReport {
            database: true,
            storage: None,
            workers: workers.status(),
        };
        assert!(healthy.ready() && !healthy.degraded());
        assert_eq!(healthy.probe_text(), "ready\n");

        let mut failed = workers.on_failure();
        workers.spawn("agent reaper", |_stop| async { panic!("secret detail") });
        tokio::time::timeout(Duration::from_secs(30), failed.wait_for(|f| *f))
            .await
            .expect("the failure is seen in time")
            .expect("workers alive");
        let report = HealthReport {
            database: true,
            storage: None,
            workers: workers.status(),
        };
        assert!(report.degraded() && !report.ready());
        assert_eq!(report.probe_text(), "degraded: agent reaper panicked\n");
        assert!(
            report
                .workers
                .iter()
                .any(|w| w.state == WorkerState::Panicked("secret detail".into())),
            "the operator's report keeps the message"
        );
        let full = HealthReport {
            storage: Some("the disk is full".into()),
            ..report.clone()
        };
        assert!(full.degraded() && !full.ready());
        assert_eq!(
            full.probe_text(),
            "degraded: database writes failing (the disk is full), agent reaper panicked\n"
        );
        let down = HealthReport {
            database: false,
            storage: None,
            ..report
        };
        assert_eq!(down.probe_text(), "database unavailable\n");
    }
}
