//! SSRF through every notification channel kind, not only webhooks: each
//! kind that reaches a server the operator names (a webhook, an SMTP relay,
//! an ntfy or Gotify server, a Slack or Discord webhook URL, a Healthchecks
//! ping URL) is refused at save when it points at loopback, a private
//! network or the cloud metadata address, and nothing is stored. A channel
//! saved while the operator allowed private targets is refused again at send
//! once they stop allowing them: the guard runs at both ends, for every kind.

use std::collections::BTreeMap;

use cairn_notify::{Route, Secrets, Settings, SmtpTls};
use cairn_server::ServiceError;
use cairn_server::auth::Principal;
use cairn_server::notifications::NewChannel;
use cairn_testkit::TestServer;

/// Addresses no notification may reach unless the operator allows it.
const INNER: &[&str] = &["127.0.0.1", "10.0.0.8", "169.254.169.254", "[::1]"];

/// One channel of each kind aimed at `host`.
fn every_kind(host: &str) -> Vec<(&'static str, Settings, Secrets)> {
    let url = format!("http://{host}/x");
    vec![
        (
            "webhook",
            Settings::Webhook { url: url.clone() },
            Secrets::default(),
        ),
        (
            "smtp",
            Settings::Smtp {
                host: host.to_string(),
                port: 25,
                tls: SmtpTls::None,
                username: String::new(),
                from: "cairn@example.com".into(),
                to: vec!["ops@example.com".into()],
            },
            Secrets::default(),
        ),
        (
            "ntfy",
            Settings::Ntfy {
                server_url: url.clone(),
                topic: "backups".into(),
                priority: 0,
            },
            Secrets::default(),
        ),
        (
            "gotify",
            Settings::Gotify {
                server_url: url.clone(),
                priority: 0,
            },
            Secrets {
                token: Some("app-token".into()),
                ..Secrets::default()
            },
        ),
        (
            "slack",
            Settings::Slack {},
            Secrets {
                webhook_url: Some(url.clone()),
                ..Secrets::default()
            },
        ),
        (
            "discord",
            Settings::Discord {},
            Secrets {
                webhook_url: Some(url.clone()),
                ..Secrets::default()
            },
        ),
        (
            "healthchecks",
            Settings::Healthchecks { ping_start: false },
            Secrets {
                ping_urls: BTreeMap::from([(1, url)]),
                ..Secrets::default()
            },
        ),
    ]
}

/// One channel of each kind at each inner address, named for both.
fn every_inner_channel() -> Vec<(&'static str, &'static str, NewChannel)> {
    let mut out = Vec::new();
    for host in INNER {
        for (kind, settings, secrets) in every_kind(host) {
            let channel = NewChannel {
                name: format!("{kind} at {host}"),
                enabled: true,
                settings,
                secrets,
                route: Route::default(),
            };
            out.push((kind, *host, channel));
        }
    }
    out
}

#[tokio::test]
async fn every_channel_kind_aimed_inside_is_refused_at_save() {
    let server = TestServer::start().await;
    let api = &server.api.notifications;
    let admin = Principal::local_cli();
    let mut wrong = Vec::new();
    for (kind, host, channel) in every_inner_channel() {
        match api.create(&admin, channel).await {
            Err(ServiceError::InvalidArgument { reason, .. }) => {
                if !reason.contains("allow_private_notification_targets") {
                    wrong.push(format!(
                        "{kind} at {host}: refused, but not by the guard: {reason}"
                    ));
                }
            }
            other => wrong.push(format!("{kind} at {host}: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        api.list(&admin).await.expect("list").is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn every_channel_kind_aimed_inside_is_refused_again_at_send() {
    // Saved while private targets were allowed...
    let open = TestServer::start_with(|c| c.allow_private_notification_targets = true).await;
    let admin = Principal::local_cli();
    let mut saved = Vec::new();
    for (kind, host, channel) in every_inner_channel() {
        let view = open
            .api
            .notifications
            .create(&admin, channel)
            .await
            .unwrap_or_else(|err| panic!("{kind} at {host} saved while allowed: {err:?}"));
        saved.push((format!("{kind} at {host}"), view.id));
    }
    // ...and sent after the operator took the allowance back.
    let closed = open
        .restart_adjusted(|c| c.allow_private_notification_targets = false)
        .await;
    let api = &closed.api.notifications;
    let mut wrong = Vec::new();
    for (name, id) in &saved {
        let outcome = api.test(&admin, *id).await.expect("tested");
        if outcome.ok
            || !outcome
                .detail
                .contains("allow_private_notification_targets")
        {
            wrong.push(format!("{name}: {outcome:?}"));
        }
        let view = api.get(&admin, *id).await.expect("get");
        if view.last_error.as_deref() != Some(outcome.detail.as_str()) {
            wrong.push(format!(
                "{name}: the refusal is not the channel's last error"
            ));
        }
    }
    println!(
        "ssrf at send: {} channels of {} kinds, {} reached their target",
        saved.len(),
        every_kind("x").len(),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
