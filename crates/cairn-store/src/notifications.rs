//! Notification channels, the delivery outbox and every attempt's outcome.
//! The store keeps a channel's settings and route as the JSON the server
//! writes (it knows no channel kinds) and its secrets sealed; as with
//! repositories, the caller seals inside the transaction that makes the row,
//! since the seal is bound to the row's id.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{StoreError, StoreResult};
use crate::ids::{ChannelId, DeliveryId};
use crate::{Millis, Store};

/// A channel's record (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub name: String,
    pub kind: String,
    /// The visible settings, as JSON.
    pub config: String,
    /// Which notices it takes, as JSON.
    pub route: String,
    pub enabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_sent_at: Option<Millis>,
    pub last_error: Option<String>,
}

/// The visible part of a channel to create or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFields {
    pub name: String,
    pub kind: String,
    pub config: String,
    pub route: String,
    pub enabled: bool,
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub channel_id: ChannelId,
    pub alert_id: Option<i64>,
    pub schedule_id: Option<i64>,
    pub job_id: Option<i64>,
    pub event: String,
    pub payload: String,
}

/// A queued (or finished) delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub channel_id: ChannelId,
    pub alert_id: Option<i64>,
    pub schedule_id: Option<i64>,
    pub job_id: Option<i64>,
    pub event: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub channel_id: ChannelId,
    /// `None` for a test send.
    pub delivery_id: Option<DeliveryId>,
    pub at: Millis,
    pub ok: bool,
    pub detail: String,
    pub duration_ms: i64,
    /// For a delivery: its state after this attempt and when to try next.
    pub then: Option<(&'static str, Millis)>,
}

/// A recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub channel_id: ChannelId,
    pub delivery_id: Option<DeliveryId>,
    pub at: Millis,
    pub ok: bool,
    pub detail: String,
    pub duration_ms: i64,
}

const CHANNEL_COLUMNS: &str =
    "id, name, kind, config, route, enabled, created_at, updated_at, last_sent_at, last_error";

fn channel_from_row(row: &Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        config: row.get(3)?,
        route: row.get(4)?,
        enabled: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        last_sent_at: row.get(8)?,
        last_error: row.get(9)?,
    })
}

fn channel_in(c: &Connection, id: ChannelId) -> StoreResult<Channel> {
    c.query_row(
        &format!("SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE id = ?1"),
        [id],
        channel_from_row,
    )
    .map_err(StoreError::about("notification channel"))
}

const DELIVERY_COLUMNS: &str = "id, channel_id, alert_id, schedule_id, job_id, event, payload, state, attempts, next_attempt_at, last_error, created_at, updated_at";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        alert_id: row.get(2)?,
        schedule_id: row.get(3)?,
        job_id: row.get(4)?,
        event: row.get(5)?,
        payload: row.get(6)?,
        state: row.get(7)?,
        attempts: row.get(8)?,
        next_attempt_at: row.get(9)?,
        last_error: row.get(10)?,
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

impl Store {
    /// Creates a channel; `seal` turns the new row's id into its sealed
    /// secrets, in the same transaction.
    pub async fn create_channel<F>(
        &self,
        fields: ChannelFields,
        now: Millis,
        seal: F,
    ) -> StoreResult<Channel>
    where
        F: FnOnce(ChannelId) -> StoreResult<Vec<u8>> + Send + 'static,
    {
        self.write(move |c| {
            c.execute(
                "INSERT INTO notification_channels (name, kind, config, route, enabled, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![fields.name, fields.kind, fields.config, fields.route, fields.enabled, now],
            )
            .map_err(StoreError::about("notification channel"))?;
            let id = ChannelId(c.last_insert_rowid());
            let sealed = seal(id)?;
            c.execute(
                "UPDATE notification_channels SET secret_sealed = ?2 WHERE id = ?1",
                params![id, sealed],
            )?;
            channel_in(c, id)
        })
        .await
    }

    /// Changes a channel: `fields` replaces the visible part (its kind must
    /// stay), and `reseal` gets the stored sealed secrets and returns the new.
    pub async fn update_channel<F>(
        &self,
        id: ChannelId,
        fields: ChannelFields,
        now: Millis,
        reseal: F,
    ) -> StoreResult<Channel>
    where
        F: FnOnce(Option<Vec<u8>>) -> StoreResult<Vec<u8>> + Send + 'static,
    {
        self.write(move |c| {
            let old = channel_in(c, id)?;
            if old.kind != fields.kind {
                return Err(StoreError::Conflict {
                    what: "channel of another kind",
                });
            }
            let sealed = reseal(secret_in(c, id)?)?;
            c.execute(
                "UPDATE notification_channels SET name = ?2, config = ?3, route = ?4, enabled = ?5,
                        secret_sealed = ?6, updated_at = ?7 WHERE id = ?1",
                params![
                    id,
                    fields.name,
                    fields.config,
                    fields.route,
                    fields.enabled,
                    sealed,
                    now
                ],
            )
            .map_err(StoreError::about("notification channel"))?;
            channel_in(c, id)
        })
        .await
    }

    /// Deletes a channel with its deliveries and attempts.
    pub async fn delete_channel(&self, id: ChannelId) -> StoreResult<Channel> {
        self.write(move |c| {
            let channel = channel_in(c, id)?;
            c.execute("DELETE FROM notification_channels WHERE id = ?1", [id])?;
            Ok(channel)
        })
        .await
    }

