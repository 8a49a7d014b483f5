//! The SSE side of B3: a subscriber that reads a stream the way a browser's
//! EventSource does and times each `progress` event against the moment it
//! was made (the source writes its send time, in µs since the epoch, into
//! the event's `current` file name), and the reference server: bare axum
//! SSE over a broadcast channel, over the same kind of TLS.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::StreamExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::sync::broadcast;

/// Microseconds since the epoch, the clock every hop is stamped with.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The file name a source reports, carrying its send time.
pub fn stamped_file(micros: u64) -> String {
    format!("/bench/sent/{micros}")
}

/// The send time in a stamped file name.
pub fn stamp_of(text: &str) -> Option<u64> {
    let start = text.find("/bench/sent/")? + "/bench/sent/".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Reads one SSE stream until `until`; returns the latency (ms) of every
/// stamped event received in `[from, until)`.
pub async fn subscribe(
    response: reqwest::Response,
    from: Instant,
    until: Instant,
) -> anyhow::Result<Vec<f64>> {
    if !response.status().is_success() {
        bail!("the stream answered {}", response.status());
    }
    let mut body = response.bytes_stream();
    let mut pending = Vec::<u8>::new();
    let mut samples = Vec::new();
    loop {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            () = tokio::time::sleep_until(until.into()) => return Ok(samples),
        };
        let Some(chunk) = chunk else {
            bail!("the stream ended early");
        };
        pending.extend_from_slice(&chunk.context("reading the stream")?);
        let received = now_micros();
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            if !text
                .lines()
                .any(|l| l == "event: progress" || l == "event:progress")
            {
                continue;
            }
            let now = Instant::now();
            if now < from || now >= until {
                continue;
            }
            if let Some(sent) = stamp_of(&text) {
                samples.push(received.saturating_sub(sent) as f64 / 1e3);
            }
        }
    }
}

/// The reference: a bare axum SSE endpoint over a broadcast channel,
/// served over TLS with the same certificate kind and ALPN as the server.
#[derive(Debug)]
pub struct ReferenceSse {
    /// `https://127.0.0.1:port`.
    pub url: String,
    /// Its certificate's fingerprint, to pin.
    pub fingerprint: String,
    stop: tokio::sync::watch::Sender<bool>,
}

impl ReferenceSse {
    /// Starts it, publishing a stamped event `rate` times a second.
    pub async fn start(dir: &std::path::Path, rate: u32) -> anyhow::Result<ReferenceSse> {
        std::fs::create_dir_all(dir)?;
        let names = vec!["127.0.0.1".to_string()];
        let (identity, _) = cairn_tls::ServerIdentity::load_or_create_self_signed(dir, &names)?;
        let acceptor = identity.acceptor()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://{}", listener.local_addr()?);
        let (events, _) = broadcast::channel::<String>(64);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let publisher = events.clone();
        let mut publish_stop = stop.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let data = serde_json::json!({ "current": stamped_file(now_micros()) }).to_string();
                        let _ = publisher.send(data);
                    }
                    _ = publish_stop.changed() => return,
                }
            }
        });
        let events = Arc::new(events);
        let router = axum::Router::new().route(
            "/events",
            axum::routing::get(move || {
                let rx = events.subscribe();
                async move {
                    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(
                        |item| async move {
                            item.ok().map(|data| {
                                Ok::<_, Infallible>(Event::default().event("progress").data(data))
                            })
                        },
                    );
                    Sse::new(stream).keep_alive(KeepAlive::default())
                }
            }),
        );
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = stopped.changed() => return,
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await;
                    }
                });
            }
        });
        Ok(ReferenceSse {
            url,
            fingerprint: identity.fingerprint().to_string(),
            stop,
        })
    }
}

impl Drop for ReferenceSse {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_the_trip_through_a_file_name() {
        let text = format!(
            "event: progress\ndata: {{\"current\":\"{}\"}}\n",
            stamped_file(1_234_567)
        );
        assert_eq!(stamp_of(&text), Some(1_234_567));
        assert_eq!(stamp_of("data: {}"), None);
    }
}
