//! TLS for Cairn's one port and its agents.
//!
//! The server serves a certificate it is given, or makes a self-signed one in
//! its data dir on first start and keeps it (so its fingerprint stays the
//! same across restarts). Agents trust the server either by pinning that
//! certificate's SHA-256 fingerprint, or through a CA file, or through the
//! system's roots. A pinned fingerprint that does not match is reported as
//! such, so the agent can stop with a clear error instead of retrying.
//!
//! One crypto provider (ring) is used explicitly everywhere, so no build can
//! end up with two and no default to guess.

#![forbid(unsafe_code)]

mod connect;
mod pinned;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use sha2::{Digest, Sha256};

pub use connect::connector;
pub use pinned::{MismatchProbe, client_config};
pub use rustls::pki_types::ServerName;
pub use server::ServerIdentity;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What can go wrong with TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    /// A fingerprint is not `sha256:` and 64 hex digits.
    #[error("invalid fingerprint {0:?}: expected sha256: followed by 64 hex digits")]
    Fingerprint(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("making a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The crypto provider every Cairn TLS configuration uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `sha256:<64 hex digits>` of a DER certificate: what operators pin.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// Parses a pinned fingerprint: `sha256:` then 64 hex digits, colons allowed
/// between byte pairs, any case.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], TlsError> {
    let err = || TlsError::Fingerprint(text.chars().take(100).collect());
    let hex_part = text
        .trim()
        .strip_prefix("sha256:")
        .ok_or_else(err)?
        .replace(':', "");
    let bytes = hex::decode(hex_part.to_ascii_lowercase()).map_err(|_| err())?;
    bytes.try_into().map_err(|_| err())
}

/// How an agent decides to trust the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Only the certificate with this SHA-256 fingerprint.
    Pinned([u8; 32]),
    /// Certificates chaining to the CAs in this PEM file.
    CaFile(PathBuf),
    /// The system's trusted roots.
    System,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_in_several_spellings() {
        let fp = fingerprint(b"certificate bytes");
        let parsed = parse_fingerprint(&fp).expect("parse");
        assert_eq!(
            fingerprint(b"certificate bytes"),
            format!("sha256:{}", hex::encode(parsed))
        );
        let with_colons = format!(
            "sha256:{}",
            hex::encode_upper(parsed)
                .as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(":")
        );
        assert_eq!(parse_fingerprint(&with_colons).expect("colons"), parsed);
        for bad in ["", "sha1:abcd", "sha256:xyz", "sha256:abcd", "deadbeef"] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
    }
}