    /// One channel.
    pub async fn channel(&self, id: ChannelId) -> StoreResult<Channel> {
        self.read(move |c| channel_in(c, id)).await
    }

    /// A channel's sealed secrets, if any.
    pub async fn channel_secret(&self, id: ChannelId) -> StoreResult<Option<Vec<u8>>> {
        self.read(move |c| secret_in(c, id)).await
    }

    /// Every channel, by name.
    pub async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {CHANNEL_COLUMNS} FROM notification_channels ORDER BY name"
            ))?;
            let rows = stmt
                .query_map([], channel_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Queues deliveries, due now.
    pub async fn enqueue_deliveries(
        &self,
        deliveries: Vec<NewDelivery>,
        now: Millis,
    ) -> StoreResult<Vec<DeliveryId>> {
        self.write(move |c| {
            let mut ids = Vec::with_capacity(deliveries.len());
            for d in deliveries {
                c.execute(
                    "INSERT INTO notification_deliveries (channel_id, alert_id, schedule_id, job_id, event, payload,
                            state, next_attempt_at, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7)",
                    params![d.channel_id, d.alert_id, d.schedule_id, d.job_id, d.event, d.payload, now],
                )
                .map_err(StoreError::about("notification channel"))?;
                ids.push(DeliveryId(c.last_insert_rowid()));
            }
            Ok(ids)
        })
        .await
    }

    /// Pending deliveries due at `now`, oldest first.
    pub async fn due_deliveries(&self, now: Millis, limit: u32) -> StoreResult<Vec<Delivery>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries
                  WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![now, limit], delivery_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// When the next pending delivery is due, if any is pending.
    pub async fn next_delivery_due(&self) -> StoreResult<Option<Millis>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT MIN(next_attempt_at) FROM notification_deliveries WHERE state = 'pending'",
                [],
                |r| r.get::<_, Option<Millis>>(0),
            )?)
        })
        .await
    }

    /// Deletes the deliveries that ended (delivered or failed) before
    /// `before`, with their attempts, and test sends' attempts as old;
    /// pending ones stay whatever their age. Returns how many rows went.
    pub async fn delete_notifications_before(&self, before: Millis) -> StoreResult<usize> {
        self.write(move |c| {
            let attempts = c.execute(
                "DELETE FROM notification_attempts WHERE at < ?1 AND (delivery_id IS NULL
                   OR delivery_id IN (SELECT id FROM notification_deliveries
                                      WHERE state <> 'pending' AND updated_at < ?1))",
                params![before],
            )?;
            let deliveries = c.execute(
                "DELETE FROM notification_deliveries WHERE state <> 'pending' AND updated_at < ?1",
                params![before],
            )?;
            Ok(attempts + deliveries)
        })
        .await
    }

    /// Records one attempt: the attempt row, the delivery's new state, and
    /// the channel's last sent / last error, in one transaction.
    pub async fn record_attempt(&self, outcome: AttemptOutcome) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO notification_attempts (channel_id, delivery_id, at, ok, detail, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![outcome.channel_id, outcome.delivery_id, outcome.at, outcome.ok, outcome.detail, outcome.duration_ms],
            )
            .map_err(StoreError::about("notification channel"))?;
            if let (Some(id), Some((state, next))) = (outcome.delivery_id, outcome.then) {
                let error = (!outcome.ok).then_some(&outcome.detail);
                c.execute(
                    "UPDATE notification_deliveries SET attempts = attempts + 1, state = ?2,
                            next_attempt_at = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1",
                    params![id, state, next, error, outcome.at],
                )?;
            }
            if outcome.ok {
                c.execute(
                    "UPDATE notification_channels SET last_sent_at = ?2, last_error = NULL WHERE id = ?1",
                    params![outcome.channel_id, outcome.at],
                )?;
            } else {
                c.execute(
                    "UPDATE notification_channels SET last_error = ?2 WHERE id = ?1",
                    params![outcome.channel_id, outcome.detail],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// The latest deliveries (of one channel, or all), newest first.
    pub async fn list_deliveries(
        &self,
        channel: Option<ChannelId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries
                  WHERE ?1 IS NULL OR channel_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![channel, limit], delivery_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The attempts of one delivery, oldest first.
    pub async fn delivery_attempts(&self, id: DeliveryId) -> StoreResult<Vec<Attempt>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT channel_id, delivery_id, at, ok, detail, duration_ms FROM notification_attempts
                  WHERE delivery_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(Attempt {
                        channel_id: r.get(0)?,
                        delivery_id: r.get(1)?,
                        at: r.get(2)?,
                        ok: r.get(3)?,
                        detail: r.get(4)?,
                        duration_ms: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

fn secret_in(c: &Connection, id: ChannelId) -> StoreResult<Option<Vec<u8>>> {
    c.query_row(
        "SELECT secret_sealed FROM notification_channels WHERE id = ?1",
        [id],
        |r| r.get::<_, Option<Vec<u8>>>(0),
    )
    .optional()
    .map_err(StoreError::about("notification channel"))?
    .ok_or(StoreError::NotFound {
        what: "notification channel",
    })
}
