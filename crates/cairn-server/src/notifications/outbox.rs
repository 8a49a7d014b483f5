//! The outbox: notices routed to channels, one delivery per channel, worked
//! off by the delivery worker with retries and exponential backoff on the
//! injected clock. Every attempt, a test's too, goes through
//! [`Notifications::record_outcome`], the one place an outcome is written.

use std::time::Duration;

use cairn_domain::{Millis, Severity};
use cairn_notify::{Kind, Notice, Outgoing, Settings};
use cairn_store::{Attempt, AttemptOutcome, Delivery, DeliveryId, NewDelivery};
use futures::future::BoxFuture;

use super::{ChannelView, Notifications, TestOutcome};
use crate::error::ServiceResult;
use crate::notice::{AlertNotice, NoticeSink};

/// Deliveries taken per pass of the worker.
const BATCH: u32 = 32;

/// When to try a failed delivery again: `first`, doubling up to `max`, at
/// most `attempts` tries in all; then the delivery has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            attempts: 8,
        }
    }
}

impl Backoff {
    /// The wait after the `tried`-th failed attempt (1-based), or `None`
    /// when no attempt is left.
    pub fn after(&self, tried: u32) -> Option<Duration> {
        if tried >= self.attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(tried.saturating_sub(1));
        Some(self.first.saturating_mul(factor).min(self.max))
    }
}

