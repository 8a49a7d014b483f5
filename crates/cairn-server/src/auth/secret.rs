//! High-entropy secrets handed out once (session cookies, API tokens, the
//! setup token) and stored only as SHA-256 hashes. Their `Debug` is redacted.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

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

/// A freshly drawn secret: 256 random bits, URL-safe base64, with a prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

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
        SecretToken(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Wraps a secret given from outside (a preset setup token).
    pub fn from_string(secret: String) -> SecretToken {
        SecretToken(secret)
    }

    /// The secret itself, to hand out once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored.
    pub fn hash(&self) -> Vec<u8> {
        hash_secret(&self.0)
    }

    /// The first characters, to recognise a token in a list.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(14).collect()
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
}
