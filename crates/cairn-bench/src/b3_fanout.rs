//! B3, live fan-out: one running job whose agent reports progress 10 times
//! a second, followed by 1,000 and 5,000 subscribers at once: browsers on
//! the job page's SSE stream (each browser its own HTTP/2 connection with
//! its session, holding the 4 streams a session may), and scripts on gRPC
//! `WatchJob` (each its own connection). Then the same 1,000 with stalled
//! subscribers beside them, which open the stream and never read it: the
//! healthy ones' latency must not move, and the server must drop the
//! stalled ones.
//!
//! Latency is from the agent stamping a report to a subscriber reading it:
//! agent → server → store → hub → every subscriber. Reference: bare axum
//! SSE over a broadcast channel, over TLS, under the same subscribers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cairn_proto::v1 as pb;
use cairn_proto::v1::job_service_client::JobServiceClient;
use futures::StreamExt as _;

use crate::Ctx;
use crate::fixture::{
    ADMIN, ADMIN_PASSWORD, BenchServer, ServerOptions, pinned_client, small_window_client,
};
use crate::report::{Goal, Results, Row, Summary};
use crate::sim::{OnJob, SimAgent, Tally};
use crate::sse::{self, ReferenceSse};

/// Reports a second from the job's agent, and from the reference.
const RATE: u32 = 10;
/// Streams one session may hold (the console's limit).
const STREAMS_PER_BROWSER: usize = 4;
/// The HTTP/2 stream window of a stalling browser: a few events' worth.
const STALLING_WINDOW: u32 = 4_096;
/// From opening the streams to checking the stalled ones were dropped: the
/// server lets a reader hold an event for 30 s and looks every 5 s.
const STALLED_DROP_DEADLINE: Duration = Duration::from_secs(45);

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let counts: Vec<usize> = ctx.scale(vec![1_000, 5_000], vec![1_000]);
    let window = ctx.scale(Duration::from_secs(10), Duration::from_secs(6));
    let wanted = counts.iter().max().copied().unwrap_or(0) as u64 * 2 + 2_000;
    let limit = crate::sys::raise_open_files(wanted);
    if limit < wanted {
        results.remark(format!(
            "B3 open-file limit {limit}, below the {wanted} wanted: larger runs may fail"
        ));
    }
    let server = BenchServer::start(ctx, ServerOptions::default()).await?;
    let (job, _source) = progress_source(&server, &ctx.work, RATE).await?;
    let reference = ReferenceSse::start(&ctx.work.join("b3-reference"), RATE).await?;
    let mut healthy_1000 = None;
    // The reference at each count, for the SSE and the gRPC rows alike.
    let mut references = Vec::new();
    for &n in &counts {
        let cairn = sse_fan_out(&server, job, n, 0, window).await?.healthy;
        let bare = reference_fan_out(&reference, n, window).await?;
        let bare = summary(&bare)?;
        references.push((n, bare));
        let goal = if n <= 1_000 { 50.0 } else { 150.0 };
        if n == 1_000 {
            healthy_1000 = Some(cairn.clone());
        }
        results.push(
            Row::new(
                "B3",
                format!("SSE, {n} subscribers, {RATE} events/s"),
                "ms",
                summary(&cairn)?,
            )
            .reference("bare axum SSE", bare)
            .goal(Goal::AtMost(goal))
            .note(format!("{} events read", cairn.len())),
        );
    }
    // Stalled subscribers beside 1,000 healthy ones.
    let stalled = 100;
    let run = sse_fan_out(&server, job, 1_000, stalled, window).await?;
    let healthy = match healthy_1000 {
        Some(h) => h,
        None => sse_fan_out(&server, job, 1_000, 0, window).await?.healthy,
    };
    results.push(
        Row::new(
            "B3",
            format!("SSE, 1,000 healthy beside {stalled} stalled"),
            "ms",
            summary(&run.healthy)?,
        )
        .reference("the same 1,000, none stalled", summary(&healthy)?)
        .goal(Goal::AtMost(50.0)),
    );
    let dropped = run.stalled_dropped as f64 * 100.0 / stalled as f64;
    results.push(
        Row::new(
            "B3",
            format!(
                "stalled subscribers dropped within {} s",
                STALLED_DROP_DEADLINE.as_secs()
            ),
            "%",
            Summary::single(dropped),
        )
        .goal(Goal::AtLeast(100.0))
        .note("the server closes a connection whose reader holds an event unsent for 30 s"),
    );
    for &(n, bare) in &references {
        let watched = grpc_fan_out(&server, job, n, window).await?;
        results.push(
            Row::new(
                "B3",
                format!("gRPC WatchJob, {n} subscribers"),
                "ms",
                summary(&watched)?,
            )
            .reference("bare axum SSE", bare)
            .goal(Goal::AtMost(if n <= 1_000 { 50.0 } else { 150.0 })),
        );
    }
    let rss = crate::sys::rss_kib(server.pid()?)?;
    results.remark(format!(
        "B3 server RSS after the fan-out runs: {} MiB",
        rss / 1024
    ));
    Ok(())
}

