//! Telling the right key file from a missing or a wrong one, before
//! anything sealed is read: a value sealed when the database was made is
//! opened at every start.

use cairn_seal::{SealContext, SealError, Sealer};
use cairn_store::{SettingKey, Store};

use super::StartError;
use crate::clock::Clock;
use crate::config::ServerConfig;

/// The value sealed under the key when a database is created. Opening it at
/// every start tells the right key file from a wrong one before anything
/// else is decrypted.
const SEAL_CHECK: &[u8] = b"cairn seal check v1";
fn seal_check_context() -> SealContext<'static> {
    SealContext::new("settings", 0, "seal_check")
}

/// Refuses to start when the key file is gone and the database was sealed
/// with it, before a new key is made: a new key cannot open its secrets,
/// and left behind it would make every later start report a wrong key
/// instead of the missing one.
pub(super) async fn refuse_a_missing_key(config: &ServerConfig) -> Result<(), StartError> {
    let (key, database) = (config.key_path(), config.database_path());
    if key.exists() || !database.exists() {
        return Ok(());
    }
    let store = Store::open(&database).await?;
    match store.setting(SettingKey::SealCheck).await? {
        Some(_) => Err(StartError::KeyMissing { path: key }),
        None => Ok(()),
    }
}

pub(super) async fn check_key_matches(
    store: &Store,
    sealer: &Sealer,
    config: &ServerConfig,
    clock: &Clock,
) -> Result<(), StartError> {
    match store.setting(SettingKey::SealCheck).await? {
        Some(sealed) => match sealer.open(seal_check_context(), &sealed) {
            Ok(plain) if plain == SEAL_CHECK => Ok(()),
            Ok(_) | Err(SealError::Rejected | SealError::Malformed | SealError::TooLarge) => {
                Err(StartError::WrongKey {
                    path: config.key_path(),
                })
            }
        },
        None => {
            let sealed =
                sealer
                    .seal(seal_check_context(), SEAL_CHECK)
                    .map_err(|e| StartError::DataDir {
                        path: config.data_dir.clone(),
                        reason: e.to_string(),
                    })?;
            store
                .put_setting_if_absent(SettingKey::SealCheck, sealed, clock.now())
                .await?;
            Ok(())
        }
    }
}
