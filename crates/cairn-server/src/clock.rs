//! Time, injectable so tests can move it instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use cairn_store::Millis;

/// A source of "now" in milliseconds since the epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Millis + Send + Sync>);

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(cairn_store::now_millis))
    }

    /// A clock that stands still until moved; returns the clock and its hand.
    pub fn manual(start: Millis) -> (Clock, ManualClock) {
        let hand = Arc::new(AtomicI64::new(start));
        let read = hand.clone();
        (
            Clock(Arc::new(move || read.load(Ordering::SeqCst))),
            ManualClock(hand),
        )
    }

    /// Now.
    pub fn now(&self) -> Millis {
        (self.0)()
    }
}

/// Moves a manual clock.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}
