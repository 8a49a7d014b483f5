//! The seam between the alert engine and the notification channels: the
//! engine says what changed ([`AlertNotice`]) to a [`NoticeSink`], which
//! routes it to channels and delivers it. The engine neither knows nor waits
//! for the channels; a sink that is slow or down never holds up an alert.

use std::fmt;
use std::sync::Arc;

use cairn_domain::{AlertKind, Millis, Severity};
use futures::future::BoxFuture;

/// What happened to an alert that someone may need to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The condition began to hold.
    Fired,
    /// It still holds and nobody acknowledged it: a reminder.
    StillFiring,
    /// The condition cleared.
    Resolved,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Fired => "fired",
            Transition::StillFiring => "still_firing",
            Transition::Resolved => "resolved",
        }
    }
}

/// One alert transition, with everything a channel needs to word it. No
/// field ever holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotice {
    pub alert_id: i64,
    pub kind: AlertKind,
    pub severity: Severity,
    pub transition: Transition,
    /// The alert's subject ("host:12", "schedule:4").
    pub subject: String,
    /// The host concerned, by name, if any.
    pub host: Option<String>,
    pub host_id: Option<i64>,
    /// What happened, in a sentence.
    pub message: String,
    /// When the alert fired.
    pub fired_at: Millis,
    /// When this transition happened.
    pub at: Millis,
}

/// Where the alert engine sends its notices.
pub trait NoticeSink: Send + Sync + fmt::Debug {
    /// Takes a notice for delivery. Must not wait on a remote end: queue it
    /// and return.
    fn alert_changed(&self, notice: AlertNotice) -> BoxFuture<'_, ()>;
}

/// A sink that drops everything (tests of the engine alone, or a server
/// without channels).
#[derive(Debug, Default)]
pub struct Discard;

impl NoticeSink for Discard {
    fn alert_changed(&self, _notice: AlertNotice) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The sink handle the engine holds.
pub type Notices = Arc<dyn NoticeSink>;
