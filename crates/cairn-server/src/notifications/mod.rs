//! Notification channels: where alerts and healthchecks pings go. A
//! channel's secrets (SMTP password, tokens, the HMAC key, the URLs that are
//! credentials) are sealed at rest like repository secrets and never leave
//! the service: views carry `has_…` flags instead.
//!
//! Sending is cairn-notify's; this module routes notices to channels
//! ([`crate::notice::NoticeSink`]), queues one delivery per channel in the
//! store's outbox, and works it off with retries (`outbox.rs`).

use std::sync::Arc;

use cairn_notify::{Kind, Outgoing, Route, Secrets, Sender, Settings};
use cairn_seal::{SealContext, Sealer};
use cairn_store::{Channel, ChannelFields, ChannelId, Delivery, Outcome, Scope, Store, StoreError};
use tokio::sync::Notify;

use crate::audit::Auditor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};

mod outbox;
mod pings;
mod secrets;

pub use outbox::{Backoff, DeliveryView};
pub use secrets::SecretFlags;

/// A channel to create.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub name: String,
    pub enabled: bool,
    pub settings: Settings,
    /// Its secrets (redacted in Debug).
    pub secrets: Secrets,
    pub route: Route,
}

/// Changes to a channel; `None` leaves a field as it is. In `secrets`, a
/// field left empty keeps what is stored; a header or ping URL given empty
/// is removed.
#[derive(Debug, Clone, Default)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// New settings, of the channel's own kind.
    pub settings: Option<Settings>,
    pub secrets: Secrets,
    pub route: Option<Route>,
}

/// A channel as shown: its settings and route, which secrets are stored,
/// and how its last sends went. Holds no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelView {
    pub id: ChannelId,
    pub name: String,
    pub kind: Kind,
    pub enabled: bool,
    pub settings: Settings,
    pub route: Route,
    pub secrets: SecretFlags,
    pub created_at: cairn_store::Millis,
    pub updated_at: cairn_store::Millis,
    pub last_sent_at: Option<cairn_store::Millis>,
    pub last_error: Option<String>,
}

/// How a test send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub ok: bool,
    /// What the receiving end answered, or why it failed (never a secret).
    pub detail: String,
}

/// The notifications service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifications {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    sealer: Sealer,
    sender: Arc<Sender>,
    /// Wakes the delivery worker when something is queued.
    wake: Arc<Notify>,
    backoff: Backoff,
    /// The console's URL, for links in notices.
    public_url: String,
    /// Counts every attempt's outcome.
    metrics: crate::metrics::Metrics,
}

fn check_name(name: &str) -> ServiceResult<()> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            "must be 1 to 64 printable characters",
        ));
    }
    Ok(())
}

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> ServiceError + '_ {
    move |e| ServiceError::Internal(format!("stored channel {what} does not decode: {e}"))
}

