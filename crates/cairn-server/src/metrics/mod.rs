//! Prometheus metrics through OpenTelemetry (DESIGN §12, §16): the SDK's
//! instruments, read by opentelemetry-prometheus into a private
//! `prometheus::Registry`, encoded as Prometheus text at `/metrics`.
//!
//! Two kinds of value:
//! - events counted where they happen: a job's end (in [`JobHub::finished`],
//!   the one place every end is told), a notification attempt, a request;
//! - state read at scrape time ([`Metrics::render`]): connected agents, hosts
//!   by status, firing alerts, last successful backups, the store writer's
//!   counters. The database part is a few aggregate queries bounded by the
//!   number of hosts and repositories, never by the jobs kept.
//!
//! Every name is listed, with type and labels, in the book's metrics
//! reference (a test checks the endpoint against it, both ways).
//!
//! [`JobHub::finished`]: crate::jobs::JobHub::finished

mod endpoint;
mod layer;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use cairn_store::{Gauges, Job, Store, WriterStats};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;

pub use endpoint::{MetricsAccess, MetricsListener, metrics_router};
pub(crate) use layer::track_requests;

/// Seconds: from a tenth of a second to a day (jobs run from moments to hours).
const JOB_BUCKETS: &[f64] = &[
    0.1,
    0.5,
    1.0,
    5.0,
    15.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4.0 * 3600.0,
    86400.0,
];
/// Seconds: a millisecond to a minute (requests; streams count to their headers).
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];
/// Distinct gRPC methods labelled at most; past it, `other` (a client can
/// send any path under a registered service).
const MAX_GRPC_METHODS: usize = 256;

/// The server's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    jobs: Counter<u64>,
    job_duration: Histogram<f64>,
    bytes_added: Counter<u64>,
    notifications: Counter<u64>,
    http_requests: Counter<u64>,
    http_duration: Histogram<f64>,
    grpc_requests: Counter<u64>,
    grpc_duration: Histogram<f64>,
    grpc_methods: Mutex<HashSet<String>>,
    /// What the scrape-time instruments report, filled just before gathering.
    state: Arc<Mutex<Scraped>>,
    /// One scrape at a time: refreshing `state` and gathering go together.
    scrape: tokio::sync::Mutex<()>,
}

