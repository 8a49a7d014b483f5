//! The generic webhook's signature: `X-Cairn-Signature: sha256=<hex>`, the
//! HMAC-SHA256 under the channel's signing secret of
//! `"<X-Cairn-Timestamp>.<body>"`. Binding the timestamp (Unix seconds) lets
//! a receiver refuse replays older than a few minutes; comparing in constant
//! time is the receiver's part (see the book's notifications chapter).

use ring::hmac;

/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Cairn-Timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Cairn-Signature";

/// The `X-Cairn-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

/// Whether `header` is the right signature (constant time): what a
/// receiver does, and what the tests do.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_part) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_part) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = timestamp.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    hmac::verify(&key, &message, &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: python3 -c 'import hmac,hashlib;
        // print(hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest())'
        let sig = signature(b"key", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert!(verify(b"key", 1_700_000_000, b"{}", &sig));
        assert!(!verify(b"key", 1_700_000_001, b"{}", &sig));
        assert!(!verify(b"other", 1_700_000_000, b"{}", &sig));
        assert!(!verify(b"key", 1_700_000_000, b"{}", "sha256=zz"));
    }
}
