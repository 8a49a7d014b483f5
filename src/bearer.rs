//! The API's credential on every call: `authorization: Bearer <token>`, as
//! `cairn ctl` and scripts send it. The token is redacted in `Debug`.

use tonic::metadata::{Ascii, MetadataValue};

/// Adds `authorization: Bearer …` to every call it intercepts.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// The interceptor for `token`; `None` when the token cannot be a header
    /// value (a control character, say).
    pub fn new(token: &str) -> Option<Bearer> {
        MetadataValue::try_from(format!("Bearer {token}"))
            .ok()
            .map(Bearer)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}
