//! Letting go of a live view whose reader stopped reading.
//!
//! A stream's events are handed to hyper one at a time; hyper asks for the
//! next once it has sent the last. When the reader stops reading (a
//! suspended laptop, a dead link, a client that holds the stream and never
//! reads it), the socket or the HTTP/2 window fills and hyper stops asking:
//! nothing of the stream runs again, so it cannot end itself. The hub's
//! bounded broadcast already keeps such a reader from slowing anyone else;
//! this frees what it still holds (its connection, its session slot, its
//! place in the hub).
//!
//! Each stream notes whether hyper owes it a request (it handed over an
//! event) or it owes hyper one (it waits for the next event). A watchdog
//! task looks every [`CHECK_EVERY`]; once hyper has owed for
//! [`STALLED_AFTER`], it closes the stream's connection, the only handle
//! left. An idle stream waits on its events, not on hyper, so it is never
//! taken for stalled however long it is quiet.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cairn_server::ConnectionCloser;
use tokio::time::Instant;

/// How long hyper may hold an event unsent before its reader counts as
/// gone. Like nginx's `send_timeout` (60 s), it is long beside a slow link's
/// pauses and short beside what a forgotten stream would hold.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(30);
/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Who waits on whom, and since when.
#[derive(Debug)]
pub(crate) struct Flow(Mutex<(Waiting, Instant)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// The stream waits for its next event: quiet, not stalled.
    OnEvents,
    /// The stream handed hyper an event and waits to be asked again.
    OnReader,
}

impl Flow {
    fn new() -> Self {
        Flow(Mutex::new((Waiting::OnEvents, Instant::now())))
    }

    fn set(&self, waiting: Waiting) {
        let mut flow = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if flow.0 != waiting {
            *flow = (waiting, Instant::now());
        }
    }

    /// hyper asked for the next event: the last one is sent.
    pub(crate) fn asked(&self) {
        self.set(Waiting::OnEvents);
    }

    /// An event was handed to hyper.
    pub(crate) fn handed_over(&self) {
        self.set(Waiting::OnReader);
    }

    /// How long the reader has held up the stream, if it does.
    fn held_up_for(&self, now: Instant) -> Option<Duration> {
        let flow = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (flow.0 == Waiting::OnReader).then(|| now.saturating_duration_since(flow.1))
    }
}

/// A stream's flow, watched: with a closer (the request came through the
/// server's accept loop) a watchdog closes the connection once the reader
/// has held the stream up for [`STALLED_AFTER`]. The watchdog ends with the
/// stream (it holds the flow only weakly).
pub(crate) fn watched(closer: Option<ConnectionCloser>) -> Arc<Flow> {
    let flow = Arc::new(Flow::new());
    if let Some(closer) = closer {
        tokio::spawn(watchdog(Arc::downgrade(&flow), closer));
    }
    flow
}

async fn watchdog(flow: Weak<Flow>, closer: ConnectionCloser) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(flow) = flow.upgrade() else { return };
        if flow
            .held_up_for(Instant::now())
            .is_some_and(|held| held >= STALLED_AFTER)
        {
            tracing::info!("a live view's reader stopped reading: its connection is closed");
            closer.close();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets the spawned watchdog run up to its next sleep.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    async fn closed(closer: &ConnectionCloser) -> bool {
        let mut probe = std::pin::pin!(closer.closed());
        futures::poll!(&mut probe).is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_holds_an_event_past_the_limit_loses_its_connection() {
        let closer = ConnectionCloser::default();
        let flow = watched(Some(closer.clone()));
        flow.handed_over();
        tokio::time::advance(STALLED_AFTER - CHECK_EVERY).await;
        settle().await;
        assert!(!closed(&closer).await, "closed before the limit");
        tokio::time::advance(2 * CHECK_EVERY).await;
        settle().await;
        assert!(closed(&closer).await, "still open past the limit");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_and_a_reader_that_keeps_up_keep_their_connection() {
        let closer = ConnectionCloser::default();
        let flow = watched(Some(closer.clone()));
        // Quiet: waiting on events for ten limits' worth.
        tokio::time::advance(10 * STALLED_AFTER).await;
        settle().await;
        // Busy: every event asked for again within a second.
        for _ in 0..100 {
            flow.handed_over();
            tokio::time::advance(Duration::from_secs(1)).await;
            flow.asked();
            settle().await;
        }
        assert!(!closed(&closer).await);
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_ends_with_its_stream() {
        let closer = ConnectionCloser::default();
        let flow = watched(Some(closer.clone()));
        flow.handed_over();
        drop(flow);
        tokio::time::advance(2 * STALLED_AFTER).await;
        settle().await;
        assert!(!closed(&closer).await, "a gone stream closes nothing");
    }
}
