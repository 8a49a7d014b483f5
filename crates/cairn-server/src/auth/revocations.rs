//! Word that some sign-in may have ended: a session signed out or
//! discarded, an account disabled or its role changed. Whatever holds a
//! session open for long (the console's live streams) checks its own session
//! again at once on this word, rather than at its next periodic check.

use std::sync::Arc;

use tokio::sync::watch;

/// A counter bumped at every revocation; subscribers wake on each bump.
#[derive(Debug, Clone)]
pub struct Revocations(Arc<watch::Sender<u64>>);

impl Default for Revocations {
    fn default() -> Self {
        Revocations(Arc::new(watch::channel(0).0))
    }
}

impl Revocations {
    /// Says that some sign-in may have ended.
    pub(crate) fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver whose `changed()` resolves at the next bump.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
