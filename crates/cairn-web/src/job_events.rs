//! A job's live stream (`GET /jobs/{id}/events`), fed by `Jobs::watch`,
//! and how the page resumes it: every batch of log lines carries its
//! position in the job's log (the SSE `id`), so a page that opens its stream
//! after its render (`?from=`), or reconnects (`Last-Event-ID`), is first
//! sent what it missed and drops what it already has.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event as Sse;
use cairn_server::jobs::Event;
use cairn_store::{JobId, LOG_PAGE_MAX, LogLine};
use serde::Deserialize;
use serde_json::json;

use crate::Web;
use crate::jobs::{line, progress_view};
use crate::reply::error_page;
use crate::session::SignedIn;

/// Pages of missed log lines a resuming stream sends at most (each up to
/// `LOG_PAGE_MAX` lines); a job's log is capped well below that anyway.
const MAX_RESUME_PAGES: usize = 20;
/// Log lines in one resumed event, at most: about 100 KB of typical lines
/// (at most 400 KB), which a 16 KB/s link sends within the stall limit.
const RESUME_EVENT_LINES: usize = 100;

/// Where the page's log stands, as its stream's URL says.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    /// The position of the first line the page does not have.
    #[serde(default)]
    from: Option<u64>,
}

/// Log lines as the page's script takes them: `first` is the position of
/// the first one.
fn log_json(first: u64, lines: &[LogLine]) -> serde_json::Value {
    json!({
        "first": first,
        "lines": lines
            .iter()
            .map(|l| {
                let v = line(l);
                json!({ "at": v.at, "stream": v.stream, "level": v.level, "text": v.text })
            })
            .collect::<Vec<_>>(),
    })
}

/// A batch of log lines as an SSE event whose id is the position after it.
fn log_event(first: u64, lines: &[LogLine]) -> Sse {
    Sse::default()
        .event("log")
        .id((first + lines.len() as u64).to_string())
        .data(log_json(first, lines).to_string())
}

/// What a watch event says, as an SSE event for the page's script (which
/// writes text, never markup).
fn sse_of(event: &Event) -> Sse {
    let (name, data) = match event {
        Event::Log { first, lines } => return log_event(*first, lines),
        Event::Current(job) => ("state", json!({ "status": job.status.as_str() })),
        Event::State { to, .. } => ("state", json!({ "status": to.as_str() })),
        Event::Progress(p) => {
            let view = progress_view(Some(p));
            (
                "progress",
                json!({
                    "percent": p.percent,
                    "files": view.files,
                    "bytes": view.bytes,
                    "current": view.current,
                    "eta": view.eta,
                    "speed": view.speed,
                }),
            )
        }
        Event::Finished(job) => (
            "finished",
            json!({
                "status": job.status.as_str(),
                "error": job.error.clone().unwrap_or_default(),
                "snapshot_id": job.snapshot_id.clone().unwrap_or_default(),
            }),
        ),
    };
    Sse::default().event(name).data(data.to_string())
}

/// `GET /jobs/{id}/events`: the job's live events. The stream ends after the
/// final record, at shutdown, when the session ends or when the browser
/// goes; a browser too slow to keep up misses the oldest events (the hub's
/// buffer is bounded) and never slows anyone else. See [`crate::live`].
pub(crate) async fn events(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    closer: crate::live::Closer,
    Path(id): Path<i64>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let job = JobId(id);
    // Subscribed first, then read: a line stored in between comes both ways,
    // and the page drops the repeat by its position.
    let watch = match web.api.jobs.watch(&p, job).await {
        Ok(watch) => watch,
        Err(err) => return error_page(err),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.from);
    // What the page missed, page by page: a long absence is sent whole,
    // up to a bound past which the page is better reloaded.
    let mut missed = Vec::new();
    if let Some(mut from) = resume {
        for _ in 0..MAX_RESUME_PAGES {
            let lines = match web.api.jobs.log_from(&p, job, from, LOG_PAGE_MAX).await {
                Ok(lines) => lines,
                Err(err) => return error_page(err),
            };
            if lines.is_empty() {
                break;
            }
            // In events of a bounded size: the stream counts as stalled when
            // one event stays unsent for 30 s (see `stall`), and a slow link
            // must get each through well within that.
            for (i, chunk) in lines.chunks(RESUME_EVENT_LINES).enumerate() {
                missed.push(log_event(from + (i * RESUME_EVENT_LINES) as u64, chunk));
            }
            from += lines.len() as u64;
            if lines.len() < LOG_PAGE_MAX as usize {
                break;
            }
        }
    }
    let live = futures::stream::unfold(watch, |mut watch| async move {
        let event = watch.next().await?;
        Some((sse_of(&event.event), watch))
    });
    let events = futures::StreamExt::chain(futures::stream::iter(missed), live);
    crate::live::serve(&web, &p, &headers, closer, events)
}