fn summary(samples: &[f64]) -> anyhow::Result<Summary> {
    Summary::of(samples).context("no events were read")
}

/// What one fan-out saw.
struct FanOut {
    /// The healthy subscribers' latencies.
    healthy: Vec<f64>,
    /// Stalled subscribers whose stream the server had closed by
    /// [`STALLED_DROP_DEADLINE`].
    stalled_dropped: usize,
}

/// `healthy` subscribers (and `stalled` ones that never read) on the job's
/// SSE stream, `STREAMS_PER_BROWSER` per signed-in browser; the healthy
/// ones' latencies over `window`, and how many stalled ones were dropped.
/// Stalled browsers are browsers of their own, with small HTTP/2 windows.
async fn sse_fan_out(
    server: &BenchServer,
    job: i64,
    healthy: usize,
    stalled: usize,
    window: Duration,
) -> anyhow::Result<FanOut> {
    let healthy_browsers = healthy.div_ceil(STREAMS_PER_BROWSER);
    let browsers = healthy_browsers + stalled.div_ceil(STREAMS_PER_BROWSER);
    let signed_in = futures::stream::iter(0..browsers)
        .map(|i| sign_in(server, i >= healthy_browsers))
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let url = format!("{}/jobs/{job}/events", server.url);
    let mut opened = Vec::new();
    for (i, (client, cookie)) in signed_in.iter().enumerate() {
        let is_healthy = i < healthy_browsers;
        let (first, of) = match is_healthy {
            true => (i * STREAMS_PER_BROWSER, healthy),
            false => ((i - healthy_browsers) * STREAMS_PER_BROWSER, stalled),
        };
        for _ in first..(first + STREAMS_PER_BROWSER).min(of) {
            opened.push((
                is_healthy,
                client.get(&url).header("cookie", cookie.as_str()).send(),
            ));
        }
    }
    let mut responses = Vec::new();
    for (is_healthy, request) in opened {
        responses.push((is_healthy, request.await.context("opening a job stream")?));
    }
    // The stalled ones' clock starts once their streams are open, not
    // before the sign-ins (which a busy machine may take long over).
    let opened_at = Instant::now();
    let from = Instant::now() + Duration::from_secs(1);
    let until = from + window;
    let mut readers = Vec::new();
    let mut held = Vec::new();
    for (is_healthy, response) in responses {
        if is_healthy {
            readers.push(tokio::spawn(sse::subscribe(response, from, until)));
        } else {
            // A stalled browser: the stream is open and never read.
            held.push(response);
        }
    }
    let mut samples = Vec::new();
    for reader in readers {
        samples.extend(reader.await.context("a subscriber")??);
    }
    let stalled_dropped = match held.is_empty() {
        true => 0,
        false => stalled_dropped(server, &url, held, opened_at).await?,
    };
    Ok(FanOut {
        healthy: samples,
        stalled_dropped,
    })
}

/// How many of the `held` (stalled) streams the server had closed by
/// [`STALLED_DROP_DEADLINE`] after `opened_at`. A control stream, opened
/// like them but read throughout, must not count as closed: if it did, the
/// check would be measuring something else (the job ending, say).
async fn stalled_dropped(
    server: &BenchServer,
    url: &str,
    held: Vec<reqwest::Response>,
    opened_at: Instant,
) -> anyhow::Result<usize> {
    let (client, cookie) = sign_in(server, true).await?;
    let mut control = client
        .get(url)
        .header("cookie", cookie.as_str())
        .send()
        .await
        .context("opening the control stream")?;
    let deadline = tokio::time::Instant::from(opened_at + STALLED_DROP_DEADLINE);
    while let Ok(chunk) = tokio::time::timeout_at(deadline, control.chunk()).await {
        if !matches!(chunk, Ok(Some(_))) {
            bail!("the control stream, read throughout, ended before the check");
        }
    }
    let ended = futures::future::join_all(held.into_iter().map(stream_has_ended)).await;
    if stream_has_ended(control).await {
        bail!("the control stream, read throughout, counts as closed: the check is wrong");
    }
    Ok(ended.into_iter().filter(|ended| *ended).count())
}

