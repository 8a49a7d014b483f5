//! The key file: 32 random bytes, created at first start with mode 0600, and
//! refused at every start if anyone but its owner may read or write it, or if
//! it is not exactly 32 bytes.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::{KEY_LEN, Sealer};

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Group or others have some access: the key would not be secret.
    #[error(
        "key file {path} has mode {mode:04o}: it must be readable by its owner only (run `chmod 600 {path}`)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    /// The file is not 32 bytes.
    #[error(
        "key file {path} is malformed: it holds {len} bytes, a sealing key is exactly {KEY_LEN}"
    )]
    Malformed { path: PathBuf, len: usize },
    /// Reading or creating the file failed.
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Loads the sealing key from `path`, creating it (mode 0600, 32 random bytes)
/// if it does not exist. Returns the sealer and whether the key was just made.
pub fn load_or_create_key_file(path: &Path) -> Result<(Sealer, bool), KeyFileError> {
    let io_err = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let mut key = [0u8; KEY_LEN];
            rand::rng().fill_bytes(&mut key);
            file.write_all(&key).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            return Ok((Sealer::new(&key), true));
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io_err(err)),
    }

    let mode = fs::metadata(path).map_err(io_err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Vec::with_capacity(KEY_LEN + 1);
    fs::File::open(path)
        .map_err(io_err)?
        // One byte more than a key, so a longer file is caught without
        // reading an arbitrarily large one.
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    let key: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::Malformed {
            path: path.to_path_buf(),
            len: bytes.len(),
        })?;
    Ok((Sealer::new(&key), false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SealContext;

    #[test]
    fn created_with_owner_only_mode_and_reloaded_as_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seal.key");
        let (first, created) = load_or_create_key_file(&path).expect("create");
        assert!(created);
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let (again, created) = load_or_create_key_file(&path).expect("reload");
        assert!(!created);
        let ctx = SealContext::new("t", 1, "c");
        assert_eq!(
            again.open(ctx, &first.seal(ctx, b"v").expect("seal")),
            Ok(b"v".to_vec())
        );
    }

    #[test]
    fn group_or_world_readable_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seal.key");
        load_or_create_key_file(&path).expect("create");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            let err = load_or_create_key_file(&path).expect_err("must refuse");
            assert!(matches!(err, KeyFileError::Permissions { .. }), "{err}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn wrong_length_is_malformed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for len in [0usize, 31, 33, 64] {
            let path = dir.path().join(format!("k{len}"));
            fs::write(&path, vec![7u8; len]).expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            let err = load_or_create_key_file(&path).expect_err("must refuse");
            assert!(matches!(err, KeyFileError::Malformed { .. }), "{err}");
        }
    }
}
