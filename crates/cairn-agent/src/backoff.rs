//! Reconnect delays: capped exponential backoff with full jitter, so a fleet
//! that lost its server does not come back in lockstep.

use std::time::Duration;

use rand::Rng;

/// The delay before the next reconnect attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays start below `base` and double up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay: uniform in `[0, min(cap, base · 2^attempt)]`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Starts over after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_are_jittered() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(backoff.ceiling());
            let delay = backoff.next_delay();
            assert!(delay <= *ceilings.last().expect("ceiling"));
        }
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[7], Duration::from_secs(2));
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));

        let draws: std::collections::HashSet<_> = (0..50)
            .map(|_| Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).next_delay())
            .collect();
        assert!(draws.len() > 1, "full jitter spreads reconnects");
    }
}
