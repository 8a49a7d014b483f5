//! One place decides what a failed session means: retry soon, wait long
//! (the server refused this identity), or give up (retrying cannot help).

use tonic::{Code, Status};

/// What to do after a session ended with a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A passing fault: reconnect with the ordinary backoff.
    Retry,
    /// The server refused this identity (rejected, revoked, deleted): wait
    /// the long refused backoff before announcing again.
    Refused,
    /// Nothing will change by retrying (a configuration error): stop.
    Fatal,
}

/// The recovery policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recover;

impl Recover {
    /// Classifies how a session ended.
    pub fn classify(&self, status: &Status) -> Verdict {
        match status.code() {
            Code::PermissionDenied | Code::Unauthenticated => Verdict::Refused,
            // Our own messages were refused as malformed: a retry sends the
            // same, so wait long rather than loop.
            Code::InvalidArgument | Code::FailedPrecondition => Verdict::Refused,
            // The server does not speak this protocol (wrong URL or version).
            Code::Unimplemented => Verdict::Fatal,
            // Unavailable, a transport error, a duplicate stream still being
            // torn down, the server shutting down, an oversize message…
            _ => Verdict::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_verdicts() {
        let r = Recover;
        assert_eq!(r.classify(&Status::unavailable("down")), Verdict::Retry);
        assert_eq!(r.classify(&Status::already_exists("dup")), Verdict::Retry);
        assert_eq!(
            r.classify(&Status::permission_denied("revoked")),
            Verdict::Refused
        );
        assert_eq!(
            r.classify(&Status::unimplemented("no such service")),
            Verdict::Fatal
        );
    }
}
