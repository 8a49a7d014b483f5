//! Secrets: [`Secret`], any secret value held in memory (a configured setup
//! token), and [`SecretToken`], the high-entropy secrets handed out once
//! (session cookies, API tokens, the setup token) and stored only as SHA-256
//! hashes. Both have a redacting `Debug` and no `Display`, so a secret cannot
//! reach a log or an error message by formatting.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a secret is for; it sets the visible prefix, so a leaked value is
/// recognisable (and secret scanners can match it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A browser session cookie.
    Session,
    /// A CSRF token.
    Csrf,
    /// An API token.
    Api,
    /// The one-time setup token.
    Setup,
    /// An agent enrollment token.
    Enroll,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session | TokenKind::Csrf => "",
            TokenKind::Api => "cairn_pat_",
            TokenKind::Setup => "cairn_setup_",
            TokenKind::Enroll => "cairn_enroll_",
        }
    }
}

/// A secret value. Reading it takes an explicit [`Secret::expose`]; there is
/// no `Display`, and `Debug` shows `Secret(<redacted>)`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Constant-time, so comparing a presented value with a secret does not tell
/// how much of it matched.
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

/// A freshly drawn secret: 256 random bits, URL-safe base64, with a prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(Secret);

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl SecretToken {
    /// Draws a new secret.
    pub fn generate(kind: TokenKind) -> SecretToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SecretToken(Secret(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Wraps a secret given from outside (a preset setup token).
    pub fn from_secret(secret: Secret) -> SecretToken {
        SecretToken(secret)
    }

    /// The secret itself, to hand out once.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// What is stored.
    pub fn hash(&self) -> Vec<u8> {
        hash_secret(self.expose())
    }

    /// The first characters, to recognise a token in a list.
    pub fn display_prefix(&self) -> String {
        self.expose().chars().take(14).collect()
    }
}

/// SHA-256 of a presented secret, to look it up. Secrets are 256 random bits,
/// so a fast hash is enough: there is nothing to brute-force.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_redacted() {
        let a = SecretToken::generate(TokenKind::Api);
        let b = SecretToken::generate(TokenKind::Api);
        assert_ne!(a, b);
        assert!(a.expose().starts_with("cairn_pat_"));
        assert_eq!(a.expose().len(), "cairn_pat_".len() + 43);
        assert_eq!(format!("{a:?}"), "SecretToken(<redacted>)");
        assert_eq!(a.hash(), hash_secret(a.expose()));
    }

    #[test]
    fn a_secret_is_redacted_and_compares_by_value() {
        let secret = Secret::new("hunter2-hunter2-hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(<redacted>))");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
        assert_eq!(secret, Secret::new("hunter2-hunter2-hunter2".into()));
        assert_ne!(secret, Secret::new("hunter2".into()));
        let token = SecretToken::from_secret(secret);
        assert_eq!(format!("{token:?}"), "SecretToken(<redacted>)");
    }
}