/// A delivery with its attempts, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryView {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// The notice a test sends.
pub(super) fn test_notice(now: Millis, by: &str, link: Option<String>) -> Notice {
    Notice {
        event: "test".into(),
        alert_id: None,
        kind: None,
        severity: Severity::Info,
        subject: "test".into(),
        host: None,
        message: format!(
            "A test notification from Cairn, sent by {by}. If you read this, the channel works."
        ),
        fired_at: None,
        at: now,
        link,
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

impl Notifications {
    /// Sends `out` through `channel` once and records the outcome.
    pub(super) async fn attempt(
        &self,
        channel: &ChannelView,
        delivery: Option<&Delivery>,
        out: &Outgoing,
        then: Option<&(dyn Fn(bool) -> (&'static str, Millis) + Sync)>,
    ) -> ServiceResult<TestOutcome> {
        let secrets = self.secrets(channel.id).await?;
        let started = std::time::Instant::now();
        let now_secs = self.clock.now().div_euclid(1000);
        let result = self
            .sender
            .send(&channel.settings, &secrets, out, now_secs)
            .await;
        let outcome = TestOutcome {
            ok: result.is_ok(),
            detail: match result {
                Ok(done) => done,
                Err(e) => e.to_string(),
            },
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.record_outcome(
            channel.kind,
            AttemptOutcome {
                channel_id: channel.id,
                delivery_id: delivery.map(|d| d.id),
                at: self.clock.now(),
                ok: outcome.ok,
                detail: outcome.detail.clone(),
                duration_ms,
                then: then.map(|f| f(outcome.ok)),
            },
        )
        .await?;
        Ok(outcome)
    }

    /// Records one attempt's outcome: the ONE place every attempt (a
    /// delivery's or a test's) is written, so a counter of outcomes hooks in
    /// here.
    pub(super) async fn record_outcome(
        &self,
        kind: impl Into<Option<Kind>>,
        outcome: AttemptOutcome,
    ) -> ServiceResult<()> {
        let kind = kind.into().map_or("unknown", Kind::as_str);
        // A short fixed word per outcome: metric labels must stay few.
        let word = match (outcome.ok, outcome.then) {
            (true, _) => "delivered",
            (false, Some(("failed", _))) => "gave_up",
            (false, _) => "failed",
        };
        self.metrics.notification_attempt(kind, word);
        if !outcome.ok {
            tracing::warn!(channel = %outcome.channel_id, reason = %outcome.detail, "a notification was not delivered");
        }
        self.store.record_attempt(outcome).await?;
        Ok(())
    }

    /// Queues deliveries and wakes the worker.
    pub(super) async fn enqueue(&self, deliveries: Vec<NewDelivery>) -> ServiceResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.store
            .enqueue_deliveries(deliveries, self.clock.now())
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Routes an alert notice to every enabled channel whose route takes it.
    pub async fn route(&self, notice: AlertNotice) -> ServiceResult<usize> {
        let resolved = notice.transition == crate::notice::Transition::Resolved;
        let out = Outgoing::Notice(Notice {
            event: format!("alert.{}", notice.transition.as_str()),
            alert_id: Some(notice.alert_id),
            kind: Some(notice.kind.as_str().to_string()),
            severity: notice.severity,
            subject: notice.subject.clone(),
            host: notice.host.clone(),
            message: notice.message.clone(),
            fired_at: Some(notice.fired_at),
            at: notice.at,
            link: self.link("/alerts"),
        });
        let payload = serde_json::to_string(&out)
            .map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
        let mut queued = Vec::new();
        for channel in self.store.list_channels().await? {
            let view = self.view(channel).await?;
            if view.enabled
                && view.kind.takes_alerts()
                && view.route.accepts(notice.kind, notice.severity, resolved)
            {
                queued.push(NewDelivery {
                    channel_id: view.id,
                    alert_id: Some(notice.alert_id),
                    schedule_id: None,
                    job_id: None,
                    event: format!("alert.{}", notice.transition.as_str()),
                    payload: payload.clone(),
                });
            }
        }
        let count = queued.len();
        self.enqueue(queued).await?;
        Ok(count)
    }

    /// One pass: tries every delivery due now. Returns when the next one
    /// is due, if any is pending.
    pub async fn deliver_due(&self) -> ServiceResult<Option<Millis>> {
        loop {
            let due = self.store.due_deliveries(self.clock.now(), BATCH).await?;
            if due.is_empty() {
                break;
            }
            for delivery in &due {
                if let Err(err) = self.deliver_one(delivery).await {
                    // One that cannot even be tried (its channel or secrets
                    // unreadable) fails alone instead of heading the queue
                    // for ever.
                    let now = self.clock.now();
                    self.record_outcome(
                        None,
                        AttemptOutcome {
                            channel_id: delivery.channel_id,
                            delivery_id: Some(delivery.id),
                            at: now,
                            ok: false,
                            detail: format!("could not be tried: {err}"),
                            duration_ms: 0,
                            then: Some(("failed", now)),
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(self.store.next_delivery_due().await?)
    }

    async fn deliver_one(&self, delivery: &Delivery) -> ServiceResult<()> {
        let view = self
            .view(self.store.channel(delivery.channel_id).await?)
            .await?;
        let backoff = self.backoff;
        let tried = delivery.attempts + 1;
        let now = self.clock.now();
        let then = move |ok: bool| match (ok, backoff.after(tried)) {
            (true, _) => ("delivered", now),
            (false, Some(wait)) => ("pending", now.saturating_add(millis(wait))),
            (false, None) => ("failed", now),
        };
        let out: Outgoing = match serde_json::from_str(&delivery.payload) {
            Ok(out) => out,
            Err(e) => {
                // A payload that does not decode never will: fail it at once.
                return self
                    .record_outcome(
                        view.kind,
                        AttemptOutcome {
                            channel_id: view.id,
                            delivery_id: Some(delivery.id),
                            at: now,
                            ok: false,
                            detail: format!("the queued payload does not decode: {e}"),
                            duration_ms: 0,
                            then: Some(("failed", now)),
                        },
                    )
                    .await;
            }
        };
        if !view.enabled {
            return self.drop_disabled(&view, delivery.id, now).await;
        }
        self.attempt(&view, Some(delivery), &out, Some(&then))
            .await?;
        Ok(())
    }

    async fn drop_disabled(
        &self,
        view: &ChannelView,
        id: DeliveryId,
        now: Millis,
    ) -> ServiceResult<()> {
        self.record_outcome(
            view.kind,
            AttemptOutcome {
                channel_id: view.id,
                delivery_id: Some(id),
                at: now,
                ok: false,
                detail: "the channel was turned off before this was sent".into(),
                duration_ms: 0,
                then: Some(("failed", now)),
            },
        )
        .await
    }

    /// The delivery worker: works off the outbox, sleeping until the next
    /// delivery is due, something is queued, or a manual clock moves.
    pub async fn run(self, stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        let mut stop = stop;
        let mut moves = self.clock.moves();
        loop {
            moves.seen();
            let next = match self.deliver_due().await {
                Ok(next) => next,
                Err(err) => {
                    tracing::error!(error = %err, "the delivery worker could not work off the outbox");
                    Some(self.clock.now().saturating_add(5_000))
                }
            };
            let wait = next.map(|at| {
                Duration::from_millis(
                    u64::try_from(at.saturating_sub(self.clock.now())).unwrap_or(0),
                )
            });
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => return,
                () = self.wake.notified() => {}
                () = moves.moved() => {}
                () = sleep => {}
            }
        }
    }
}

impl NoticeSink for Notifications {
    fn alert_changed(&self, notice: AlertNotice) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(err) = self.route(notice).await {
                tracing::error!(error = %err, "could not queue an alert's notifications");
            }
        })
    }
}

/// Whether a channel's settings take healthchecks pings with `/start`.
pub(super) fn pings_start(settings: &Settings) -> bool {
    matches!(settings, Settings::Healthchecks { ping_start: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30s_to_an_hour_and_stops_after_8() {
        let b = Backoff::default();
        let waits: Vec<u64> = (1..=8)
            .filter_map(|n| b.after(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920]);
        assert_eq!(b.after(8), None);
        let long = Backoff { attempts: 20, ..b };
        assert_eq!(long.after(12).map(|d| d.as_secs()), Some(3600));
    }
}