/// Whether a stalled stream was closed by the server: reading it gives what
/// was buffered unread, then its end. One the server still serves goes on
/// giving events as soon as it is read.
async fn stream_has_ended(mut response: reqwest::Response) -> bool {
    let ending = async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), ending)
        .await
        .is_ok()
}

/// `n` subscribers of the reference, grouped into browsers the same way.
async fn reference_fan_out(
    reference: &ReferenceSse,
    n: usize,
    window: Duration,
) -> anyhow::Result<Vec<f64>> {
    let url = format!("{}/events", reference.url);
    let mut responses = Vec::new();
    let mut client = None;
    for index in 0..n {
        if index % STREAMS_PER_BROWSER == 0 {
            client = Some(pinned_client(Some(&reference.fingerprint), None)?);
        }
        let Some(client) = &client else { continue };
        responses.push(
            client
                .get(&url)
                .send()
                .await
                .context("opening a reference stream")?,
        );
    }
    let from = Instant::now() + Duration::from_secs(1);
    let until = from + window;
    let readers: Vec<_> = responses
        .into_iter()
        .map(|r| tokio::spawn(sse::subscribe(r, from, until)))
        .collect();
    let mut samples = Vec::new();
    for reader in readers {
        samples.extend(reader.await.context("a reference subscriber")??);
    }
    Ok(samples)
}

/// A browser of its own: a client (its own connection) and a session; a
/// `stalling` one has small HTTP/2 windows, so that once it stops reading
/// the server is held up within a few events.
async fn sign_in(
    server: &BenchServer,
    stalling: bool,
) -> anyhow::Result<(reqwest::Client, String)> {
    let fingerprint = server.fingerprint.as_deref();
    let client = match stalling {
        true => small_window_client(fingerprint, STALLING_WINDOW)?,
        false => pinned_client(fingerprint, None)?,
    };
    let response = client
        .post(format!("{}/login", server.url))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await?;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|v| v.contains("cairn_session="))
        .map(str::to_string);
    match cookie {
        Some(cookie) => Ok((client, cookie)),
        None => bail!(
            "signing in gave {} and no session cookie",
            response.status()
        ),
    }
}

/// `n` scripts following the job over gRPC, each on its own connection.
async fn grpc_fan_out(
    server: &BenchServer,
    job: i64,
    n: usize,
    window: Duration,
) -> anyhow::Result<Vec<f64>> {
    let bearer = server.bearer()?;
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut client =
            JobServiceClient::with_interceptor(server.channel().await?, bearer.clone());
        let stream = client
            .watch_job(pb::WatchJobRequest { job_id: job })
            .await
            .context("WatchJob")?
            .into_inner();
        streams.push(stream);
    }
    let from = Instant::now() + Duration::from_secs(1);
    let until = from + window;
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let event = tokio::select! {
                        event = stream.message() => event,
                        () = tokio::time::sleep_until(until.into()) => return anyhow::Ok(samples),
                    };
                    let Some(event) = event.context("a WatchJob stream")? else {
                        bail!("a WatchJob stream ended early");
                    };
                    let received = sse::now_micros();
                    let now = Instant::now();
                    if let Some(pb::job_event::Event::Progress(progress)) = event.event
                        && now >= from
                        && let Some(sent) = progress
                            .current_files
                            .first()
                            .and_then(|f| sse::stamp_of(f))
                    {
                        samples.push(received.saturating_sub(sent) as f64 / 1e3);
                    }
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    for reader in readers {
        samples.extend(reader.await.context("a WatchJob reader")??);
    }
    Ok(samples)
}

/// One approved simulated agent with a backup job running, reporting
/// progress `rate` times a second: the source B3's subscribers follow.
async fn progress_source(
    server: &BenchServer,
    work: &std::path::Path,
    rate: u32,
) -> anyhow::Result<(i64, SimAgent)> {
    use crate::api::{assigned_repository, enrollment_token, run_backup};
    use cairn_proto::v1::job_service_client::JobServiceClient;
    let enroll = enrollment_token(server, &[]).await?;
    let tally = Arc::new(Tally::default());
    let agent = SimAgent::start(
        &server.dialer()?,
        "bench-source",
        &enroll,
        OnJob::Report { rate, logs: 0 },
        &tally,
        Duration::from_secs(60),
    )
    .await?;
    let repository = assigned_repository(server, work, "sim-repository", &[agent.host_id]).await?;
    let mut jobs = JobServiceClient::new(server.api().await?);
    let job = run_backup(&mut jobs, agent.host_id, repository, "/srv").await?;
    Ok((job, agent))
}
