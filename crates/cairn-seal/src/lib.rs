//! Secrets at rest.
//!
//! Every secret Cairn keeps (a repository password, a backend's keys, a
//! notification channel's credentials) is sealed with XChaCha20-Poly1305 under
//! one 32-byte key that lives in a file beside the database, never inside it. A
//! stolen database without the key file reveals no secret.
//!
//! Each sealed value is bound to where it is stored (table, row id, column) as
//! associated data, so a ciphertext copied into another row or column fails to
//! open instead of yielding another row's secret. A value that fails to open is
//! always an error, never plaintext.

#![forbid(unsafe_code)]

mod key_file;

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

pub use key_file::{KeyFileError, load_or_create_key_file};

/// The first byte of every sealed value: the format, so a future format can be
/// told apart and old rows re-sealed by key rotation.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Length of a sealing key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The value is shorter than a header and a tag, or has an unknown format.
    #[error("sealed value is malformed")]
    Malformed,
    /// The value is too large to seal (beyond the cipher's 256 GiB limit).
    #[error("value is too large to seal")]
    TooLarge,
    /// The key is wrong, the value was altered, or it belongs to another place.
    #[error("sealed value does not open: wrong key, altered value, or another row's secret")]
    Rejected,
}

/// Where a sealed value is stored. It is bound into the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    /// The table, e.g. `repositories`.
    pub table: &'a str,
    /// The row's id.
    pub row_id: i64,
    /// The column, e.g. `password_sealed`.
    pub column: &'a str,
}

impl<'a> SealContext<'a> {
    /// A context for `table.column` of row `row_id`.
    pub fn new(table: &'a str, row_id: i64, column: &'a str) -> Self {
        Self {
            table,
            row_id,
            column,
        }
    }

    /// The associated data. Lengths are spelled out so that no two contexts
    /// can encode to the same bytes (`a|b` + `c` versus `a` + `b|c`).
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "cairn-seal-v1:{}:{}:{}:{}:{}",
            self.table.len(),
            self.table,
            self.row_id,
            self.column.len(),
            self.column
        )
        .into_bytes()
    }
}

/// The sealing key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    /// A sealer over a 32-byte key.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        let cipher = XChaCha20Poly1305::new(key.into());
        Self { cipher }
    }

    /// Seals `plaintext` for the place `ctx` names. Every call draws a fresh
    /// random 192-bit nonce, so sealing the same value twice gives different
    /// bytes.
    pub fn seal(&self, ctx: SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = ctx.associated_data();
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::TooLarge)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed for the place `ctx` names.
    pub fn open(&self, ctx: SealContext<'_>, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&format, rest) = sealed.split_first().ok_or(SealError::Malformed)?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Malformed)?;
        let aad = ctx.associated_data();
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Rejected)
    }

    /// Seals a UTF-8 secret.
    pub fn seal_str(&self, ctx: SealContext<'_>, plaintext: &str) -> Result<Vec<u8>, SealError> {
        self.seal(ctx, plaintext.as_bytes())
    }

    /// Opens a UTF-8 secret; a value that is not UTF-8 is malformed.
    pub fn open_string(&self, ctx: SealContext<'_>, sealed: &[u8]) -> Result<String, SealError> {
        String::from_utf8(self.open(ctx, sealed)?).map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; KEY_LEN])
    }

    const CTX: SealContext<'static> = SealContext {
        table: "repositories",
        row_id: 7,
        column: "password_sealed",
    };

    #[test]
    fn round_trip() {
        let s = sealer(1);
        let sealed = s.seal(CTX, b"hunter2").expect("seal");
        assert_eq!(s.open(CTX, &sealed), Ok(b"hunter2".to_vec()));
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn same_value_seals_differently_each_time() {
        let s = sealer(1);
        assert_ne!(s.seal(CTX, b"x").ok(), s.seal(CTX, b"x").ok());
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let s = sealer(1);
        let sealed = s.seal(CTX, b"secret value").expect("seal");
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            let err = s.open(CTX, &tampered);
            assert!(err.is_err(), "flipping byte {i} still opened");
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let sealed = sealer(1).seal(CTX, b"secret").expect("seal");
        assert_eq!(sealer(2).open(CTX, &sealed), Err(SealError::Rejected));
    }

    #[test]
    fn another_row_table_or_column_is_rejected() {
        let s = sealer(1);
        let sealed = s.seal(CTX, b"secret").expect("seal");
        for other in [
            SealContext::new("repositories", 8, "password_sealed"),
            SealContext::new("repositories", 7, "env_sealed"),
            SealContext::new("notification_channels", 7, "password_sealed"),
        ] {
            assert_eq!(s.open(other, &sealed), Err(SealError::Rejected));
        }
    }

    #[test]
    fn contexts_cannot_collide_by_concatenation() {
        let a = SealContext::new("ab", 1, "c").associated_data();
        let b = SealContext::new("a", 1, "bc").associated_data();
        assert_ne!(a, b);
    }

    #[test]
    fn truncated_or_unknown_format_is_malformed() {
        let s = sealer(1);
        let sealed = s.seal(CTX, b"secret").expect("seal");
        assert_eq!(s.open(CTX, &[]), Err(SealError::Malformed));
        assert_eq!(s.open(CTX, &sealed[..20]), Err(SealError::Malformed));
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(s.open(CTX, &v2), Err(SealError::Malformed));
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert_eq!(format!("{:?}", sealer(0x41)), "Sealer(<redacted>)");
    }
}

/// The short fingerprint of an agent's identity token that both the agent
/// and the operator see, to compare before approving: the first 64 bits of
/// its SHA-256, as four groups of four hex digits (`3f2a-9c01-77de-b410`).
pub fn identity_fingerprint(identity_token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(identity_token.as_bytes());
    let hex = hex::encode(&digest[..8]);
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod fingerprint_tests {
    #[test]
    fn fingerprint_is_short_stable_and_grouped() {
        let a = super::identity_fingerprint("token-a");
        assert_eq!(a, super::identity_fingerprint("token-a"));
        assert_ne!(a, super::identity_fingerprint("token-b"));
        assert_eq!(a.len(), 19);
        assert_eq!(a.matches('-').count(), 3);
    }
}
