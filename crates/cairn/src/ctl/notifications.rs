//! `cairn ctl notifications`: channels (their secrets read from files and
//! sealed on the server, never shown back), test sends and deliveries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cairn_proto::v1 as pb;
use cairn_proto::v1::channel_config::Config;
use clap::{Args, Subcommand, ValueEnum};

use super::client::{Clients, call_error};
use super::format::date;
use crate::read_secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum KindArg {
    Webhook,
    Smtp,
    Ntfy,
    Gotify,
    Slack,
    Discord,
    Healthchecks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum TlsArg {
    Starttls,
    Implicit,
    None,
}

/// Settings any kind may take; those of other kinds are refused.
#[derive(Debug, Args, Default)]
pub(super) struct ChannelFlags {
    /// Webhook: the URL to POST to. ntfy / Gotify: the server's URL.
    #[arg(long)]
    url: Option<String>,
    /// File holding the kind's secret: the webhook signing secret, the SMTP
    /// password, the ntfy or Gotify token, the Slack or Discord webhook URL.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Webhook: a file of `Header: value` lines to send (an empty value
    /// removes a stored header).
    #[arg(long, value_name = "FILE")]
    headers_file: Option<PathBuf>,
    /// SMTP: the server's host name.
    #[arg(long)]
    host: Option<String>,
    /// SMTP: the port (default 587, or 465 with implicit TLS).
    #[arg(long)]
    port: Option<u32>,
    /// SMTP: how the connection is secured.
    #[arg(long, value_enum)]
    tls: Option<TlsArg>,
    /// SMTP: the user to log in as.
    #[arg(long)]
    username: Option<String>,
    /// SMTP: the sender address.
    #[arg(long)]
    from: Option<String>,
    /// SMTP: a recipient (repeatable; replaces the stored list).
    #[arg(long = "to")]
    to: Vec<String>,
    /// ntfy: the topic.
    #[arg(long)]
    topic: Option<String>,
    /// ntfy (1-5) or Gotify (0-10) priority.
    #[arg(long)]
    priority: Option<u32>,
    /// Healthchecks: a file of `SCHEDULE_ID=PING_URL` lines (an empty URL
    /// removes a stored one).
    #[arg(long, value_name = "FILE")]
    pings_file: Option<PathBuf>,
    /// Healthchecks: also ping /start when a scheduled backup starts.
    #[arg(long)]
    ping_start: Option<bool>,
    /// Alert kinds to send, comma-separated (default: every kind).
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// The lowest severity sent: info, warning or critical.
    #[arg(long)]
    min_severity: Option<String>,
    /// Whether resolutions are sent.
    #[arg(long)]
    send_resolved: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub(super) enum NotificationsCommand {
    /// List channels with their route and how their last send went.
    List,
    /// Add a channel.
    Add {
        /// What it sends through.
        kind: KindArg,
        /// A name for it, shown in the console and in deliveries.
        #[arg(long)]
        name: String,
        /// Create it turned off.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        flags: ChannelFlags,
    },
    /// Change a channel: only what is given changes; secrets not given stay.
    Update {
        /// The channel's id.
        id: i64,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// Turn it on (true) or off (false).
        #[arg(long)]
        enabled: Option<bool>,
        #[command(flatten)]
        flags: ChannelFlags,
    },
    /// Remove a channel.
    Remove {
        /// The channel's id.
        id: i64,
    },
    /// Send a test through a channel now; fails if it was not accepted.
    Test {
        /// The channel's id.
        id: i64,
    },
    /// The latest deliveries with every attempt.
    Deliveries {
        /// Only this channel's.
        #[arg(long)]
        channel: Option<i64>,
        /// How many deliveries to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

fn secret(path: &Path) -> anyhow::Result<String> {
    read_secret(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn pairs(path: &Path, sep: char) -> anyhow::Result<Vec<(String, String)>> {
    secret(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once(sep)
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| {
                    anyhow::anyhow!("invalid line in {}: expected KEY{sep}VALUE", path.display())
                })
        })
        .collect()
}

fn empty(kind: KindArg) -> Config {
    match kind {
        KindArg::Webhook => Config::Webhook(Default::default()),
        KindArg::Smtp => Config::Smtp(Default::default()),
        KindArg::Ntfy => Config::Ntfy(Default::default()),
        KindArg::Gotify => Config::Gotify(Default::default()),
        KindArg::Slack => Config::Slack(Default::default()),
        KindArg::Discord => Config::Discord(Default::default()),
        KindArg::Healthchecks => Config::Healthchecks(Default::default()),
    }
}

/// Applies the flags to a config; a flag of another kind is an error.
fn apply(config: &mut Config, f: ChannelFlags) -> anyhow::Result<()> {
    let secret_value = f.secret_file.as_deref().map(secret).transpose()?;
    let stray = |what: &str| anyhow::anyhow!("--{what} does not apply to this kind of channel");
    match config {
        Config::Webhook(w) => {
            if let Some(url) = f.url {
                w.url = url;
            }
            if let Some(s) = secret_value {
                w.signing_secret = s;
            }
            if let Some(path) = &f.headers_file {
                w.headers = pairs(path, ':')?.into_iter().collect::<HashMap<_, _>>();
            }
        }
        Config::Smtp(m) => {
            if f.url.is_some() {
                return Err(stray("url (use --host)"));
            }
            if let Some(v) = f.host {
                m.host = v;
            }
            if let Some(v) = f.port {
                m.port = v;
            }
            if let Some(v) = f.username {
                m.username = v;
            }
            if let Some(v) = f.from {
                m.from_address = v;
            }
            if !f.to.is_empty() {
                m.to_addresses = f.to;
            }
            if let Some(tls) = f.tls {
                m.tls = match tls {
                    TlsArg::Starttls => pb::SmtpTls::Starttls,
                    TlsArg::Implicit => pb::SmtpTls::Implicit,
                    TlsArg::None => pb::SmtpTls::None,
                } as i32;
            }
            if let Some(s) = secret_value {
                m.password = s;
            }
        }
        Config::Ntfy(n) => {
            if let Some(v) = f.url {
                n.server_url = v;
            }
            if let Some(v) = f.topic {
                n.topic = v;
            }
            if let Some(v) = f.priority {
                n.priority = v;
            }
            if let Some(s) = secret_value {
                n.access_token = s;
            }
        }
        Config::Gotify(g) => {
            if let Some(v) = f.url {
                g.server_url = v;
            }
            if let Some(v) = f.priority {
                g.priority = v;
            }
            if let Some(s) = secret_value {
                g.app_token = s;
            }
        }
        Config::Slack(c) | Config::Discord(c) => {
            if f.url.is_some() {
                return Err(stray(
                    "url (the webhook URL is a secret: use --secret-file)",
                ));
            }
            if let Some(s) = secret_value {
                c.webhook_url = s;
            }
        }
        Config::Healthchecks(h) => {
            if let Some(path) = &f.pings_file {
                for (id, url) in pairs(path, '=')? {
                    let id: i64 = id
                        .parse()
                        .map_err(|_| anyhow::anyhow!("{id:?} is not a schedule id"))?;
                    h.ping_urls.insert(id, url);
                }
            }
            if let Some(v) = f.ping_start {
                h.ping_start = v;
            }
        }
    }
    Ok(())
}

fn route(f: &ChannelFlags, base: Option<pb::ChannelRoute>) -> Option<pb::ChannelRoute> {
    if f.kinds.is_empty() && f.min_severity.is_none() && f.send_resolved.is_none() && base.is_some()
    {
        return None;
    }
    let mut route = base.unwrap_or(pb::ChannelRoute {
        alert_kinds: Vec::new(),
        min_severity: "info".into(),
        send_resolved: true,
    });
    if !f.kinds.is_empty() {
        route.alert_kinds = f.kinds.clone();
    }
    if let Some(s) = &f.min_severity {
        route.min_severity = s.clone();
    }
    if let Some(s) = f.send_resolved {
        route.send_resolved = s;
    }
    Some(route)
}

fn describe(route: Option<&pb::ChannelRoute>) -> String {
    let Some(r) = route else { return "-".into() };
    let kinds = if r.alert_kinds.is_empty() {
        "all".to_string()
    } else {
        r.alert_kinds.join(",")
    };
    format!(
        "{kinds} >={}{}",
        r.min_severity,
        if r.send_resolved { " +resolved" } else { "" }
    )
}

fn kind_name(kind: i32) -> &'static str {
    match pb::ChannelKind::try_from(kind).unwrap_or(pb::ChannelKind::Unspecified) {
        pb::ChannelKind::Webhook => "webhook",
        pb::ChannelKind::Smtp => "smtp",
        pb::ChannelKind::Ntfy => "ntfy",
        pb::ChannelKind::Gotify => "gotify",
        pb::ChannelKind::Slack => "slack",
        pb::ChannelKind::Discord => "discord",
        pb::ChannelKind::Healthchecks => "healthchecks",
        pb::ChannelKind::Unspecified => "?",
    }
}

pub(super) async fn run(clients: &Clients, command: NotificationsCommand) -> anyhow::Result<()> {
    let mut api = clients.notifications();
    match command {
        NotificationsCommand::List => {
            let listed = api
                .list_channels(pb::ListChannelsRequest { page: None })
                .await
                .map_err(call_error)?
                .into_inner();
            println!(
                "{:<5} {:<20} {:<13} {:<4} {:<28} {:<22} LAST ERROR",
                "ID", "NAME", "KIND", "ON", "ROUTE", "LAST SENT"
            );
            for c in listed.channels {
                println!(
                    "{:<5} {:<20} {:<13} {:<4} {:<28} {:<22} {}",
                    c.id,
                    c.name,
                    kind_name(c.kind),
                    if c.enabled { "yes" } else { "no" },
                    describe(c.route.as_ref()),
                    date(c.last_sent_at.as_ref()),
                    c.last_error
                );
            }
        }
        NotificationsCommand::Add {
            kind,
            name,
            disabled,
            flags,
        } => {
            let route = route(&flags, None);
            let mut config = empty(kind);
            apply(&mut config, flags)?;
            let made = api
                .create_channel(pb::CreateChannelRequest {
                    name,
                    disabled,
                    config: Some(pb::ChannelConfig {
                        config: Some(config),
                    }),
                    route,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .channel
                .unwrap_or_default();
            println!(
                "added {} channel {} ({})",
                kind_name(made.kind),
                made.id,
                made.name
            );
        }
        NotificationsCommand::Update {
            id,
            name,
            enabled,
            flags,
        } => {
            let listed = api
                .list_channels(pb::ListChannelsRequest { page: None })
                .await
                .map_err(call_error)?
                .into_inner();
            let current = listed
                .channels
                .into_iter()
                .find(|c| c.id == id)
                .ok_or_else(|| anyhow::anyhow!("no channel {id}"))?;
            let route = route(&flags, current.route.clone());
            let mut config = current
                .config
                .and_then(|c| c.config)
                .ok_or_else(|| anyhow::anyhow!("channel {id} has no settings"))?;
            apply(&mut config, flags)?;
            let changed = api
                .update_channel(pb::UpdateChannelRequest {
                    channel_id: id,
                    name,
                    enabled,
                    config: Some(pb::ChannelConfig {
                        config: Some(config),
                    }),
                    route,
                })
                .await
                .map_err(call_error)?
                .into_inner()
                .channel
                .unwrap_or_default();
            println!("updated channel {} ({})", changed.id, changed.name);
        }
        NotificationsCommand::Remove { id } => {
            api.delete_channel(pb::DeleteChannelRequest { channel_id: id })
                .await
                .map_err(call_error)?;
            println!("removed channel {id}");
        }
        NotificationsCommand::Test { id } => {
            let outcome = api
                .test_channel(pb::TestChannelRequest { channel_id: id })
                .await
                .map_err(call_error)?
                .into_inner();
            if !outcome.ok {
                anyhow::bail!("the test through channel {id} failed: {}", outcome.error);
            }
            println!("the test through channel {id} was accepted");
        }
        NotificationsCommand::Deliveries { channel, limit } => {
            let listed = api
                .list_deliveries(pb::ListDeliveriesRequest {
                    channel_id: channel.unwrap_or(0),
                    limit,
                })
                .await
                .map_err(call_error)?
                .into_inner();
            println!(
                "{:<6} {:<8} {:<16} {:<10} {:<9} NEXT / LAST",
                "ID", "CHANNEL", "EVENT", "STATE", "ATTEMPTS"
            );
            for d in listed.deliveries {
                println!(
                    "{:<6} {:<8} {:<16} {:<10} {:<9} {}",
                    d.id,
                    d.channel_id,
                    d.event,
                    d.state,
                    d.attempts,
                    date(d.next_attempt_at.as_ref())
                );
                for a in d.attempt_log {
                    println!(
                        "         {} {} {}",
                        date(a.at.as_ref()),
                        if a.ok { "ok  " } else { "FAIL" },
                        a.detail
                    );
                }
            }
        }
    }
    Ok(())
}
