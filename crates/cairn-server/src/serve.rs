//! One listener for everything: gRPC (HTTP/2), the web UI (HTTP/1.1 or
//! HTTP/2), `/healthz` and `/readyz`. The accept loop is hyper-util's, so
//! HTTP/2 keepalive, stream limits and header timeouts are set explicitly.
//!
//! Shutdown: stop accepting, mark gRPC health NOT_SERVING, tell long-lived
//! streams to end (`Api::shutting_down`), let open requests finish within the
//! grace period, then drop whatever is left.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use cairn_tls::TlsAcceptor;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::Api;
use crate::config::ServerConfig;
use crate::grpc;
use crate::startup::StartError;

/// The peer address of the connection a request came on, attached by the
/// accept loop to every HTTP and gRPC request (the audit log and the login
/// limits read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// Closes the connection a request came on, attached by the accept loop to
/// every request beside [`ClientAddr`]. A response that hyper stopped
/// polling (a live view whose reader stopped reading) cannot end itself:
/// nothing of it runs until the client reads again. Closing its connection
/// is the one way to let go of it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCloser(std::sync::Arc<tokio::sync::Notify>);

impl ConnectionCloser {
    /// Closes the connection (every request on it) as soon as its task runs.
    pub fn close(&self) {
        self.0.notify_one();
    }

    /// Resolves once [`ConnectionCloser::close`] was called, for one waiter:
    /// the connection's task, the only one that waits on it.
    pub async fn closed(&self) {
        self.0.notified().await;
    }
}

/// The accept queue asked of the kernel (which caps it at
/// `net.core.somaxconn`: 4096 by default since Linux 5.4, 128 before).
/// std's listeners ask for 128: when
/// a server restarts, thousands of agents reconnect within seconds, and every
/// SYN past a full queue is dropped, so those agents fall into TCP's
/// SYN-retry backoff (1 s, 3 s, 7 s, 15 s…) on top of their own jitter.
pub const ACCEPT_BACKLOG: u32 = 4_096;

/// Binds a TCP listener on `addr` with [`ACCEPT_BACKLOG`] (and, on Unix,
/// `SO_REUSEADDR`, as std does, so a restart need not wait out `TIME_WAIT`;
/// on Windows it would let another process take the port). Call it within a
/// Tokio runtime.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What serving needs from `Server::open` besides the API.
#[derive(Debug)]
pub(crate) struct Signals {
    /// Tells long-lived streams the server is stopping.
    pub(crate) shutdown_tx: watch::Sender<bool>,
    /// Wakes the dispatcher for a host.
    pub(crate) dispatch_wake: crate::fleet::DispatchWakes,
}

pub(crate) async fn serve(
    config: ServerConfig,
    api: Api,
    signals: Signals,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ui: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    let (grpc_routes, health) = grpc::routes(&api, &config).await;
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(
                |axum::extract::State(api): axum::extract::State<Api>| async move {
                    // Not ready while the database is down or a background
                    // worker is gone (degraded).
                    let health = api.health().await;
                    let code = match health.ready() {
                        true => StatusCode::OK,
                        false => StatusCode::SERVICE_UNAVAILABLE,
                    };
                    (code, health.probe_text())
                },
            ),
        )
        .with_state(api.clone());
    // tonic answers unknown paths with HTTP 200 + "unimplemented"; browsers
    // and probes deserve a plain 404 (gRPC clients read a 404 as UNIMPLEMENTED).
    let mut router = grpc_routes.merge(probes).merge(ui);
    // With a listener of its own, /metrics moves there.
    if config.metrics_listen.is_none() {
        let access = crate::metrics::MetricsAccess::from_config(
            &config,
            crate::metrics::MetricsListener::Main,
        );
        tracing::info!(access = %access.describe(), "serving /metrics on the main listener");
        router = router.merge(crate::metrics::metrics_router(api.clone(), access));
    }
    // The layer goes last so that it wraps the fallback too.
    let router = router
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n").into_response() })
        .layer(axum::middleware::from_fn_with_state(
            api.metrics.clone(),
            crate::metrics::track_requests,
        ));

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.http2_keepalive_interval)
        .keep_alive_timeout(config.http2_keepalive_timeout)
        .max_concurrent_streams(config.max_concurrent_streams);

    let Signals {
        shutdown_tx,
        dispatch_wake,
    } = signals;
    // Every background worker runs under the one runner: each gets the
    // shutdown signal, and an early end or a panic is logged and degrades
    // health instead of vanishing.
    let workers = api.workers.clone();
    workers.spawn("agent reaper", {
        let fleet = api.fleet.clone();
        |stop| fleet.run_reaper(stop)
    });
    workers.spawn("dispatcher", {
        let jobs = api.jobs.clone();
        |stop| jobs.run_dispatcher(dispatch_wake, stop)
    });
    workers.spawn("notification deliveries", {
        let notifications = api.notifications.clone();
        |stop| notifications.run(stop)
    });
    workers.spawn("healthchecks pings", {
        let notifications = api.notifications.clone();
        let events = api.jobs.hub().lifecycle();
        |stop| notifications.follow_jobs(events, stop)
    });
    workers.spawn("maintenance ticker", {
        let maintenance = api.maintenance.clone();
        let every = config.maintenance_tick;
        move |stop| maintenance.run(every, stop)
    });
    workers.spawn("alert engine", {
        let alerts = api.alerts.clone();
        let every = config.alert_evaluate_every;
        move |stop| alerts.run(every, stop)
    });
    workers.spawn("log retention", {
        let admin = api.admin.clone();
        |stop| admin.run_log_retention(crate::retention::SWEEP_EVERY, stop)
    });
    workers.spawn("storage watch", {
        let store = api.store.clone();
        let clock = api.admin.clock().clone();
        move |stop| {
            crate::health::run_storage_watch(store, clock, crate::health::STORAGE_PROBE_EVERY, stop)
        }
    });
    let mut worker_failed = workers.on_failure();
    let mut marked_degraded = false;

    let local = listener.local_addr()?;
    tracing::info!(address = %local, "serving gRPC, web UI and probes");

    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        stream,
                        peer,
                        router.clone(),
                        builder.clone(),
                        graceful.watcher(),
                        tls.clone(),
                    ));
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spin; the listener itself is still good.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            // A worker is gone: the server as a whole is no longer healthy
            // (each service still answers).
            // (`is_ok` lets go of the channel's guard, which is not `Send`.)
            degraded = async { worker_failed.wait_for(|failed| *failed).await.is_ok() }, if !marked_degraded => {
                marked_degraded = true;
                if degraded {
                    health.set_server_not_serving().await;
                }
            }
            () = &mut shutdown => break,
        }
    }

    tracing::info!("shutting down: no new connections; draining open requests");
    drop(listener);
    health.set_not_serving().await;
    let _ = shutdown_tx.send(true);
    // The reaper closes every agent session as it stops, so agents reconnect
    // elsewhere (or later) instead of holding the drain open. How each
    // worker ended is recorded (and a failure logged) by the runner.
    workers.join().await;
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!(open = connections.len(), "grace period over: closing remaining connections");
        }
    }
    connections.shutdown().await;
    Ok(())
}