/// Values read at scrape time.
#[derive(Default)]
struct Scraped {
    connected: u64,
    gauges: Gauges,
    writer: Option<Arc<WriterStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh instruments over a registry of their own (no process-global
    /// state, so servers in one test process do not mix).
    pub fn new() -> Metrics {
        let registry = prometheus::Registry::new();
        let provider = match opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_units()
            .without_target_info()
            .scope_info_enabled(false)
            .build()
        {
            Ok(exporter) => SdkMeterProvider::builder().with_reader(exporter).build(),
            Err(err) => {
                // Only a registry refusing the collector does this: serve
                // an empty endpoint rather than no server.
                tracing::error!(error = %err, "metrics exporter refused; /metrics stays empty");
                SdkMeterProvider::builder().build()
            }
        };
        let meter = provider.meter("cairn");
        let state = Arc::new(Mutex::new(Scraped::default()));
        observe(&meter, &state);
        let inner = Inner {
            jobs: meter
                .u64_counter("cairn_jobs_finished")
                .with_description("Jobs that ended, by kind and final status")
                .build(),
            job_duration: meter
                .f64_histogram("cairn_job_duration_seconds")
                .with_description("How long jobs ran, from start to end, by kind")
                .with_boundaries(JOB_BUCKETS.to_vec())
                .build(),
            bytes_added: meter
                .u64_counter("cairn_backup_added_bytes")
                .with_description("Bytes backups added to repositories (restic's data_added)")
                .build(),
            notifications: meter
                .u64_counter("cairn_notification_deliveries")
                .with_description("Notification delivery attempts, by channel kind and outcome")
                .build(),
            http_requests: meter
                .u64_counter("cairn_http_requests")
                .with_description("HTTP requests (web console, probes), by route and status class")
                .build(),
            http_duration: meter
                .f64_histogram("cairn_http_request_duration_seconds")
                .with_description("HTTP request latency to the response head, by route")
                .with_boundaries(REQUEST_BUCKETS.to_vec())
                .build(),
            grpc_requests: meter
                .u64_counter("cairn_grpc_requests")
                .with_description("gRPC calls, by method and status code class")
                .build(),
            grpc_duration: meter
                .f64_histogram("cairn_grpc_request_duration_seconds")
                .with_description("gRPC call latency to the response head, by method")
                .with_boundaries(REQUEST_BUCKETS.to_vec())
                .build(),
            grpc_methods: Mutex::default(),
            state,
            scrape: tokio::sync::Mutex::new(()),
            registry,
            provider,
        };
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// Counts a job's end: called once per job, by the job hub.
    pub(crate) fn job_finished(&self, job: &Job) {
        let kind = KeyValue::new("kind", job.kind.as_str());
        self.inner.jobs.add(
            1,
            &[kind.clone(), KeyValue::new("status", job.status.as_str())],
        );
        if let (Some(start), Some(end)) = (job.started_at, job.finished_at) {
            let seconds = (end - start).max(0) as f64 / 1000.0;
            self.inner.job_duration.record(seconds, &[kind]);
        }
        if let Some(summary) = &job.summary {
            self.inner.bytes_added.add(summary.data_added, &[]);
        }
    }

    /// Counts one notification delivery attempt. `channel_kind` is the
    /// channel's type (`webhook`, `email`, `ntfy`…), `outcome` one of
    /// `delivered`, `failed` (will retry) or `gave_up` — a short fixed word,
    /// never an error message (labels must stay few).
    pub fn notification_attempt(&self, channel_kind: &str, outcome: &str) {
        self.inner.notifications.add(
            1,
            &[
                KeyValue::new("channel_kind", channel_kind.to_string()),
                KeyValue::new("outcome", outcome.to_string()),
            ],
        );
    }

    /// Counts an HTTP request by its matched route (never the raw path).
    pub(crate) fn http_request(&self, route: String, status: u16, seconds: f64) {
        let route = KeyValue::new("route", route);
        self.inner.http_requests.add(
            1,
            &[
                route.clone(),
                KeyValue::new("status_class", status_class(status)),
            ],
        );
        self.inner.http_duration.record(seconds, &[route]);
    }

    /// Counts a gRPC call by its method path and gRPC status code.
    pub(crate) fn grpc_request(&self, path: &str, code: &str, seconds: f64) {
        let method = {
            let mut seen = self
                .inner
                .grpc_methods
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if seen.contains(path) || seen.len() < MAX_GRPC_METHODS {
                seen.insert(path.to_string());
                path.to_string()
            } else {
                "other".to_string()
            }
        };
        let method = KeyValue::new("method", method);
        self.inner.grpc_requests.add(
            1,
            &[method.clone(), KeyValue::new("code", code.to_string())],
        );
        self.inner.grpc_duration.record(seconds, &[method]);
    }

    /// Reads the scrape-time values and encodes every metric as Prometheus
    /// text.
    pub async fn render(&self, store: &Store, connected: usize) -> String {
        let _one = self.inner.scrape.lock().await;
        let gauges = match store.gauges().await {
            Ok(g) => g,
            Err(err) => {
                // The database's gauges go missing for this scrape; the
                // counters are still worth serving.
                tracing::warn!(error = %err, "metrics: the store's gauges could not be read");
                Gauges::default()
            }
        };
        {
            let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            state.connected = connected as u64;
            state.gauges = gauges;
            state.writer = Some(store.writer_stats());
        }
        self.encode()
    }

    fn encode(&self) -> String {
        let families = self.inner.registry.gather();
        let mut out = String::new();
        if let Err(err) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::warn!(error = %err, "metrics could not be encoded");
        }
        out
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No background exporter runs; shutting down only releases the reader.
        let _ = self.provider.shutdown();
    }
}

/// `2xx`, `4xx`…: what a dashboard splits on, without a series per code.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Registers the instruments read at scrape time from `state`.
fn observe(meter: &Meter, state: &Arc<Mutex<Scraped>>) {
    fn read<T>(state: &Mutex<Scraped>, f: impl FnOnce(&Scraped) -> T) -> T {
        f(&state.lock().unwrap_or_else(|p| p.into_inner()))
    }
    let s = state.clone();
    meter
        .u64_observable_gauge("cairn_agents_connected")
        .with_description("Agents with an open session to this server")
        .with_callback(move |o| o.observe(read(&s, |s| s.connected), &[]))
        .build();
    let s = state.clone();
    meter
        .u64_observable_gauge("cairn_hosts")
        .with_description("Hosts by status")
        .with_callback(move |o| {
            read(&s, |s| {
                for (status, n) in &s.gauges.hosts_by_status {
                    o.observe(*n, &[KeyValue::new("status", status.clone())]);
                }
            })
        })
        .build();
    let s = state.clone();
    meter
        .u64_observable_gauge("cairn_alerts_firing")
        .with_description("Alerts firing (not acknowledged, not resolved), by kind")
        .with_callback(move |o| {
            read(&s, |s| {
                // Every kind has a series, 0 while none fires: a rule on
                // `cairn_alerts_firing{kind="…"} > 0` never sees it vanish.
                for kind in cairn_domain::AlertKind::ALL {
                    let n = s
                        .gauges
                        .alerts_firing
                        .iter()
                        .find(|(k, _)| k.as_str() == kind.as_str())
                        .map_or(0, |(_, n)| *n);
                    o.observe(n, &[KeyValue::new("kind", kind.as_str())]);
                }
            })
        })
        .build();
    let s = state.clone();
    meter
        .f64_observable_gauge("cairn_last_successful_backup_timestamp_seconds")
        .with_description(
            "When each host last backed up to each repository successfully (Unix seconds)",
        )
        .with_callback(move |o| {
            read(&s, |s| {
                for last in &s.gauges.last_backups {
                    o.observe(
                        last.finished_at as f64 / 1000.0,
                        &[
                            KeyValue::new("host", last.hostname.clone()),
                            KeyValue::new("repository", last.repository.clone()),
                        ],
                    );
                }
            })
        })
        .build();
    let s = state.clone();
    meter
        .u64_observable_gauge("cairn_store_write_queue_depth")
        .with_description("Writes waiting for the store's single writer")
        .with_callback(move |o| {
            if let Some(w) = read(&s, |s| s.writer.clone()) {
                o.observe(w.queued(), &[]);
            }
        })
        .build();
    let s = state.clone();
    meter
        .u64_observable_gauge("cairn_store_writes_failing")
        .with_description("1 while the filesystem refuses the database's writes (disk full, I/O errors): the server is degraded; 0 while writes commit")
        .with_callback(move |o| {
            if let Some(w) = read(&s, |s| s.writer.clone()) {
                o.observe(u64::from(w.storage_fault().is_some()), &[]);
            }
        })
        .build();
    let s = state.clone();
    meter
        .u64_observable_counter("cairn_store_commits")
        .with_description("Group-commit transactions the store's writer ran")
        .with_callback(move |o| {
            if let Some(w) = read(&s, |s| s.writer.clone()) {
                o.observe(w.transactions(), &[]);
            }
        })
        .build();
    let s = state.clone();
    meter
        .u64_observable_counter("cairn_store_writes")
        .with_description("Writes the store's writer ran, each in a group-commit transaction; over cairn_store_commits_total, how many each commit carried")
        .with_callback(move |o| {
            if let Some(w) = read(&s, |s| s.writer.clone()) {
                o.observe(w.writes(), &[]);
            }
        })
        .build();
    let s = state.clone();
    meter
        .f64_observable_counter("cairn_store_commit_seconds")
        .with_description("Time spent in group-commit transactions; over cairn_store_commits_total, the mean commit latency")
        .with_callback(move |o| {
            if let Some(w) = read(&s, |s| s.writer.clone()) {
                o.observe(w.commit_seconds(), &[]);
            }
        })
        .build();
}
