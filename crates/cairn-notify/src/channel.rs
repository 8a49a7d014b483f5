//! What a channel is: its kind, its visible settings (stored as JSON), its
//! secrets (stored sealed, as one JSON document), and which notices it takes.

use std::collections::BTreeMap;
use std::fmt;

use cairn_domain::{AlertKind, Severity};
use serde::{Deserialize, Serialize};

/// A channel's kind, as stored (`notification_channels.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Webhook,
    Smtp,
    Ntfy,
    Gotify,
    Slack,
    Discord,
    Healthchecks,
}

impl Kind {
    /// Every kind, in the order forms offer them.
    pub const ALL: &'static [Kind] = &[
        Kind::Webhook,
        Kind::Smtp,
        Kind::Ntfy,
        Kind::Gotify,
        Kind::Slack,
        Kind::Discord,
        Kind::Healthchecks,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Smtp => "smtp",
            Kind::Ntfy => "ntfy",
            Kind::Gotify => "gotify",
            Kind::Slack => "slack",
            Kind::Discord => "discord",
            Kind::Healthchecks => "healthchecks",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == text)
    }

    /// Whether the channel takes alerts (all but healthchecks, which takes
    /// job pings).
    pub fn takes_alerts(self) -> bool {
        self != Kind::Healthchecks
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// A plain connection upgraded with STARTTLS, which is required.
    #[default]
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// No TLS (a relay on a trusted network).
    None,
}

impl SmtpTls {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Implicit => "implicit",
            SmtpTls::None => "none",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<SmtpTls> {
        [SmtpTls::Starttls, SmtpTls::Implicit, SmtpTls::None]
            .into_iter()
            .find(|t| t.as_str() == text)
    }

    /// The port used when none is given.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Implicit => 465,
            SmtpTls::Starttls | SmtpTls::None => 587,
        }
    }
}

/// A channel's visible settings, one case per kind. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Settings {
    Webhook {
        url: String,
    },
    Smtp {
        host: String,
        /// 0 means the default of `tls`.
        port: u16,
        tls: SmtpTls,
        /// Empty: no login.
        username: String,
        from: String,
        to: Vec<String>,
    },
    Ntfy {
        /// Empty means https://ntfy.sh.
        server_url: String,
        topic: String,
        /// 1 to 5; 0 means ntfy's default.
        priority: u8,
    },
    Gotify {
        server_url: String,
        /// 0 to 10.
        priority: u8,
    },
    Slack {},
    Discord {},
    Healthchecks {
        /// Also ping `/start` when a scheduled backup starts running.
        ping_start: bool,
    },
}

impl Settings {
    /// The kind these settings are for.
    pub fn kind(&self) -> Kind {
        match self {
            Settings::Webhook { .. } => Kind::Webhook,
            Settings::Smtp { .. } => Kind::Smtp,
            Settings::Ntfy { .. } => Kind::Ntfy,
            Settings::Gotify { .. } => Kind::Gotify,
            Settings::Slack {} => Kind::Slack,
            Settings::Discord {} => Kind::Discord,
            Settings::Healthchecks { .. } => Kind::Healthchecks,
        }
    }

    /// Where its stored secrets are sent, when that is a setting and not
    /// itself a secret: moving it must not carry the secrets along (an
    /// admin could otherwise point a channel at their own host and read
    /// the token it sends).
    pub fn destination(&self) -> Option<String> {
        match self {
            Settings::Webhook { url } => Some(url.clone()),
            Settings::Smtp { host, port, .. } => Some(format!("{host}:{port}")),
            Settings::Ntfy { server_url, .. } | Settings::Gotify { server_url, .. } => {
                Some(server_url.clone())
            }
            Settings::Slack {} | Settings::Discord {} | Settings::Healthchecks { .. } => None,
        }
    }
}

/// A channel's secrets, sealed at rest as one JSON document. Only the fields
/// of the channel's kind are used.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// Webhook: extra request headers ("Authorization" → "Bearer …").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Webhook: the HMAC-SHA256 signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// SMTP: the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// ntfy: the access token; Gotify: the application token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Slack and Discord: the webhook URL (which is the credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Healthchecks: schedule id → ping URL (each URL is a credential).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ping_urls: BTreeMap<i64, String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("header_names", &self.headers.keys().collect::<Vec<_>>())
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field("ping_schedules", &self.ping_urls.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Which alert notices a channel takes. Healthchecks channels take pings,
/// not alerts, and ignore their route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The alert kinds sent; empty means every kind.
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// Alerts below this severity are not sent.
    pub min_severity: Severity,
    /// Whether resolutions are sent too.
    pub send_resolved: bool,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            kinds: Vec::new(),
            min_severity: Severity::Info,
            send_resolved: true,
        }
    }
}

impl Route {
    /// Whether a notice of `kind` at `severity` goes through (`resolved`:
    /// it says the alert cleared).
    pub fn accepts(&self, kind: AlertKind, severity: Severity, resolved: bool) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && severity >= self.min_severity
            && (!resolved || self.send_resolved)
    }

    /// The route in a few words ("job_failed, host_offline ≥ warning, with
    /// resolutions").
    pub fn describe(&self) -> String {
        let kinds = if self.kinds.is_empty() {
            "every kind".to_string()
        } else {
            self.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let resolved = if self.send_resolved {
            "with resolutions"
        } else {
            "no resolutions"
        };
        format!("{kinds}, at least {}, {resolved}", self.min_severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_filters_by_kind_severity_and_resolution() {
        let route = Route {
            kinds: vec![AlertKind::JobFailed],
            min_severity: Severity::Warning,
            send_resolved: false,
        };
        assert!(route.accepts(AlertKind::JobFailed, Severity::Critical, false));
        assert!(!route.accepts(AlertKind::JobFailed, Severity::Info, false));
        assert!(!route.accepts(AlertKind::HostOffline, Severity::Critical, false));
        assert!(!route.accepts(AlertKind::JobFailed, Severity::Critical, true));
        assert!(Route::default().accepts(AlertKind::HostOffline, Severity::Info, true));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let secrets = Secrets {
            headers: [("Authorization".to_string(), "Bearer hunter2".to_string())].into(),
            signing_secret: Some("hunter2".into()),
            password: Some("hunter2".into()),
            token: Some("hunter2".into()),
            webhook_url: Some("https://hooks.slack.com/hunter2".into()),
            ping_urls: [(4, "https://hc-ping.com/hunter2".to_string())].into(),
        };
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Authorization"), "{shown}");
    }

    #[test]
    fn settings_round_trip_through_their_stored_json() {
        let settings = Settings::Smtp {
            host: "mail.example.com".into(),
            port: 0,
            tls: SmtpTls::Implicit,
            username: String::new(),
            from: "cairn@example.com".into(),
            to: vec!["ops@example.com".into()],
        };
        let json = serde_json::to_string(&settings).expect("serialises");
        assert!(json.contains("\"kind\":\"smtp\""), "{json}");
        assert_eq!(serde_json::from_str::<Settings>(&json).ok(), Some(settings));
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(*kind));
        }
    }
}
