//! How the server is, in one report: whether the database answers and what
//! became of each background worker. `/readyz`, gRPC health and the
//! operator's status call all read it.

use crate::worker::WorkerStatus;

/// The server's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Whether the database answers.
    pub database: bool,
    /// Every background worker, in the order started.
    pub workers: Vec<WorkerStatus>,
}

impl HealthReport {
    /// Whether a worker is gone while the server runs: requests are still
    /// answered, but the work it did (dispatch, liveness, maintenance…) is
    /// not done until the server restarts.
    pub fn degraded(&self) -> bool {
        self.workers.iter().any(|w| w.state.is_failed())
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
        let failed: Vec<String> = self
            .workers
            .iter()
            .filter(|w| w.state.is_failed())
            .map(|w| match w.state {
                crate::worker::WorkerState::Panicked(_) => format!("{} panicked", w.name),
                _ => format!("{} stopped", w.name),
            })
            .collect();
        if failed.is_empty() {
            "ready\n".into()
        } else {
            format!("degraded: {}\n", failed.join(", "))
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
        let down = HealthReport {
            database: false,
            ..report
        };
        assert_eq!(down.probe_text(), "database unavailable\n");
    }
}
