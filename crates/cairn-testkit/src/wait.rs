//! Waiting on a condition, never on the clock alone: every wait has a
//! deadline of its own and looks again after one short pause.

use std::time::Duration;

/// How often a waiting test asks again.
const POLL: Duration = Duration::from_millis(50);

/// The pause between two looks of a test that waits on a condition
/// (always under a deadline of its own): one poll interval for all.
pub async fn poll_pause() {
    tokio::time::sleep(POLL).await;
}

/// Waits until `check` holds, failing the test naming `what` after `within`.
pub async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        poll_pause().await;
    }
}
