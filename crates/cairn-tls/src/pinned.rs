//! The agent's side: a client configuration that trusts a pinned
//! fingerprint, a CA file, or the system's roots.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::{TlsError, Trust, fingerprint, provider};

/// Tells whether the last handshake failed because the server's certificate
/// did not match the pinned fingerprint, and what it presented instead.
#[derive(Debug, Clone, Default)]
pub struct MismatchProbe(Arc<Mutex<Option<String>>>);

impl MismatchProbe {
    /// The fingerprint the server presented, if a pin did not match.
    pub fn mismatch(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, seen: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
    }
}

/// Accepts exactly one certificate, by fingerprint. Names and expiry are not
/// checked: the pin is the whole of the trust (as with SSH host keys).
/// Handshake signatures are still verified, so only the key's owner passes.
#[derive(Debug)]
struct PinnedVerifier {
    expected: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
    probe: MismatchProbe,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if seen == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            self.probe.record(fingerprint(end_entity.as_ref()));
            Err(rustls::Error::General(
                "server certificate does not match the pinned fingerprint".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client configuration for `trust`, offering HTTP/2 by ALPN, and the probe
/// that reports a pin mismatch.
pub fn client_config(trust: &Trust) -> Result<(Arc<ClientConfig>, MismatchProbe), TlsError> {
    let provider = provider();
    let probe = MismatchProbe::default();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = match trust {
        Trust::Pinned(expected) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                expected: *expected,
                algorithms: provider.signature_verification_algorithms,
                probe: probe.clone(),
            }))
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let pem = std::fs::read(path).map_err(|source| TlsError::Io {
                path: path.clone(),
                source,
            })?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::Pem {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                roots.add(cert)?;
            }
            if roots.is_empty() {
                return Err(TlsError::Pem {
                    path: path.clone(),
                    reason: "no CA certificate in the file".into(),
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::System => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "reading the system's CA certificates");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!(
                    "no system CA certificates found: only pinned or CA-file trust can work"
                );
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((Arc::new(config), probe))
}
