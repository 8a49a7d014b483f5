//! Passwords: argon2id (the crate's defaults: 19 MiB, 2 passes), verified on
//! the blocking pool so a burst of logins cannot stall the runtime, and at
//! most one per core at a time: each hash takes 19 MiB, so without a bound a
//! flood of sign-ins from rotating addresses (which the per-address limiter
//! does not stop) could take as much memory as it sends requests at once.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::{ServiceError, ServiceResult};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted: hashing cost must stay bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a username: 1 to 64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_username(username: &str) -> ServiceResult<()> {
    if username.is_empty() || username.len() > 64 {
        return Err(ServiceError::invalid(
            "username",
            "must be 1 to 64 characters",
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(ServiceError::invalid(
            "username",
            "may hold only letters, digits, '.', '_', '-' and '@'",
        ));
    }
    Ok(())
}

/// Checks a new password's length.
pub fn validate_password(password: &str) -> ServiceResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServiceError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ServiceError::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Hashes (or verifications) running at once: one per core, at least one.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

/// Runs one argon2 computation on the blocking pool once a slot is free.
async fn argon2_work<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> ServiceResult<T> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|e| ServiceError::Internal(format!("{what}: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Internal(format!("{what} task: {e}")))
}

/// Hashes a password into a PHC string.
pub(crate) async fn hash_password(password: String) -> ServiceResult<String> {
    argon2_work("hashing", move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ServiceError::Internal(format!("hashing a password: {e}")))
    })
    .await?
}

/// Verifies a password against a PHC string. With no stored hash (unknown
/// user) it verifies against a fixed dummy so the answer takes as long either
/// way and does not reveal which usernames exist.
pub(crate) async fn verify_password(
    password: String,
    stored: Option<String>,
) -> ServiceResult<bool> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    argon2_work("verifying", move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            tracing::error!("a stored password hash does not parse");
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"cairn timing equaliser", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_hashes_run_at_once_than_there_are_slots() {
        let slots = hashing_slots();
        // Every slot taken: a verification waits for one.
        let held = slots
            .acquire_many(u32::try_from(slots.available_permits()).expect("few slots"))
            .await
            .expect("all slots");
        let waiting = tokio::spawn(verify_password("some password here".into(), None));
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "it waits for a slot");
        drop(held);
        assert!(
            !waiting.await.expect("task").expect("verify"),
            "unknown user"
        );
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = hash_password("correct horse battery".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("v")
        );
        assert!(
            !verify_password("wrong horse battery".into(), Some(hash))
                .await
                .expect("v")
        );
        assert!(
            !verify_password("anything at all".into(), None)
                .await
                .expect("v")
        );
    }

    #[test]
    fn username_and_password_rules() {
        assert!(validate_username("ann.o-k_1@x").is_ok());
        for bad in ["", "has space", "<script>", "é", &"a".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pw").is_ok());
        assert!(validate_password(&"x".repeat(2000)).is_err());
    }
}
