//! What the service says of a channel's secrets (which are stored, never
//! their values), and how an update's secrets fold into the stored ones.

use cairn_notify::Secrets;

/// Which secrets a channel has stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFlags {
    /// Webhook: the names of the extra headers.
    pub header_names: Vec<String>,
    pub has_signing_secret: bool,
    pub has_password: bool,
    pub has_token: bool,
    pub has_webhook_url: bool,
    /// Slack and Discord: the stored URL with its path hidden.
    pub webhook_url_redacted: Option<String>,
    /// Healthchecks: the schedules with a ping URL.
    pub ping_schedule_ids: Vec<i64>,
}

impl SecretFlags {
    pub(crate) fn of(secrets: &Secrets) -> SecretFlags {
        SecretFlags {
            header_names: secrets.headers.keys().cloned().collect(),
            has_signing_secret: secrets.signing_secret.is_some(),
            has_password: secrets.password.is_some(),
            has_token: secrets.token.is_some(),
            has_webhook_url: secrets.webhook_url.is_some(),
            webhook_url_redacted: secrets
                .webhook_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| cairn_notify::shown_url(&u)),
            ping_schedule_ids: secrets.ping_urls.keys().copied().collect(),
        }
    }
}

/// `stored` with `update` folded in: a secret given replaces the stored
/// one, one left empty keeps it; a header or ping URL given empty goes.
pub(crate) fn merge(mut stored: Secrets, update: Secrets) -> Secrets {
    let keep = |new: Option<String>, old: Option<String>| match new {
        Some(v) if !v.is_empty() => Some(v),
        _ => old,
    };
    stored.signing_secret = keep(update.signing_secret, stored.signing_secret);
    stored.password = keep(update.password, stored.password);
    stored.token = keep(update.token, stored.token);
    stored.webhook_url = keep(update.webhook_url, stored.webhook_url);
    for (name, value) in update.headers {
        if value.is_empty() {
            stored.headers.remove(&name);
        } else {
            stored.headers.insert(name, value);
        }
    }
    for (schedule, url) in update.ping_urls {
        if url.is_empty() {
            stored.ping_urls.remove(&schedule);
        } else {
            stored.ping_urls.insert(schedule, url);
        }
    }
    stored
}

/// A new channel's secrets with empty values dropped (an empty form field
/// means "none").
pub(crate) fn tidy(secrets: Secrets) -> Secrets {
    merge(Secrets::default(), secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_keep_and_empty_entries_remove() {
        let stored = Secrets {
            password: Some("old".into()),
            headers: [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string()),
            ]
            .into(),
            ..Secrets::default()
        };
        let update = Secrets {
            password: Some(String::new()),
            token: Some("new".into()),
            headers: [("A".to_string(), String::new())].into(),
            ..Secrets::default()
        };
        let merged = merge(stored, update);
        assert_eq!(merged.password.as_deref(), Some("old"));
        assert_eq!(merged.token.as_deref(), Some("new"));
        assert_eq!(merged.headers.keys().collect::<Vec<_>>(), ["B"]);
    }
}
