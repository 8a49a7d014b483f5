//! The one place service errors become gRPC statuses.

use tonic::{Code, Status};

use crate::ServiceError;

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Status {
        let code = match &err {
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::InvalidArgument { .. } => Code::InvalidArgument,
            ServiceError::NotFound(_) => Code::NotFound,
            ServiceError::AlreadyExists(_) => Code::AlreadyExists,
            ServiceError::RateLimited { .. } => Code::ResourceExhausted,
            ServiceError::FailedPrecondition(_) => Code::FailedPrecondition,
            ServiceError::Refused(_) => Code::PermissionDenied,
            ServiceError::Unavailable(_) => Code::Unavailable,
            ServiceError::TooLarge(_) => Code::ResourceExhausted,
            ServiceError::Unsupported(_) => Code::Unimplemented,
            ServiceError::Internal(_) => Code::Internal,
        };
        // `Internal`'s detail was logged where it happened; its Display is a
        // plain "internal error", so nothing of the server leaks to callers.
        Status::new(code, err.to_string())
    }
}
