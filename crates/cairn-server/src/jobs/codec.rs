//! Protocol messages stored in job rows (spec, progress, summary), encoded as
//! base64 protobuf text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ServiceError;

/// Encodes a message for a job row.
pub fn encode<M: prost::Message>(message: &M) -> String {
    STANDARD.encode(message.encode_to_vec())
}

/// Decodes a message from a job row.
pub fn decode<M: prost::Message + Default>(text: &str) -> Result<M, ServiceError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| ServiceError::Internal(format!("stored job field is not base64: {e}")))?;
    M::decode(bytes.as_slice())
        .map_err(|e| ServiceError::Internal(format!("stored job field does not decode: {e}")))
}
