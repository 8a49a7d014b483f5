//! Time, injectable so tests can move it instead of sleeping: the clock the
//! agent uses too (`cairn-clock`).

pub use cairn_clock::{Clock, ManualClock, Moves};
