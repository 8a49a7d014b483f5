//! Time, injectable: the server and the agent read "now" from a [`Clock`],
//! and tests move a manual one by hand instead of sleeping, so leases,
//! liveness, schedules and catch-up are tested the same on a loaded machine
//! as on an idle one.
//!
//! A manual clock also tells its readers when it moved ([`Clock::moved`]),
//! so a loop that sleeps until the next firing wakes when a test jumps past
//! it.

#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The system clock's now, in ms since the epoch (0 before 1970).
pub fn system_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Clone)]
enum Source {
    System,
    Manual {
        hand: Arc<AtomicI64>,
        moved: watch::Receiver<()>,
    },
}

/// A source of "now" in milliseconds since the epoch.
#[derive(Clone)]
pub struct Clock(Source);

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::System => write!(f, "Clock(system)"),
            Source::Manual { .. } => write!(f, "Clock(manual, {})", self.now()),
        }
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands still until moved; returns the clock and its hand.
    pub fn manual(start: Millis) -> (Clock, ManualClock) {
        let hand = Arc::new(AtomicI64::new(start));
        let (tx, moved) = watch::channel(());
        (
            Clock(Source::Manual {
                hand: hand.clone(),
                moved,
            }),
            ManualClock {
                hand,
                moved: Arc::new(tx),
            },
        )
    }

    /// Now.
    pub fn now(&self) -> Millis {
        match &self.0 {
            Source::System => system_now(),
            Source::Manual { hand, .. } => hand.load(Ordering::SeqCst),
        }
    }

    /// Follows this clock's moves: a loop that sleeps until the next firing
    /// waits on [`Moves::moved`] too, so a test's jump wakes it.
    pub fn moves(&self) -> Moves {
        Moves(match &self.0 {
            Source::System => None,
            Source::Manual { moved, .. } => Some(moved.clone()),
        })
    }
}

/// The moves of a clock, as one reader has seen them.
#[derive(Debug)]
pub struct Moves(Option<watch::Receiver<()>>);

impl Moves {
    /// Marks every move so far as seen: call it before reading the clock.
    pub fn seen(&mut self) {
        if let Some(moved) = &mut self.0 {
            moved.borrow_and_update();
        }
    }

    /// Resolves when a manual clock has moved since [`Moves::seen`]; never
    /// for the system clock (which moves by itself: sleep for that).
    pub async fn moved(&mut self) {
        match &mut self.0 {
            Some(moved) => {
                if moved.changed().await.is_err() {
                    // The hand is gone: the clock never moves again.
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }
}

/// Moves a manual clock.
#[derive(Debug, Clone)]
pub struct ManualClock {
    hand: Arc<AtomicI64>,
    moved: Arc<watch::Sender<()>>,
}

impl ManualClock {
    /// Moves the clock forward and wakes whoever waits on [`Clock::moved`].
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.hand.fetch_add(by, Ordering::SeqCst);
        self.moved.send_replace(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_by_hand_and_says_so() {
        let (clock, hand) = Clock::manual(1_000);
        assert_eq!(clock.now(), 1_000);
        let mut moves = clock.moves();
        moves.seen();
        // A move made before the wait begins is not lost.
        hand.advance(Duration::from_secs(2));
        moves.moved().await;
        assert_eq!(clock.now(), 3_000);
        moves.seen();
        let waiter = tokio::spawn(async move {
            moves.moved().await;
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        hand.advance(Duration::from_secs(1));
        waiter.await.expect("woken by the move");
        assert_eq!(clock.now(), 4_000);
        assert!(Clock::system().now() > 1_700_000_000_000);
    }
}
