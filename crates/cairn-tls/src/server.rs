//! The server's certificate: given (cert and key files), or self-signed in
//! the data dir on first start and reused afterwards.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{TlsError, fingerprint, provider};

/// The certificate chain and key the server presents.
pub struct ServerIdentity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    fingerprint: String,
    self_signed: bool,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("fingerprint", &self.fingerprint)
            .field("self_signed", &self.self_signed)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = fs::read(path).map_err(io_err(path))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            reason: "no certificate in the file".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mode = fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            reason: format!(
                "private key has mode {mode:04o}: it must be readable by its owner only (chmod 600)"
            ),
        });
    }
    let pem = fs::read(path).map_err(io_err(path))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl ServerIdentity {
    /// Loads a certificate chain and its private key (PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<ServerIdentity, TlsError> {
        let certs = read_certs(cert)?;
        let key = read_key(key)?;
        let fingerprint = fingerprint(&certs[0]);
        Ok(ServerIdentity {
            certs,
            key,
            fingerprint,
            self_signed: false,
        })
    }

    /// Loads the self-signed certificate kept in `dir`, making it on first
    /// use for `names` (DNS names or IP addresses). Returns whether it was
    /// just made.
    pub fn load_or_create_self_signed(
        dir: &Path,
        names: &[String],
    ) -> Result<(ServerIdentity, bool), TlsError> {
        let cert_path = dir.join("tls-cert.pem");
        let key_path = dir.join("tls-key.pem");
        if cert_path.exists() && key_path.exists() {
            let mut identity = ServerIdentity::load(&cert_path, &key_path)?;
            identity.self_signed = true;
            return Ok((identity, false));
        }
        let mut params = rcgen::CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Cairn server (self-signed)");
        let key_pair = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key_pair)?;
        write_private(&key_path, key_pair.serialize_pem().as_bytes())?;
        fs::write(&cert_path, cert.pem()).map_err(io_err(&cert_path))?;
        let mut identity = ServerIdentity::load(&cert_path, &key_path)?;
        identity.self_signed = true;
        Ok((identity, true))
    }

    /// `sha256:<hex>` of the leaf certificate: what agents pin.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether the certificate was made by the server itself.
    pub fn is_self_signed(&self) -> bool {
        self.self_signed
    }

    /// A TLS acceptor offering HTTP/2 (gRPC) and HTTP/1.1 (browsers) by ALPN.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Where the self-signed files live in `dir`.
    pub fn self_signed_paths(dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join("tls-cert.pem"), dir.join("tls-key.pem"))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_keeps_its_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (first, created) =
            ServerIdentity::load_or_create_self_signed(dir.path(), &names).expect("make");
        assert!(created && first.is_self_signed());
        let (again, created) =
            ServerIdentity::load_or_create_self_signed(dir.path(), &names).expect("load");
        assert!(!created);
        assert_eq!(first.fingerprint(), again.fingerprint());
        let key_mode = fs::metadata(dir.path().join("tls-key.pem"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(key_mode, 0o600);
        again.acceptor().expect("acceptor");
    }

    #[test]
    fn an_open_key_or_a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        ServerIdentity::load_or_create_self_signed(dir.path(), &["localhost".into()])
            .expect("make");
        let (cert, key) = ServerIdentity::self_signed_paths(dir.path());
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = ServerIdentity::load(&cert, &key).expect_err("open key");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&cert, "not a certificate").expect("write");
        assert!(matches!(
            ServerIdentity::load(&cert, &key),
            Err(TlsError::Pem { .. })
        ));
    }
}
