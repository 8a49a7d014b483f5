//! The console's live streams (SSE) and the limits every one of them keeps.
//!
//! - A session holds at most [`MAX_STREAMS_PER_SESSION`] streams. Each holds
//!   an HTTP/1.1 connection, and a browser has six per server: without a cap,
//!   a few open tabs would leave none for the pages themselves. A page opens
//!   at most one stream.
//! - A stream ends when the server shuts down, and when its session no longer
//!   signs anyone in: checked at once when a sign-in ends through this
//!   server (a sign-out, an account disabled or its role changed: the
//!   service's `Revocations`), and every [`RECHECK`] for what no word comes
//!   of (a session expiring, `cairn admin` run beside the server).
//! - What feeds a stream is bounded: a job's events come through the hub's
//!   bounded broadcast (a browser that falls behind loses the oldest), the
//!   fleet's through a `watch` that only keeps the latest beat. A stalled
//!   browser never slows an agent or another browser.
//! - A stream whose reader stopped reading loses its connection once it has
//!   held an event unsent for [`crate::stall::STALLED_AFTER`] (see `stall`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use cairn_server::ConnectionCloser;
use cairn_server::auth::{Principal, Via};
use futures::{Stream, StreamExt};

use crate::Web;
use crate::session::{SignedIn, session_cookie};
use crate::stall::Flow;

/// Live streams one session may hold at once.
pub(crate) const MAX_STREAMS_PER_SESSION: usize = 4;
/// How often a stream checks that its session still signs someone in, at
/// the least (the promise: a revoked sign-in's streams end within 5 s).
pub(crate) const RECHECK: Duration = Duration::from_secs(5);
/// How often the fleet stream says "changed" with no change seen: ages and
/// overdue schedules move with time alone.
const FLEET_REFRESH: Duration = Duration::from_secs(60);
/// A burst of changes (a backup's progress, a host reconnecting) becomes
/// one refresh at most this often: each refresh rebuilds the dashboard.
const FLEET_COALESCE: Duration = Duration::from_secs(5);
/// SSE comments that keep idle proxies from closing a stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The streams each session holds now.
#[derive(Debug, Default)]
pub(crate) struct Slots(Mutex<HashMap<String, usize>>);

/// One stream's place in its session's count; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

impl Slots {
    /// A place for one more stream of `p`'s session, or `None` when it holds
    /// as many as it may.
    pub(crate) fn take(self: &Arc<Self>, p: &Principal) -> Option<Slot> {
        let key = match &p.via {
            Via::Session { session_id, .. } => format!("session:{}", session_id.0),
            Via::ApiToken { token_id, .. } => format!("token:{}", token_id.0),
            _ => format!("user:{}", p.user.id.0),
        };
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(key.clone()).or_default();
        if *n >= MAX_STREAMS_PER_SESSION {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            key,
        })
    }
}

/// What a stream needs to keep checking it may go on.
struct Keeper {
    web: Web,
    cookie: String,
    recheck: tokio::time::Interval,
    revoked: tokio::sync::watch::Receiver<u64>,
    flow: Arc<Flow>,
    _slot: Slot,
}

impl Keeper {
    /// Whether the stream's session still signs someone in.
    async fn still_signed_in(&self) -> bool {
        matches!(
            self.web.api.auth.session(&self.cookie, None).await,
            Ok(Some(_))
        )
    }
}

/// The connection a stream's request came on, to close should its reader
/// stop reading; absent where no accept loop of the server's ran (tests).
pub(crate) type Closer = Option<Extension<ConnectionCloser>>;

/// Serves `events` as an SSE response under the rules in the module docs:
/// refused (429) when the session holds its most streams already.
pub(crate) fn serve<S>(
    web: &Web,
    p: &Principal,
    headers: &HeaderMap,
    closer: Closer,
    events: S,
) -> Response
where
    S: Stream<Item = Sse> + Send + 'static,
{
    let Some(slot) = web.slots.take(p) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "this session has too many live views open: close a tab or two\n",
        )
            .into_response();
    };
    let cookie = session_cookie(headers, web.api.secure_cookies).unwrap_or_default();
    let start = tokio::time::Instant::now() + RECHECK;
    let keeper = Keeper {
        web: web.clone(),
        cookie,
        recheck: tokio::time::interval_at(start, RECHECK),
        revoked: web.api.auth.revocations().subscribe(),
        flow: crate::stall::watched(closer.map(|Extension(c)| c)),
        _slot: slot,
    };
    let events = Box::pin(events);
    let stream = futures::stream::unfold((events, keeper), |(mut events, mut keeper)| async move {
        keeper.flow.asked();
        loop {
            tokio::select! {
                () = keeper.web.api.shutting_down() => return None,
                _ = keeper.recheck.tick() => {
                    if !keeper.still_signed_in().await {
                        return None;
                    }
                }
                changed = keeper.revoked.changed() => {
                    // A closed sender means the server is going away.
                    if changed.is_err() || !keeper.still_signed_in().await {
                        return None;
                    }
                }
                event = events.next() => {
                    keeper.flow.handed_over();
                    return event.map(|e| (Ok::<_, Infallible>(e), (events, keeper)));
                }
            }
        }
    });
    let mut response = axum::response::sse::Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // nginx buffers a proxied response unless told not to, and a live view
    // would then arrive in lumps (see the book's reverse-proxy section).
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// `GET /events/fleet`: says `changed` whenever what the dashboard shows may
/// have changed; the page then fetches its live part again.
pub(crate) async fn fleet(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    closer: Closer,
) -> Response {
    let changes = web.api.fleet.changes();
    let events = futures::stream::unfold(changes, |mut changes| async move {
        tokio::select! {
            changed = changes.changed() => changed.ok()?,
            () = tokio::time::sleep(FLEET_REFRESH) => {}
        }
        tokio::time::sleep(FLEET_COALESCE).await;
        let beat = *changes.borrow_and_update();
        Some((
            Sse::default().event("changed").data(beat.to_string()),
            changes,
        ))
    });
    serve(&web, &p, &headers, closer, events)
}