impl Notifications {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        sealer: Sealer,
        sender: Sender,
        public_url: String,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        Self {
            store,
            clock,
            auditor,
            sealer,
            sender: Arc::new(sender),
            wake: Arc::new(Notify::new()),
            backoff: Backoff::default(),
            public_url,
            metrics,
        }
    }

    fn seal(&self, id: ChannelId, secrets: &Secrets) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(secrets).map_err(|e| StoreError::Seal(e.to_string()))?;
        self.sealer
            .seal(context(id), &json)
            .map_err(|e| StoreError::Seal(e.to_string()))
    }

    /// A channel's secrets, opened.
    async fn secrets(&self, id: ChannelId) -> ServiceResult<Secrets> {
        match self.store.channel_secret(id).await? {
            None => Ok(Secrets::default()),
            Some(sealed) if sealed.is_empty() => Ok(Secrets::default()),
            Some(sealed) => {
                let plain = self
                    .sealer
                    .open(context(id), &sealed)
                    .map_err(|e| ServiceError::Internal(format!("channel {id} secrets: {e}")))?;
                serde_json::from_slice(&plain).map_err(corrupt("secrets"))
            }
        }
    }

    async fn view(&self, channel: Channel) -> ServiceResult<ChannelView> {
        let secrets = self.secrets(channel.id).await?;
        let settings: Settings =
            serde_json::from_str(&channel.config).map_err(corrupt("config"))?;
        let route: Route = serde_json::from_str(&channel.route).map_err(corrupt("route"))?;
        Ok(ChannelView {
            id: channel.id,
            name: channel.name,
            kind: settings.kind(),
            enabled: channel.enabled,
            secrets: SecretFlags::of(&secrets),
            settings,
            route,
            created_at: channel.created_at,
            updated_at: channel.updated_at,
            last_sent_at: channel.last_sent_at,
            last_error: channel.last_error,
        })
    }

    async fn validate(&self, settings: &Settings, secrets: &Secrets) -> ServiceResult<()> {
        self.sender
            .validate(settings, secrets)
            .await
            .map_err(|e| ServiceError::invalid(e.field, e.reason))
    }

    /// Every channel, by name. Needs read.
    pub async fn list(&self, p: &Principal) -> ServiceResult<Vec<ChannelView>> {
        p.require(Scope::Read)?;
        let mut out = Vec::new();
        for channel in self.store.list_channels().await? {
            out.push(self.view(channel).await?);
        }
        Ok(out)
    }

    /// One channel. Needs read.
    pub async fn get(&self, p: &Principal, id: ChannelId) -> ServiceResult<ChannelView> {
        p.require(Scope::Read)?;
        self.view(self.store.channel(id).await?).await
    }

    /// Creates a channel (its secrets sealed). Needs admin.
    pub async fn create(&self, p: &Principal, new: NewChannel) -> ServiceResult<ChannelView> {
        let target = Some(format!("name:{}", new.name));
        self.auditor
            .authorize(p, Scope::Admin, "channel.create", target)
            .await?;
        check_name(&new.name)?;
        self.validate(&new.settings, &new.secrets).await?;
        let fields = ChannelFields {
            name: new.name.trim().to_string(),
            kind: new.settings.kind().as_str().to_string(),
            config: json(&new.settings)?,
            route: json(&new.route)?,
            enabled: new.enabled,
        };
        let this = self.clone();
        let secrets = secrets::tidy(new.secrets);
        let channel = self
            .store
            .create_channel(fields, self.clock.now(), move |id| this.seal(id, &secrets))
            .await?;
        self.auditor
            .record(
                p,
                "channel.create",
                Some(format!("channel:{}", channel.id)),
                Outcome::Success,
                Some(format!("{} channel {:?}", channel.kind, channel.name)),
            )
            .await;
        self.view(channel).await
    }

    /// Changes a channel (its kind stays). Needs admin.
    pub async fn update(
        &self,
        p: &Principal,
        id: ChannelId,
        update: ChannelUpdate,
    ) -> ServiceResult<ChannelView> {
        let target = Some(format!("channel:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "channel.update", target.clone())
            .await?;
        if let Some(name) = &update.name {
            check_name(name)?;
        }
        let current = self.view(self.store.channel(id).await?).await?;
        let settings = update.settings.unwrap_or_else(|| current.settings.clone());
        if settings.kind() != current.kind {
            return Err(ServiceError::invalid(
                "kind",
                format!(
                    "a channel's kind cannot change (this one is {}, not {}): make a new channel",
                    current.kind,
                    settings.kind()
                ),
            ));
        }
        // Secrets go only where they were given for: a channel moved to
        // another destination keeps none of them unless given again.
        let moved = settings.destination() != current.settings.destination();
        let stored = match moved {
            false => self.secrets(id).await?,
            true => Secrets::default(),
        };
        let secrets = secrets::merge(stored, update.secrets);
        self.validate(&settings, &secrets).await?;
        let mut changed = Vec::new();
        if update
            .name
            .as_deref()
            .is_some_and(|n| n.trim() != current.name)
        {
            changed.push("name".to_string());
        }
        if moved {
            changed.push("destination (stored secrets dropped unless given again)".into());
        } else if settings != current.settings {
            changed.push("settings".into());
        }
        if update.route.as_ref().is_some_and(|r| *r != current.route) {
            changed.push("route".into());
        }
        if update.enabled.is_some_and(|e| e != current.enabled) {
            changed.push(format!("enabled={}", update.enabled.unwrap_or_default()));
        }
        let detail = match changed.is_empty() {
            true => "nothing but secrets, if any".to_string(),
            false => format!("changed: {}", changed.join(", ")),
        };
        let fields = ChannelFields {
            name: update
                .name
                .map(|n| n.trim().to_string())
                .unwrap_or(current.name),
            kind: settings.kind().as_str().to_string(),
            config: json(&settings)?,
            route: json(&update.route.unwrap_or(current.route))?,
            enabled: update.enabled.unwrap_or(current.enabled),
        };
        let this = self.clone();
        let channel = self
            .store
            .update_channel(id, fields, self.clock.now(), move |_| {
                this.seal(id, &secrets)
            })
            .await?;
        self.auditor
            .record(p, "channel.update", target, Outcome::Success, Some(detail))
            .await;
        self.view(channel).await
    }

    /// Deletes a channel with its queued deliveries. Needs admin.
    pub async fn delete(&self, p: &Principal, id: ChannelId) -> ServiceResult<()> {
        let target = Some(format!("channel:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "channel.delete", target.clone())
            .await?;
        let gone = self.store.delete_channel(id).await?;
        self.auditor
            .record(
                p,
                "channel.delete",
                target,
                Outcome::Success,
                Some(format!("{} channel {:?}", gone.kind, gone.name)),
            )
            .await;
        Ok(())
    }

    /// Sends a test through a channel now (even a disabled one), records the
    /// attempt and says how it went. Needs operate.
    pub async fn test(&self, p: &Principal, id: ChannelId) -> ServiceResult<TestOutcome> {
        let target = Some(format!("channel:{id}"));
        self.auditor
            .authorize(p, Scope::Operate, "channel.test", target.clone())
            .await?;
        let view = self.view(self.store.channel(id).await?).await?;
        let out = match view.kind {
            Kind::Healthchecks => Outgoing::Ping {
                schedule_id: 0,
                phase: cairn_notify::PingPhase::Log,
                text: format!("Test from Cairn by {}", p.user.username),
            },
            _ => Outgoing::Notice(outbox::test_notice(
                self.clock.now(),
                &p.user.username,
                self.link("/notifications"),
            )),
        };
        let outcome = self.attempt(&view, None, &out, None).await?;
        let (result, detail) = match outcome.ok {
            true => (Outcome::Success, None),
            false => (Outcome::Failed, Some(outcome.detail.clone())),
        };
        self.auditor
            .record(p, "channel.test", target, result, detail)
            .await;
        Ok(outcome)
    }

    /// The latest deliveries (of one channel, or all) with their attempts,
    /// newest first. Needs read.
    pub async fn deliveries(
        &self,
        p: &Principal,
        channel: Option<ChannelId>,
        limit: u32,
    ) -> ServiceResult<Vec<DeliveryView>> {
        p.require(Scope::Read)?;
        let rows: Vec<Delivery> = self
            .store
            .list_deliveries(channel, limit.clamp(1, 500))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for delivery in rows {
            let attempts = self.store.delivery_attempts(delivery.id).await?;
            out.push(DeliveryView { delivery, attempts });
        }
        Ok(out)
    }

    fn link(&self, path: &str) -> Option<String> {
        (!self.public_url.is_empty()).then(|| format!("{}{path}", self.public_url))
    }
}

fn context(id: ChannelId) -> SealContext<'static> {
    SealContext::new("notification_channels", id.0, "secret_sealed")
}

fn json<T: serde::Serialize>(value: &T) -> ServiceResult<String> {
    serde_json::to_string(value).map_err(|e| ServiceError::Internal(e.to_string()))
}
