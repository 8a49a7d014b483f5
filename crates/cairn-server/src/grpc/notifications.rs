//! `cairn.v1.NotificationService` over the notifications service, with
//! every conversion between the wire and cairn-notify's types in this file.

use std::collections::BTreeMap;

use cairn_domain::{AlertKind, Severity};
use cairn_notify::{Route, Secrets, Settings, SmtpTls};
use cairn_proto::v1 as pb;
use cairn_proto::v1::channel_config::Config as PbConfig;
use cairn_proto::v1::notification_service_server::NotificationService;
use cairn_store::ChannelId;
use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::{authenticate, authorize};
use crate::Api;
use crate::error::ServiceError;
use crate::notifications::{ChannelUpdate, ChannelView, DeliveryView, NewChannel};
use cairn_store::Scope;

/// The NotificationService implementation.
#[derive(Debug, Clone)]
pub(crate) struct NotificationsGrpc {
    api: Api,
}

impl NotificationsGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn invalid(field: &'static str, reason: impl Into<String>) -> Status {
    Status::from(ServiceError::invalid(field, reason))
}

pub(crate) fn route_from_pb(route: pb::ChannelRoute) -> Result<Route, Status> {
    let kinds = route
        .alert_kinds
        .iter()
        .map(|k| {
            AlertKind::parse(k).ok_or_else(|| {
                let known: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(
                    "route.alert_kinds",
                    format!("unknown alert kind {k:?}; known: {}", known.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let min_severity = match route.min_severity.as_str() {
        "" => Severity::Info,
        s => Severity::parse(s).ok_or_else(|| {
            invalid(
                "route.min_severity",
                format!("{s:?} is not info, warning or critical"),
            )
        })?,
    };
    Ok(Route {
        kinds,
        min_severity,
        send_resolved: route.send_resolved,
    })
}

fn route_to_pb(route: &Route) -> pb::ChannelRoute {
    pb::ChannelRoute {
        alert_kinds: route.kinds.iter().map(|k| k.as_str().to_string()).collect(),
        min_severity: route.min_severity.as_str().to_string(),
        send_resolved: route.send_resolved,
    }
}

fn some(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn small(value: u32, field: &'static str) -> Result<u8, Status> {
    u8::try_from(value).map_err(|_| invalid(field, "is out of range"))
}

/// The settings and secrets a wire config carries.
pub(crate) fn config_from_pb(
    config: Option<pb::ChannelConfig>,
) -> Result<(Settings, Secrets), Status> {
    let config = config
        .and_then(|c| c.config)
        .ok_or_else(|| invalid("config", "set exactly one kind of channel settings"))?;
    Ok(match config {
        PbConfig::Webhook(w) => (
            Settings::Webhook { url: w.url },
            Secrets {
                headers: w.headers.into_iter().collect::<BTreeMap<_, _>>(),
                signing_secret: some(w.signing_secret),
                ..Secrets::default()
            },
        ),
        PbConfig::Smtp(m) => {
            let tls = match pb::SmtpTls::try_from(m.tls).unwrap_or(pb::SmtpTls::Unspecified) {
                pb::SmtpTls::Implicit => SmtpTls::Implicit,
                pb::SmtpTls::None => SmtpTls::None,
                pb::SmtpTls::Starttls | pb::SmtpTls::Unspecified => SmtpTls::Starttls,
            };
            let port = u16::try_from(m.port).map_err(|_| invalid("port", "must be 0 to 65535"))?;
            (
                Settings::Smtp {
                    host: m.host,
                    port,
                    tls,
                    username: m.username,
                    from: m.from_address,
                    to: m.to_addresses,
                },
                Secrets {
                    password: some(m.password),
                    ..Secrets::default()
                },
            )
        }
        PbConfig::Ntfy(n) => (
            Settings::Ntfy {
                server_url: n.server_url,
                topic: n.topic,
                priority: small(n.priority, "priority")?,
            },
            Secrets {
                token: some(n.access_token),
                ..Secrets::default()
            },
        ),
        PbConfig::Gotify(g) => (
            Settings::Gotify {
                server_url: g.server_url,
                priority: small(g.priority, "priority")?,
            },
            Secrets {
                token: some(g.app_token),
                ..Secrets::default()
            },
        ),
        PbConfig::Slack(c) => (
            Settings::Slack {},
            Secrets {
                webhook_url: some(c.webhook_url),
                ..Secrets::default()
            },
        ),
        PbConfig::Discord(c) => (
            Settings::Discord {},
            Secrets {
                webhook_url: some(c.webhook_url),
                ..Secrets::default()
            },
        ),
        PbConfig::Healthchecks(h) => (
            Settings::Healthchecks {
                ping_start: h.ping_start,
            },
            Secrets {
                ping_urls: h.ping_urls.into_iter().collect(),
                ..Secrets::default()
            },
        ),
    })
}

/// A view's settings on the wire, every secret left empty.
fn config_to_pb(view: &ChannelView) -> pb::ChannelConfig {
    let flags = &view.secrets;
    let chat = || pb::ChatWebhookChannelConfig {
        webhook_url: String::new(),
        has_webhook_url: flags.has_webhook_url,
        webhook_url_redacted: flags.webhook_url_redacted.clone().unwrap_or_default(),
    };
    let config = match &view.settings {
        Settings::Webhook { url } => PbConfig::Webhook(pb::WebhookChannelConfig {
            url: url.clone(),
            headers: Default::default(),
            header_names: flags.header_names.clone(),
            signing_secret: String::new(),
            has_signing_secret: flags.has_signing_secret,
        }),
        Settings::Smtp {
            host,
            port,
            tls,
            username,
            from,
            to,
        } => PbConfig::Smtp(pb::SmtpChannelConfig {
            host: host.clone(),
            port: u32::from(*port),
            tls: match tls {
                SmtpTls::Starttls => pb::SmtpTls::Starttls,
                SmtpTls::Implicit => pb::SmtpTls::Implicit,
                SmtpTls::None => pb::SmtpTls::None,
            } as i32,
            username: username.clone(),
            password: String::new(),
            has_password: flags.has_password,
            from_address: from.clone(),
            to_addresses: to.clone(),
        }),
        Settings::Ntfy {
            server_url,
            topic,
            priority,
        } => PbConfig::Ntfy(pb::NtfyChannelConfig {
            server_url: server_url.clone(),
            topic: topic.clone(),
            access_token: String::new(),
            has_access_token: flags.has_token,
            priority: u32::from(*priority),
        }),
        Settings::Gotify {
            server_url,
            priority,
        } => PbConfig::Gotify(pb::GotifyChannelConfig {
            server_url: server_url.clone(),
            app_token: String::new(),
            has_app_token: flags.has_token,
            priority: u32::from(*priority),
        }),
        Settings::Slack {} => PbConfig::Slack(chat()),
        Settings::Discord {} => PbConfig::Discord(chat()),
        Settings::Healthchecks { ping_start } => {
            PbConfig::Healthchecks(pb::HealthchecksChannelConfig {
                ping_urls: Default::default(),
                schedule_ids: flags.ping_schedule_ids.clone(),
                ping_start: *ping_start,
            })
        }
    };
    pb::ChannelConfig {
        config: Some(config),
    }
}

fn kind_to_pb(kind: cairn_notify::Kind) -> pb::ChannelKind {
    use cairn_notify::Kind;
    match kind {
        Kind::Webhook => pb::ChannelKind::Webhook,
        Kind::Smtp => pb::ChannelKind::Smtp,
        Kind::Ntfy => pb::ChannelKind::Ntfy,
        Kind::Gotify => pb::ChannelKind::Gotify,
        Kind::Slack => pb::ChannelKind::Slack,
        Kind::Discord => pb::ChannelKind::Discord,
        Kind::Healthchecks => pb::ChannelKind::Healthchecks,
    }
}

fn channel_to_pb(view: &ChannelView) -> pb::NotificationChannel {
    pb::NotificationChannel {
        id: view.id.0,
        name: view.name.clone(),
        kind: kind_to_pb(view.kind) as i32,
        enabled: view.enabled,
        config: Some(config_to_pb(view)),
        created_at: Some(timestamp(view.created_at)),
        updated_at: Some(timestamp(view.updated_at)),
        last_sent_at: view.last_sent_at.map(timestamp),
        last_error: view.last_error.clone().unwrap_or_default(),
        route: Some(route_to_pb(&view.route)),
    }
}

fn delivery_to_pb(view: &DeliveryView) -> pb::Delivery {
    let d = &view.delivery;
    pb::Delivery {
        id: d.id.0,
        channel_id: d.channel_id.0,
        event: d.event.clone(),
        alert_id: d.alert_id.unwrap_or(0),
        schedule_id: d.schedule_id.unwrap_or(0),
        job_id: d.job_id.unwrap_or(0),
        state: d.state.clone(),
        attempts: d.attempts,
        next_attempt_at: Some(timestamp(d.next_attempt_at)),
        last_error: d.last_error.clone().unwrap_or_default(),
        created_at: Some(timestamp(d.created_at)),
        attempt_log: view
            .attempts
            .iter()
            .map(|a| pb::DeliveryAttempt {
                at: Some(timestamp(a.at)),
                ok: a.ok,
                detail: a.detail.clone(),
                duration_ms: a.duration_ms,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationsGrpc {
    async fn list_channels(
        &self,
        request: Request<pb::ListChannelsRequest>,
    ) -> Reply<pb::ListChannelsResponse> {
        let p = authenticate(&self.api, &request).await?;
        let channels = self.api.notifications.list(&p).await?;
        Ok(Response::new(pb::ListChannelsResponse {
            channels: channels.iter().map(channel_to_pb).collect(),
            page: Some(super::convert::page_to_pb(None)),
        }))
    }

    async fn create_channel(
        &self,
        request: Request<pb::CreateChannelRequest>,
    ) -> Reply<pb::CreateChannelResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Admin,
            "NotificationService/CreateChannel",
        )
        .await?;
        let req = request.into_inner();
        let (settings, secrets) = config_from_pb(req.config)?;
        let route = req
            .route
            .map(route_from_pb)
            .transpose()?
            .unwrap_or_default();
        let new = NewChannel {
            name: req.name,
            enabled: !req.disabled,
            settings,
            secrets,
            route,
        };
        let view = self.api.notifications.create(&p, new).await?;
        Ok(Response::new(pb::CreateChannelResponse {
            channel: Some(channel_to_pb(&view)),
        }))
    }

    async fn update_channel(
        &self,
        request: Request<pb::UpdateChannelRequest>,
    ) -> Reply<pb::UpdateChannelResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let (settings, secrets) = match req.config {
            Some(config) => {
                let (settings, secrets) = config_from_pb(Some(config))?;
                (Some(settings), secrets)
            }
            None => (None, Secrets::default()),
        };
        let update = ChannelUpdate {
            name: req.name,
            enabled: req.enabled,
            settings,
            secrets,
            route: req.route.map(route_from_pb).transpose()?,
        };
        let view = self
            .api
            .notifications
            .update(&p, ChannelId(req.channel_id), update)
            .await?;
        Ok(Response::new(pb::UpdateChannelResponse {
            channel: Some(channel_to_pb(&view)),
        }))
    }

    async fn delete_channel(
        &self,
        request: Request<pb::DeleteChannelRequest>,
    ) -> Reply<pb::DeleteChannelResponse> {
        let p = authenticate(&self.api, &request).await?;
        let id = ChannelId(request.into_inner().channel_id);
        self.api.notifications.delete(&p, id).await?;
        Ok(Response::new(pb::DeleteChannelResponse {}))
    }

    async fn test_channel(
        &self,
        request: Request<pb::TestChannelRequest>,
    ) -> Reply<pb::TestChannelResponse> {
        let p = authorize(
            &self.api,
            &request,
            Scope::Operate,
            "NotificationService/TestChannel",
        )
        .await?;
        let id = ChannelId(request.into_inner().channel_id);
        let outcome = self.api.notifications.test(&p, id).await?;
        Ok(Response::new(pb::TestChannelResponse {
            ok: outcome.ok,
            error: if outcome.ok {
                String::new()
            } else {
                outcome.detail
            },
        }))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Reply<pb::ListDeliveriesResponse> {
        let p = authenticate(&self.api, &request).await?;
        let req = request.into_inner();
        let channel = (req.channel_id != 0).then_some(ChannelId(req.channel_id));
        let limit = if req.limit == 0 { 50 } else { req.limit };
        let deliveries = self
            .api
            .notifications
            .deliveries(&p, channel, limit)
            .await?;
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: deliveries.iter().map(delivery_to_pb).collect(),
        }))
    }
}
