//! B4, pages: the dashboard of a 1,000-host fleet with 100 backups each,
//! and the paged host and job lists, fetched by 20 clients at once over
//! HTTPS from the real server. Reference: the same router, the same
//! queries and the same render in process (no TLS, no socket), on the same
//! database, with the same 20 at once: the ratio is what the wire costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tower::ServiceExt as _;

use crate::Ctx;
use crate::fixture::{ADMIN, ADMIN_PASSWORD, BenchServer, ServerOptions};
use crate::report::{Goal, Results, Row, Summary};
use crate::seed;

/// Clients fetching at once.
pub const CLIENTS: usize = 20;

/// The pages measured: path, what it is, its goal in ms (p99).
const PAGES: [(&str, &str, f64); 3] = [
    ("/", "dashboard", 50.0),
    ("/hosts", "host list, first page", 10.0),
    ("/jobs", "job list, first page", 10.0),
];

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let hosts = ctx.scale(1_000, 200);
    let per_host = ctx.scale(100, 30);
    let window = ctx.scale(Duration::from_secs(12), Duration::from_secs(5));
    let data_dir = ctx.work.join("b4-server");
    let began = Instant::now();
    let seeded = seed::fleet_history(&data_dir, hosts, per_host).await?;
    results.remark(format!(
        "B4 seeded {} hosts × {per_host} backups ({} jobs) in {:.1} s",
        seeded.hosts,
        seeded.jobs,
        began.elapsed().as_secs_f64()
    ));
    let scale = format!(
        "{} hosts × {per_host} jobs, {CLIENTS} clients",
        seeded.hosts
    );

    let mut server = BenchServer::start(
        ctx,
        ServerOptions {
            data_dir: Some(data_dir.clone()),
            ..Default::default()
        },
    )
    .await?;
    let mut served = Vec::new();
    for (path, _, _) in PAGES {
        served.push(over_http(&server, path, window).await?);
    }
    server.kill9();
    drop(server);

    // The reference: the same router in this process, on the same database.
    let mut config = cairn_server::ServerConfig::for_data_dir(&data_dir);
    config.tls = cairn_server::config::TlsMode::Plaintext;
    let inproc = cairn_server::Server::open(config)
        .await
        .context("opening the server in process")?;
    let router = cairn_web::router(inproc.api());
    let cookie = sign_in_in_process(&router).await?;
    for ((path, what, goal), cairn) in PAGES.into_iter().zip(served) {
        let router = router.clone();
        let cookie = cookie.clone();
        let reference = hammer(window, move || {
            let router = router.clone();
            let cookie = cookie.clone();
            async move {
                let request = http::Request::get(path)
                    .header("cookie", cookie)
                    .body(axum::body::Body::empty())?;
                let response = router.oneshot(request).await?;
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 16 << 20).await?;
                if !status.is_success() {
                    bail!("in process GET {path}: {status}");
                }
                Ok(body.len())
            }
        })
        .await?;
        let (Some(c), Some(r)) = (
            Summary::of(&cairn.latencies),
            Summary::of(&reference.latencies),
        ) else {
            bail!("no samples for {path}");
        };
        results.push(
            Row::new("B4", format!("{what} ({scale})"), "ms", c)
                .reference("in process", r)
                .goal(Goal::AtMost(goal))
                .note(format!(
                    "{:.0} req/s, {} KiB",
                    cairn.rate,
                    cairn.bytes / 1024
                )),
        );
    }
    Ok(())
}

/// What one page's run measured.
pub struct Hammered {
    /// Each fetch's time, in ms.
    pub latencies: Vec<f64>,
    /// Fetches a second, all clients together.
    pub rate: f64,
    /// The page's size.
    pub bytes: usize,
}

/// `CLIENTS` signed-in clients fetching `path` from `server` over HTTPS
/// for `window` (B4, and B2's dashboard under load).
pub async fn over_http(
    server: &BenchServer,
    path: &str,
    window: Duration,
) -> anyhow::Result<Hammered> {
    let http = server.http()?;
    let cookie = sign_in_over_http(&http, &server.url).await?;
    let url = format!("{}{path}", server.url);
    hammer(window, move || {
        let client = http.clone();
        let url = url.clone();
        let cookie = cookie.clone();
        async move {
            let response = client.get(&url).header("cookie", cookie).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            if !status.is_success() {
                bail!("GET {url}: {status}");
            }
            Ok(body.len())
        }
    })
    .await
}

/// `CLIENTS` loops fetching with `fetch` for `window`; latencies in ms.
async fn hammer<F, Fut>(window: Duration, fetch: F) -> anyhow::Result<Hammered>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<usize>> + Send,
{
    let fetch = Arc::new(fetch);
    // One fetch first, outside the measure: caches warm, and a failure
    // shows before the clients start.
    let bytes = fetch().await?;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let fetch = fetch.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < window {
                let t = Instant::now();
                fetch().await?;
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.context("a page client")??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    Ok(Hammered {
        latencies,
        rate,
        bytes,
    })
}

/// Signs in through the login form; returns the `Cookie` header value.
async fn sign_in_over_http(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/login"))
        .header("origin", base)
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await?;
    session_cookie(response.status(), response.headers())
}

async fn sign_in_in_process(router: &axum::Router) -> anyhow::Result<String> {
    let body = format!("username={ADMIN}&password={ADMIN_PASSWORD}");
    let request = http::Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))?;
    let response = router.clone().oneshot(request).await?;
    session_cookie(response.status(), response.headers())
}

fn session_cookie(status: http::StatusCode, headers: &http::HeaderMap) -> anyhow::Result<String> {
    let cookies: Vec<String> = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|v| v.contains("cairn_session="))
        .map(str::to_string)
        .collect();
    if cookies.is_empty() {
        bail!("signing in gave {status} and no session cookie");
    }
    Ok(cookies.join("; "))
}
