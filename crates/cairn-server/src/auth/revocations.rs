//! Word that some sign-in may have ended: a session signed out or
//! discarded, an account disabled or its role changed. Whatever holds a
//! session open for long (the console's live streams) checks its own session
//! again at once on this word, rather than at its next periodic check.
//!
//! A pulse of its own (`crate::pulse`): subscribers see only the latest
//! beat, so a burst of sign-outs costs each stream one check.

/// Beats at every revocation; `subscribe()` follows the beats.
pub type Revocations = crate::pulse::Pulse;
