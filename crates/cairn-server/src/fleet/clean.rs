//! Cleaning what agents say about themselves before it reaches the store,
//! the pages and the logs: no control or bidirectional-override characters,
//! bounded lengths.

use cairn_store::HostFacts;

use crate::ServiceError;

/// Longest hostname kept (DNS allows 253).
const MAX_HOSTNAME: usize = 253;
/// Longest other fact kept.
const MAX_FACT: usize = 128;

/// Keeps printable characters only (dropping control characters, and the
/// bidirectional overrides that can make a hostname read as another), trims,
/// and cuts to at most `max` bytes, on a character boundary (limits such as
/// the protocol's 4 KiB log line are in bytes).
pub(crate) fn clean_text(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max));
    for c in value
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
    {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out.trim().to_string()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The host facts of a `Hello`, cleaned. A hostname that is empty once
/// cleaned is refused: an operator must be able to tell hosts apart.
pub(crate) fn clean_facts(facts: HostFacts) -> Result<HostFacts, ServiceError> {
    let hostname = clean_text(&facts.hostname, MAX_HOSTNAME);
    if hostname.is_empty() {
        return Err(ServiceError::invalid(
            "hostname",
            "must hold printable characters",
        ));
    }
    Ok(HostFacts {
        hostname,
        os: clean_text(&facts.os, MAX_FACT),
        os_version: clean_text(&facts.os_version, MAX_FACT),
        arch: clean_text(&facts.arch, MAX_FACT),
        kernel: clean_text(&facts.kernel, MAX_FACT),
        agent_version: clean_text(&facts.agent_version, MAX_FACT),
        restic_version: clean_text(&facts.restic_version, MAX_FACT),
        protocol_version: facts.protocol_version,
    })
}

/// Checks an identity or enrollment token's shape without revealing it.
pub(crate) fn check_token(field: &'static str, token: &str) -> Result<(), ServiceError> {
    let ok = (32..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(field, "malformed token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_in_bytes_on_a_character_boundary() {
        let line = "é".repeat(4_096);
        let cut = clean_text(&line, 4_096);
        assert_eq!(cut.len(), 4_096);
        assert_eq!(clean_text("aé", 2), "a", "never half a character");
        assert_eq!(clean_text("a\u{202E}b\n", 10), "ab");
    }

    #[test]
    fn control_nul_and_bidi_characters_are_removed() {
        assert_eq!(clean_text("web\u{0}01\n\u{1b}[31m", 100), "web01[31m");
        assert_eq!(clean_text("evil\u{202E}gnp.exe", 100), "evilgnp.exe");
        assert_eq!(clean_text("  spaced  ", 100), "spaced");
        assert_eq!(clean_text(&"x".repeat(10_000), 253).len(), 253);
    }

    #[test]
    fn an_empty_hostname_is_refused() {
        let facts = HostFacts {
            hostname: "\u{0}\u{202E}\n".into(),
            ..Default::default()
        };
        assert!(clean_facts(facts).is_err());
        assert!(clean_facts(HostFacts::default()).is_err());
    }

    #[test]
    fn tokens_must_look_like_tokens() {
        assert!(check_token("identity_token", &"A".repeat(44)).is_ok());
        assert!(check_token("identity_token", "short").is_err());
        assert!(check_token("identity_token", &format!("{}\n", "A".repeat(44))).is_err());
    }
}