/// Serves one accepted connection until the client leaves, the server's
/// drain closes it, or one of its responses asks it closed
/// ([`ConnectionCloser`]). The TLS handshake runs here, in the connection's
/// own task, so a slow or silent client cannot hold up accepting others.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    tls: Option<TlsAcceptor>,
) {
    let closer = ConnectionCloser::default();
    let service = router_for(router, peer, closer.clone());
    let serving = async move {
        let Some(acceptor) = tls else {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            return watcher.watch(conn.into_owned()).await;
        };
        let stream =
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return Ok(());
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return Ok(());
                }
            };
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        watcher.watch(conn.into_owned()).await
    };
    let result = tokio::select! {
        result = serving => result,
        () = closer.closed() => {
            tracing::debug!(%peer, "connection closed: a response on it could not be sent");
            Ok(())
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// The router as a hyper service for one connection, with the peer's address
/// (for the audit log and rate limits) and the connection's closer attached
/// to every request.
fn router_for(
    router: Router,
    peer: SocketAddr,
    closer: ConnectionCloser,
) -> TowerToHyperService<
    tower::util::MapRequest<
        Router,
        impl FnMut(http::Request<Incoming>) -> http::Request<Incoming> + Clone,
    >,
> {
    let service = router.map_request(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(peer));
        req.extensions_mut().insert(closer.clone());
        req
    });
    TowerToHyperService::new(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reconnect storm, in small: far more connections than std's 128
    /// arrive before the server accepts any, and every one completes its
    /// handshake at once instead of waiting on SYN retries. (300 is well
    /// past 128 and well inside the 1,024 descriptors a test may have.)
    #[tokio::test]
    async fn connections_past_std_backlog_are_queued_not_dropped() {
        const WANTED: usize = 300;
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(4_096);
        if somaxconn < WANTED {
            // The kernel caps the queue below what the test needs to show.
            eprintln!(
                "SKIPPED: net.core.somaxconn is {somaxconn}, below the {WANTED} this test queues"
            );
            return;
        }
        let wanted = WANTED;
        let listener = listen("127.0.0.1:0".parse().expect("an address")).expect("listening");
        let addr = listener.local_addr().expect("its address");
        let mut connects = JoinSet::new();
        for _ in 0..wanted {
            connects.spawn(tokio::net::TcpStream::connect(addr));
        }
        // Each connect either completes from the queue or, past a full one,
        // waits on SYN retries for as long as nobody accepts: a deadline far
        // longer than a loaded machine needs tells the two apart.
        let all = async {
            let mut streams = Vec::new();
            while let Some(done) = connects.join_next().await {
                streams.push(done.expect("the task").expect("connected"));
            }
            streams
        };
        let streams = tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("every connection completed while none was accepted");
        assert_eq!(streams.len(), wanted);
        drop(listener);
    }
}
