//! Background workers: each runs under one named runner ([`Workers`]) that
//! hands it the shutdown signal and keeps what became of it, so a worker that
//! ends early or panics is logged, makes the server's health degraded and is
//! shown to the operator, never silently dropped. Also the shape every
//! periodic worker shares ([`run_every`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_store::Millis;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::error::ServiceResult;

/// Runs `step` every `every` (the first at once) until `shutdown`; a step
/// that fails is logged as `what` and the next runs on time.
pub(crate) async fn run_every<F, Fut, T>(
    what: &'static str,
    every: Duration,
    shutdown: impl Future<Output = ()>,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ServiceResult<T>>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(err) = step().await {
                    tracing::warn!(error = %err, "{what} failed");
                }
            }
            () = &mut shutdown => return,
        }
    }
}

/// What became of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    /// Doing its work.
    Running,
    /// Ended after shutdown was asked, as it should.
    Stopped,
    /// Ended on its own before shutdown: its work is no longer done.
    Exited,
    /// Panicked, with the panic's message; its work is no longer done.
    Panicked(String),
}

impl WorkerState {
    /// Whether the worker is gone while the server still runs.
    pub fn is_failed(&self) -> bool {
        matches!(self, WorkerState::Exited | WorkerState::Panicked(_))
    }
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerState::Running => f.write_str("running"),
            WorkerState::Stopped => f.write_str("stopped"),
            WorkerState::Exited => f.write_str("stopped before shutdown"),
            WorkerState::Panicked(message) => write!(f, "panicked: {message}"),
        }
    }
}

/// One worker's name and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    pub name: &'static str,
    pub state: WorkerState,
    /// When it entered this state, by the server's clock.
    pub since: Millis,
}

/// The server's background workers by name; cheap to clone.
#[derive(Debug, Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clock: Clock,
    shutdown: watch::Receiver<bool>,
    /// In the order they were started.
    states: Mutex<Vec<WorkerStatus>>,
    /// The supervisors, one a worker, for [`Workers::join`].
    supervisors: Mutex<Vec<JoinHandle<()>>>,
    /// Flips to `true` when a worker first fails.
    failed: watch::Sender<bool>,
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "a panic without a message".into(), |s| s.to_string()),
    }
}

