//! The shape every periodic background worker shares: run a step every
//! interval until shutdown, logging (not ending on) a failed step.

use std::future::Future;
use std::time::Duration;

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
