//! Sending one [`Outgoing`] through one channel, and checking a channel's
//! settings before they are saved (the same guard runs at both ends).

use crate::channel::{Secrets, Settings, SmtpTls};
use crate::error::SendError;
use crate::guard::Policy;
use crate::http::{Post, post};
use crate::message::{self, Notice, Outgoing, PingPhase};
use crate::sign;
use crate::smtp::{self, Smtp};

/// ntfy's public server, used when a channel names none.
pub const NTFY_DEFAULT: &str = "https://ntfy.sh";

/// What sends: the guard's policy and the SMTP roots to trust.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    pub policy: Policy,
    /// Extra CA certificates (PEM) trusted for SMTP TLS, besides the
    /// system's (a private mail relay's CA).
    pub smtp_roots: Vec<Vec<u8>>,
}

/// A setting that cannot be saved: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

impl Sender {
    /// Checks settings and secrets as they are about to be saved: every
    /// required field, every URL through the guard.
    pub async fn validate(&self, settings: &Settings, secrets: &Secrets) -> Result<(), Invalid> {
        let url = |field: &'static str, text: &str| {
            let text = text.to_string();
            async move {
                if text.trim().is_empty() {
                    return Err(invalid(field, "must not be empty"));
                }
                self.policy
                    .check_url(&text)
                    .await
                    .map(drop)
                    .map_err(|e| invalid(field, e.to_string()))
            }
        };
        match settings {
            Settings::Webhook { url: u } => {
                url("url", u).await?;
                for (name, value) in &secrets.headers {
                    http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        invalid("headers", format!("{name:?} is not a header name"))
                    })?;
                    http::HeaderValue::from_str(value).map_err(|_| {
                        invalid(
                            "headers",
                            format!("the value of {name} is not a header value"),
                        )
                    })?;
                }
            }
            Settings::Smtp {
                host,
                port,
                tls,
                from,
                to,
                username,
            } => {
                if host.trim().is_empty() {
                    return Err(invalid("host", "must not be empty"));
                }
                let port = if *port == 0 {
                    tls.default_port()
                } else {
                    *port
                };
                self.policy
                    .check_host(host, port)
                    .await
                    .map_err(|e| invalid("host", e.to_string()))?;
                smtp::check_addresses(from, to).map_err(|e| invalid("to", e))?;
                if !username.is_empty() && secrets.password.is_none() {
                    return Err(invalid("password", "a username needs a password"));
                }
                if !username.is_empty() && *tls == SmtpTls::None {
                    return Err(invalid(
                        "tls",
                        "a password is never sent without TLS: use starttls or implicit",
                    ));
                }
            }
            Settings::Ntfy {
                server_url,
                topic,
                priority,
            } => {
                let server = if server_url.is_empty() {
                    NTFY_DEFAULT
                } else {
                    server_url
                };
                url("server_url", server).await?;
                if topic.trim().is_empty() || topic.contains(['/', '?', '#', ' ']) {
                    return Err(invalid("topic", "must be one word without / ? # or spaces"));
                }
                if *priority > 5 {
                    return Err(invalid("priority", "must be 0 (default) to 5"));
                }
            }
            Settings::Gotify {
                server_url,
                priority,
            } => {
                url("server_url", server_url).await?;
                if secrets.token.is_none() {
                    return Err(invalid("token", "Gotify needs an application token"));
                }
                if *priority > 10 {
                    return Err(invalid("priority", "must be 0 to 10"));
                }
            }
            Settings::Slack {} | Settings::Discord {} => {
                url("webhook_url", secrets.webhook_url.as_deref().unwrap_or("")).await?;
            }
            Settings::Healthchecks { .. } => {
                for ping in secrets.ping_urls.values() {
                    url("ping_urls", ping).await?;
                }
            }
        }
        Ok(())
    }

    /// Sends `out` through a channel; on success, says what was done
    /// ("POST https://… answered 200").
    pub async fn send(
        &self,
        settings: &Settings,
        secrets: &Secrets,
        out: &Outgoing,
        now_secs: i64,
    ) -> Result<String, SendError> {
        let policy = self.policy;
        let json = |value: serde_json::Value| serde_json::to_vec(&value).unwrap_or_default();
        let notice = match out {
            Outgoing::Notice(notice) => notice,
            Outgoing::Ping {
                schedule_id,
                phase,
                text,
            } => {
                return self
                    .ping(settings, secrets, *schedule_id, *phase, text)
                    .await;
            }
        };
        let (url, headers, body) = match settings {
            Settings::Webhook { url } => {
                let body = json(message::webhook_body(notice));
                let mut headers: Vec<(String, String)> = secrets
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                headers.push((sign::TIMESTAMP_HEADER.into(), now_secs.to_string()));
                if let Some(key) = &secrets.signing_secret {
                    let sig = sign::signature(key.as_bytes(), now_secs, &body);
                    headers.push((sign::SIGNATURE_HEADER.into(), sig));
                }
                (url.clone(), headers, body)
            }
            Settings::Smtp {
                host,
                port,
                tls,
                username,
                from,
                to,
            } => {
                return self
                    .mail(notice, host, *port, *tls, username, secrets, from, to)
                    .await;
            }
            Settings::Ntfy {
                server_url,
                topic,
                priority,
            } => {
                let server = if server_url.is_empty() {
                    NTFY_DEFAULT
                } else {
                    server_url
                };
                let headers = secrets
                    .token
                    .iter()
                    .map(|t| ("Authorization".to_string(), format!("Bearer {t}")))
                    .collect();
                (
                    server.to_string(),
                    headers,
                    json(message::ntfy_body(notice, topic, *priority)),
                )
            }
            Settings::Gotify {
                server_url,
                priority,
            } => {
                let token = secrets
                    .token
                    .clone()
                    .ok_or_else(|| SendError::Config("no application token is stored".into()))?;
                let url = format!("{}/message", server_url.trim_end_matches('/'));
                let body = json(message::gotify_body(notice, *priority));
                (url, vec![("X-Gotify-Key".to_string(), token)], body)
            }
            Settings::Slack {} | Settings::Discord {} => {
                let url = secrets
                    .webhook_url
                    .clone()
                    .ok_or_else(|| SendError::Config("no webhook URL is stored".into()))?;
                let body = match settings {
                    Settings::Slack {} => message::slack_body(notice),
                    _ => message::discord_body(notice),
                };
                (url, Vec::new(), json(body))
            }
            Settings::Healthchecks { .. } => {
                return Err(SendError::Config(
                    "a healthchecks channel takes pings, not alerts".into(),
                ));
            }
        };
        let status = post(
            policy,
            Post {
                url: &url,
                headers,
                content_type: "application/json",
                body,
            },
        )
        .await?;
        Ok(format!("answered {status}"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn mail(
        &self,
        notice: &Notice,
        host: &str,
        port: u16,
        tls: SmtpTls,
        username: &str,
        secrets: &Secrets,
        from: &str,
        to: &[String],
    ) -> Result<String, SendError> {
        let port = if port == 0 { tls.default_port() } else { port };
        let server = Smtp {
            host,
            port,
            tls,
            username,
            password: secrets.password.as_deref(),
            extra_roots: &self.smtp_roots,
        };
        smtp::send(
            self.policy,
            server,
            from,
            to,
            &notice.title(),
            notice.text(),
        )
        .await?;
        Ok(format!("accepted by {host}:{port}"))
    }

    async fn ping(
        &self,
        settings: &Settings,
        secrets: &Secrets,
        schedule_id: i64,
        phase: PingPhase,
        text: &str,
    ) -> Result<String, SendError> {
        if !matches!(settings, Settings::Healthchecks { .. }) {
            return Err(SendError::Config(
                "only a healthchecks channel takes pings".into(),
            ));
        }
        // A test (schedule 0) logs to every stored check.
        let urls: Vec<&String> = if schedule_id == 0 {
            secrets.ping_urls.values().collect()
        } else {
            secrets.ping_urls.get(&schedule_id).into_iter().collect()
        };
        if urls.is_empty() {
            return Err(SendError::Config(match schedule_id {
                0 => "no ping URL is stored".to_string(),
                id => format!("no ping URL is stored for schedule {id}"),
            }));
        }
        for url in &urls {
            let url = format!("{}{}", url.trim_end_matches('/'), phase.suffix());
            post(
                self.policy,
                Post {
                    url: &url,
                    headers: Vec::new(),
                    content_type: "text/plain; charset=utf-8",
                    body: text.as_bytes().to_vec(),
                },
            )
            .await?;
        }
        Ok(format!("pinged {} check(s)", urls.len()))
    }
}