impl Workers {
    /// Workers that stop when `shutdown` turns `true`.
    pub(crate) fn new(clock: Clock, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                shutdown,
                states: Mutex::default(),
                supervisors: Mutex::default(),
                failed: watch::channel(false).0,
            }),
        }
    }

    fn states(&self) -> std::sync::MutexGuard<'_, Vec<WorkerStatus>> {
        // Plain records: still whole if a holder panicked.
        self.inner.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, name: &'static str, state: WorkerState) {
        let since = self.inner.clock.now();
        let failed = state.is_failed();
        {
            let mut states = self.states();
            match states.iter_mut().find(|w| w.name == name) {
                Some(worker) => *worker = WorkerStatus { name, state, since },
                None => states.push(WorkerStatus { name, state, since }),
            }
        }
        if failed {
            self.inner.failed.send_replace(true);
        }
    }

    /// Starts the worker `name`: `run` gets a future that resolves at
    /// shutdown and returns the worker's work. A supervisor records how it
    /// ends, and logs at error level an end before shutdown or a panic.
    pub(crate) fn spawn<F, Fut>(&self, name: &'static str, run: F)
    where
        F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut shutdown = self.inner.shutdown.clone();
        let signal = Box::pin(async move {
            // An error means the sender is gone: the server is gone too.
            let _ = shutdown.wait_for(|down| *down).await;
        });
        self.set(name, WorkerState::Running);
        let task = tokio::spawn(run(signal));
        let workers = self.clone();
        let supervisor = tokio::spawn(async move {
            let outcome = task.await;
            let asked = *workers.inner.shutdown.borrow();
            let state = match outcome {
                Ok(()) if asked => WorkerState::Stopped,
                Ok(()) => {
                    tracing::error!(
                        worker = name,
                        "background worker stopped before shutdown: its work is no longer done"
                    );
                    WorkerState::Exited
                }
                Err(err) if err.is_panic() => {
                    let message = panic_message(err.into_panic());
                    tracing::error!(worker = name, panic = %message, "background worker panicked: its work is no longer done");
                    WorkerState::Panicked(message)
                }
                // Cancelled: only the runtime shutting down does that.
                Err(_) if asked => WorkerState::Stopped,
                Err(_) => {
                    tracing::error!(worker = name, "background worker was cancelled");
                    WorkerState::Exited
                }
            };
            workers.set(name, state);
        });
        self.inner
            .supervisors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(supervisor);
    }

    /// Every worker and its state, in the order they were started.
    pub fn status(&self) -> Vec<WorkerStatus> {
        self.states().clone()
    }

    /// The workers that are gone while the server runs.
    pub fn failed(&self) -> Vec<WorkerStatus> {
        self.states()
            .iter()
            .filter(|w| w.state.is_failed())
            .cloned()
            .collect()
    }

    /// Turns `true` when a worker first fails (for gRPC health).
    pub(crate) fn on_failure(&self) -> watch::Receiver<bool> {
        self.inner.failed.subscribe()
    }

    /// Waits until every worker started so far has ended and its end is
    /// recorded (call after the shutdown signal).
    pub(crate) async fn join(&self) {
        let supervisors = std::mem::take(
            &mut *self
                .inner
                .supervisors
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for supervisor in supervisors {
            // A supervisor only records; if even it failed, say so.
            if let Err(err) = supervisor.await {
                tracing::error!(error = %err, "a worker's supervisor failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(30);

    fn workers() -> (Workers, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        (Workers::new(Clock::system(), rx), tx)
    }

    /// Waits (within a generous deadline) until `name` is no longer running.
    async fn ended(workers: &Workers, name: &str) -> WorkerState {
        let mut failed = workers.on_failure();
        tokio::time::timeout(WAIT, async {
            loop {
                let state = workers
                    .status()
                    .into_iter()
                    .find(|w| w.name == name)
                    .map(|w| w.state);
                if let Some(state) = state.filter(|s| *s != WorkerState::Running) {
                    return state;
                }
                let _ = failed.changed().await;
            }
        })
        .await
        .expect("the worker's end is recorded in time")
    }

    #[tokio::test]
    async fn a_panicking_worker_is_reported_with_its_message() {
        let (workers, _tx) = workers();
        workers.spawn("steady", |stop| stop);
        workers.spawn("fragile", |_stop| async { panic!("boom at tick 3") });
        assert_eq!(
            ended(&workers, "fragile").await,
            WorkerState::Panicked("boom at tick 3".into())
        );
        assert!(*workers.on_failure().borrow());
        let status = workers.status();
        assert_eq!(
            status
                .iter()
                .map(|w| (w.name, w.state.to_string()))
                .collect::<Vec<_>>(),
            [
                ("steady", "running".to_string()),
                ("fragile", "panicked: boom at tick 3".to_string())
            ]
        );
        assert_eq!(workers.failed().len(), 1);
    }

    #[tokio::test]
    async fn a_worker_that_ends_before_shutdown_is_a_failure_and_after_it_is_not() {
        let (workers, tx) = workers();
        workers.spawn("quitter", |_stop| async {});
        workers.spawn("patient", |stop| stop);
        assert_eq!(ended(&workers, "quitter").await, WorkerState::Exited);
        tx.send_replace(true);
        tokio::time::timeout(WAIT, workers.join())
            .await
            .expect("workers stop at shutdown");
        let states: Vec<_> = workers.status().into_iter().map(|w| w.state).collect();
        assert_eq!(states, [WorkerState::Exited, WorkerState::Stopped]);
    }
}
