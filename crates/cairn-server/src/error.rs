//! The service layer's error: one enum, mapped once to a gRPC status (in
//! `grpc::status`) and once to an HTTP response (in cairn-web).

use std::time::Duration;

use cairn_store::StoreError;

/// Why a service call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No valid credentials came with the call.
    #[error("not signed in: {0}")]
    Unauthenticated(&'static str),
    /// The caller is known but may not do this.
    #[error("permission denied: this needs {need} permission")]
    PermissionDenied { need: &'static str },
    /// An argument is invalid; `field` names it.
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The thing to create exists already.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// Too many attempts; try again after the given time.
    #[error("too many attempts; try again in {} s", .retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// The call is valid but the server is not in a state to do it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A peer (an agent) is turned away, for the reason given.
    #[error("{0}")]
    Refused(String),
    /// The server cannot do it now (shutting down, a peer gone silent);
    /// trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// The peer asked for something this server does not implement (an
    /// encoding, a method).
    #[error("{0}")]
    Unsupported(String),
    /// What was sent is larger than the server accepts.
    #[error("{0}")]
    TooLarge(String),
    /// Something failed inside the server. The detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

/// Results of service calls.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// An invalid argument naming its field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ServiceError::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what } => ServiceError::NotFound(what),
            StoreError::Conflict { what } => ServiceError::AlreadyExists(what),
            other if other.storage_fault().is_some() => {
                let why = other.storage_fault().unwrap_or_default();
                ServiceError::Unavailable(format!(
                    "the server cannot write its database now ({why}): nothing was changed; try again once space is freed"
                ))
            }
            other => {
                tracing::error!(error = %other, "store error");
                ServiceError::Internal(other.to_string())
            }
        }
    }
}
