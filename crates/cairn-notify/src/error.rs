//! Why a notification did not go out. Every message is written for the
//! operator who reads it on the channel's page, and never holds a secret
//! (URLs are shown with their path and query hidden).

/// A destination the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address is not public and private targets are not allowed.
    #[error("{address} is {reason}; set allow_private_notification_targets to allow it")]
    NotPublic {
        address: String,
        reason: &'static str,
    },
    /// A name resolves to a refused address.
    #[error(
        "{name} resolves to {address}, which is {reason}; set allow_private_notification_targets to allow it"
    )]
    NameNotPublic {
        name: String,
        address: String,
        reason: &'static str,
    },
    /// The URL cannot be a destination.
    #[error("not a usable URL: {0}")]
    BadUrl(String),
    /// The name did not resolve.
    #[error("could not resolve {host}: {reason}")]
    Unresolved { host: String, reason: String },
}

impl Refused {
    /// The refusal of an address that `name` resolved to.
    pub(crate) fn for_name(self, name: &str) -> Refused {
        match self {
            Refused::NotPublic { address, reason } => Refused::NameNotPublic {
                name: name.to_string(),
                address,
                reason,
            },
            other => other,
        }
    }
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The guard refused the destination.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The channel's settings cannot be sent with (a missing secret, a bad
    /// address).
    #[error("{0}")]
    Config(String),
    /// The receiving end answered a redirect, which is never followed.
    #[error(
        "{destination} answered {status} redirecting to {location}; redirects are not followed{why}"
    )]
    Redirect {
        destination: String,
        status: u16,
        location: String,
        /// Why the redirect target would have been refused too, if it would.
        why: String,
    },
    /// The receiving end answered with an error status.
    #[error("{destination} answered {status}{body}")]
    Status {
        destination: String,
        status: u16,
        /// The start of the answer's body, after ": ", or empty.
        body: String,
    },
    /// The request did not complete (connect, TLS, timeout).
    #[error("{destination}: {reason}")]
    Transport { destination: String, reason: String },
    /// The SMTP server refused or the conversation failed.
    #[error("SMTP {server}: {reason}")]
    Smtp { server: String, reason: String },
}

/// `err`'s causes, each after ": " (what a reqwest or lettre error says
/// only in its sources).
pub(crate) fn causes(err: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
