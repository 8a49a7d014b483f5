//! Login rate limiting: failed attempts are counted per account and per
//! client address over a sliding window. Once either count reaches its limit,
//! further attempts are refused before the password is even checked, until
//! the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use cairn_store::Millis;

/// Keys kept at most per map; beyond it, stale keys are swept (bounded memory
/// against someone spraying random usernames).
const MAX_KEYS: usize = 50_000;

/// Counts failed logins.
#[derive(Debug)]
pub struct LoginLimiter {
    window: Millis,
    per_account: u32,
    per_client: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, VecDeque<Millis>>,
    clients: HashMap<String, VecDeque<Millis>>,
}

impl LoginLimiter {
    /// A limiter allowing `per_account` and `per_client` failures per `window`.
    pub fn new(window: Duration, per_account: u32, per_client: u32) -> Self {
        Self {
            window: window.as_millis() as Millis,
            per_account,
            per_client,
            state: Mutex::new(State::default()),
        }
    }

    /// `Some(wait)` if an attempt for `account` from `client` must be refused now.
    pub fn check(&self, account: &str, client: Option<&str>, now: Millis) -> Option<Duration> {
        let mut state = self.lock();
        let account_wait = blocked(
            state.accounts.get_mut(&account.to_lowercase()),
            self.per_account,
            self.window,
            now,
        );
        let client_wait = client
            .and_then(|c| blocked(state.clients.get_mut(c), self.per_client, self.window, now));
        account_wait.max(client_wait)
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, account: &str, client: Option<&str>, now: Millis) {
        let mut state = self.lock();
        let window = self.window;
        push(&mut state.accounts, account.to_lowercase(), now, window);
        if let Some(client) = client {
            push(&mut state.clients, client.to_string(), now, window);
        }
    }

    /// Forgets an account's failures after a successful login. The client's
    /// count stays: one success must not reset a spray across accounts.
    pub fn record_success(&self, account: &str) {
        self.lock().accounts.remove(&account.to_lowercase());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of a
        // counter; the counts are still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn blocked(
    times: Option<&mut VecDeque<Millis>>,
    limit: u32,
    window: Millis,
    now: Millis,
) -> Option<Duration> {
    let times = times?;
    while times.front().is_some_and(|&t| t <= now - window) {
        times.pop_front();
    }
    if times.len() >= limit as usize {
        let oldest = times.front().copied().unwrap_or(now);
        Some(Duration::from_millis(
            (oldest + window - now).max(1000) as u64
        ))
    } else {
        None
    }
}

pub(crate) fn push(
    map: &mut HashMap<String, VecDeque<Millis>>,
    key: String,
    now: Millis,
    window: Millis,
) {
    if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        map.retain(|_, times| times.back().is_some_and(|&t| t > now - window));
    }
    let times = map.entry(key).or_default();
    times.push_back(now);
    // Only the newest failures matter; keep the queue short.
    while times.len() > 1024 {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    #[test]
    fn the_attempt_after_the_limit_is_refused_until_the_window_passes() {
        let limiter = LoginLimiter::new(Duration::from_secs(600), 3, 100);
        for _ in 0..3 {
            assert!(limiter.check("ann", Some("1.2.3.4"), 0).is_none());
            limiter.record_failure("ann", Some("1.2.3.4"), 0);
        }
        let wait = limiter.check("ANN", Some("5.6.7.8"), MIN).expect("blocked");
        assert_eq!(wait, Duration::from_secs(540));
        assert!(
            limiter.check("ann", None, 10 * MIN).is_none(),
            "window passed"
        );
        assert!(
            limiter.check("bob", Some("1.2.3.4"), MIN).is_none(),
            "other account free"
        );
    }

    #[test]
    fn a_client_spraying_accounts_is_refused() {
        let limiter = LoginLimiter::new(Duration::from_secs(600), 100, 2);
        limiter.record_failure("a", Some("9.9.9.9"), 0);
        limiter.record_failure("b", Some("9.9.9.9"), 0);
        assert!(limiter.check("c", Some("9.9.9.9"), 1).is_some());
        assert!(limiter.check("c", Some("8.8.8.8"), 1).is_none());
    }

    #[test]
    fn success_clears_the_account_only() {
        let limiter = LoginLimiter::new(Duration::from_secs(600), 1, 1);
        limiter.record_failure("ann", Some("1.1.1.1"), 0);
        limiter.record_success("ann");
        assert!(limiter.check("ann", None, 1).is_none());
        assert!(limiter.check("ann", Some("1.1.1.1"), 1).is_some());
    }
}
