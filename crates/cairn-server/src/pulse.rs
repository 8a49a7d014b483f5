//! The fleet's pulse: a counter that moves whenever something an overview
//! shows may have changed (a job's state or progress, a host connecting or
//! going, a host approved or removed). Live views (the dashboard's SSE
//! stream) wait on it and then read the services afresh.
//!
//! It is a `watch` channel on purpose: a watcher sees only the latest beat,
//! so one that falls behind has nothing to catch up on and can never slow
//! the agents' reports or the other watchers.

use std::sync::Arc;

use tokio::sync::watch;

/// See the module docs; cheap to clone (every clone beats the same pulse).
#[derive(Debug, Clone)]
pub struct Pulse(Arc<watch::Sender<u64>>);

impl Default for Pulse {
    fn default() -> Pulse {
        Pulse(Arc::new(watch::channel(0).0))
    }
}

impl Pulse {
    /// Something changed.
    pub(crate) fn beat(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Follows the beats from now on: `changed()` resolves at the next one.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watcher_sees_the_latest_beat_once_however_many_it_missed() {
        let pulse = Pulse::default();
        let mut rx = pulse.subscribe();
        for _ in 0..1000 {
            pulse.clone().beat();
        }
        rx.changed().await.expect("the pulse lives");
        assert_eq!(*rx.borrow_and_update(), 1000);
        assert!(!rx.has_changed().expect("the pulse lives"));
    }
}
