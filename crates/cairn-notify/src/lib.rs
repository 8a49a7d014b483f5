//! Sending one notification out, safely. Knows no store and no gRPC: the
//! server hands it a channel's settings, its opened secrets and what to
//! send, and gets back what happened.
//!
//! - [`guard`]: which destinations are refused (every spelling of loopback,
//!   private, link-local, CGNAT, metadata and other non-public addresses),
//!   resolving names and checking every address;
//! - [`Sender`]: one send per channel kind (webhook, SMTP, ntfy, Gotify,
//!   Slack, Discord, healthchecks), each pinned to the checked addresses,
//!   following no redirect, within timeouts;
//! - [`sign`]: the webhook signature scheme.

#![forbid(unsafe_code)]

mod channel;
mod error;
pub mod guard;
mod http;
mod message;
mod send;
pub mod sign;
mod smtp;

pub use channel::{Kind, Route, Secrets, Settings, SmtpTls};
pub use error::{Refused, SendError};
pub use guard::Policy;
pub use http::shown as shown_url;
pub use message::{Notice, Outgoing, PingPhase};
pub use send::{Invalid, NTFY_DEFAULT, Sender};
