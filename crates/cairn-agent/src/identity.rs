//! The agent's identity: 256 random bits made at first start, kept in the
//! state dir with mode 0600, and refused if anyone else may read it. The
//! server stores only a hash; both sides show the same short fingerprint.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const FILE: &str = "identity";

/// Why the identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The identity file may be read by others.
    #[error(
        "identity file {path} has mode {mode:04o}: it must be readable by its owner only (chmod 600)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    /// The file does not hold an identity.
    #[error("identity file {path} is malformed; move it away to announce as a new agent")]
    Malformed { path: PathBuf },
    /// Reading or writing failed.
    #[error("state dir {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The agent's identity token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    token: String,
    fingerprint: String,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads the identity from `state_dir`, making the dir (0700) and a new
    /// identity (0600) on first start. Returns whether it was just made.
    pub fn load_or_create(state_dir: &Path) -> Result<(Identity, bool), IdentityError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IdentityError::Io { path, source }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(io_err(state_dir))?;
        let path = state_dir.join(FILE);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                let identity = Identity::generate();
                file.write_all(identity.token.as_bytes())
                    .map_err(io_err(&path))?;
                file.sync_all().map_err(io_err(&path))?;
                return Ok((identity, true));
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io_err(&path)(err)),
        }
        let mode = fs::metadata(&path)
            .map_err(io_err(&path))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::Permissions { path, mode });
        }
        let token = fs::read_to_string(&path)
            .map_err(io_err(&path))?
            .trim()
            .to_string();
        let valid = STANDARD.decode(&token).is_ok_and(|bytes| bytes.len() == 32);
        if !valid {
            return Err(IdentityError::Malformed { path });
        }
        Ok((Identity::from_token(token), false))
    }

    /// A new identity, in memory only: 32 random bytes, base64. An agent
    /// keeps its identity with [`Identity::load_or_create`]; this is for
    /// what simulates many agents at once.
    pub fn generate() -> Identity {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Identity::from_token(STANDARD.encode(bytes))
    }

    fn from_token(token: String) -> Identity {
        let fingerprint = cairn_seal::identity_fingerprint(&token);
        Identity { token, fingerprint }
    }

    /// The secret, for the `Hello` only.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The short fingerprint an operator compares before approving.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let (first, created) = Identity::load_or_create(&state).expect("create");
        assert!(created);
        let mode = fs::metadata(state.join(FILE))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = Identity::load_or_create(&state).expect("load");
        assert!(!created);
        assert_eq!(first, again);
        assert!(!format!("{first:?}").contains(first.token()));
    }

    #[test]
    fn generated_identities_are_distinct_and_well_formed() {
        let (one, two) = (Identity::generate(), Identity::generate());
        assert_ne!(one, two);
        for identity in [&one, &two] {
            let bytes = STANDARD.decode(identity.token()).expect("base64");
            assert_eq!(bytes.len(), 32);
            assert_eq!(
                identity.fingerprint(),
                cairn_seal::identity_fingerprint(identity.token())
            );
        }
    }

    #[test]
    fn an_open_or_broken_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        Identity::load_or_create(dir.path()).expect("create");
        let path = dir.path().join(FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            Identity::load_or_create(dir.path()),
            Err(IdentityError::Permissions { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&path, "not base64!").expect("write");
        assert!(matches!(
            Identity::load_or_create(dir.path()),
            Err(IdentityError::Malformed { .. })
        ));
    }
}
